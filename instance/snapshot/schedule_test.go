package snapshot

import (
	"testing"
	"time"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The full slot on the two switch nights of Europe/Berlin and on ordinary days: 02:00 local,
// and where 02:00 does not exist the instant the clocks jump past it, and where it happens
// twice the first.
func TestFullSlotAcrossDST(t *testing.T) {
	s := Schedule{Location: berlin(t)}
	for _, c := range []struct{ now, want string }{
		// Winter (CET, UTC+1) and summer (CEST, UTC+2).
		{"2026-12-05T01:00:00Z", "2026-12-05T01:00:00Z"},
		{"2026-12-05T00:59:59Z", "2026-12-04T01:00:00Z"},
		{"2026-07-01T12:00:00Z", "2026-07-01T00:00:00Z"},
		// Sunday 29 March 2026: 01:59:59 CET is followed by 03:00 CEST (01:00 UTC).
		{"2026-03-29T00:59:59Z", "2026-03-28T01:00:00Z"},
		{"2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z"},
		{"2026-03-29T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"2026-03-30T00:00:00Z", "2026-03-30T00:00:00Z"}, // Monday 02:00 CEST
		// Sunday 25 October 2026: 02:00–02:59 CEST (00:00–00:59 UTC), then 02:00–02:59 CET
		// (01:00–01:59 UTC). The first 02:00 is the slot; the second is not another one.
		{"2026-10-24T23:59:59Z", "2026-10-24T00:00:00Z"},
		{"2026-10-25T00:00:00Z", "2026-10-25T00:00:00Z"},
		{"2026-10-25T01:00:00Z", "2026-10-25T00:00:00Z"},
		{"2026-10-25T01:30:00Z", "2026-10-25T00:00:00Z"},
		{"2026-10-26T00:59:59Z", "2026-10-25T00:00:00Z"},
		{"2026-10-26T01:00:00Z", "2026-10-26T01:00:00Z"}, // Monday 02:00 CET
	} {
		if got := s.LastFull(utc(c.now)); !got.Equal(utc(c.want)) {
			t.Errorf("last full slot at %s: %s, want %s", c.now, got.Format(time.RFC3339), c.want)
		}
	}
}

func TestIncrementalSlots(t *testing.T) {
	s := Schedule{Location: berlin(t)}
	for _, c := range []struct{ now, want string }{
		{"2026-12-05T05:00:00Z", "2026-12-05T05:00:00Z"}, // 06:00 CET
		{"2026-12-05T04:59:59Z", "2026-12-04T21:00:00Z"}, // 22:00 CET the day before
		{"2026-12-05T20:59:59Z", "2026-12-05T17:00:00Z"}, // 18:00 CET
		{"2026-12-05T21:00:00Z", "2026-12-05T21:00:00Z"}, // 22:00 CET
		{"2026-03-29T04:00:00Z", "2026-03-29T04:00:00Z"}, // 06:00 CEST, the day clocks went forward
		{"2026-03-29T03:59:59Z", "2026-03-28T21:00:00Z"},
		{"2026-10-25T05:00:00Z", "2026-10-25T05:00:00Z"}, // 06:00 CET, the day clocks went back
		{"2026-10-25T04:59:59Z", "2026-10-24T20:00:00Z"}, // 22:00 CEST the day before
	} {
		got, ok := s.LastIncremental(utc(c.now))
		if !ok || !got.Equal(utc(c.want)) {
			t.Errorf("last incremental slot at %s: %s, want %s", c.now, got.Format(time.RFC3339), c.want)
		}
	}
	if _, ok := (Schedule{Every: 24 * time.Hour}).LastIncremental(utc("2026-12-05T05:00:00Z")); ok {
		t.Error("a schedule whose incrementals are a day apart has none")
	}
	next, kind := s.NextAfter(utc("2026-12-05T01:00:00Z"))
	if !next.Equal(utc("2026-12-05T05:00:00Z")) || kind != KindIncremental {
		t.Errorf("after the full slot the next is %s %s, want the incremental at 05:00Z", kind, next)
	}
	next, kind = s.NextAfter(utc("2026-12-05T21:00:00Z"))
	if !next.Equal(utc("2026-12-06T01:00:00Z")) || kind != KindFull {
		t.Errorf("after 22:00 the next is %s %s, want the full at 01:00Z", kind, next)
	}
}

// Over a year in several zones — two with summer time, one whose summer time is half an hour,
// one without — every local date has exactly one full slot, it is on that date, and it is the
// first instant at or after the wall-clock time (checked minute by minute).
func TestOneFullSlotPerLocalDate(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, full := range []time.Duration{2 * time.Hour, 2*time.Hour + 15*time.Minute} {
			s := Schedule{Full: full, Location: loc}
			var prev time.Time
			for day := time.Date(2026, 1, 1, 12, 0, 0, 0, loc); day.Year() == 2026; day = day.AddDate(0, 0, 1) {
				y, m, d := day.Date()
				slot := atWall(y, m, d, full, loc)
				if ly, lm, ld := slot.In(loc).Date(); ly != y || lm != m || ld != d {
					t.Fatalf("%s: the slot of %d-%02d-%02d is on %s", zone, y, m, d, slot.In(loc))
				}
				target := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(full)
				wall := func(u time.Time) time.Time {
					l := u.In(loc)
					return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
				}
				var brute time.Time
				for u := target.Add(-15 * time.Hour); ; u = u.Add(time.Minute) {
					if !wall(u).Before(target) {
						brute = u
						break
					}
				}
				if !slot.Equal(brute) {
					t.Fatalf("%s: the slot of %d-%02d-%02d at %s is %s, want %s", zone, y, m, d, full, slot, brute)
				}
				if !prev.IsZero() && !s.LastFull(slot.Add(-time.Nanosecond)).Equal(prev) {
					t.Fatalf("%s: just before %s the last full slot is %s, want %s", zone, slot, s.LastFull(slot.Add(-time.Nanosecond)), prev)
				}
				if !s.LastFull(slot).Equal(slot) {
					t.Fatalf("%s: at %s the last full slot is %s", zone, slot, s.LastFull(slot))
				}
				prev = slot
			}
		}
	}
}
