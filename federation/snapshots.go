package federation

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/mirror"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Snapshots between neighbours (docs/FEDERATION.md, "Snapshots"): each daily (full) snapshot
// is announced to the neighbouring Ortswebereien that follow ours, which mirror it and serve
// their mirror under /mirrors/<host>/snapshots/.

// AnnounceSnapshot queues, in the caller's transaction (the one recording the snapshot as
// verified: snapshot.Options.Recorded), the Create that announces a full snapshot to the
// neighbouring Ortswebereien among the Group's followers. Incrementals are not announced: a
// mirror keeps the daily history, and the full snapshot alone restores a day. Other
// followers (Mastodon, GoToSocial) get nothing: they cannot use a snapshot, and each would
// fetch a large file for nothing if they tried.
func (s *Service) AnnounceSnapshot(ctx context.Context, tx pgx.Tx, r snapshot.Record) error {
	if r.Kind != snapshot.KindFull {
		return nil
	}
	followers, err := s.actors.FollowersTx(ctx, tx, []string{"ortsweberei"})
	if err != nil {
		return err
	}
	var inboxes []string
	for _, f := range followers {
		if f.Actor.IsOrtsweberei() && (len(inboxes) == 0 || inboxes[len(inboxes)-1] != f.Inbox) {
			inboxes = append(inboxes, f.Inbox)
		}
	}
	if len(inboxes) == 0 {
		return nil
	}
	act := s.convert.SnapshotActivity(r)
	return s.delivery.QueueTx(ctx, tx, iri.GroupPath, inboxes, act)
}

// SnapshotRecords are the Ortsweberei's own recorded snapshots (snapshot.Service), for
// serving their Snapshot objects.
type SnapshotRecords interface {
	Get(ctx context.Context, hash string) (snapshot.Record, error)
}

// SetSnapshots gives federation the snapshot records (the snapshot service is built after
// federation, since it announces through it).
func (s *Service) SetSnapshots(r SnapshotRecords) { s.snapshots = r }

// snapshotObject serves GET /ap/snapshots/{hash}: a recorded snapshot of ours as a Snapshot.
func (s *Service) snapshotObject(r *http.Request) (any, error) {
	rec, err := s.snapshotRecord(r)
	if err != nil {
		return nil, err
	}
	obj := s.convert.SnapshotObject(rec)
	obj.Context = vocab.Context
	return obj, nil
}

// snapshotCreate serves GET /ap/snapshots/{hash}/create: the Create that announced it (every
// snapshot has one, whether or not a neighbour was there to receive it).
func (s *Service) snapshotCreate(r *http.Request) (any, error) {
	rec, err := s.snapshotRecord(r)
	if err != nil {
		return nil, err
	}
	return s.convert.SnapshotActivity(rec), nil
}

func (s *Service) snapshotRecord(r *http.Request) (snapshot.Record, error) {
	if s.snapshots == nil {
		return snapshot.Record{}, iri.ErrNotFound
	}
	rec, err := s.snapshots.Get(r.Context(), r.PathValue("hash"))
	if errors.Is(err, snapshot.ErrNoSnapshot) {
		return snapshot.Record{}, iri.ErrNotFound
	}
	return rec, err
}

// CatchUpMirrors asks every neighbouring Ortsweberei for its snapshot index and queues the
// mirroring of the daily snapshots we lack (missed announcements; those from before the two
// were neighbours). instance.go runs it as the "mirrors" sweep.
func (s *Service) CatchUpMirrors(ctx context.Context) error {
	groups, err := s.actors.Neighbours(ctx)
	if err != nil {
		return err
	}
	return s.mirror.CatchUp(ctx, groups)
}

// Mirrored is one mirrored snapshot of a neighbour, for the timeline and restore (the same
// fields as the origin's own index).
type Mirrored struct {
	Origin, Hash, Instance, Kind string
	AsOf                         time.Time
	Previous, Base               string
	Bytes                        int64
	VerifiedAt                   time.Time
	PublicKey                    string // the origin's snapshot key (Multikey) it was verified with
}

// Mirrors lists the snapshots mirrored of the origin host, oldest first.
func (s *Service) Mirrors(ctx context.Context, host string) ([]Mirrored, error) {
	rs, err := s.mirror.List(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]Mirrored, len(rs))
	for i, r := range rs {
		out[i] = Mirrored{Origin: r.Origin, Hash: r.Hash, Instance: r.Instance, Kind: r.Kind, AsOf: r.AsOf, Previous: r.Previous,
			Base: r.Base, Bytes: r.Bytes, VerifiedAt: r.VerifiedAt, PublicKey: r.PublicKey}
	}
	return out, nil
}

// OpenMirrored opens a mirrored snapshot's compressed file; snapshot.ErrNoSnapshot if none.
func (s *Service) OpenMirrored(ctx context.Context, host, hash string) (snapshot.Opener, error) {
	if _, err := s.mirror.Get(ctx, host, hash); err != nil {
		return nil, err
	}
	return func() (io.ReadCloser, error) {
		f, _, err := s.mirror.Open(context.WithoutCancel(ctx), host, hash, ".json.gz")
		return f, err
	}, nil
}

type mirrorIndexJSON struct {
	Origin    string            `json:"origin"`   // the host the snapshots come from
	Instance  string            `json:"instance"` // the origin's actor, whose assertionMethod holds the key
	Key       string            `json:"key"`
	Snapshots []mirrorEntryJSON `json:"snapshots"`
}

type mirrorEntryJSON struct {
	Date       string    `json:"date"` // as_of's date in UTC (the mirror does not know the origin's zone)
	Kind       string    `json:"kind"`
	AsOf       time.Time `json:"as_of"`
	Hash       string    `json:"hash"`
	Previous   *string   `json:"previous"`
	Base       *string   `json:"base"`
	Bytes      int64     `json:"bytes"`
	URL        string    `json:"url"`
	Signature  string    `json:"signature"`
	VerifiedAt time.Time `json:"verified_at"`
	// PublicKey is the origin's snapshot key (Multikey) the mirror verified it with.
	PublicKey string `json:"public_key"`
}

var errNoMirror = fault.NotFoundf("snapshot_not_found",
	"There is no mirrored snapshot by this name; GET /mirrors/<host>/snapshots/ lists them.")

// immutable: a hash's URL never changes what it serves (as the origin's /snapshots/).
const immutable = "public, max-age=31536000, immutable"

// mirrorHandler serves GET /mirrors/{host}/snapshots/{name...}: the index of what we hold of
// the host, and the files, as the origin serves its own.
func (s *Service) mirrorHandler(w http.ResponseWriter, r *http.Request) {
	host, name := r.PathValue("host"), r.PathValue("name")
	if name == "" {
		s.mirrorIndex(w, r, host)
		return
	}
	hash, suffix, ok := strings.Cut(name, ".")
	suffix = "." + suffix
	if !ok || len(hash) != 64 || (suffix != ".json.gz" && suffix != ".sig") {
		s.refuse(w, r, errNoMirror)
		return
	}
	f, _, err := s.mirror.Open(r.Context(), host, hash, suffix)
	if errors.Is(err, snapshot.ErrNoSnapshot) {
		s.refuse(w, r, errNoMirror)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", map[string]string{".json.gz": "application/gzip", ".sig": "text/plain; charset=us-ascii"}[suffix])
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Cache-Control", immutable)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, f)
}

func (s *Service) mirrorIndex(w http.ResponseWriter, r *http.Request, host string) {
	rs, err := s.mirror.List(r.Context(), host)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(rs) == 0 {
		s.refuse(w, r, fault.NotFoundf("mirror_not_found", "This instance keeps no snapshots of that host."))
		return
	}
	out := mirrorIndexJSON{Origin: host, Instance: rs[len(rs)-1].Instance, Key: snapshot.KeyID(rs[len(rs)-1].Instance),
		Snapshots: make([]mirrorEntryJSON, 0, len(rs))}
	base := "/mirrors/" + host + "/snapshots/"
	for _, rec := range rs {
		e := mirrorEntryJSON{Date: rec.AsOf.UTC().Format(time.DateOnly), Kind: rec.Kind, AsOf: rec.AsOf, Hash: rec.Hash, Bytes: rec.Bytes,
			URL: base + rec.Hash + ".json.gz", Signature: base + rec.Hash + ".sig", VerifiedAt: rec.VerifiedAt,
			PublicKey: rec.PublicKey}
		if rec.Previous != "" {
			e.Previous = &rec.Previous
		}
		if rec.Base != "" {
			e.Base = &rec.Base
		}
		out.Snapshots = append(out.Snapshots, e)
	}
	respond.JSON(w, http.StatusOK, out)
}

// mirrorTimeline serves GET /mirrors/{host}/timeline?date=YYYY-MM-DD[&bbox=minLon,minLat,maxLon,maxLat]:
// a neighbour's public map on a day, from the newest snapshot of it we mirror taken by the end
// of that day (UTC: a mirror does not know the origin's zone). It is the snapshot's state, in
// the snapshot's shapes: the events after it are on the origin, which may be gone.
func (s *Service) mirrorTimeline(w http.ResponseWriter, r *http.Request) {
	host, q := r.PathValue("host"), r.URL.Query()
	day, err := time.Parse(time.DateOnly, q.Get("date"))
	if err != nil {
		s.refuse(w, r, fault.Malformedf("malformed_date", "date must be a day as YYYY-MM-DD."))
		return
	}
	var box mirror.Box
	if raw := q.Get("bbox"); raw != "" {
		var v [4]float64
		parts := strings.Split(raw, ",")
		ok := len(parts) == 4
		for i := 0; ok && i < 4; i++ {
			v[i], err = strconv.ParseFloat(parts[i], 64)
			ok = err == nil && !math.IsNaN(v[i]) && !math.IsInf(v[i], 0)
		}
		if !ok || v[0] > v[2] || v[1] > v[3] || v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 {
			s.refuse(w, r, fault.Malformedf("malformed_bbox", "bbox must be minLon,minLat,maxLon,maxLat in degrees."))
			return
		}
		box = mirror.Box{MinLon: v[0], MinLat: v[1], MaxLon: v[2], MaxLat: v[3], Set: true}
	}
	end := day.AddDate(0, 0, 1).Add(-time.Microsecond)
	st, err := s.mirror.At(r.Context(), host, end, box)
	switch {
	case errors.Is(err, snapshot.ErrNoSnapshot):
		s.refuse(w, r, fault.NotFoundf("mirror_before_start", "This instance keeps no snapshot of that host from that day or before."))
		return
	case errors.Is(err, mirror.ErrBusy):
		s.refuse(w, r, &fault.Error{Kind: fault.Unavailable, Code: "mirror_busy",
			Message: "Another mirrored timeline is being read now: ask again shortly.", RetryAfter: 5 * time.Second})
		return
	case errors.Is(err, mirror.ErrTooLarge):
		s.refuse(w, r, fault.Invalidf("", "mirror_timeline_too_large",
			"The mirrored snapshot holds more than this instance reads for one timeline; the file itself is served under /mirrors/<host>/snapshots/."))
		return
	case errors.Is(err, mirror.ErrTooMany):
		s.refuse(w, r, fault.Invalidf("bbox", "timeline_too_many", "Too many objects in this area: zoom in."))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"origin": host, "date": day.Format(time.DateOnly), "as_of": st.Snapshot.AsOf,
		"source": map[string]any{"snapshot": st.Snapshot.Hash, "snapshot_as_of": st.Snapshot.AsOf, "instance": st.Snapshot.Instance,
			"mirror": true, "exact": false}}
	for sec, objs := range st.Objects {
		out[sec] = objs
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	respond.JSON(w, http.StatusOK, out)
}
