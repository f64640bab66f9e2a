package eventstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// appendAt commits one event at the time (private ones too) and returns its id.
func appendAt(t *testing.T, ctx context.Context, pool *pgxpool.Pool, when time.Time, kind eventstore.Kind[pinged], n int) int64 {
	t.Helper()
	var id int64
	if err := database.InTx(ctx, pool, func(tx *database.Tx) error {
		if err := eventstore.Append(tx, when, kind.New(eventstore.Header{}, pinged{N: n})); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT currval('events_id_seq')`).Scan(&id)
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// logged returns every event's position in the log, in log order, whether or not the horizon
// (cluster-wide: other tests' open transactions hold it back) has passed it.
func logged(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []eventstore.Position {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT tx, id FROM events ORDER BY tx, id`)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (p eventstore.Position, err error) {
		err = r.Scan(&p.Tx, &p.ID)
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func betweenIDs(t *testing.T, ctx context.Context, q database.Querier, from, to eventstore.Snapshot, batch int) []int64 {
	t.Helper()
	var ids []int64
	var last eventstore.Position
	if err := eventstore.Between(ctx, q, from, to, batch, func(_ context.Context, evs []eventstore.Event) error {
		if len(evs) > batch {
			t.Errorf("a batch of %d events, asked for at most %d", len(evs), batch)
		}
		for _, e := range evs {
			if !e.Position.After(last) {
				t.Errorf("event %s read after %s: not in log order", e.Position, last)
			}
			last = e.Position
			ids = append(ids, e.Position.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// What an incremental snapshot is asked about: the events, public and private, that one
// snapshot of the log holds and an earlier one does not — including a transaction that had
// taken its position before the earlier snapshot and committed after it (a reader by position
// would lose it), and none twice.
func TestBetweenSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	snap := func() eventstore.Snapshot {
		t.Helper()
		s, err := eventstore.CurrentSnapshot(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e1 := appendAt(t, ctx, pool, at, testPinged, 1)
	a := snap()

	late, err := database.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx)
	e2 := appendOne(t, ctx, late, 2) // has its transaction id, commits after b
	e3 := appendAt(t, ctx, pool, at, testEchoed, 3)
	e4 := appendAt(t, ctx, pool, at, testPinged, 4)
	b := snap()
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e5 := appendAt(t, ctx, pool, at, testPinged, 5)
	c := snap()

	for _, tc := range []struct {
		name     string
		from, to eventstore.Snapshot
		want     []int64
	}{
		{"from the start", eventstore.Snapshot{}, a, []int64{e1}},
		{"a to b", a, b, []int64{e3, e4}},
		{"b to c, with the late commit", b, c, []int64{e2, e5}},
		{"a to c", a, c, []int64{e2, e3, e4, e5}},
		{"nothing between a snapshot and itself", b, b, nil},
	} {
		for _, batch := range []int{1, 1000} {
			got := betweenIDs(t, ctx, pool, tc.from, tc.to, batch)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s (batch %d): events %v, want %v", tc.name, batch, got, want)
			}
		}
	}

	// Contains agrees with the reads.
	evs := logged(t, ctx, pool)
	for _, tc := range []struct {
		s    eventstore.Snapshot
		id   int64
		want bool
	}{{a, e1, true}, {a, e3, false}, {b, e2, false}, {b, e4, true}, {c, e2, true}, {c, e5, true}} {
		for _, p := range evs {
			if p.ID == tc.id && tc.s.Contains(p) != tc.want {
				t.Errorf("snapshot %+v contains event %d: %v, want %v", tc.s, tc.id, !tc.want, tc.want)
			}
		}
	}
}

// Retention removes an old event only when the snapshot holds it and every follower has read
// it; recent events and events the snapshot does not hold stay.
func TestRemoveCovered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	now := at
	old := now.Add(-31 * 24 * time.Hour)
	window := now.Add(-30 * 24 * time.Hour)

	oldCovered := appendAt(t, ctx, pool, old, testPinged, 1)
	oldPrivate := appendAt(t, ctx, pool, old, testEchoed, 2)
	newCovered := appendAt(t, ctx, pool, now, testPinged, 3)
	s, err := eventstore.CurrentSnapshot(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	oldUncovered := appendAt(t, ctx, pool, old, testPinged, 4) // dated back, written after the snapshot
	var behind int64
	{ // a follower that has read up to oldPrivate only
		var cursor eventstore.Position
		for _, p := range logged(t, ctx, pool) {
			if p.ID == oldCovered {
				cursor = p
			}
		}
		if err := eventstore.SaveCursorNow(ctx, pool, "test-follower", cursor, now); err != nil {
			t.Fatal(err)
		}
		behind = oldPrivate
	}

	n, err := eventstore.RemoveCovered(ctx, pool, s, window, 1)
	if err != nil {
		t.Fatal(err)
	}
	remaining := func() []int64 {
		var ids []int64
		for _, p := range logged(t, ctx, pool) {
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got, want := remaining(), []int64{behind, newCovered, oldUncovered}; n != 1 || !slices.Equal(got, want) {
		t.Fatalf("removed %d, left %v; want 1 removed (%d) and %v left", n, got, oldCovered, want)
	}

	// The follower reads on: the old covered event it had not read goes too.
	evs := logged(t, ctx, pool)
	if err := eventstore.SaveCursorNow(ctx, pool, "test-follower", evs[len(evs)-1], now); err != nil {
		t.Fatal(err)
	}
	if n, err = eventstore.RemoveCovered(ctx, pool, s, window, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := remaining(), []int64{newCovered, oldUncovered}; n != 1 || !slices.Equal(got, want) {
		t.Fatalf("removed %d, left %v; want 1 removed (%d) and %v left", n, got, oldPrivate, want)
	}
}
