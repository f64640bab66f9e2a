package snapshot

import (
	"time"
)

// Schedule says when snapshots are due: a full one daily at a local wall-clock time (02:00 by
// default), an incremental one every few hours after it (06:00, 10:00, 14:00, 18:00, 22:00 by
// default), in the Ortsweberei's time zone.
//
// A slot is the first instant at or after its wall-clock time on its local date, once per
// local date. So on the night clocks go forward (Europe/Berlin, last Sunday of March: 02:00
// does not exist) the 02:00 slot is 03:00 CEST, the instant the clocks jump; on the night they
// go back (last Sunday of October: 02:00 happens twice) it is the first 02:00 (CEST), and the
// second passes without a slot. Each local date has exactly one full slot either way.
type Schedule struct {
	// Full is the local time of day of the full snapshot (default 2 h: 02:00).
	Full time.Duration
	// Every is the distance between incremental slots, on the wall clock from Full (default 4
	// h). The slots of a date are Full + k·Every for k ≥ 1 while before the next midnight;
	// Every ≥ 24 h: none.
	Every time.Duration
	// Location is the Ortsweberei's time zone (default UTC).
	Location *time.Location
}

// DefaultFull and DefaultEvery are the schedule of issue 15 and docs/SNAPSHOTS.md.
const (
	DefaultFull  = 2 * time.Hour
	DefaultEvery = 4 * time.Hour
)

func (s Schedule) withDefaults() Schedule {
	if s.Full <= 0 || s.Full >= 24*time.Hour {
		s.Full = DefaultFull
	}
	if s.Every <= 0 {
		s.Every = DefaultEvery
	}
	if s.Location == nil {
		s.Location = time.UTC
	}
	return s
}

// LastFull is the latest full slot at or before t.
func (s Schedule) LastFull(t time.Time) time.Time {
	s = s.withDefaults()
	for y, m, d := t.In(s.Location).Date(); ; d-- {
		if slot := atWall(y, m, d, s.Full, s.Location); !slot.After(t) {
			return slot
		}
	}
}

// LastIncremental is the latest incremental slot at or before t; ok is false when the
// schedule has none (Every ≥ 24 h).
func (s Schedule) LastIncremental(t time.Time) (slot time.Time, ok bool) {
	s = s.withDefaults()
	offsets := s.incrementals()
	if len(offsets) == 0 {
		return time.Time{}, false
	}
	for y, m, d := t.In(s.Location).Date(); ; d-- {
		for i := len(offsets) - 1; i >= 0; i-- {
			if slot := atWall(y, m, d, offsets[i], s.Location); !slot.After(t) {
				return slot, true
			}
		}
	}
}

// NextAfter is the first slot of either kind strictly after t, and its kind: when the
// schedule next has something to do.
func (s Schedule) NextAfter(t time.Time) (time.Time, string) {
	s = s.withDefaults()
	offsets := append([]time.Duration{s.Full}, s.incrementals()...)
	for y, m, d := t.In(s.Location).Date(); ; d++ {
		for i, off := range offsets {
			if slot := atWall(y, m, d, off, s.Location); slot.After(t) {
				if i == 0 {
					return slot, KindFull
				}
				return slot, KindIncremental
			}
		}
	}
}

// incrementals are the times of day of the incremental slots, ascending.
func (s Schedule) incrementals() []time.Duration {
	var offs []time.Duration
	for off := s.Full + s.Every; off < 24*time.Hour; off += s.Every {
		offs = append(offs, off)
	}
	return offs
}

// atWall is the first instant at or after the wall-clock time of day off on the local date
// (y, m, d) in loc (the date is normalised, so d may be 0 or negative).
//
// time.Date does not promise which of the two instants it returns for a wall time that occurs
// twice, nor what it returns for one that does not occur; so the instant is found zone period
// by zone period instead: within a period the offset is fixed and the wall clock runs with the
// instant, so the period's first instant at or after the wall time is known at once; the
// first period that has one is the answer.
func atWall(y int, m time.Month, d int, off time.Duration, loc *time.Location) time.Time {
	// The wall time as if it were UTC: wall(u) = u + offset(u).
	date := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	target := date.Add(off)
	// Offsets lie within −12 h … +14 h: 15 hours before the target, every zone's wall clock
	// still shows an earlier time.
	u := target.Add(-15 * time.Hour)
	for {
		local := u.In(loc)
		_, secs := local.Zone()
		cand := target.Add(-time.Duration(secs) * time.Second)
		if cand.Before(u) {
			cand = u // the wall clock jumped past the target at the period's start
		}
		_, end := local.ZoneBounds()
		if end.IsZero() || cand.Before(end) {
			return cand.UTC()
		}
		u = end
	}
}
