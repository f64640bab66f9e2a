package timeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// countingEvents counts the reads of the log.
type countingEvents struct {
	fakeEvents
	reads atomic.Int64
}

func (c *countingEvents) Read(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	c.reads.Add(1)
	return c.fakeEvents.Read(ctx, after, limit)
}

// event is the log's event of type typ with payload p, written by transaction tx at at.
func event(t *testing.T, tx uint64, at time.Time, typ string, p any) eventstore.Event {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Event{Position: eventstore.Position{Tx: tx, ID: int64(tx)}, At: at, Type: typ, Version: 1, Payload: b}
}

// A past moment's replay is kept and filtered per box: every box's answer equals the one of a
// timeline that replays per query, also the second time (from the kept replay, without
// reading the log again). Knoten placed in and outside the box, Fäden spun to a Knoten inside
// and to one outside, one twisted, one expired, a Knoten dissolved, an Antrag filed at a Knoten
// no event changed (looked up in the history).
func TestTimelineCachedReplayEqualsUncached(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	t0 := time.Date(2026, 11, 10, 19, 0, 0, 0, time.UTC)
	now := t0.Add(48 * time.Hour)
	loc, _ := time.LoadLocation("Europe/Berlin")
	var rs []snapshot.Replayer
	for _, sec := range knoten.SnapshotSections() {
		rs = append(rs, sec.(snapshot.Replayer))
	}
	for _, sec := range antrag.SnapshotSections() {
		if r, ok := sec.(snapshot.Replayer); ok {
			rs = append(rs, r)
		}
	}
	evs := &countingEvents{fakeEvents: fakeEvents{earliest: t0.Add(-time.Hour)}}
	cached := timeline.NewService(pool, fixed(now), loc, &fakeSource{}, evs, rs, nil)
	plain := &fakeEvents{earliest: t0.Add(-time.Hour)}
	uncached := timeline.NewService(pool, fixed(now), loc, &fakeSource{}, plain, rs, nil)
	uncached.CacheBytes = 0

	in1, in2, in3, out1 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	f1 := uuid.New()
	acc := uuid.New() // Gerda, who spins the Fäden after the snapshot, far from the box
	a := timeline.Record{Hash: "a", Kind: "full", AsOf: t0, Position: eventstore.Snapshot{Xmin: 100, Xmax: 100}}
	if _, err := cached.Ingest(ctx, a, strings.NewReader(doc("full", map[string][]string{}, map[string][]string{
		"knoten":     {knotenJSON(in1, 12.37, 51.34, "eins"), knotenJSON(in2, 12.38, 51.35, "zwei"), knotenJSON(in3, 12.385, 51.355, "drei"), knotenJSON(out1, 13.5, 52.5, "fern")},
		"faeden":     {fadenJSON(f1, in1)},
		"garnrollen": {fmt.Sprintf(`{"created_at":"2026-11-01T10:00:00Z","h3":"","handle":"gerda","id":"%s","name":"Gerda","position":{"lat":50.1,"lon":8.6},"verified":false,"verified_at":null}`, acc)},
	}))); err != nil {
		t.Fatal(err)
	}
	newIn, newOut := uuid.New(), uuid.New()
	g1, g2, g3 := uuid.New(), uuid.New(), uuid.New()
	exp := t0.Add(7 * 24 * time.Hour)
	spin := func(tx uint64, at time.Time, f, k uuid.UUID) eventstore.Event {
		return event(t, tx, at, "FadenGesponnen", knoten.FadenGesponnenV1{FadenID: f, KnotenID: k, AccountID: acc, Type: "idee", ExpiresAt: &exp})
	}
	evs.evs = []eventstore.Event{
		event(t, 101, t0.Add(10*time.Minute), "KnotenGeknuepft", knoten.KnotenGeknuepftV1{KnotenID: newIn, Type: "idee", Title: "neu", Lat: 51.36, Lon: 12.39}),
		spin(102, t0.Add(11*time.Minute), g1, newIn),
		event(t, 103, t0.Add(20*time.Minute), "KnotenGeknuepft", knoten.KnotenGeknuepftV1{KnotenID: newOut, Type: "idee", Title: "neu fern", Lat: 52.6, Lon: 13.6}),
		spin(104, t0.Add(30*time.Minute), g2, out1),
		spin(105, t0.Add(40*time.Minute), g3, in2),
		event(t, 106, t0.Add(50*time.Minute), "FadenVerzwirnt", knoten.FadenVerzwirntV1{FadenID: g3, KnotenID: in2}),
		event(t, 107, t0.Add(60*time.Minute), "FadenAbgelaufen", knoten.FadenAbgelaufenV1{FadenID: f1, KnotenID: in1, ExpiredAt: t0}),
		event(t, 108, t0.Add(70*time.Minute), "KnotenAufgeloest", knoten.KnotenAufgeloestV1{KnotenID: in1, DissolvedAt: t0.Add(70 * time.Minute)}),
		// Filed at a Knoten no event changes: drawn at it, looked up in the history once.
		event(t, 109, t0.Add(80*time.Minute), "AntragGestellt", antrag.AntragGestelltV1{AntragID: uuid.New(), ApplicantID: acc, Title: "Bank",
			KnotenID: &in3, DecisionDeadline: t0.Add(7 * 24 * time.Hour)}),
		spin(110, t0.Add(5*time.Hour), uuid.New(), in2), // after the moment
	}
	plain.evs = evs.evs

	m := t0.Add(3 * time.Hour)
	boxes := []knoten.BBox{
		{MinLon: 12.3, MinLat: 51.3, MaxLon: 12.4, MaxLat: 51.4},
		{MinLon: 13.4, MinLat: 52.4, MaxLon: 13.7, MaxLat: 52.7},
		{MinLon: 12.0, MinLat: 51.0, MaxLon: 14.0, MaxLat: 53.0},
		{MinLon: 0, MinLat: 0, MaxLon: 1, MaxLat: 1},
	}
	for round := range 2 {
		for _, box := range boxes {
			want, err := uncached.At(ctx, m, box)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cached.At(ctx, m, box)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round %d, box %v:\n cached   %+v\n uncached %+v", round, box, got, want)
			}
			if got.Source.EventsReplayed != 9 {
				t.Errorf("box %v: %d events replayed, want 9", box, got.Source.EventsReplayed)
			}
			if n := len(got.Objects["antraege"]); box == boxes[0] && n != 1 {
				t.Errorf("box %v: %d Anträge, want the one at Knoten drei", box, n)
			}
			for _, f := range got.Objects["faeden"] {
				var v struct {
					AccountName string `json:"account_name"`
				}
				if err := json.Unmarshal(f, &v); err != nil || v.AccountName != "Gerda" {
					t.Errorf("box %v: Faden %s spun by %q, want Gerda", box, f, v.AccountName)
				}
			}
			if n := len(got.Objects["faeden"]); box == boxes[0] && n != 2 {
				t.Errorf("box %v: %d Fäden, want 2 (spun to the new Knoten, twisted at zwei; the snapshot's expired): %s", box, n, got.Objects["faeden"])
			}
		}
	}
	if n := evs.reads.Load(); n != 1 {
		t.Errorf("the log was read %d times for %d queries of one past moment, want once", n, 2*len(boxes))
	}
}

// Today's map (a date of today: now) and a moment minutes ago are replayed per query: an event
// committed after a first query, with a time at or before the moment, is in the next answer.
// A past moment's kept replay gives way to a snapshot ingested later at or before it.
func TestTimelineTodaySeesNewEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	loc, _ := time.LoadLocation("Europe/Berlin")
	t0 := time.Date(2026, 11, 10, 8, 0, 0, 0, loc)
	now := t0.Add(5 * time.Hour)
	var rs []snapshot.Replayer
	for _, sec := range knoten.SnapshotSections() {
		rs = append(rs, sec.(snapshot.Replayer))
	}
	evs := &fakeEvents{earliest: t0.Add(-time.Hour)}
	tl := timeline.NewService(pool, fixed(now), loc, &fakeSource{}, evs, rs, nil)
	k1 := uuid.New()
	a := timeline.Record{Hash: "a", Kind: "full", AsOf: t0, Position: eventstore.Snapshot{Xmin: 100, Xmax: 100}}
	if _, err := tl.Ingest(ctx, a, strings.NewReader(doc("full", map[string][]string{}, map[string][]string{
		"knoten": {knotenJSON(k1, 12.37, 51.34, "eins")},
	}))); err != nil {
		t.Fatal(err)
	}
	box := knoten.BBox{MinLon: 12.3, MinLat: 51.3, MaxLon: 12.4, MaxLat: 51.4}
	today, err := tl.Moment(now.Format("2006-01-02"), "")
	if err != nil || !today.Equal(now) {
		t.Fatalf("today's moment %v (%v), want now %v", today, err, now)
	}
	past := t0.Add(2 * time.Hour)
	var tx uint64 = 100
	place := func(title string, at time.Time) {
		tx++
		evs.evs = append(evs.evs, event(t, tx, at, "KnotenGeknuepft",
			knoten.KnotenGeknuepftV1{KnotenID: uuid.New(), Type: "idee", Title: title, Lat: 51.36, Lon: 12.39}))
	}
	titles := func(m time.Time) ([]string, timeline.SourceInfo) {
		t.Helper()
		st, err := tl.At(ctx, m, box)
		if err != nil {
			t.Fatal(err)
		}
		return ids(t, st, "knoten"), st.Source
	}
	place("früh", t0.Add(time.Hour))
	for _, m := range []time.Time{today, now.Add(-2 * time.Minute), past} {
		if got, _ := titles(m); !slices.Equal(got, []string{"eins", "früh"}) {
			t.Errorf("at %v: %v, want [eins früh]", m, got)
		}
	}
	// Committed now, with the time its transaction took three minutes ago (before both moments).
	place("eben", now.Add(-3*time.Minute))
	for _, m := range []time.Time{today, now.Add(-2 * time.Minute)} {
		if got, src := titles(m); !slices.Equal(got, []string{"eben", "eins", "früh"}) || src.EventsReplayed != 2 {
			t.Errorf("at %v after a new event: %v (%d replayed), want [eben eins früh] (2)", m, got, src.EventsReplayed)
		}
	}
	// A snapshot at or before the past moment, ingested after its replay was kept: it answers.
	b := timeline.Record{Hash: "b", Kind: "incremental", AsOf: t0.Add(90 * time.Minute), Position: eventstore.Snapshot{Xmin: 102, Xmax: 102}}
	if _, err := tl.Ingest(ctx, b, strings.NewReader(doc("incremental", map[string][]string{}, map[string][]string{
		"knoten": {knotenJSON(uuid.New(), 12.38, 51.35, "zwei")},
	}))); err != nil {
		t.Fatal(err)
	}
	if got, src := titles(past); !slices.Equal(got, []string{"eins", "zwei"}) || src.Snapshot != "b" || src.EventsReplayed != 0 {
		t.Errorf("at %v after snapshot b: %v from %s (%d replayed), want [eins zwei] from b, none replayed", past, got, src.Snapshot, src.EventsReplayed)
	}
}
