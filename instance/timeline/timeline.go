// Package timeline answers "what did the map look like at this moment, in this box": from the
// nearest verified snapshot at or before the moment, plus the events after it while the log
// still holds them (docs/SNAPSHOTS.md, "The timeline").
//
// Reading a snapshot file per request cannot serve a phone's viewport quickly (a full snapshot
// of a million Knoten is hundreds of megabytes of JSON), so the snapshots are ingested, in
// their order, into a history projection this package owns: every map object's versions with
// the interval of snapshot time each was valid in and the point it is drawn at, GiST-indexed
// on (point, interval). A query is then one indexed lookup at the snapshot's instant plus a
// replay of at most four hours of events.
package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// Sections are the snapshot sections the timeline shows, in the order of the response.
var Sections = []string{"knoten", "faeden", "garnrollen", "goldfaeden", "antraege"}

// placeless are the sections whose objects may have no place on the map and are then shown
// whatever the box: an Antrag without a Knoten, a Goldfaden (drawn from the donor's Garnrolle
// to the Ortskonto). A Garnrolle without a position is not on the map.
var placeless = []string{"goldfaeden", "antraege"}

// stored are the sections the history keeps: those shown, and the Ortskonto, whose position
// a Goldfaden is drawn to.
var stored = append(slices.Clone(Sections), "ortskonto")

// MaxObjects bounds what one answer holds per section: a phone's or a desktop's viewport of a
// town is far below it; a box over a whole country is refused rather than read into memory.
const MaxObjects = 20000

// Errors a client sees.
var (
	ErrBeforeStart = fault.NotFoundf("timeline_before_start", "There is no snapshot of the Ortsweberei at or before this moment: it did not exist yet, or had not taken its first snapshot.")
	ErrFuture      = fault.Invalidf("date", "timeline_in_future", "This moment has not happened yet.")
	ErrTooMany     = fault.Invalidf("bbox", "timeline_too_many", "This view holds more than %d objects; zoom in.", MaxObjects)
)

// Record is a verified snapshot as the snapshot service lists it.
type Record struct {
	Hash, Kind string
	AsOf       time.Time
	Position   eventstore.Snapshot
}

// Source is where the verified snapshots are: the snapshot service.
type Source interface {
	// List returns every verified snapshot, oldest first.
	List(ctx context.Context) ([]Record, error)
	// Open returns the stored snapshot's gzip-compressed canonical document.
	Open(ctx context.Context, hash string) (io.ReadCloser, error)
}

// Events reads the log after a position (eventstore.Store).
type Events interface {
	Read(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error)
	// Earliest is the time of the oldest event the log still holds (false: none).
	Earliest(ctx context.Context) (time.Time, bool, error)
}

// Service is the timeline.
type Service struct {
	pool      *pgxpool.Pool
	clock     clock.Clock
	loc       *time.Location
	src       Source
	events    Events
	replayers map[string]snapshot.Replayer
	log       *slog.Logger
	// SyncEvery is how often a query looks for new snapshots to ingest (0: every query).
	SyncEvery time.Duration
	// Retention is how old the log's events get before they may be removed (negative: never);
	// after a snapshot younger than that, the replay needs no check.
	Retention time.Duration
	// WaitForSync makes a query wait for an ingest under way rather than answer without it.
	WaitForSync bool
	// CacheBytes bounds the memory of the replays kept for past moments (cache.go); 0: none
	// kept, every query replays the events itself.
	CacheBytes int64
	// Hidden, when set, says which of a section's objects the moderators hide now
	// (docs/MODERATION.md): they are left out of every moment, also of moments before the
	// hiding, whose snapshots and events still hold them. nil: nothing is hidden.
	Hidden func(ctx context.Context, section string, ids []string) (map[string]bool, error)

	cache    replayCache   // past moments' replays (cache.go)
	snaps    snapshotCache // what each snapshot shows whatever the box (atsnapshot.go)
	syncing  sync.Mutex
	mu       sync.Mutex
	ingested []Record // nil: not read yet
	lastSync time.Time
}

// NewService returns the timeline over the snapshots of src; replayers bring a section's objects
// forward with the events after a snapshot (sections without one are shown as of the snapshot).
func NewService(pool *pgxpool.Pool, c clock.Clock, loc *time.Location, src Source, events Events,
	replayers []snapshot.Replayer, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rs := map[string]snapshot.Replayer{}
	for _, r := range replayers {
		rs[r.Name()] = r
	}
	return &Service{pool: pool, clock: c, loc: loc, src: src, events: events, replayers: rs, log: log, SyncEvery: 15 * time.Second,
		Retention: 30 * 24 * time.Hour, CacheBytes: 64 << 20}
}

// Location is the Ortsweberei's time zone, in which dates and times are read.
func (s *Service) Location() *time.Location { return s.loc }

// Source tells where an answer came from.
type SourceInfo struct {
	Snapshot       string    `json:"snapshot"`
	SnapshotAsOf   time.Time `json:"snapshot_as_of"`
	EventsReplayed int       `json:"events_replayed"`
	// Exact is false when events after the snapshot were needed but the log no longer holds
	// them: the answer is then the snapshot's state alone.
	Exact bool `json:"exact"`
}

// State is the public map at a moment inside a box: per section, the objects' JSON (the live
// API's shapes), in ascending id order.
type State struct {
	AsOf    time.Time
	Source  SourceInfo
	Objects map[string][]json.RawMessage
	// Ortskonto is the Ortskonto's public object as of the moment, in the snapshot's shape
	// (ortskonto.SnapshotKonto: the balance, its sums and counts, bank, position); nil when the
	// Ortsweberei had no Ortskonto set up then.
	Ortskonto json.RawMessage
}

// Moment reads a date (YYYY-MM-DD) and an optional time (HH:MM) in the Ortsweberei's time zone:
// that time, or without one the end of the day, or now if the day is today. A malformed value
// is a 400; a moment after now is ErrFuture.
func (s *Service) Moment(date, at string) (time.Time, error) {
	day, err := time.ParseInLocation("2006-01-02", date, s.loc)
	if err != nil {
		return time.Time{}, fault.Malformedf("malformed_date", "date must be a day as YYYY-MM-DD.")
	}
	now := s.clock.Now()
	var m time.Time
	if at != "" {
		hm, err := time.Parse("15:04", at)
		if err != nil || len(at) != 5 {
			return time.Time{}, fault.Malformedf("malformed_time", "at must be a time of day as HH:MM.")
		}
		m = time.Date(day.Year(), day.Month(), day.Day(), hm.Hour(), hm.Minute(), 0, 0, s.loc)
	} else {
		m = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, s.loc).Add(-time.Microsecond)
		if m.After(now) && !day.After(now) {
			m = now
		}
	}
	if m.After(now) {
		return time.Time{}, ErrFuture
	}
	return m.UTC(), nil
}

// At returns the public map at moment m inside box.
func (s *Service) At(ctx context.Context, m time.Time, box knoten.BBox) (State, error) {
	if !box.Valid() {
		return State{}, fault.Invalidf("bbox", "invalid_bbox", "bbox must be minLon,minLat,maxLon,maxLat in degrees, with minLat ≤ maxLat.")
	}
	if s.syncDue() {
		if s.WaitForSync {
			if err := s.Sync(ctx); err != nil {
				s.log.Warn("timeline: sync", "err", err)
			}
		} else {
			// In the background, not bound to this request: a full snapshot of a large map takes
			// seconds to ingest, and the query answers meanwhile from what is ingested (an older
			// snapshot and more events). At most one runs (trySync gives way to a running one).
			go func() {
				if err := s.trySync(context.WithoutCancel(ctx)); err != nil {
					s.log.Warn("timeline: sync", "err", err)
				}
			}()
		}
	}
	snap, err := s.nearest(ctx, m)
	if err != nil {
		return State{}, err
	}
	st := State{AsOf: m, Source: SourceInfo{Snapshot: snap.Hash, SnapshotAsOf: snap.AsOf, Exact: true}}
	// The box at the snapshot and the replay after it are read at the same time (two
	// connections): the answer waits for the slower, not for both. A past moment's replay is
	// kept for every box (cache.go), and so is what the snapshot shows whatever the box
	// (atsnapshot.go); otherwise they are read beside the box, and the events replayed after it.
	var (
		rep     *replayed
		at      *atSnapshot
		evs     []eventstore.Event
		exact   = true
		repErr  error
		repDone = make(chan struct{})
	)
	go func() {
		defer close(repDone)
		if at, repErr = s.atSnapshot(ctx, snap); repErr != nil || !m.After(snap.AsOf) {
			return
		}
		if s.cacheable(snap, m) {
			rep, repErr = s.cachedReplay(ctx, snap, m)
		} else {
			evs, exact, repErr = s.eventsAfter(ctx, snap, m)
		}
	}()
	objs, parents, err := s.inBox(ctx, snap.AsOf, box)
	<-repDone
	if err != nil {
		return State{}, err
	}
	if repErr != nil {
		return State{}, repErr
	}
	for _, sec := range placeless {
		m := objs[sec]
		for id, j := range at.placeless[sec] {
			if len(m) >= MaxObjects {
				return State{}, ErrTooMany
			}
			m[id] = j
		}
		for id, p := range at.parents[sec] {
			if parents[sec] == nil {
				parents[sec] = map[string]string{}
			}
			parents[sec][id] = p
		}
	}
	if rep == nil && len(evs) > 0 {
		// The box's objects spare looking them up.
		rep = &replayed{exact: true, events: len(evs)}
		if rep.changed, err = s.replay(ctx, snap, evs, objs); err != nil {
			return State{}, err
		}
	}
	if rep != nil {
		exact = rep.exact
	}
	st.Source.Exact = exact
	var changed map[string]map[string]json.RawMessage
	if rep != nil && rep.events > 0 {
		if err := s.apply(ctx, snap, rep, box, objs, parents); err != nil {
			return State{}, err
		}
		changed = rep.changed
		st.Source.EventsReplayed = rep.events
	}
	rollen := changed["garnrollen"]
	if rep != nil && rep.rollen != nil {
		rollen = rep.rollen // also the replayed Fäden's spinners, looked up once
	}
	if st.Ortskonto, err = s.enrich(ctx, snap.AsOf, at.konto, objs, changed, rollen); err != nil {
		return State{}, err
	}
	st.Objects = map[string][]json.RawMessage{}
	for _, sec := range Sections {
		m := objs[sec]
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		var hidden map[string]bool
		if s.Hidden != nil && len(ids) > 0 {
			if hidden, err = s.Hidden(ctx, sec, ids); err != nil {
				return State{}, err
			}
		}
		out := make([]json.RawMessage, 0, len(ids))
		for _, id := range ids {
			if (sec == "knoten" && dissolved(m[id])) || hidden[id] {
				continue
			}
			out = append(out, m[id])
		}
		st.Objects[sec] = out
	}
	return st, nil
}

// nearest is the newest ingested snapshot at or before m, from the list kept in memory (a few
// hundred records: one per four hours of the retained history).
func (s *Service) nearest(ctx context.Context, m time.Time) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ingested == nil {
		if err := s.loadIngested(ctx); err != nil {
			return Record{}, err
		}
	}
	i, _ := slices.BinarySearchFunc(s.ingested, m, func(r Record, t time.Time) int {
		if r.AsOf.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return Record{}, ErrBeforeStart
	}
	return s.ingested[i-1], nil
}

// loadIngested reads the ingested snapshots, oldest first; s.mu held.
func (s *Service) loadIngested(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `
SELECT hash, kind, as_of, pos_xmin, pos_xmax, running FROM timeline_snapshots ORDER BY as_of`)
	if err != nil {
		return fmt.Errorf("timeline: snapshots: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		err := row.Scan(&r.Hash, &r.Kind, &r.AsOf, &r.Position.Xmin, &r.Position.Xmax, &r.Position.Running)
		r.AsOf = r.AsOf.UTC()
		return r, err
	})
	if err != nil {
		return fmt.Errorf("timeline: snapshots: %w", err)
	}
	if recs == nil {
		recs = []Record{}
	}
	s.ingested = recs
	return nil
}

// forgetIngested makes the next query read the ingested snapshots again.
func (s *Service) forgetIngested() {
	s.mu.Lock()
	s.ingested = nil
	s.mu.Unlock()
	s.cache.clear()
	s.snaps.clear()
}

// syncDue reports whether a query should look for new snapshots first: at most once per
// SyncEvery (a snapshot comes every four hours; the dev instance, whose clock jumps, looks
// every time).
func (s *Service) syncDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now() // the process's pace, not the instance clock's: a rate limit
	if s.SyncEvery > 0 && now.Sub(s.lastSync) < s.SyncEvery {
		return false
	}
	s.lastSync = now
	return true
}

// inBox reads the objects placed inside box valid at instant t (the placeless ones are the
// snapshot's, atsnapshot.go), compact, and the Knoten of those that have one
// (timeline_versions.parent: no object is decoded to find it).
func (s *Service) inBox(ctx context.Context, t time.Time, box knoten.BBox) (map[string]map[string]json.RawMessage,
	map[string]map[string]string, error) {
	envs := [][4]float64{{box.MinLon, box.MinLat, box.MaxLon, box.MaxLat}}
	if box.MinLon > box.MaxLon { // across the antimeridian
		envs = [][4]float64{{box.MinLon, box.MinLat, 180, box.MaxLat}, {-180, box.MinLat, box.MaxLon, box.MaxLat}}
	}
	out := map[string]map[string]json.RawMessage{}
	for _, sec := range Sections {
		out[sec] = map[string]json.RawMessage{}
	}
	parents := map[string]map[string]string{}
	env := `(geom && ST_MakeEnvelope($1, $2, $3, $4, 4326))`
	args := []any{envs[0][0], envs[0][1], envs[0][2], envs[0][3]}
	if len(envs) == 2 {
		env = `(geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) OR geom && ST_MakeEnvelope($5, $6, $7, $8, 4326))`
		args = append(args, envs[1][0], envs[1][1], envs[1][2], envs[1][3])
	}
	n := len(args)
	args = append(args, t, 6*MaxObjects)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`
SELECT section, id, parent, object FROM timeline_versions WHERE %s AND valid @> $%d::timestamptz LIMIT $%d`,
		env, n+1, n+2), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("timeline: read: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sec, id string
		var parent *string
		var obj []byte
		if err := rows.Scan(&sec, &id, &parent, &obj); err != nil {
			return nil, nil, fmt.Errorf("timeline: read: %w", err)
		}
		m := out[sec]
		if m == nil {
			continue
		}
		if len(m) >= MaxObjects {
			return nil, nil, ErrTooMany
		}
		m[id] = compactJSONB(obj)
		if parent != nil && *parent != "" {
			if parents[sec] == nil {
				parents[sec] = map[string]string{}
			}
			parents[sec][id] = *parent
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("timeline: read: %w", err)
	}
	return out, parents, nil
}

// version is one object's version valid at instant t, whatever its place.
func (s *Service) version(ctx context.Context, section, id string, t time.Time) (json.RawMessage, bool, error) {
	var obj []byte
	err := s.pool.QueryRow(ctx, `
SELECT object FROM timeline_versions
WHERE section = $1 AND id = $2 AND lower(valid) <= $3 AND valid @> $3::timestamptz`, section, id, t).Scan(&obj)
	if isNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("timeline: version: %w", err)
	}
	return obj, true, nil
}

// replayBatch is how many events one read of the log returns.
const replayBatch = 1000

// commitSlack: events are read in log order (by transaction), and a transaction's events carry
// the time it took them, so a later position may hold a slightly earlier time. The replay reads
// on this far past the moment before it stops, and applies only the events at or before it.
const commitSlack = time.Minute

// MaxReplayEvents bounds the events one answer replays (and holds in memory): four hours of a
// busy Ortsweberei are far fewer. Beyond it the answer is the snapshot's, marked not exact.
const MaxReplayEvents = 200_000

// eventsAfter reads the events after the snapshot's position up to moment m, in log order. It
// returns false when the log no longer holds them all (retention removed some, or there are
// more than MaxReplayEvents): the answer is then the snapshot's state alone.
func (s *Service) eventsAfter(ctx context.Context, snap Record, m time.Time) ([]eventstore.Event, bool, error) {
	// Retention removes only events older than the retention when it runs: after a snapshot
	// younger than that, the log holds every event. After an older one it may not: if the log
	// now begins after the snapshot's instant, the replay cannot be trusted (it may also be a
	// quiet time before the first event kept; the snapshot alone is then the answer all the
	// same, for a day older than the retention).
	if s.Retention >= 0 && snap.AsOf.Before(s.clock.Now().Add(-s.Retention)) {
		if earliest, ok, err := s.events.Earliest(ctx); err != nil {
			return nil, false, err
		} else if ok && earliest.After(snap.AsOf) {
			return nil, false, nil
		}
	}
	pos := snap.Position
	after := eventstore.Position{Tx: pos.Xmin - 1, ID: math.MaxInt64}
	if pos.Xmin == 0 {
		after = eventstore.Position{}
	}
	var out []eventstore.Event
	for {
		evs, err := s.events.Read(ctx, after, replayBatch)
		if err != nil {
			return nil, false, err
		}
		for _, e := range evs {
			after = e.Position
			if inSnapshot(pos, e.Position.Tx) {
				continue
			}
			if e.At.After(m.Add(commitSlack)) {
				return out, true, nil
			}
			if e.At.After(m) {
				continue
			}
			if len(out) == MaxReplayEvents {
				return nil, false, nil
			}
			out = append(out, e)
		}
		if len(evs) < replayBatch {
			return out, true, nil
		}
	}
}

// replay brings the objects from the snapshot forward with evs (the events after it, in log
// order) and returns what the events changed, wherever it is (nil: removed). box holds objects
// as of the snapshot already read (nil: none); the others are looked up. It changes nothing it
// is given: the result may be kept for other boxes (cache.go).
func (s *Service) replay(ctx context.Context, snap Record, evs []eventstore.Event,
	box map[string]map[string]json.RawMessage) (map[string]map[string]json.RawMessage, error) {
	changed := map[string]map[string]json.RawMessage{}
	current := func(section string) func(id string) (snapshot.Object, bool) {
		return func(id string) (snapshot.Object, bool) {
			if c, ok := changed[section]; ok {
				if j, ok := c[id]; ok {
					return snapshot.Object{ID: id, JSON: j}, j != nil
				}
			}
			if j, ok := box[section][id]; ok {
				return snapshot.Object{ID: id, JSON: j}, true
			}
			j, ok, err := s.version(ctx, section, id, snap.AsOf)
			if err != nil || !ok {
				return snapshot.Object{}, false
			}
			return snapshot.Object{ID: id, JSON: j}, true
		}
	}
	for _, e := range evs {
		for sec, r := range s.replayers {
			ups, rm, err := r.Replay(e, current(sec))
			if err != nil {
				return nil, fmt.Errorf("timeline: replay %s of %s: %w", e.Type, sec, err)
			}
			if len(ups) == 0 && len(rm) == 0 {
				continue
			}
			c := changed[sec]
			if c == nil {
				c = map[string]json.RawMessage{}
				changed[sec] = c
			}
			for _, o := range ups {
				c[o.ID] = o.JSON
			}
			for _, id := range rm {
				c[id] = nil
			}
		}
	}
	return changed, nil
}

// apply brings the box's objects at the snapshot (objs, changed in place) forward with a
// replay: an object is in the box when its point is, or its Knoten's.
// parents are the Knoten of the box's objects as of the snapshot (inBox).
func (s *Service) apply(ctx context.Context, snap Record, r *replayed, box knoten.BBox,
	objs map[string]map[string]json.RawMessage, parents map[string]map[string]string) error {
	if r.shown != nil || r.places != nil {
		return s.applyKept(ctx, snap, r, box, objs, parents)
	}
	changed := r.changed
	knotenAt := func(id string) (json.RawMessage, bool) {
		if j, ok := changed["knoten"][id]; ok {
			return j, j != nil
		}
		if j, ok := r.parents[id]; ok {
			return j, j != nil
		}
		if j, ok := objs["knoten"][id]; ok {
			return j, true
		}
		j, ok, err := s.version(ctx, "knoten", id, snap.AsOf)
		return j, err == nil && ok
	}
	for _, sec := range Sections {
		for id, j := range changed[sec] {
			if j == nil {
				delete(objs[sec], id)
				continue
			}
			var in bool
			if pl, ok := r.places[sec][id]; ok {
				in = pl.in(box)
			} else {
				in = inside(sec, j, box, knotenAt)
			}
			if in {
				if len(objs[sec]) >= MaxObjects {
					return ErrTooMany
				}
				objs[sec][id] = j
			} else {
				delete(objs[sec], id)
			}
		}
	}
	// A Faden or an Antrag whose Knoten is gone is gone with it.
	for _, sec := range Sections[1:] {
		for id, j := range objs[sec] {
			p := parents[sec][id]
			if _, ok := changed[sec][id]; ok {
				p = parentOf(j)
			}
			if p != "" {
				if _, ok := objs["knoten"][p]; !ok {
					if _, ok := knotenAt(p); !ok {
						delete(objs[sec], id)
					}
				}
			}
		}
	}
	return nil
}

// inSnapshot reports whether the snapshot's state includes the events of log transaction tx.
func inSnapshot(p eventstore.Snapshot, tx uint64) bool {
	return tx < p.Xmin || (tx < p.Xmax && !slices.Contains(p.Running, tx))
}

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }

// notDissolvedJSONB: PostgreSQL's jsonb text output (the history's objects) puts a space after the colon.
var notDissolved, notDissolvedJSONB = []byte(`"dissolved_at":null`), []byte(`"dissolved_at": null`)

// dissolved reports whether a Knoten object is dissolved: the section keeps those (Anträge
// refer to them), the map does not show them.
func dissolved(obj json.RawMessage) bool {
	// Every answer asks this of every Knoten in the box: a Knoten object is flat with fixed
	// keys, and outside a string this byte sequence is only the key with a null value (a quote
	// inside a string is escaped), so a match is "not dissolved" without decoding.
	if bytes.Contains(obj, notDissolved) || bytes.Contains(obj, notDissolvedJSONB) {
		return false
	}
	var k struct {
		DissolvedAt *string `json:"dissolved_at"`
	}
	return json.Unmarshal(obj, &k) == nil && k.DissolvedAt != nil
}

// enrich gives the Fäden and Goldfäden what the live map feed gives them: the spinner's or
// donor's name and public position (from their Garnrolle, wherever it is), and a Goldfaden the
// Ortskonto's position, so that the web app draws them as it draws the live ones. The
// Garnrollen and the Ortskonto are as of the moment (changed: what the replay changed; the
// rest as of the snapshot, t; konto: the Ortskonto at the snapshot, nil: none). It returns the
// Ortskonto's object, nil when it is not set up. It asks the database only for Garnrollen
// neither in view nor known from the replay.
func (s *Service) enrich(ctx context.Context, t time.Time, konto json.RawMessage, objs map[string]map[string]json.RawMessage,
	replayed map[string]map[string]json.RawMessage, changed map[string]json.RawMessage) (json.RawMessage, error) {
	type who struct {
		AccountID string `json:"account_id"`
	}
	need := map[string]bool{}
	for _, sec := range []string{"faeden", "goldfaeden"} {
		for _, j := range objs[sec] {
			var w who
			if json.Unmarshal(j, &w) == nil && w.AccountID != "" {
				_, inBox := objs["garnrollen"][w.AccountID]
				_, replayed := changed[w.AccountID]
				if !inBox && !replayed {
					need[w.AccountID] = true
				}
			}
		}
	}
	// A Garnrolle in view, else one read here, else the replay's (nil for one removed: found,
	// without name and position); looked up in each rather than copied into one map (the kept
	// replay's are hundreds, the same for every box).
	var fetched map[string]json.RawMessage
	rolleOf := func(id string) (json.RawMessage, bool) {
		if j, ok := objs["garnrollen"][id]; ok {
			return j, true
		}
		if j, ok := fetched[id]; ok {
			return j, true
		}
		j, ok := changed[id]
		return j, ok
	}
	if len(need) > 0 {
		fetched = map[string]json.RawMessage{}
		rows, err := s.pool.Query(ctx, `
SELECT id, object FROM timeline_versions
WHERE section = 'garnrollen' AND id = ANY($1) AND lower(valid) <= $2 AND valid @> $2::timestamptz`, slices.Collect(maps.Keys(need)), t)
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
			fetched[id] = obj
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("timeline: garnrollen: %w", err)
		}
	}
	if j, ok := replayed["ortskonto"][ortskonto.SnapshotKontoID]; ok {
		konto = j
	}
	if konto != nil {
		var k struct {
			ConfiguredAt *string `json:"configured_at"`
		}
		if json.Unmarshal(konto, &k) != nil || k.ConfiguredAt == nil {
			konto = nil // the balance row exists from the start; an Ortskonto once it is set up
		}
	}
	if len(objs["faeden"]) == 0 && len(objs["goldfaeden"]) == 0 {
		return konto, nil
	}
	type rolle struct {
		Name     string          `json:"name"`
		Position json.RawMessage `json:"position"`
	}
	var kontoPos json.RawMessage = json.RawMessage("null")
	if konto != nil {
		var k struct {
			Position json.RawMessage `json:"position"`
		}
		if json.Unmarshal(konto, &k) == nil && len(k.Position) > 0 {
			kontoPos = k.Position
		}
	}
	for _, sec := range []string{"faeden", "goldfaeden"} {
		for id, j := range objs[sec] {
			var o map[string]json.RawMessage
			if err := json.Unmarshal(j, &o); err != nil {
				return nil, fmt.Errorf("timeline: %s %s: %w", sec, id, err)
			}
			var w who
			_ = json.Unmarshal(j, &w)
			r := rolle{Position: json.RawMessage("null")}
			if rj, ok := rolleOf(w.AccountID); ok {
				_ = json.Unmarshal(rj, &r)
				if len(r.Position) == 0 {
					r.Position = json.RawMessage("null")
				}
			}
			name, _ := json.Marshal(r.Name)
			o["account_name"], o["account_position"] = name, r.Position
			if sec == "goldfaeden" {
				o["konto_position"] = kontoPos
			}
			b, err := json.Marshal(o)
			if err != nil {
				return nil, err
			}
			objs[sec][id] = b
		}
	}
	return konto, nil
}
