package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// Box is a map area in degrees; the zero Box is the whole map.
type Box struct {
	MinLon, MinLat, MaxLon, MaxLat float64
	Set                            bool
}

func (b Box) holds(lat, lon float64) bool {
	return !b.Set || (lon >= b.MinLon && lon <= b.MaxLon && lat >= b.MinLat && lat <= b.MaxLat)
}

// MaxPerSection bounds each list a mirrored timeline answers with (as the origin's timeline).
const MaxPerSection = 20000

// ErrTooMany: a section has more than MaxPerSection objects in the box.
var ErrTooMany = errors.New("federation: mirror timeline: too many objects in the box")

// DefaultTimelineReads is how many mirrored timelines are read at once when no other number
// is set: each read decompresses and parses a whole full snapshot (up to MaxBytes compressed),
// and anyone may ask, so one at a time keeps a flood of requests from taking the machine.
const DefaultTimelineReads = 1

// DefaultTimelineBytes bounds the JSON a mirrored timeline holds in memory at once (the
// Fäden waiting for their Knoten plus the objects of the answer) when no other bound is set.
const DefaultTimelineBytes int64 = 64 << 20

// ErrBusy: as many mirrored timelines as allowed are being read now; ask again shortly.
var ErrBusy = errors.New("federation: mirror timeline: busy")

// ErrTooLarge: the answer (with the Fäden held until their Knoten are known) would hold more
// than TimelineBytes of JSON.
var ErrTooLarge = errors.New("federation: mirror timeline: too large")

// TimelineSections are the sections a mirrored timeline answers with.
var TimelineSections = []string{"knoten", "faeden", "garnrollen", "antraege", "ortsweberei"}

// State is a neighbour's public map as its newest mirrored snapshot at or before a moment holds
// it: the snapshot's objects (in the snapshot's shapes, docs/SNAPSHOTS.md), Knoten on the map
// and inside the box, the Fäden to those Knoten, the Garnrollen placed inside the box, every
// Antrag, and the Ortsweberei.
type State struct {
	Snapshot Record
	Objects  map[string][]json.RawMessage
}

// At answers the state of host's map at the moment from the mirror alone: the events after
// the snapshot are the origin's, which may be gone; so the answer is the state of the day's
// snapshot (a mirror keeps the daily full ones). snapshot.ErrNoSnapshot when no mirrored
// snapshot is that old.
func (s *Service) At(ctx context.Context, host string, at time.Time, box Box) (State, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+columns+` FROM snapshot_mirrors WHERE origin = $1 AND as_of <= $2
ORDER BY as_of DESC LIMIT 1`, host, at)
	if err != nil {
		return State{}, fmt.Errorf("federation: mirror timeline: %w", err)
	}
	var rec Record
	found := false
	for rows.Next() {
		if rec, err = scan(rows); err != nil {
			rows.Close()
			return State{}, err
		}
		found = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return State{}, err
	}
	if !found {
		return State{}, snapshot.ErrNoSnapshot
	}
	// Only now, with a snapshot to read: an unknown host or day costs one query, not a slot.
	select {
	case s.reads <- struct{}{}:
		defer func() { <-s.reads }()
	default:
		return State{}, ErrBusy
	}
	f, _, err := s.Open(ctx, host, rec.Hash, ".json.gz")
	if err != nil {
		return State{}, err
	}
	defer f.Close()
	var in io.Reader = f
	if wrap := s.readHook.Load(); wrap != nil {
		in = (*wrap)(in)
	}

	st := State{Snapshot: rec, Objects: map[string][]json.RawMessage{}}
	for _, sec := range TimelineSections {
		st.Objects[sec] = []json.RawMessage{}
	}
	var faeden []json.RawMessage // the section comes before knoten's: kept until the Knoten are known
	onMap := map[string]bool{}
	// held counts the JSON bytes kept: the file's order (sections by name) puts "faeden"
	// before "knoten", so the Fäden wait in memory until the Knoten on the map are known; a
	// hostile neighbour's file could make them many and large (each object up to 8 MiB).
	var held int64
	hold := func(n int) error {
		if held += int64(n); held > s.cfg.TimelineBytes {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.cfg.TimelineBytes)
		}
		return nil
	}
	add := func(sec string, o snapshot.Object) error {
		if len(st.Objects[sec]) >= MaxPerSection {
			return fmt.Errorf("%w: %s", ErrTooMany, sec)
		}
		if err := hold(len(o.JSON)); err != nil {
			return err
		}
		st.Objects[sec] = append(st.Objects[sec], append(json.RawMessage(nil), o.JSON...))
		return nil
	}
	_, err = snapshot.Read(in, func(sec string, o snapshot.Object) error {
		switch sec {
		case "knoten":
			var k struct {
				Lat, Lon    float64
				DissolvedAt *time.Time `json:"dissolved_at"`
			}
			if err := json.Unmarshal(o.JSON, &k); err != nil {
				return err
			}
			if k.DissolvedAt != nil || !box.holds(k.Lat, k.Lon) {
				return nil
			}
			onMap[o.ID] = true
			return add(sec, o)
		case "faeden":
			if len(faeden) >= 4*MaxPerSection {
				return fmt.Errorf("%w: faeden", ErrTooMany)
			}
			if err := hold(len(o.JSON)); err != nil {
				return err
			}
			faeden = append(faeden, append(json.RawMessage(nil), o.JSON...))
		case "garnrollen":
			var g struct {
				Position *struct{ Lat, Lon float64 }
			}
			if err := json.Unmarshal(o.JSON, &g); err != nil {
				return err
			}
			if g.Position == nil || !box.holds(g.Position.Lat, g.Position.Lon) {
				return nil
			}
			return add(sec, o)
		case "antraege", "ortsweberei":
			return add(sec, o)
		}
		return nil
	})
	if err != nil {
		return State{}, err
	}
	for _, raw := range faeden {
		var fa struct {
			KnotenID string `json:"knoten_id"`
		}
		if err := json.Unmarshal(raw, &fa); err != nil {
			return State{}, err
		}
		if onMap[fa.KnotenID] {
			if len(st.Objects["faeden"]) >= MaxPerSection {
				return State{}, fmt.Errorf("%w: faeden", ErrTooMany)
			}
			st.Objects["faeden"] = append(st.Objects["faeden"], raw)
		}
	}
	return st, nil
}
