package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type pinged struct {
	N int `json:"n"`
}

var (
	testPinged = eventstore.Define[pinged]("TestPinged", 1, eventstore.Public, "test event")
	testEchoed = eventstore.Define[pinged]("TestEchoed", 1, eventstore.Private, "test event caused by another")
)

var at = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// appendOne appends an event in tx and returns its id.
func appendOne(t *testing.T, ctx context.Context, tx *database.Tx, n int) int64 {
	t.Helper()
	if err := eventstore.Append(tx, at, testPinged.New(eventstore.Header{}, pinged{N: n})); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `SELECT currval('events_id_seq')`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func readAll(t *testing.T, s *eventstore.Store) []eventstore.Event {
	t.Helper()
	evs, err := s.Read(context.Background(), eventstore.Position{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// patience bounds every wait of these tests for something to happen: a safety net for a busy
// machine, not a pace the tests depend on.
const patience = time.Minute

// readN reads the whole log once it holds n events. The horizon is cluster-wide: transactions
// of tests running in parallel (other databases, same server) delay it, for longer the busier
// the machine.
func readN(t *testing.T, s *eventstore.Store, n int) []eventstore.Event {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		evs := readAll(t, s)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log shows %d events after %s, want %d: %v", len(evs), patience, n, positions(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// naiveAfter is the reader the package exists to avoid: "id > cursor".
func naiveAfter(t *testing.T, pool *pgxpool.Pool, cursor int64) []int64 {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `SELECT id FROM events WHERE id > $1 ORDER BY id`, cursor)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// An event whose id is lower than an already visible one, committed later: a reader by id
// skips it; a reader by position does not.
func TestLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := eventstore.NewStore(pool, 0, nil)

	txA, err := database.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	idA := appendOne(t, ctx, txA, 1)

	var idB int64
	if err := database.InTx(ctx, pool, func(tx *database.Tx) error { idB = appendOne(t, ctx, tx, 2); return nil }); err != nil {
		t.Fatal(err)
	}
	if !(idA < idB) {
		t.Fatalf("setup: expected A's id %d below B's %d", idA, idB)
	}

	naive := naiveAfter(t, pool, 0)
	if len(naive) != 1 || naive[0] != idB {
		t.Fatalf("naive reader sees %v, want only B=%d", naive, idB)
	}
	if evs := readAll(t, store); len(evs) != 0 {
		t.Fatalf("while A is in flight the log must show nothing past it, got %d events", len(evs))
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if missed := naiveAfter(t, pool, idB); len(missed) != 0 {
		t.Fatalf("naive reader unexpectedly caught up: %v", missed)
	} // the naive reader has lost A for good

	evs := readN(t, store, 2)
	if len(evs) != 2 || evs[0].Position.ID != idA || evs[1].Position.ID != idB {
		t.Fatalf("read %v, want A=%d then B=%d", positions(evs), idA, idB)
	}
}

// A transaction that started writing first but appends later sorts first: the log order is by
// transaction, and a reader never sees the later transaction before the earlier one ends.
func TestPositionOrdersByTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := eventstore.NewStore(pool, 0, nil)

	txA, err := database.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if _, err := txA.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // A takes its xid now
		t.Fatal(err)
	}
	var idB int64
	if err := database.InTx(ctx, pool, func(tx *database.Tx) error { idB = appendOne(t, ctx, tx, 2); return nil }); err != nil {
		t.Fatal(err)
	}
	first := readAll(t, store)
	idA := appendOne(t, ctx, txA, 1)
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if len(first) != 0 {
		t.Fatalf("B must stay invisible while the older A runs, got %v", positions(first))
	}
	evs := readN(t, store, 2)
	if len(evs) != 2 || evs[0].Position.ID != idA || evs[1].Position.ID != idB {
		t.Fatalf("read %v, want A=%d (older transaction) then B=%d", positions(evs), idA, idB)
	}
}

// Many writers commit (and some roll back) concurrently, in random order, while two followers
// follow the log (one of them, with FollowTypes, one event type only). Among them, a late
// commit is forced again and again: a transaction takes an event id, another one takes a
// higher id, commits and is read by both followers, and only then the first one commits — the
// event a reader by id would lose for good. The followers must see every committed event
// exactly once, in increasing position (the late ones included), and no rolled-back one.
func TestFollowerUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	pool, err := database.Open(ctx, pgtest.URL(t), 40)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := eventstore.NewStore(pool, 20*time.Millisecond, nil)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go store.Run(runCtx)

	var (
		mu        sync.Mutex
		seen      = map[int64]int{}
		order     []eventstore.Position
		committed = map[int64]bool{}
		// The second follower takes one of the two kinds only.
		echoesSeen      = map[int64]int{}
		echoesCommitted = map[int64]bool{}
	)
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	followDone, typedDone := make(chan error, 1), make(chan error, 1)
	go func() {
		followDone <- store.Follow(followCtx, eventstore.Position{}, 50, func(_ context.Context, evs []eventstore.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				seen[e.Position.ID]++
				order = append(order, e.Position)
			}
			return nil
		})
	}()
	go func() {
		typedDone <- store.FollowTypes(followCtx, eventstore.Position{}, 7, []string{testEchoed.Name()}, func(_ context.Context, evs []eventstore.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				if e.Type != testEchoed.Name() {
					t.Errorf("typed follower got a %s", e.Type)
				}
				echoesSeen[e.Position.ID]++
			}
			return nil
		})
	}()
	// waitSeen waits until the followers have seen the events (the typed one: those of its kind).
	waitSeen := func(ids map[int64]bool, echoes map[int64]bool) bool {
		for deadline := time.Now().Add(patience); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			missing := 0
			for id := range ids {
				if seen[id] == 0 {
					missing++
				}
			}
			for id := range echoes {
				if echoesSeen[id] == 0 {
					missing++
				}
			}
			mu.Unlock()
			if missing == 0 {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
		}
	}
	// own returns the ids and types of the events tx has appended so far.
	own := func(tx *database.Tx) ([]int64, []string, error) {
		rows, _ := tx.Query(ctx, `SELECT id, type FROM events WHERE tx = events_tx() ORDER BY id`)
		type row struct {
			ID   int64
			Type string
		}
		rs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		ids, types := make([]int64, len(rs)), make([]string, len(rs))
		for k, r := range rs {
			ids[k], types[k] = r.ID, r.Type
		}
		return ids, types, err
	}
	record := func(ids []int64, types []string) {
		mu.Lock()
		defer mu.Unlock()
		for k, id := range ids {
			committed[id] = true
			if types[k] == testEchoed.Name() {
				echoesCommitted[id] = true
			}
		}
	}

	const writers, txPerWriter = 24, 120
	var wg sync.WaitGroup
	// A failing test stops the writers (and ends its open transactions) before the pool closes.
	writeCtx, stopWriters := context.WithCancel(ctx)
	defer func() { stopWriters(); wg.Wait() }()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range txPerWriter {
				if writeCtx.Err() != nil {
					return
				}
				tx, err := database.Begin(ctx, pool)
				if err != nil {
					t.Error(err)
					return
				}
				n := 1 + rng.IntN(3)
				drafts := make([]eventstore.Draft, n)
				for k := range drafts {
					kind := testPinged
					if rng.IntN(3) == 0 {
						kind = testEchoed
					}
					drafts[k] = kind.New(eventstore.Header{Actor: uuid.New()}, pinged{N: w*1000 + i})
				}
				if err := eventstore.AppendEach(tx, at, drafts...); err != nil {
					t.Error(err)
					tx.Rollback(ctx)
					return
				}
				ids, types, err := own(tx)
				if err != nil || len(ids) != n {
					t.Errorf("own events: %v %v", ids, err)
					tx.Rollback(ctx)
					return
				}
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond) // hold the ids while others commit
				if rng.IntN(10) == 0 {
					tx.Rollback(ctx)
					continue
				}
				if err := tx.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
				record(ids, types)
			}
		}()
	}

	// The forced late commits, in the middle of that load.
	const lateCommits = 15
	late := map[int64]bool{}
	for r := range lateCommits {
		early, err := database.Begin(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		defer early.Rollback(ctx)                                        // a no-op once committed
		if _, err := early.Exec(ctx, `SELECT events_tx()`); err != nil { // its transaction id comes first
			t.Fatal(err)
		}
		lateTx, err := database.Begin(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		defer lateTx.Rollback(ctx)
		if err := eventstore.AppendEach(lateTx, at, testEchoed.New(eventstore.Header{}, pinged{N: -r})); err != nil {
			t.Fatal(err)
		}
		lateIDs, lateTypes, err := own(lateTx) // the late event's id is taken now
		if err != nil || len(lateIDs) != 1 {
			t.Fatalf("late event: %v %v", lateIDs, err)
		}
		if err := eventstore.AppendEach(early, at, testPinged.New(eventstore.Header{}, pinged{N: r}), testEchoed.New(eventstore.Header{}, pinged{N: r})); err != nil {
			t.Fatal(err)
		}
		earlyIDs, earlyTypes, err := own(early)
		if err != nil || len(earlyIDs) != 2 || earlyIDs[0] < lateIDs[0] {
			t.Fatalf("setup: the early transaction's ids %v must come after the late one's %v (%v)", earlyIDs, lateIDs, err)
		}
		if err := early.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		record(earlyIDs, earlyTypes)
		// Both followers have read past the late event's id before it commits.
		if !waitSeen(map[int64]bool{earlyIDs[0]: true, earlyIDs[1]: true}, map[int64]bool{earlyIDs[1]: true}) {
			t.Fatalf("round %d: the followers did not see the committed events %v within %s", r, earlyIDs, patience)
		}
		if err := lateTx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		record(lateIDs, lateTypes)
		late[lateIDs[0]] = true
	}
	wg.Wait()

	// A last event: once the followers have it, they have read the whole log, and any event
	// passed twice was passed before it.
	var last []int64
	err = database.InTx(ctx, pool, func(tx *database.Tx) error {
		if err := eventstore.AppendEach(tx, at, testEchoed.New(eventstore.Header{}, pinged{N: -1})); err != nil {
			return err
		}
		last, _, err = own(tx)
		return err
	})
	if err != nil || len(last) != 1 {
		t.Fatalf("last event: %v %v", last, err)
	}
	record(last, []string{testEchoed.Name()})
	if !waitSeen(map[int64]bool{last[0]: true}, map[int64]bool{last[0]: true}) {
		t.Fatalf("the followers did not reach the last event within %s", patience)
	}
	stopFollow()
	for _, done := range []chan error{followDone, typedDone} {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("a follower stopped with %v", err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(committed) < writers*txPerWriter/2 {
		t.Fatalf("only %d events committed; the test did not load the log", len(committed))
	}
	for id := range committed {
		if seen[id] != 1 {
			t.Errorf("committed event %d (late commit: %v) seen %d times", id, late[id], seen[id])
		}
	}
	for id := range seen {
		if !committed[id] {
			t.Errorf("follower saw event %d, which was never committed", id)
		}
	}
	for i := 1; i < len(order); i++ {
		if !order[i].After(order[i-1]) {
			t.Errorf("positions not increasing: %v then %v", order[i-1], order[i])
			break
		}
	}
	for id := range echoesCommitted {
		if echoesSeen[id] != 1 {
			t.Errorf("committed %s event %d (late commit: %v) seen %d times by the typed follower", testEchoed.Name(), id, late[id], echoesSeen[id])
		}
	}
	for id := range echoesSeen {
		if !echoesCommitted[id] {
			t.Errorf("typed follower saw event %d, which was never committed (or not of its kind)", id)
		}
	}
	if !t.Failed() {
		t.Logf("%d events committed (%d of them late commits), all seen exactly once; %d of them %s, each seen once by the typed follower",
			len(committed), len(late), len(echoesCommitted), testEchoed.Name())
	}
}

func TestAppendCausationAndCorrelation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := eventstore.NewStore(pool, 0, nil)
	actor, subject := uuid.New(), uuid.New()
	err := database.InTx(ctx, pool, func(tx *database.Tx) error {
		if err := eventstore.Append(tx, at,
			testPinged.New(eventstore.Header{Actor: actor, Subject: subject, Cell: 644569312734953471}, pinged{N: 1}),
			testEchoed.New(eventstore.Header{}, pinged{N: 2}),
			testEchoed.New(eventstore.Header{}, pinged{N: 3}),
		); err != nil {
			return err
		}
		return eventstore.AppendEach(tx, at, testPinged.New(eventstore.Header{}, pinged{N: 4}), testPinged.New(eventstore.Header{}, pinged{N: 5}))
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := readN(t, store, 5)
	if len(evs) != 5 {
		t.Fatalf("got %d events", len(evs))
	}
	root := evs[0].Position.ID
	want := []struct{ cause, corr int64 }{{0, root}, {root, root}, {root, root}, {0, evs[3].Position.ID}, {0, evs[4].Position.ID}}
	for i, e := range evs {
		if e.CausationID != want[i].cause || e.CorrelationID != want[i].corr {
			t.Errorf("event %d (id %d): cause %d corr %d, want cause %d corr %d",
				i, e.Position.ID, e.CausationID, e.CorrelationID, want[i].cause, want[i].corr)
		}
		var p pinged
		if e.Type == "TestPinged" {
			p, err = testPinged.Decode(e)
		} else {
			p, err = testEchoed.Decode(e)
		}
		if err != nil || p.N != i+1 {
			t.Errorf("event %d: payload %+v, %v; want the drafts' order", i, p, err)
		}
	}
	if e := evs[0]; e.ActorID != actor || e.SubjectID != subject || e.Cell != 644569312734953471 || !e.Public || !e.At.Equal(at) {
		t.Errorf("header not kept: %+v", e)
	}
	if evs[1].Public {
		t.Error("private kind written as public")
	}
	if _, err := testPinged.Decode(evs[1]); err == nil {
		t.Error("decoding an event of another kind must fail")
	}
}

// A failing deferred write rolls the whole transaction back, events included.
func TestFailedDeferredWriteRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	err := database.InTx(ctx, pool, func(tx *database.Tx) error {
		if err := eventstore.Append(tx, at, testPinged.New(eventstore.Header{}, pinged{N: 1})); err != nil {
			return err
		}
		tx.Defer(`INSERT INTO no_such_table VALUES (1)`)
		return nil
	})
	if err == nil {
		t.Fatal("commit succeeded despite a failing deferred statement")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events after the rollback (%v)", n, err)
	}
	// The same with a statement that is well-formed and fails only when it runs, after the
	// event's insert has run: a transaction of deferred writes only goes out as one pipeline
	// without BEGIN (database.Tx), and the pipeline's implicit transaction must roll back too.
	err = database.InTx(ctx, pool, func(tx *database.Tx) error {
		if err := eventstore.Append(tx, at, testPinged.New(eventstore.Header{}, pinged{N: 1})); err != nil {
			return err
		}
		tx.Defer(`SELECT 1 / (0 * $1::int)`, 1)
		return nil
	})
	if err == nil {
		t.Fatal("commit succeeded despite a deferred statement failing at run time")
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events after the run-time failure (%v)", n, err)
	}
	// The connection went back to the pool in a usable state.
	for range 10 {
		if err := database.InTx(ctx, pool, func(tx *database.Tx) error {
			return eventstore.Append(tx, at, testPinged.New(eventstore.Header{}, pinged{N: 2}))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 10 {
		t.Fatalf("%d events, want 10 (%v)", n, err)
	}
}

func TestPositionCursor(t *testing.T) {
	p := eventstore.Position{Tx: 123456, ID: 42}
	q, err := eventstore.ParsePosition(p.String())
	if err != nil || q != p {
		t.Fatalf("round trip %v -> %q -> %v, %v", p, p.String(), q, err)
	}
	for _, bad := range []string{"x", "1-", "-1", "1-2-3", "1--2", "9223372036854775808-1", "18446744073709551615-1"} {
		if _, err := eventstore.ParsePosition(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
	if z, err := eventstore.ParsePosition(""); err != nil || z != (eventstore.Position{}) {
		t.Errorf("empty cursor: %v %v", z, err)
	}
}

func positions(evs []eventstore.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%v ", e.Position)
	}
	return s
}

// CatchUp waits for transactions that were running when it was called, and gives up with
// ErrHorizonHeldBack when one runs longer than its bound.
func TestCatchUpWaitsForRunningTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := eventstore.NewStore(pool, 0, nil)
	tx, err := database.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	appendOne(t, ctx, tx, 1)
	if err := store.CatchUp(ctx, 50*time.Millisecond); !errors.Is(err, eventstore.ErrHorizonHeldBack) {
		t.Fatalf("with a transaction in flight: %v, want ErrHorizonHeldBack", err)
	}
	// Without a bound of its own (as a dev instance's sweeps wait) it waits as long as its
	// context lasts.
	waitCtx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- store.CatchUp(waitCtx, 0) }()
	// The commit must come while CatchUp waits, or the test would not show that it waits for
	// it: CatchUp polls the horizon once it has marked the present, and the poll shows in
	// pg_stat_activity (seen from a connection of the test's own, not the pool's).
	watch, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	for deadline := time.Now().Add(patience); ; time.Sleep(time.Millisecond) {
		var polling bool
		if err := watch.QueryRow(ctx, `
SELECT EXISTS (SELECT FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_snapshot_xmin(pg_current_snapshot())%')`).Scan(&polling); err != nil {
			t.Fatal(err)
		}
		if polling {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("CatchUp returned while a transaction that began before it was still open: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("CatchUp never polled the horizon")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("CatchUp returned while a transaction that began before it was still open: %v", err)
	default:
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after the commit: %v", err)
	}
	if evs := readAll(t, store); len(evs) != 1 {
		t.Fatalf("after CatchUp the committed event must be readable at once: %d events", len(evs))
	}
}

// A database restored into a cluster whose transaction counter is lower than the one it was
// dumped from: its log and a consumer's cursor lie ahead of every position the cluster would
// now hand out. KeepPositionsAhead moves new positions past them, so the consumer sees what is
// appended from then on, and readers see the restored events at once.
func TestPositionsStayAheadOfARestoredLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := eventstore.NewStore(pool, 0, nil)

	// What a restore leaves: events written at transaction ids this cluster has not reached
	// (the old cluster's), and the cursor of a consumer that had read them all.
	var restored eventstore.Position
	err := pool.QueryRow(ctx, `
INSERT INTO events (at, type, version, payload, public, tx)
VALUES ($1, $2, 1, '{"n":0}', true, events_tx() + 5000000)
RETURNING tx, id`, at, testPinged.Name()).Scan(&restored.Tx, &restored.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventstore.SaveCursorNow(ctx, pool, "consumer", restored, at); err != nil {
		t.Fatal(err)
	}
	appendNew := func(n int) {
		t.Helper()
		if err := database.InTx(ctx, pool, func(tx *database.Tx) error {
			return eventstore.Append(tx, at, testPinged.New(eventstore.Header{}, pinged{N: n}))
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Without the fix, this is what a restored instance did: the new event sorts before the
	// cursor, and the restored one is beyond the horizon.
	appendNew(1)
	cursor, err := eventstore.LoadCursor(ctx, pool, "consumer", false)
	if err != nil {
		t.Fatal(err)
	}
	if evs, _ := store.Read(ctx, cursor, 10); len(evs) != 0 {
		t.Fatalf("setup: the consumer sees %v after its cursor before the fix", positions(evs))
	}

	if err := eventstore.KeepPositionsAhead(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	appendNew(2)
	evs := readN(t, store, 3)
	if len(evs) != 3 || evs[1].Position != restored {
		t.Fatalf("log after the fix: %v, want the event of before, the restored one (%v), the new one", positions(evs), restored)
	}
	if !evs[2].Position.After(cursor) {
		t.Fatalf("the new event at %v does not sort after the restored cursor %v", evs[2].Position, cursor)
	}
	if after, err := store.Read(ctx, cursor, 10); err != nil || len(after) != 1 || after[0].Position != evs[2].Position {
		t.Fatalf("the consumer reads %v after its cursor (%v), want the new event only", positions(after), err)
	}
	if head, err := store.Head(ctx); err != nil || head != evs[2].Position {
		t.Fatalf("head %v (%v), want %v", head, err, evs[2].Position)
	}
	if n, err := store.CountPublic(ctx, eventstore.Scope{}); err != nil || n != 3 {
		t.Fatalf("%d public events counted (%v), want 3", n, err)
	}

	// Once ahead, nothing moves at the next start.
	var offset int64
	if err := pool.QueryRow(ctx, `SELECT events_tx_offset()`).Scan(&offset); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.KeepPositionsAhead(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	var again int64
	if err := pool.QueryRow(ctx, `SELECT events_tx_offset()`).Scan(&again); err != nil || again != offset {
		t.Fatalf("offset %d became %d (%v) at a second start", offset, again, err)
	}
}

// An event whose cell the database decides takes the one a statement before it set in the same
// transaction, none when it set ”, and never one a committed transaction set on the connection.
func TestCellFromTx(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	single, err := pgxpool.NewWithConfig(ctx, func() *pgxpool.Config { c := pool.Config().Copy(); c.MaxConns = 1; return c }())
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	appendIn := func(set *string) int64 {
		var id int64
		err := database.InTx(ctx, single, func(tx *database.Tx) error {
			if set != nil {
				tx.Defer(`SELECT set_config($1, $2, true)`, eventstore.TxCellSetting, *set)
			}
			if err := eventstore.Append(tx, at, testPinged.New(eventstore.Header{Cell: 99, CellFromTx: true}, pinged{})); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT currval('events_id_seq')`).Scan(&id)
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	cellOf := func(id int64) *int64 {
		var c *int64
		if err := pool.QueryRow(ctx, `SELECT h3_index FROM events WHERE id = $1`, id).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	cell, none := "644569093617008639", ""
	if c := cellOf(appendIn(&cell)); c == nil || *c != 644569093617008639 {
		t.Fatalf("cell set: %v", c)
	}
	// The same connection, the setting of the committed transaction gone.
	if c := cellOf(appendIn(nil)); c != nil {
		t.Fatalf("cell of an earlier transaction: %d", *c)
	}
	if c := cellOf(appendIn(&none)); c != nil {
		t.Fatalf("no cell set: %d", *c)
	}
	err = database.InTx(ctx, single, func(tx *database.Tx) error {
		return eventstore.Append(tx, at, testPinged.New(eventstore.Header{CellFromTx: true}, pinged{}), testEchoed.New(eventstore.Header{}, pinged{}))
	})
	if err == nil {
		t.Fatal("a cell from the transaction in a command of two events was taken")
	}
}

// A payload completed from the transaction has the members the statement before set, besides
// its own; without the setting (or in a later transaction on the same connection) it is as sent.
func TestPayloadFromTx(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	single, err := pgxpool.NewWithConfig(ctx, func() *pgxpool.Config { c := pool.Config().Copy(); c.MaxConns = 1; return c }())
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	appendIn := func(set *string) string {
		var id int64
		err := database.InTx(ctx, single, func(tx *database.Tx) error {
			if set != nil {
				tx.Defer(`SELECT set_config($1, $2, true)`, eventstore.TxPayloadSetting, *set)
			}
			if err := eventstore.Append(tx, at, testPinged.New(eventstore.Header{Cell: 99, PayloadFromTx: true}, pinged{N: 1})); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT currval('events_id_seq')`).Scan(&id)
		})
		if err != nil {
			t.Fatal(err)
		}
		var p string
		var cell *int64
		if err := pool.QueryRow(ctx, `SELECT payload::text, h3_index FROM events WHERE id = $1`, id).Scan(&p, &cell); err != nil {
			t.Fatal(err)
		}
		if cell == nil || *cell != 99 {
			t.Errorf("the header's cell is lost: %v", cell)
		}
		return p
	}
	more := `{"from": "pending", "amount_cents": 1250}`
	if p := appendIn(&more); p != `{"n": 1, "from": "pending", "amount_cents": 1250}` {
		t.Errorf("payload with the setting: %s", p)
	}
	if p := appendIn(nil); p != `{"n": 1}` {
		t.Errorf("payload after the setting's transaction: %s", p)
	}
	err = database.InTx(ctx, single, func(tx *database.Tx) error {
		return eventstore.Append(tx, at, testPinged.New(eventstore.Header{PayloadFromTx: true}, pinged{}), testEchoed.New(eventstore.Header{}, pinged{}))
	})
	if err == nil {
		t.Fatal("a payload from the transaction in a command of two events was taken")
	}
}
