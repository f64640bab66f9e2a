package timeline

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

var errNoRows = pgx.ErrNoRows

// Sync ingests the verified snapshots not yet in the history, oldest first, one caller at a
// time per process. Replicas serialise on a lock in the database (Ingest), and a snapshot
// already recorded, or older than the newest recorded, is skipped.
func (s *Service) Sync(ctx context.Context) error {
	s.syncing.Lock()
	defer s.syncing.Unlock()
	return s.sync(ctx)
}

// trySync is a query's Sync, run beside it: when another is running, it leaves it be.
func (s *Service) trySync(ctx context.Context) error {
	if !s.syncing.TryLock() {
		return nil
	}
	defer s.syncing.Unlock()
	return s.sync(ctx)
}

func (s *Service) sync(ctx context.Context) error {
	recs, err := s.src.List(ctx)
	if err != nil {
		return fmt.Errorf("timeline: list snapshots: %w", err)
	}
	newest, _, err := database.Earliest(ctx, s.pool, `SELECT max(as_of) FROM timeline_snapshots`) // zero: none
	if err != nil {
		return fmt.Errorf("timeline: sync: %w", err)
	}
	for _, r := range recs {
		// Versions are intervals from one snapshot to the next: only snapshots after the
		// newest ingested one can extend them.
		if !r.AsOf.After(newest) {
			continue
		}
		if err := s.ingestRecord(ctx, r); err != nil {
			return err
		}
		newest = r.AsOf
	}
	return nil
}

func (s *Service) ingestRecord(ctx context.Context, r Record) error {
	f, err := s.src.Open(ctx, r.Hash)
	if err != nil {
		return fmt.Errorf("timeline: open snapshot %s: %w", r.Hash, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("timeline: snapshot %s: %w", r.Hash, err)
	}
	start := time.Now()
	n, err := s.Ingest(ctx, r, zr)
	if err != nil {
		return err
	}
	s.log.Info("timeline: snapshot ingested", "hash", r.Hash, "kind", r.Kind, "objects", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Ingest reads one snapshot document (uncompressed canonical JSON) and records its map
// objects as versions from its as_of on: a changed object closes its open version and opens a
// new one; an object a full snapshot lacks, or an incremental lists as gone, closes its open
// version. The document is streamed into a staging table, so memory stays bounded whatever
// the map's size. It returns the number of map objects read.
func (s *Service) Ingest(ctx context.Context, r Record, doc io.Reader) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("timeline: ingest: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit a no-op
	// One ingest at a time across replicas; the versions are intervals from one snapshot to the
	// next, so a snapshot not newer than the newest recorded changes nothing.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('timeline:ingest'))`); err != nil {
		return 0, fmt.Errorf("timeline: ingest: %w", err)
	}
	var stale bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timeline_snapshots WHERE as_of >= $1)`, r.AsOf).Scan(&stale); err != nil {
		return 0, fmt.Errorf("timeline: ingest: %w", err)
	}
	if stale {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `
CREATE TEMP TABLE timeline_staging (section text, id text, lon float8, lat float8, parent text, object jsonb,
    geom geometry(Point, 4326)) ON COMMIT DROP`); err != nil {
		return 0, fmt.Errorf("timeline: ingest: %w", err)
	}
	d := newDocReader(doc)
	var gone map[string][]string
	var count int64
	src := &stagingRows{d: d, gone: &gone}
	count, err = tx.CopyFrom(ctx, pgx.Identifier{"timeline_staging"}, []string{"section", "id", "lon", "lat", "parent", "object"}, src)
	if err != nil {
		return 0, fmt.Errorf("timeline: ingest %s: %w", r.Hash, err)
	}
	if d.kind != r.Kind && d.kind != "" {
		return 0, fmt.Errorf("timeline: snapshot %s says kind %q, the service %q", r.Hash, d.kind, r.Kind)
	}
	steps := []string{
		`CREATE INDEX ON timeline_staging (section, id)`,
		`UPDATE timeline_staging SET geom = point4326(lon, lat) WHERE lon IS NOT NULL`,
		// A Faden or an Antrag is drawn at its Knoten: the one in this snapshot, or the open version.
		`UPDATE timeline_staging s SET geom = coalesce(
    (SELECT k.geom FROM timeline_staging k WHERE k.section = 'knoten' AND k.id = s.parent),
    (SELECT v.geom FROM timeline_versions v WHERE v.section = 'knoten' AND v.id = s.parent AND upper_inf(v.valid)))
WHERE s.geom IS NULL AND s.parent IS NOT NULL`,
		`ANALYZE timeline_staging`,
		`UPDATE timeline_versions v SET valid = tstzrange(lower(v.valid), $1, '[)')
FROM timeline_staging s
WHERE v.section = s.section AND v.id = s.id AND upper_inf(v.valid)
  AND (v.object <> s.object OR v.geom IS DISTINCT FROM s.geom)`,
		`INSERT INTO timeline_versions (section, id, valid, geom, parent, object)
SELECT s.section, s.id, tstzrange($1, NULL, '[)'), s.geom, s.parent, s.object FROM timeline_staging s
WHERE NOT EXISTS (SELECT 1 FROM timeline_versions v WHERE v.section = s.section AND v.id = s.id AND upper_inf(v.valid))`,
	}
	for _, q := range steps {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, r.AsOf)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("timeline: ingest %s: %w", r.Hash, err)
		}
	}
	if r.Kind == "full" {
		// What the full state lacks is gone.
		if _, err := tx.Exec(ctx, `
UPDATE timeline_versions v SET valid = tstzrange(lower(v.valid), $1, '[)')
WHERE upper_inf(v.valid) AND lower(v.valid) < $1
  AND NOT EXISTS (SELECT 1 FROM timeline_staging s WHERE s.section = v.section AND s.id = v.id)`, r.AsOf); err != nil {
			return 0, fmt.Errorf("timeline: ingest %s: %w", r.Hash, err)
		}
	} else {
		for _, sec := range stored {
			if ids := gone[sec]; len(ids) > 0 {
				if _, err := tx.Exec(ctx, `
UPDATE timeline_versions SET valid = tstzrange(lower(valid), $1, '[)')
WHERE section = $2 AND id = ANY($3) AND upper_inf(valid) AND lower(valid) < $1`, r.AsOf, sec, ids); err != nil {
					return 0, fmt.Errorf("timeline: ingest %s: %w", r.Hash, err)
				}
			}
		}
	}
	running := r.Position.Running
	if running == nil {
		running = []uint64{}
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO timeline_snapshots (hash, kind, as_of, pos_xmin, pos_xmax, running, objects)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (hash) DO NOTHING`,
		r.Hash, r.Kind, r.AsOf, r.Position.Xmin, r.Position.Xmax, running, count); err != nil {
		return 0, fmt.Errorf("timeline: ingest %s: %w", r.Hash, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("timeline: ingest %s: %w", r.Hash, err)
	}
	s.forgetIngested()
	return count, nil
}

// Prune removes the history no snapshot still kept can show: versions that ended before the
// oldest snapshot kept (retention removes older snapshots), and the records of removed ones.
func (s *Service) Prune(ctx context.Context, oldestKept time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM timeline_versions WHERE NOT upper_inf(valid) AND upper(valid) <= $1`, oldestKept); err != nil {
		return fmt.Errorf("timeline: prune: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM timeline_snapshots WHERE as_of < $1`, oldestKept); err != nil {
		return fmt.Errorf("timeline: prune: %w", err)
	}
	s.forgetIngested()
	return nil
}

// stagingRows feeds COPY from the document: one row per map object.
type stagingRows struct {
	d    *docReader
	gone *map[string][]string
	row  []any
	err  error
}

func (r *stagingRows) Next() bool {
	for {
		sec, obj, ok, err := r.d.next()
		if err != nil {
			r.err = err
			return false
		}
		if !ok {
			*r.gone = r.d.gone
			return false
		}
		if !slices.Contains(stored, sec) {
			continue
		}
		var probe struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(obj, &probe); err != nil || probe.ID == "" {
			r.err = fmt.Errorf("timeline: an object of %s without a string id", sec)
			return false
		}
		var lon, lat any
		if p, ok := pointOf(obj); ok {
			lon, lat = p[0], p[1]
		}
		var parent any
		if p := parentOf(obj); p != "" {
			parent = p
		}
		r.row = []any{sec, probe.ID, lon, lat, parent, string(obj)}
		return true
	}
}

func (r *stagingRows) Values() ([]any, error) { return r.row, nil }
func (r *stagingRows) Err() error             { return r.err }

// docReader streams a snapshot document's objects: the members before "objects" are read as
// they come ("gone" and "kind" are kept), then each section's array one object at a time.
type docReader struct {
	dec     *json.Decoder
	kind    string
	gone    map[string][]string
	state   int // 0: before objects, 1: in a section's array, 2: between sections, 3: done
	section string
}

func newDocReader(r io.Reader) *docReader {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &docReader{dec: dec}
}

func (d *docReader) delim(want json.Delim) error {
	t, err := d.dec.Token()
	if err != nil {
		return fmt.Errorf("timeline: snapshot document: %w", err)
	}
	if t != want {
		return fmt.Errorf("timeline: snapshot document: %v where %v belongs", t, want)
	}
	return nil
}

// next returns the next object and its section; false at the end of "objects".
func (d *docReader) next() (string, json.RawMessage, bool, error) {
	for {
		switch d.state {
		case 0:
			if err := d.delim('{'); err != nil {
				return "", nil, false, err
			}
			for {
				if !d.dec.More() {
					return "", nil, false, errors.New("timeline: snapshot document without objects")
				}
				t, err := d.dec.Token()
				if err != nil {
					return "", nil, false, fmt.Errorf("timeline: snapshot document: %w", err)
				}
				switch t {
				case "objects":
					if err := d.delim('{'); err != nil {
						return "", nil, false, err
					}
					d.state = 2
				case "gone":
					if err := d.dec.Decode(&d.gone); err != nil {
						return "", nil, false, fmt.Errorf("timeline: snapshot document: gone: %w", err)
					}
				case "kind":
					if err := d.dec.Decode(&d.kind); err != nil {
						return "", nil, false, fmt.Errorf("timeline: snapshot document: kind: %w", err)
					}
				default:
					var skip json.RawMessage
					if err := d.dec.Decode(&skip); err != nil {
						return "", nil, false, fmt.Errorf("timeline: snapshot document: %w", err)
					}
				}
				if d.state == 2 {
					break
				}
			}
		case 2:
			if !d.dec.More() {
				d.state = 3
				return "", nil, false, nil
			}
			t, err := d.dec.Token()
			if err != nil {
				return "", nil, false, fmt.Errorf("timeline: snapshot document: %w", err)
			}
			name, ok := t.(string)
			if !ok {
				return "", nil, false, errors.New("timeline: snapshot document: a section without a name")
			}
			if err := d.delim('['); err != nil {
				return "", nil, false, err
			}
			d.section, d.state = name, 1
		case 1:
			if !d.dec.More() {
				if err := d.delim(']'); err != nil {
					return "", nil, false, err
				}
				d.state = 2
				continue
			}
			var obj json.RawMessage
			if err := d.dec.Decode(&obj); err != nil {
				return "", nil, false, fmt.Errorf("timeline: snapshot document: %s: %w", d.section, err)
			}
			return d.section, obj, true, nil
		default:
			return "", nil, false, nil
		}
	}
}

// pointOf finds where an object is drawn by its own place: "lat"/"lon", or a "position"
// holding them (a Garnrolle's public point).
func pointOf(obj json.RawMessage) ([2]float64, bool) {
	var p struct {
		Lat, Lon *float64
		Position *struct{ Lat, Lon *float64 }
	}
	if json.Unmarshal(obj, &p) != nil {
		return [2]float64{}, false
	}
	if p.Lat != nil && p.Lon != nil {
		return [2]float64{*p.Lon, *p.Lat}, true
	}
	if p.Position != nil && p.Position.Lat != nil && p.Position.Lon != nil {
		return [2]float64{*p.Position.Lon, *p.Position.Lat}, true
	}
	return [2]float64{}, false
}

// parentOf is the Knoten an object belongs to ("knoten_id"), "" for none.
func parentOf(obj json.RawMessage) string {
	var p struct {
		KnotenID string `json:"knoten_id"`
	}
	if json.Unmarshal(obj, &p) != nil {
		return ""
	}
	return p.KnotenID
}

// inside reports whether an object of section is in the box: by its own point, or its
// Knoten's; an object with neither is shown whatever the box if its section may be placeless
// (an Antrag, a Goldfaden), and in no box otherwise (a Garnrolle not on the map).
func inside(section string, obj json.RawMessage, box knoten.BBox, knotenAt func(id string) (json.RawMessage, bool)) bool {
	return placeOf(section, obj, knotenAt).in(box)
}

// place is where an object is drawn, as inside reads it: a point, every box, or none.
type place struct {
	lon, lat float64
	where    int8 // placeNowhere, placePoint, placeAnywhere
}

const (
	placeNowhere int8 = iota
	placePoint
	placeAnywhere
)

func placeOf(section string, obj json.RawMessage, knotenAt func(id string) (json.RawMessage, bool)) place {
	p, ok := pointOf(obj)
	if !ok {
		parent := parentOf(obj)
		if parent == "" {
			if slices.Contains(placeless, section) {
				return place{where: placeAnywhere}
			}
			return place{}
		}
		k, found := knotenAt(parent)
		if !found {
			return place{}
		}
		if p, ok = pointOf(k); !ok {
			return place{}
		}
	}
	return place{lon: p[0], lat: p[1], where: placePoint}
}

func (pl place) in(box knoten.BBox) bool {
	switch pl.where {
	case placeAnywhere:
		return true
	case placeNowhere:
		return false
	}
	lon, lat := pl.lon, pl.lat
	if lat < box.MinLat || lat > box.MaxLat {
		return false
	}
	if box.MinLon <= box.MaxLon {
		return lon >= box.MinLon && lon <= box.MaxLon
	}
	return lon >= box.MinLon || lon <= box.MaxLon
}
