// Package clock is the one source of time for every rule of the instance.
//
// Domain code receives a Clock and never calls time.Now. In production it is the system
// clock; in `serve --dev` it is a Dev clock that an HTTP call can move forward, so that a week
// of Fäden expiring can be tried out (and tested) in a second.
package clock

import (
	"errors"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	// Now is the current instant in UTC, truncated to microseconds: the precision PostgreSQL
	// stores, so a time written and read back compares equal.
	Now() time.Time
}

// System is the real clock.
type System struct{}

// Now implements Clock.
func (System) Now() time.Time { return normalize(time.Now()) }

// Dev is real time plus an offset that only ever grows.
type Dev struct {
	mu     sync.Mutex
	offset time.Duration
	base   func() time.Time
}

// NewDev returns a Dev clock that starts at real time.
func NewDev() *Dev { return &Dev{base: time.Now} }

// ErrBackwards is returned when asked to move time backwards: rules such as "a Faden expires
// 7 days after it was spun" assume time does not run back.
var ErrBackwards = errors.New("clock: the clock can only move forward")

// Now implements Clock.
func (d *Dev) Now() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return normalize(d.base().Add(d.offset))
}

// MaxOffset is how far ahead of real time a Dev clock may run: far beyond every rule, and far
// from where adding up the moves would overflow a Duration (292 years) and wrap into the past.
const MaxOffset = 100 * 365 * 24 * time.Hour

// ErrTooFar is returned when a move would take the clock more than MaxOffset ahead.
var ErrTooFar = errors.New("clock: the clock may run at most 100 years ahead")

// MaxAdvance bounds one move of the clock: a year covers every rule (the longest runs 28 days);
// a jump of centuries only brings the dates out of range.
const MaxAdvance = 366 * 24 * time.Hour

// ErrJumpTooLarge is returned when one move is longer than MaxAdvance.
var ErrJumpTooLarge = errors.New("clock: the clock moves at most 366 days at once")

// Advance moves the clock forward by by and returns the new time.
func (d *Dev) Advance(by time.Duration) (time.Time, error) {
	if by < 0 {
		return time.Time{}, ErrBackwards
	}
	if by > MaxAdvance {
		return time.Time{}, ErrJumpTooLarge
	}
	d.mu.Lock()
	if by > MaxOffset-d.offset {
		d.mu.Unlock()
		return time.Time{}, ErrTooFar
	}
	d.offset += by
	d.mu.Unlock()
	return d.Now(), nil
}

func normalize(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
