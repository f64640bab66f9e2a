package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// What a snapshot shows whatever the box: its placeless objects (the Anträge without a Knoten,
// the Goldfäden), which every answer from it lists, and its Ortskonto, which every answer
// carries. Both are fixed once the snapshot is ingested (a version valid at the snapshot's
// instant never changes: a later ingest only closes open versions at its own, later, instant),
// so they are read once per snapshot and kept, instead of riding along with every box's query
// and costing every answer a second round trip. Dropped with the kept replays when a snapshot
// is ingested or the history pruned (forgetIngested).

// maxKeptSnapshots bounds how many snapshots' placeless objects are kept: a phone scrubbing
// through days moves between a few.
const maxKeptSnapshots = 16

// atSnapshot is what one snapshot shows whatever the box.
type atSnapshot struct {
	// placeless: per section of placeless, the objects drawn by no place, by id.
	placeless map[string]map[string]json.RawMessage
	// parents: their Knoten (timeline_versions.parent), by section and id; only those with one.
	parents map[string]map[string]string
	// konto: the Ortskonto's object at the snapshot (nil: none), set up or not.
	konto json.RawMessage
	bytes int64
	used  uint64
}

type snapshotCache struct {
	mu      sync.Mutex
	entries map[string]*atSnapshot // by snapshot hash
	bytes   int64
	tick    uint64
	gen     uint64 // moved on by clear: a read begun before is not kept
}

func (c *snapshotCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries, c.bytes = nil, 0
	c.gen++
}

// atSnapshot returns what snap shows whatever the box, from memory when it is kept. With
// CacheBytes 0 nothing is kept; a snapshot whose placeless objects exceed a quarter of it is
// read per query.
func (s *Service) atSnapshot(ctx context.Context, snap Record) (*atSnapshot, error) {
	c := &s.snaps
	c.mu.Lock()
	c.tick++
	if e, ok := c.entries[snap.Hash]; ok {
		e.used = c.tick
		c.mu.Unlock()
		return e, nil
	}
	gen := c.gen
	c.mu.Unlock()

	a, err := s.readAtSnapshot(ctx, snap.AsOf)
	if err != nil {
		return nil, err
	}
	limit := s.CacheBytes
	if limit <= 0 || a.bytes > limit/4 {
		return a, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return a, nil
	}
	if c.entries == nil {
		c.entries = map[string]*atSnapshot{}
	}
	if old, ok := c.entries[snap.Hash]; ok { // a concurrent query read it too
		return old, nil
	}
	a.used = c.tick
	c.entries[snap.Hash] = a
	c.bytes += a.bytes
	for len(c.entries) > maxKeptSnapshots || c.bytes > limit/4 {
		var oldest string
		var victim *atSnapshot
		for h, e := range c.entries {
			if e != a && (victim == nil || e.used < victim.used) {
				oldest, victim = h, e
			}
		}
		if victim == nil {
			break
		}
		delete(c.entries, oldest)
		c.bytes -= victim.bytes
	}
	return a, nil
}

// readAtSnapshot reads the placeless objects and the Ortskonto valid at instant t, in one
// round trip.
func (s *Service) readAtSnapshot(ctx context.Context, t time.Time) (*atSnapshot, error) {
	a := &atSnapshot{placeless: map[string]map[string]json.RawMessage{}, parents: map[string]map[string]string{}}
	for _, sec := range placeless {
		a.placeless[sec] = map[string]json.RawMessage{}
	}
	rows, err := s.pool.Query(ctx, `
(SELECT section, id, parent, object FROM timeline_versions
 WHERE geom IS NULL AND section = ANY($2) AND lower(valid) <= $1 AND valid @> $1::timestamptz LIMIT $4)
UNION ALL
(SELECT section, id, parent, object FROM timeline_versions
 WHERE section = 'ortskonto' AND id = $3 AND lower(valid) <= $1 AND valid @> $1::timestamptz)`,
		t, placeless, ortskonto.SnapshotKontoID, 2*MaxObjects+2)
	if err != nil {
		return nil, fmt.Errorf("timeline: at snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sec, id string
		var parent *string
		var obj []byte
		if err := rows.Scan(&sec, &id, &parent, &obj); err != nil {
			return nil, fmt.Errorf("timeline: at snapshot: %w", err)
		}
		obj = compactJSONB(obj)
		a.bytes += int64(len(id)+len(obj)) + 64
		if sec == "ortskonto" {
			a.konto = obj
			continue
		}
		m := a.placeless[sec]
		if m == nil {
			continue
		}
		if len(m) >= MaxObjects {
			return nil, ErrTooMany
		}
		m[id] = obj
		if parent != nil && *parent != "" {
			if a.parents[sec] == nil {
				a.parents[sec] = map[string]string{}
			}
			a.parents[sec][id] = *parent
			a.bytes += int64(len(*parent)) + 32
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline: at snapshot: %w", err)
	}
	return a, nil
}

// compactJSONB removes the whitespace PostgreSQL's jsonb text output puts after every colon
// and comma ("key": value, …), in place. The history's objects are read as that text; compact,
// an answer holds them as they are (as encoding/json writes a json.RawMessage), and dissolved
// reads them without a scanner.
func compactJSONB(b []byte) []byte { return AppendCompact(b[:0], b) }

// AppendCompact appends the JSON document src without whitespace outside its strings: what
// json.Compact makes of valid JSON, without checking it (the answers' objects come from the
// history's jsonb or from encoding/json), and faster: a string, most of an object's bytes, is
// skipped to its closing quote with bytes.IndexByte. dst may be src[:0] (in place).
func AppendCompact(dst, src []byte) []byte {
	start := 0 // src[start:i] is still to be appended
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		case '"':
			// The closing quote: the next one not escaped, i.e. after an even run of backslashes.
			for {
				q := bytes.IndexByte(src[i+1:], '"')
				if q < 0 {
					return append(dst, src[start:]...)
				}
				i += 1 + q
				bs := 0
				for j := i - 1; j >= 0 && src[j] == '\\'; j-- {
					bs++
				}
				if bs%2 == 0 {
					break
				}
			}
		}
	}
	return append(dst, src[start:]...)
}
