package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// movable is an instance clock a test sets.
type movable struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movable) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *movable) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type noteWritten struct {
	ID     string `json:"id"`
	Secret string `json:"secret,omitempty"`
}

var (
	testNoteWritten = eventstore.Define[noteWritten]("TestNoteWritten", 1, eventstore.Public, "test: a note written")
	testNoteSecret  = eventstore.Define[noteWritten]("TestNoteSecret", 1, eventstore.Private, "test: a private change to a note")
)

// notes is a section over a test table whose rows change with TestNote events.
type notes struct{}

func (notes) Name() string { return "notes" }
func (notes) Touched(e eventstore.Event) []string {
	if !testNoteWritten.Is(e) && !testNoteSecret.Is(e) {
		return nil
	}
	var p noteWritten
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return nil
	}
	return []string{p.ID}
}
func (notes) Tables() []snapshot.Table { return nil }
func (notes) Restore(context.Context, pgx.Tx, func(func(snapshot.Object, error) bool)) error {
	return nil
}
func (notes) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	rows, err := q.Query(ctx, `SELECT id, body FROM notes WHERE $1::text[] IS NULL OR id = ANY($1) ORDER BY id COLLATE "C"`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return err
		}
		if err := emit(snapshot.Object{ID: id, JSON: json.RawMessage(fmt.Sprintf(`{"body":%q,"id":%q}`, body, id))}); err != nil {
			return err
		}
	}
	return rows.Err()
}

type rig struct {
	t     *testing.T
	pool  *pgxpool.Pool
	clock *movable
	dir   string
	keys  *snapshot.Keys
	svc   *snapshot.Service
}

const instanceID = "https://ort.example/ap/ortsweberei"

func newRig(t *testing.T, start time.Time, retention time.Duration) *rig {
	t.Helper()
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, pool: pool, clock: &movable{t: start}, dir: t.TempDir()}
	r.keys = snapshot.NewKeys(pool, r.clock)
	r.svc = snapshot.NewService(pool, r.clock, r.keys, snapshot.Options{Dir: r.dir, Instance: instanceID,
		Sections: []snapshot.Section{notes{}}, Schedule: snapshot.Schedule{Location: berlinLoc(t)}, Retention: retention})
	return r
}

// service is another process's service on the same database and directory.
func (r *rig) service() *snapshot.Service {
	return snapshot.NewService(r.pool, r.clock, snapshot.NewKeys(r.pool, r.clock), snapshot.Options{Dir: r.dir, Instance: instanceID,
		Sections: []snapshot.Section{notes{}}, Schedule: snapshot.Schedule{Location: berlinLoc(r.t)}})
}

func berlinLoc(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// write sets a note (or deletes it, body ""), with its event, at the clock's time.
func (r *rig) write(id, body string, kind eventstore.Kind[noteWritten]) {
	r.t.Helper()
	err := database.InTx(context.Background(), r.pool, func(tx *database.Tx) error {
		if body == "" {
			tx.Defer(`DELETE FROM notes WHERE id = $1`, id)
		} else {
			tx.Defer(`INSERT INTO notes VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body`, id, body)
		}
		return eventstore.Append(tx, r.clock.Now(), kind.New(eventstore.Header{}, noteWritten{ID: id}))
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) sweep() {
	r.t.Helper()
	if err := r.svc.Sweep(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) list() []snapshot.Record {
	r.t.Helper()
	rs, err := r.svc.List(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return rs
}

// read opens a recorded snapshot's file as any reader would, checks it with the published key
// (document, proof, detached signature) and returns its objects as "section/json" and its gone.
func (r *rig) read(rec snapshot.Record) ([]string, map[string][]string) {
	r.t.Helper()
	pub, err := r.keys.Public(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(r.dir, rec.Hash+".json.gz"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	var objs []string
	doc, err := snapshot.Read(f, func(section string, o snapshot.Object) error {
		objs = append(objs, section+"/"+string(o.JSON))
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	sigText, err := os.ReadFile(filepath.Join(r.dir, rec.Hash+".sig"))
	if err != nil {
		r.t.Fatal(err)
	}
	sig, err := snapshot.DecodeSignature(sigText)
	if err != nil {
		r.t.Fatal(err)
	}
	if doc.Hash != rec.Hash || snapshot.VerifyDocument(doc, pub) != nil || snapshot.VerifyDetached(rec.Hash, sig, pub) != nil {
		r.t.Fatalf("snapshot %s does not verify with the instance's key (file hash %s)", rec.Hash, doc.Hash)
	}
	if doc.Kind != rec.Kind || doc.Previous != rec.Previous || doc.Base != rec.Base || doc.Instance != instanceID {
		r.t.Fatalf("snapshot %s says kind %s previous %q base %q instance %s; recorded %s %q %q", rec.Hash, doc.Kind,
			doc.Previous, doc.Base, doc.Instance, rec.Kind, rec.Previous, rec.Base)
	}
	return objs, doc.Gone
}

// files lists the snapshot directory.
func (r *rig) files() []string {
	r.t.Helper()
	es, err := os.ReadDir(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// The schedule as the instance lives it: the 02:00 full snapshot, taken once however often the
// sweep runs; the 06:00 incremental, holding what changed since (public and private events
// asked, what is gone listed), chained to it; the next night's full one.
func TestServiceTakesTheScheduledSnapshots(t *testing.T) {
	t.Parallel()
	r := newRig(t, time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC), 0) // midnight in Berlin
	ctx := context.Background()
	r.write("a", "eins", testNoteWritten)
	r.write("b", "zwei", testNoteWritten)
	r.write("c", "drei", testNoteWritten)

	r.clock.Set(time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)) // 02:00 CET
	r.sweep()
	r.sweep()
	rs := r.list()
	if len(rs) != 1 || rs[0].Kind != snapshot.KindFull || !rs[0].Slot.Equal(r.clock.Now()) || rs[0].Previous != "" || rs[0].Base != "" {
		t.Fatalf("after 02:00: %+v, want one full snapshot for the 02:00 slot", rs)
	}
	full := rs[0]
	if objs, _ := r.read(full); !slices.Equal(objs, []string{`notes/{"body":"eins","id":"a"}`, `notes/{"body":"zwei","id":"b"}`,
		`notes/{"body":"drei","id":"c"}`}) {
		t.Fatalf("the full snapshot holds %v", objs)
	}
	if got, want := r.files(), []string{full.Hash + ".json.gz", full.Hash + ".sig"}; !slices.Equal(got, want) {
		t.Fatalf("the directory holds %v, want %v", got, want)
	}

	r.clock.Set(time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
	r.write("a", "eins!", testNoteWritten)
	r.write("b", "", testNoteWritten)     // deleted
	r.write("c", "drei?", testNoteSecret) // a private event changes a public object
	r.write("d", "vier", testNoteWritten)
	r.clock.Set(time.Date(2026, 12, 5, 4, 59, 0, 0, time.UTC))
	r.sweep()
	if rs := r.list(); len(rs) != 1 {
		t.Fatalf("before 06:00: %d snapshots, want still 1", len(rs))
	}
	r.clock.Set(time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)) // 06:00 CET
	r.sweep()
	rs = r.list()
	if len(rs) != 2 || rs[1].Kind != snapshot.KindIncremental || rs[1].Previous != full.Hash || rs[1].Base != full.Hash ||
		!rs[1].Slot.Equal(r.clock.Now()) {
		t.Fatalf("after 06:00: %+v, want the full one and an incremental chained to it", rs)
	}
	objs, gone := r.read(rs[1])
	if want := []string{`notes/{"body":"eins!","id":"a"}`, `notes/{"body":"drei?","id":"c"}`, `notes/{"body":"vier","id":"d"}`}; !slices.Equal(objs, want) {
		t.Fatalf("the incremental holds %v, want %v", objs, want)
	}
	if !slices.Equal(gone["notes"], []string{"b"}) {
		t.Fatalf("the incremental lists %v as gone, want b", gone)
	}

	// Nothing changed: the 10:00 incremental is taken all the same (the chain stays regular),
	// and empty.
	r.clock.Set(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	r.sweep()
	rs = r.list()
	if len(rs) != 3 || rs[2].Previous != rs[1].Hash || rs[2].Base != full.Hash {
		t.Fatalf("after 10:00: %+v", rs)
	}
	if objs, gone := r.read(rs[2]); len(objs) != 0 || len(gone) != 0 {
		t.Fatalf("an incremental after no change holds %v, gone %v", objs, gone)
	}

	// The next night's full snapshot starts a new base; the chain goes on through it.
	r.clock.Set(time.Date(2026, 12, 6, 1, 30, 0, 0, time.UTC))
	r.sweep()
	rs = r.list()
	last := rs[len(rs)-1]
	if last.Kind != snapshot.KindFull || last.Previous != rs[len(rs)-2].Hash || last.Base != "" ||
		!last.Slot.Equal(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("the next night: %+v", last)
	}
	// It was taken at 02:30, and the 22:00 incremental it missed is not taken after it.
	if n := len(rs); n != 4 {
		t.Fatalf("%d snapshots after the second night, want 4: %+v", n, rs)
	}

	// The timeline's question: what holds the state as of a moment.
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{time.Date(2026, 12, 5, 0, 59, 0, 0, time.UTC), nil},
		{time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC), []string{full.Hash}},
		{time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), []string{full.Hash, rs[1].Hash, rs[2].Hash}},
		{time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), []string{last.Hash}},
	} {
		chain, err := r.svc.Chain(ctx, c.at)
		var got []string
		for _, rec := range chain {
			got = append(got, rec.Hash)
		}
		if c.want == nil && err != snapshot.ErrNoSnapshot || c.want != nil && (err != nil || !slices.Equal(got, c.want)) {
			t.Errorf("chain at %s: %v (%v), want %v", c.at, got, err, c.want)
		}
	}
}

// A missed night (the instance was down at 02:00) is made up at the next run, once: the last
// slot's full snapshot, not one per missed night.
func TestMissedSlotIsTakenAtStart(t *testing.T) {
	t.Parallel()
	r := newRig(t, time.Date(2026, 12, 8, 14, 30, 0, 0, time.UTC), 0) // 15:30 CET; down since days
	r.write("a", "eins", testNoteWritten)
	r.sweep()
	rs := r.list()
	if len(rs) != 1 || rs[0].Kind != snapshot.KindFull || !rs[0].Slot.Equal(time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)) ||
		!rs[0].AsOf.Equal(r.clock.Now()) {
		t.Fatalf("at start: %+v, want one full snapshot for this morning's slot, as of now", rs)
	}
	// The 14:00 incremental slot lies before that snapshot: not taken; 18:00 is.
	r.clock.Set(time.Date(2026, 12, 8, 16, 59, 0, 0, time.UTC))
	r.sweep()
	if rs := r.list(); len(rs) != 1 {
		t.Fatalf("before 18:00: %d snapshots", len(rs))
	}
	r.clock.Set(time.Date(2026, 12, 8, 17, 0, 0, 0, time.UTC))
	r.sweep()
	if rs := r.list(); len(rs) != 2 || rs[1].Kind != snapshot.KindIncremental {
		t.Fatalf("at 18:00: %+v", rs)
	}
}

// Sweeps running at once — in this process and in two more, each with its own service on the
// same database and directory — take the slot once: one snapshot, one pair of files.
func TestConcurrentSweepsTakeASlotOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC), 0)
	r.write("a", "eins", testNoteWritten)
	svcs := []*snapshot.Service{r.svc, r.svc, r.service(), r.service()}
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Sweep(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rs := r.list()
	if len(rs) != 1 {
		t.Fatalf("%d snapshots after concurrent sweeps, want 1: %+v", len(rs), rs)
	}
	if got := r.files(); len(got) != 2 {
		t.Fatalf("the directory holds %v, want one snapshot's two files", got)
	}
}

// The switch nights in Europe/Berlin with a fixed clock: one full snapshot per night. In
// March 02:00 does not exist and the slot is 03:00 CEST; in October 02:00 happens twice and
// the second 02:00 takes nothing.
func TestFullSnapshotOnTheSwitchNights(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                string
		before, slot, later time.Time
	}{
		{"March", time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 29, 2, 30, 0, 0, time.UTC)},
		{"October", time.Date(2026, 10, 24, 23, 59, 0, 0, time.UTC), time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)}, // 02:30 CET, the second time round
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, c.before, 0)
			r.sweep() // the day before's slot, made up at start
			r.clock.Set(c.slot.Add(-time.Second))
			r.sweep()
			if rs := r.list(); len(rs) != 1 {
				t.Fatalf("just before the slot: %d snapshots", len(rs))
			}
			for _, at := range []time.Time{c.slot, c.slot.Add(30 * time.Minute), c.slot.Add(time.Hour), c.later} {
				r.clock.Set(at)
				r.sweep()
			}
			var fulls []snapshot.Record
			for _, rec := range r.list() {
				if rec.Kind == snapshot.KindFull {
					fulls = append(fulls, rec)
				}
			}
			if len(fulls) != 2 || !fulls[1].Slot.Equal(c.slot) || !fulls[1].AsOf.Equal(c.slot) {
				t.Fatalf("full snapshots: %+v; want the second for the slot %s, taken then", fulls, c.slot)
			}
		})
	}
}

// Retention: old events go once a verified snapshot holds them, never before; recent ones
// stay. (Which events a snapshot holds, and the followers' cursors, are eventstore's test.)
func TestRetentionWaitsForAVerifiedSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	r := newRig(t, start, 30*24*time.Hour)
	r.write("a", "eins", testNoteWritten)
	r.write("b", "zwei", testNoteSecret)
	count := func() int {
		var n int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 31 days later, before any snapshot: the retention deletes nothing.
	r.clock.Set(start.Add(31 * 24 * time.Hour))
	if n, err := r.svc.Retain(ctx); err != nil || n != 0 || count() != 2 {
		t.Fatalf("without a snapshot the retention deleted %d (%v); %d events left, want 2", n, err, count())
	}
	r.write("c", "drei", testNoteWritten) // recent
	r.sweep()                             // takes the full snapshot, verifies it, then the retention runs
	if rs := r.list(); len(rs) != 1 {
		t.Fatalf("%d snapshots", len(rs))
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events left after the snapshot, want the recent one", n)
	}
	var kind string
	if err := r.pool.QueryRow(ctx, `SELECT payload->>'id' FROM events`).Scan(&kind); err != nil || kind != "c" {
		t.Fatalf("the event left is about %q (%v), want c", kind, err)
	}
}

// What the recording transaction carries (federation's announcement) commits with the row or
// not at all: when it fails, the snapshot is not recorded and its files are gone; the next run
// takes the slot.
func TestRecordedHookFailureRecordsNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC), 0)
	r.write("a", "eins", testNoteWritten)
	fail := true
	var announced []string
	svc := snapshot.NewService(r.pool, r.clock, r.keys, snapshot.Options{Dir: r.dir, Instance: instanceID,
		Sections: []snapshot.Section{notes{}}, Schedule: snapshot.Schedule{Location: berlinLoc(t)},
		Recorded: func(ctx context.Context, tx pgx.Tx, rec snapshot.Record) error {
			if fail {
				return fmt.Errorf("the neighbours cannot be told")
			}
			announced = append(announced, rec.Hash)
			return nil
		}})
	if err := svc.Sweep(context.Background()); err == nil {
		t.Fatal("the sweep succeeded although recording failed")
	}
	if rs, files := r.list(), r.files(); len(rs) != 0 || len(files) != 0 {
		t.Fatalf("after a failed recording: %d recorded, files %v; want none", len(rs), files)
	}
	fail = false
	if err := svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rs := r.list(); len(rs) != 1 || !slices.Equal(announced, []string{rs[0].Hash}) || len(r.files()) != 2 {
		t.Fatalf("the next run: %+v recorded, %v announced, files %v", rs, announced, r.files())
	}
}
