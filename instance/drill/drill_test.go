package drill

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fill writes the same few events (explicit positions, so two databases can hold equal logs)
// and one Ortsweberei row into a database.
func fill(t *testing.T, ctx context.Context, conn *pgx.Conn) {
	t.Helper()
	_, err := conn.Exec(ctx, `
INSERT INTO events (id, at, type, version, subject_id, payload, public, tx)
SELECT i, '2026-12-01T10:00:00Z'::timestamptz + i * interval '1 minute', 'KnotenGeknuepft', 1,
       ('00000000-0000-0000-0000-00000000000' || (i % 3 + 1))::uuid, jsonb_build_object('n', i), true, 1000 + i
FROM generate_series(1, 9) i`)
	if err != nil {
		t.Fatal(err)
	}
}

func take(t *testing.T, ctx context.Context, conn *pgx.Conn) Fingerprint {
	t.Helper()
	if err := Canonical(ctx, conn); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	f, err := Take(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func connect(t *testing.T, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// Two databases with the same rows have the same fingerprint; a lost event, a changed row and
// a row too many are each found and named.
func TestCompareFindsEveryDifference(t *testing.T) {
	ctx := context.Background()
	a, b := connect(t, ctx), connect(t, ctx)
	fill(t, ctx, a)
	fill(t, ctx, b)
	fa, fb := take(t, ctx, a), take(t, ctx, b)
	if diffs, lc := Compare(fa, fb); len(diffs) != 0 || fa.Digest != fb.Digest {
		t.Fatalf("equal databases differ: %+v %+v", diffs, lc)
	}
	if fa.Log.Events != 9 || fa.Log.Head != "1009-9" || fa.Log.Subjects != 3 {
		t.Fatalf("log: %+v", fa.Log)
	}
	if len(fa.Tables) < 30 || !strings.Contains(strings.Join(fa.Unlogged, ","), "chat_zuschauer") {
		t.Fatalf("tables: %d, unlogged %v", len(fa.Tables), fa.Unlogged)
	}

	// An event lost in the middle of the log: a gap, and one object's history broken.
	if _, err := b.Exec(ctx, `DELETE FROM events WHERE id = 5`); err != nil {
		t.Fatal(err)
	}
	diffs, lc := Compare(fa, take(t, ctx, b))
	if lc.Missing != 1 || lc.Extra != 0 || lc.Broken != 1 || lc.Subjects != 3 || len(lc.Sample) != 1 || lc.Sample[0] != "missing 1005-5" {
		t.Fatalf("lost event: %+v", lc)
	}
	if !hasDiff(diffs, "table", "events") || !hasDiff(diffs, "log", "positions") || !hasDiff(diffs, "log", "histories") {
		t.Fatalf("lost event: %+v", diffs)
	}

	// The same number of rows, one of them changed: the content differs.
	fill2 := `INSERT INTO events (id, at, type, version, subject_id, payload, public, tx)
VALUES (5, '2026-12-01T10:05:00Z', 'KnotenGeknuepft', 1, '00000000-0000-0000-0000-000000000003', '{"n": 55}', true, 1005)`
	if _, err := b.Exec(ctx, fill2); err != nil {
		t.Fatal(err)
	}
	diffs, lc = Compare(fa, take(t, ctx, b))
	if len(diffs) != 1 || diffs[0].Name != "events" || !strings.Contains(diffs[0].Detail, "content differs") || lc.Missing+lc.Extra+lc.Broken != 0 {
		t.Fatalf("changed payload: %+v %+v", diffs, lc)
	}

	// A row the source did not have, in another table.
	if _, err := b.Exec(ctx, `UPDATE events SET payload = '{"n": 5}' WHERE id = 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, `INSERT INTO event_cursors (consumer, tx, id, updated_at) VALUES ('drill-test', 1, 1, now())`); err != nil {
		t.Fatal(err)
	}
	diffs, _ = Compare(fa, take(t, ctx, b))
	if len(diffs) != 1 || diffs[0].Name != "event_cursors" || !strings.Contains(diffs[0].Detail, "1 rows, the source had 0") {
		t.Fatalf("extra row: %+v", diffs)
	}
}

func hasDiff(diffs []Difference, what, name string) bool {
	for _, d := range diffs {
		if d.What == what && d.Name == name {
			return true
		}
	}
	return false
}

// MarkSource under writes: every writer's write succeeds (the drill yields in a deadlock), and
// the snapshot the reader gets is the restore point's moment — a write transaction that
// touched two tables is in it whole or not at all.
func TestMarkSourceWhileWriting(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	open := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	locker, reader := open(), open()
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		c := open()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				// Writers take the tables in both orders, so that some wait for the drill while
				// holding a table the drill wants next.
				first, second := `INSERT INTO events (at, type, version, payload, public) VALUES (now(), 'KnotenGeknuepft', 1, '{}', true)`,
					`INSERT INTO event_cursors (consumer, tx, id, updated_at) VALUES ($1, 0, 0, now()) ON CONFLICT (consumer) DO UPDATE SET id = event_cursors.id + 1`
				if (w+i)%2 == 1 {
					first, second = second, first
				}
				tx, err := c.Begin(ctx)
				if err == nil {
					_, err = tx.Exec(ctx, strings.ReplaceAll(first, "$1", "'w"+string(rune('0'+w))+"'"))
				}
				if err == nil {
					_, err = tx.Exec(ctx, strings.ReplaceAll(second, "$1", "'w"+string(rune('0'+w))+"'"))
				}
				if err == nil {
					err = tx.Commit(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	if err := Canonical(ctx, reader); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		m, err := MarkSource(ctx, locker, reader, "drill-test")
		if err != nil {
			stop.Store(true)
			t.Fatal(err)
		}
		f, err := Take(ctx, reader)
		if err != nil {
			t.Fatal(err)
		}
		// Each committed write added one event and moved one cursor by one: the snapshot holds
		// as many events as the cursors' ids plus one per writer that wrote.
		var sum, writers int64
		if err := reader.QueryRow(ctx, `SELECT coalesce(sum(id + 1), 0), count(*) FROM event_cursors`).Scan(&sum, &writers); err != nil {
			t.Fatal(err)
		}
		if _, err := reader.Exec(ctx, `ROLLBACK`); err != nil {
			t.Fatal(err)
		}
		if f.Log.Events != sum {
			t.Fatalf("snapshot is not one moment: %d events, %d writes by the cursors", f.Log.Events, sum)
		}
		if m.LSN == "" || m.Tries < 1 || m.Stall() <= 0 {
			t.Fatalf("mark: %+v", m)
		}
		t.Logf("mark after %d tries, writes waited ≤ %s, %d events", m.Tries, m.Stall(), f.Log.Events)
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("a writer failed beside the drill: %v", err)
	default:
	}
}
