package timeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeSource serves snapshot documents held in memory (uncompressed; the test ingests them
// directly).
type fakeSource struct{ recs []timeline.Record }

func (f *fakeSource) List(context.Context) ([]timeline.Record, error) { return f.recs, nil }
func (f *fakeSource) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("not here")
}

type fakeEvents struct {
	evs      []eventstore.Event
	earliest time.Time
}

func (f *fakeEvents) Read(_ context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	var out []eventstore.Event
	for _, e := range f.evs {
		if e.Position.After(after) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeEvents) Earliest(context.Context) (time.Time, bool, error) {
	return f.earliest, !f.earliest.IsZero(), nil
}

func knotenJSON(id uuid.UUID, lon, lat float64, title string) string {
	return fmt.Sprintf(`{"created_at":"2026-11-01T10:00:00Z","created_by":"%s","description":"","dissolved_at":null,"dissolves_at":"2026-12-30T10:00:00Z","garn_count":0,"h3":"8f1f","id":"%s","last_activity_at":"2026-11-01T10:00:00Z","lat":%v,"lon":%v,"permanent":false,"title":"%s","type":"idee"}`,
		uuid.Nil, id, lat, lon, title)
}

func fadenJSON(id, k uuid.UUID) string {
	return fmt.Sprintf(`{"account_id":"%s","created_at":"2026-11-01T10:00:00Z","expires_at":"2026-12-30T10:00:00Z","id":"%s","is_twisted":false,"knoten_id":"%s","type":"gespraech"}`,
		uuid.Nil, id, k)
}

func doc(kind string, gone map[string][]string, sections map[string][]string) string {
	g, _ := json.Marshal(gone)
	var names []string
	for n := range sections {
		names = append(names, n)
	}
	slices.Sort(names)
	var objs []string
	for _, n := range names {
		objs = append(objs, fmt.Sprintf(`%q:[%s]`, n, strings.Join(sections[n], ",")))
	}
	return fmt.Sprintf(`{"@context":"x","as_of":"x","base":null,"format":"weltgewebe-snapshot/1","gone":%s,"instance":"x","kind":%q,"objects":{%s},"position":{},"previous":null,"proof":{"x":1}}`,
		g, kind, strings.Join(objs, ","))
}

func ids(t *testing.T, st timeline.State, section string) []string {
	t.Helper()
	var out []string
	for _, o := range st.Objects[section] {
		var v struct{ Title, ID string }
		if err := json.Unmarshal(o, &v); err != nil {
			t.Fatal(err)
		}
		if v.Title != "" {
			out = append(out, v.Title)
		} else {
			out = append(out, v.ID)
		}
	}
	slices.Sort(out)
	return out
}

// The map of a moment: the nearest snapshot's objects in the box (a full one, then an
// incremental's changes and gone ids), brought forward by the events after it, and the
// snapshot alone once the log no longer holds those events.
func TestTimelineAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	t0 := time.Date(2026, 11, 10, 1, 0, 0, 0, time.UTC)
	t1 := t0.Add(4 * time.Hour)
	clk := fixed(t1.Add(24 * time.Hour))
	k1, k2, k3, k4 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	f1 := uuid.New()
	src := &fakeSource{}
	evs := &fakeEvents{earliest: t0.Add(-time.Hour)}
	loc, _ := time.LoadLocation("Europe/Berlin")
	var rs []snapshot.Replayer
	for _, sec := range knoten.SnapshotSections() {
		rs = append(rs, sec.(snapshot.Replayer))
	}
	tl := timeline.NewService(pool, clk, loc, src, evs, rs, nil)

	a := timeline.Record{Hash: "a", Kind: "full", AsOf: t0, Position: eventstore.Snapshot{Xmin: 100, Xmax: 100}}
	b := timeline.Record{Hash: "b", Kind: "incremental", AsOf: t1, Position: eventstore.Snapshot{Xmin: 200, Xmax: 201, Running: []uint64{200}}}
	if _, err := tl.Ingest(ctx, a, strings.NewReader(doc("full", map[string][]string{}, map[string][]string{
		"knoten": {knotenJSON(k1, 12.37, 51.34, "eins"), knotenJSON(k2, 13.5, 52.5, "zwei")},
		"faeden": {fadenJSON(f1, k1)},
		"konto":  {`{"id":"ortskonto","saldo":1}`},
	}))); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.Ingest(ctx, b, strings.NewReader(doc("incremental", map[string][]string{"faeden": {f1.String()}}, map[string][]string{
		"knoten": {knotenJSON(k3, 12.38, 51.35, "drei")},
	}))); err != nil {
		t.Fatal(err)
	}
	// Committed in the transaction running at b's instant (200): not in b, replayed.
	geknuepft, _ := json.Marshal(knoten.KnotenGeknuepftV1{KnotenID: k4, Type: "idee", Title: "vier", Lat: 51.36, Lon: 12.39})
	evs.evs = []eventstore.Event{
		{Position: eventstore.Position{Tx: 150, ID: 5}, At: t1.Add(-time.Hour), Type: "KnotenGeknuepft", Payload: geknuepft}, // in b: skipped
		{Position: eventstore.Position{Tx: 200, ID: 9}, At: t1.Add(time.Hour), Type: "KnotenGeknuepft", Version: 1, Payload: geknuepft},
	}
	box := knoten.BBox{MinLon: 12.3, MinLat: 51.3, MaxLon: 12.4, MaxLat: 51.4}

	if _, err := tl.At(ctx, t0.Add(-time.Minute), box); !fault.Is(err, "timeline_before_start") {
		t.Errorf("before the first snapshot: %v, want timeline_before_start", err)
	}
	for _, c := range []struct {
		at             time.Time
		knoten, faeden []string
		snap           string
		replayed       int
	}{
		{t0.Add(time.Hour), []string{"eins"}, []string{f1.String()}, "a", 0},
		{t1.Add(30 * time.Minute), []string{"drei", "eins"}, nil, "b", 0},
		{t1.Add(2 * time.Hour), []string{"drei", "eins", "vier"}, nil, "b", 1},
	} {
		st, err := tl.At(ctx, c.at, box)
		if err != nil {
			t.Fatalf("at %s: %v", c.at, err)
		}
		if got := ids(t, st, "knoten"); !slices.Equal(got, c.knoten) {
			t.Errorf("at %s: Knoten %v, want %v", c.at, got, c.knoten)
		}
		if got := ids(t, st, "faeden"); !slices.Equal(got, c.faeden) {
			t.Errorf("at %s: Fäden %v, want %v", c.at, got, c.faeden)
		}
		if st.Source.Snapshot != c.snap || st.Source.EventsReplayed != c.replayed || !st.Source.Exact {
			t.Errorf("at %s: source %+v, want snapshot %s with %d events, exact", c.at, st.Source, c.snap, c.replayed)
		}
	}

	// Retention removed the log up to after b: the snapshot alone, said so (b is older than
	// the retention, which may then have removed what came after it).
	evs.earliest = t1.Add(3 * time.Hour)
	tl.Retention = time.Hour
	st, err := tl.At(ctx, t1.Add(2*time.Hour), box)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, st, "knoten"); !slices.Equal(got, []string{"drei", "eins"}) || st.Source.Exact {
		t.Errorf("after retention: Knoten %v exact %v, want [drei eins] not exact", got, st.Source.Exact)
	}
}

// A resident who is not on the map (position null) is in no box, also when an event after the
// snapshot changed their Garnrolle: the replay must not place them in every box.
func TestTimelineHiddenGarnrolleInNoBox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	t0 := time.Date(2026, 11, 10, 1, 0, 0, 0, time.UTC)
	clk := fixed(t0.Add(24 * time.Hour))
	hidden, fresh := uuid.New(), uuid.New()
	src := &fakeSource{}
	evs := &fakeEvents{earliest: t0.Add(-time.Hour)}
	var rs []snapshot.Replayer
	for _, sec := range account.SnapshotSections() {
		rs = append(rs, sec.(snapshot.Replayer))
	}
	tl := timeline.NewService(pool, clk, time.UTC, src, evs, rs, nil)
	a := timeline.Record{Hash: "a", Kind: "full", AsOf: t0, Position: eventstore.Snapshot{Xmin: 100, Xmax: 100}}
	rolle := fmt.Sprintf(`{"created_at":"2026-11-01T10:00:00Z","h3":"","handle":"versteckt","id":"%s","name":"Versteckt","position":null,"verified":false,"verified_at":null,"verified_by":null}`, hidden)
	if _, err := tl.Ingest(ctx, a, strings.NewReader(doc("full", map[string][]string{}, map[string][]string{
		"garnrollen": {rolle},
	}))); err != nil {
		t.Fatal(err)
	}
	renamed, _ := json.Marshal(account.GarnrolleUmbenanntV1{AccountID: hidden, Name: "Neu"})
	registered, _ := json.Marshal(account.GarnrolleAngelegtV1{AccountID: fresh, Handle: "neu", Name: "Ohne Ort"})
	evs.evs = []eventstore.Event{
		{Position: eventstore.Position{Tx: 200, ID: 1}, At: t0.Add(time.Hour), Type: "GarnrolleUmbenannt", Version: 1, Payload: renamed},
		{Position: eventstore.Position{Tx: 201, ID: 2}, At: t0.Add(time.Hour), Type: "GarnrolleAngelegt", Version: 1, Payload: registered},
	}
	box := knoten.BBox{MinLon: 12.3, MinLat: 51.3, MaxLon: 12.4, MaxLat: 51.4}
	st, err := tl.At(ctx, t0.Add(2*time.Hour), box)
	if err != nil {
		t.Fatal(err)
	}
	if st.Source.EventsReplayed != 2 {
		t.Fatalf("replayed %d events, want 2", st.Source.EventsReplayed)
	}
	if got := ids(t, st, "garnrollen"); len(got) != 0 {
		t.Errorf("Garnrollen without a position in the box: %v, want none", got)
	}
}

// blockingSource lists one snapshot more than was ingested, whose file opens only once
// released: an ingest under way for as long as the test wants.
type blockingSource struct {
	recs    []timeline.Record
	opened  chan struct{}
	release chan struct{}
}

func (b *blockingSource) List(context.Context) ([]timeline.Record, error) { return b.recs, nil }
func (b *blockingSource) Open(ctx context.Context, _ string) (io.ReadCloser, error) {
	close(b.opened)
	<-b.release
	return nil, errors.New("released")
}

// A query does not wait for an ingest it set off (a full snapshot of a large map takes seconds
// to ingest, and would hold a phone's request for as long, or past its timeout): it answers
// from what is ingested, while the ingest goes on.
func TestTimelineQueryDoesNotWaitForIngest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	t0 := time.Date(2026, 11, 10, 1, 0, 0, 0, time.UTC)
	a := timeline.Record{Hash: "a", Kind: "full", AsOf: t0, Position: eventstore.Snapshot{Xmin: 100, Xmax: 100}}
	b := timeline.Record{Hash: "b", Kind: "full", AsOf: t0.Add(24 * time.Hour), Position: eventstore.Snapshot{Xmin: 200, Xmax: 200}}
	src := &blockingSource{recs: []timeline.Record{a, b}, opened: make(chan struct{}), release: make(chan struct{})}
	defer close(src.release)
	tl := timeline.NewService(pool, fixed(t0.Add(48*time.Hour)), time.UTC, src, &fakeEvents{}, nil, nil)
	k := uuid.New()
	if _, err := tl.Ingest(ctx, a, strings.NewReader(doc("full", map[string][]string{}, map[string][]string{
		"knoten": {knotenJSON(k, 12.37, 51.34, "eins")},
	}))); err != nil {
		t.Fatal(err)
	}
	box := knoten.BBox{MinLon: 12.3, MinLat: 51.3, MaxLon: 12.4, MaxLat: 51.4}
	done := make(chan error, 1)
	go func() {
		_, err := tl.At(ctx, t0.Add(time.Hour), box)
		done <- err
	}()
	<-src.opened // the query set off the ingest of b, which now waits
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the query waited for the ingest it set off")
	}
}
