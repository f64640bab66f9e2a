package timeline

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// The replay cache. Every query of a moment between two snapshots replays the same events,
// whatever its box: a phone panning over a day 20 days back asks dozens of boxes of one
// moment, and a busy town writes thousands of events in the four hours after a snapshot. The
// replay's result, what the events changed wherever it is, is the same for every box; the box
// only filters it (apply). So it is kept per (snapshot, moment), for past moments only:
//
//   - A moment more than cacheAfter ago: the events at or before it are all in the log (a
//     transaction's events carry its start time; none runs that long), so the replay cannot
//     change any more. A later moment, and "now" (a date of today), is replayed per query:
//     keying by the log's last position instead would be a key per new event.
//   - The key holds the snapshot: a newer snapshot at or before the moment makes another key.
//     Every entry is dropped when a snapshot is ingested or the history pruned (forgetIngested).
//   - After a snapshot older than the retention the log may lose events, and the answer then
//     changes (exact: false): such replays are not kept.
//   - Memory is bounded by Service.CacheBytes (the least recently used entries go first; one
//     larger than a quarter of it is not kept).

// cacheAfter is how far a moment must lie in the past for its replay to be kept.
const cacheAfter = 10 * time.Minute

// replayed is the replay of the events after one snapshot up to one moment, whatever the box.
type replayed struct {
	events int  // events replayed
	exact  bool // false: the log no longer holds them all; nothing replayed
	// changed: what the events changed, wherever it is (nil: removed), per section.
	changed map[string]map[string]json.RawMessage
	// parents: the Knoten (as of the snapshot; nil: none) of the changed objects drawn at
	// their Knoten that the events did not change, so that apply need not look them up.
	parents map[string]json.RawMessage
	// rollen: the Garnrollen the events changed, and as of the snapshot (nil: none) those of
	// the other spinners and donors of the changed Fäden and Goldfäden (for enrich; nil: ask).
	rollen map[string]json.RawMessage
	// places: where each changed object of the shown sections is drawn (nil: ask inside).
	places map[string]map[string]place
	// shown: the changed objects of the shown sections that end on the map (placed, and their
	// Knoten there), each with where it is drawn; a box takes those inside it (apply). Those
	// drawn at a point are sorted by latitude, so that a box reads only its band of them;
	// anywhere: those drawn whatever the box.
	shown, anywhere []shownObject
	bytes           int64 // about what it holds in memory
}

type shownObject struct {
	section, id string
	json        json.RawMessage
	place       place
}

type cacheKey struct {
	snapshot string
	moment   int64 // Unix nanoseconds
}

type cacheEntry struct {
	done chan struct{} // closed when r or err is set
	r    *replayed
	err  error
	used uint64
}

type replayCache struct {
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	bytes   int64
	tick    uint64
	gen     uint64 // moved on by clear: a replay begun before is not kept
}

// clear drops every entry (a snapshot was ingested, or the history pruned).
func (c *replayCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries, c.bytes = nil, 0
	c.gen++
}

// cacheable reports whether the replay after snap up to m may be kept.
func (s *Service) cacheable(snap Record, m time.Time) bool {
	now := s.clock.Now()
	if s.CacheBytes <= 0 || !m.Before(now.Add(-cacheAfter)) {
		return false
	}
	return s.Retention < 0 || !snap.AsOf.Before(now.Add(-s.Retention))
}

// cachedReplay returns the kept replay after snap up to m, replaying it first if it is not
// kept; concurrent queries of the same moment wait for one replay.
func (s *Service) cachedReplay(ctx context.Context, snap Record, m time.Time) (*replayed, error) {
	c := &s.cache
	key := cacheKey{snap.Hash, m.UnixNano()}
	c.mu.Lock()
	c.tick++
	if e, ok := c.entries[key]; ok {
		e.used = c.tick
		c.mu.Unlock()
		select {
		case <-e.done:
			if e.err != nil {
				return nil, e.err
			}
			return e.r, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.entries == nil {
		c.entries = map[cacheKey]*cacheEntry{}
	}
	e := &cacheEntry{done: make(chan struct{}), used: c.tick}
	c.entries[key] = e
	gen := c.gen
	c.mu.Unlock()

	r, err := s.replayAfter(ctx, snap, m, nil)
	c.mu.Lock()
	e.r, e.err = r, err
	limit := s.CacheBytes
	if err != nil || gen != c.gen || limit <= 0 || r.bytes > limit/4 {
		if c.entries[key] == e {
			delete(c.entries, key)
		}
	} else {
		c.bytes += r.bytes
		for c.bytes > limit {
			var oldest cacheKey
			var victim *cacheEntry
			for k, o := range c.entries {
				if o.r != nil && o != e && (victim == nil || o.used < victim.used) {
					oldest, victim = k, o
				}
			}
			if victim == nil {
				break
			}
			delete(c.entries, oldest)
			c.bytes -= victim.r.bytes
		}
	}
	c.mu.Unlock()
	close(e.done)
	return r, err
}

// replayAfter reads the events after snap up to m and replays them; box holds objects as of
// the snapshot already read (nil: none), which spares looking them up.
func (s *Service) replayAfter(ctx context.Context, snap Record, m time.Time,
	box map[string]map[string]json.RawMessage) (*replayed, error) {
	evs, exact, err := s.eventsAfter(ctx, snap, m)
	if err != nil {
		return nil, err
	}
	r := &replayed{exact: exact}
	if !exact || len(evs) == 0 {
		return r, nil
	}
	if r.changed, err = s.replay(ctx, snap, evs, box); err != nil {
		return nil, err
	}
	r.events = len(evs)
	// The Knoten of the changed objects drawn at theirs, as apply will ask for them.
	r.parents = map[string]json.RawMessage{}
	for _, c := range r.changed {
		for id, j := range c {
			r.bytes += int64(len(id)+len(j)) + 64
		}
	}
	for _, sec := range Sections {
		for _, j := range r.changed[sec] {
			if j == nil {
				continue
			}
			p := parentOf(j)
			if p == "" {
				continue
			}
			if _, ok := r.changed["knoten"][p]; ok {
				continue
			}
			if _, ok := r.parents[p]; ok {
				continue
			}
			k, found, err := s.version(ctx, "knoten", p, snap.AsOf)
			if err != nil {
				return nil, err
			}
			if !found {
				k = nil
			}
			r.parents[p] = k
			r.bytes += int64(len(p)+len(k)) + 64
		}
	}
	// The spinners' and donors' Garnrollen, read once rather than per box (enrich).
	r.rollen = map[string]json.RawMessage{}
	maps.Copy(r.rollen, r.changed["garnrollen"])
	var need []string
	for _, sec := range []string{"faeden", "goldfaeden"} {
		for _, j := range r.changed[sec] {
			var w struct {
				AccountID string `json:"account_id"`
			}
			if j == nil || json.Unmarshal(j, &w) != nil || w.AccountID == "" {
				continue
			}
			if _, ok := r.rollen[w.AccountID]; !ok {
				r.rollen[w.AccountID] = nil // none, unless found below
				need = append(need, w.AccountID)
			}
		}
	}
	if len(need) > 0 {
		rows, err := s.pool.Query(ctx, `
SELECT id, object FROM timeline_versions
WHERE section = 'garnrollen' AND id = ANY($1) AND lower(valid) <= $2 AND valid @> $2::timestamptz`, need, snap.AsOf)
		if err != nil {
			return nil, fmt.Errorf("timeline: garnrollen: %w", err)
		}
		for rows.Next() {
			var id string
			var obj []byte
			if err := rows.Scan(&id, &obj); err != nil {
				rows.Close()
				return nil, fmt.Errorf("timeline: garnrollen: %w", err)
			}
			r.rollen[id] = obj
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("timeline: garnrollen: %w", err)
		}
	}
	for id, j := range r.rollen {
		r.bytes += int64(len(id)+len(j)) + 64
	}
	// Where each is drawn, read once rather than per box.
	knotenAt := func(id string) (json.RawMessage, bool) {
		if j, ok := r.changed["knoten"][id]; ok {
			return j, j != nil
		}
		j := r.parents[id]
		return j, j != nil
	}
	r.places = map[string]map[string]place{}
	for _, sec := range Sections {
		for id, j := range r.changed[sec] {
			if j == nil {
				continue
			}
			if r.places[sec] == nil {
				r.places[sec] = map[string]place{}
			}
			pl := placeOf(sec, j, knotenAt)
			r.places[sec][id] = pl
			r.bytes += int64(len(id)) + 48
			if pl.where == placeNowhere {
				continue
			}
			if p := parentOf(j); p != "" && sec != "knoten" {
				if _, ok := knotenAt(p); !ok {
					continue // gone with its Knoten
				}
			}
			o := shownObject{section: sec, id: id, json: j, place: pl}
			if pl.where == placeAnywhere {
				r.anywhere = append(r.anywhere, o)
			} else {
				r.shown = append(r.shown, o)
			}
			r.bytes += 80
		}
	}
	slices.SortFunc(r.shown, func(a, b shownObject) int { return cmp.Compare(a.place.lat, b.place.lat) })
	return r, nil
}

// CachedBytes is about how much memory the kept replays hold, and how many there are.
func (s *Service) CachedBytes() (bytes int64, entries int) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.bytes, len(s.cache.entries)
}

// applyKept is apply for a kept replay: the box's changed objects leave it, then those of
// r.shown inside the box enter (their places and Knoten read once, when the replay was kept),
// without decoding or looking up anything per changed object.
func (s *Service) applyKept(ctx context.Context, snap Record, r *replayed, box knoten.BBox,
	objs map[string]map[string]json.RawMessage, parents map[string]map[string]string) error {
	for _, sec := range Sections {
		c := r.changed[sec]
		if len(c) == 0 {
			continue
		}
		for id := range objs[sec] {
			if _, ok := c[id]; ok {
				delete(objs[sec], id)
			}
		}
	}
	enter := func(o *shownObject) error {
		m := objs[o.section]
		if len(m) >= MaxObjects {
			return ErrTooMany
		}
		m[o.id] = o.json
		return nil
	}
	for i := range r.anywhere {
		if err := enter(&r.anywhere[i]); err != nil {
			return err
		}
	}
	// The band of latitudes the box spans, then its longitudes.
	i, _ := slices.BinarySearchFunc(r.shown, box.MinLat, func(o shownObject, lat float64) int { return cmp.Compare(o.place.lat, lat) })
	for ; i < len(r.shown) && r.shown[i].place.lat <= box.MaxLat; i++ {
		if o := &r.shown[i]; o.place.in(box) {
			if err := enter(o); err != nil {
				return err
			}
		}
	}
	// A Faden or an Antrag of the snapshot whose Knoten is gone is gone with it (those that
	// entered, all changed ones, were checked when the replay was kept).
	knotenAt := func(id string) bool {
		if j, ok := r.changed["knoten"][id]; ok {
			return j != nil
		}
		if j, ok := r.parents[id]; ok {
			return j != nil
		}
		_, ok, err := s.version(ctx, "knoten", id, snap.AsOf)
		return err == nil && ok
	}
	for _, sec := range Sections[1:] {
		c := r.changed[sec]
		for id := range objs[sec] {
			if _, ok := c[id]; ok {
				continue
			}
			// Not changed: the snapshot's, whose Knoten inBox read.
			if p := parents[sec][id]; p != "" {
				if _, ok := objs["knoten"][p]; !ok && !knotenAt(p) {
					delete(objs[sec], id)
				}
			}
		}
	}
	return nil
}
