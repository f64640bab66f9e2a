package clock

import (
	"errors"
	"testing"
	"time"
)

// Moves add up to at most MaxOffset: past it they are refused, so the offset never overflows
// and wraps the clock into the past.
func TestDevClockStopsAtMaxOffset(t *testing.T) {
	d := NewDev()
	year := 366 * 24 * time.Hour
	var moves int
	for {
		if _, err := d.Advance(year); err != nil {
			if !errors.Is(err, ErrTooFar) {
				t.Fatal(err)
			}
			break
		}
		if moves++; moves > 400 {
			t.Fatal("the clock never stopped")
		}
	}
	if ahead := time.Until(d.Now()); ahead > MaxOffset || ahead < MaxOffset-year {
		t.Errorf("the clock is %s ahead", ahead)
	}
	if _, err := d.Advance(-time.Hour); !errors.Is(err, ErrBackwards) {
		t.Errorf("backwards: %v", err)
	}
	e := NewDev()
	if _, err := e.Advance(MaxAdvance + time.Microsecond); !errors.Is(err, ErrJumpTooLarge) {
		t.Errorf("a jump past MaxAdvance: %v", err)
	}
	if ahead := time.Until(e.Now()); ahead > time.Hour {
		t.Errorf("a refused jump moved the clock %s ahead", ahead)
	}
}
