package database_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// A command queued whole (a query whose row it needs, a write behind it) is one batch with
// its COMMIT: the row arrives with the commit, and the query's own error refuses the command —
// the write queued behind it is never committed.
func TestDeferRow(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE deferrow (n int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var calls int
	tracked := tracedPool(t, pool, &calls)
	var n int
	var s string
	err := database.InTx(ctx, tracked, func(tx *database.Tx) error {
		tx.DeferRow(`SELECT 41 + $1::int, 'x'`, []any{1}, &n, &s)
		tx.Defer(`INSERT INTO deferrow VALUES (1)`)
		return nil
	})
	if err != nil || n != 42 || s != "x" {
		t.Fatalf("the deferred row: %d %q %v", n, s, err)
	}
	if calls != 1 {
		t.Errorf("%d batches for BEGIN, the query, the insert and COMMIT, want 1", calls)
	}
	err = database.InTx(ctx, tracked, func(tx *database.Tx) error {
		tx.DeferRow(`SELECT n / 0 FROM deferrow`, nil, &n)
		tx.Defer(`INSERT INTO deferrow VALUES (2)`)
		return nil
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("a failing deferred query: %v, want division_by_zero", err)
	}
	var count int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM deferrow`).Scan(&count); err != nil || count != 1 {
		t.Fatalf("%d rows (%v): a refused command's write was committed", count, err)
	}
	// No row is no refusal: the server ran the write behind the query before the client read
	// the empty result, and the command committed.
	n = -1
	err = database.InTx(ctx, tracked, func(tx *database.Tx) error {
		tx.DeferRow(`SELECT n FROM deferrow WHERE n = 7`, nil, &n)
		tx.Defer(`INSERT INTO deferrow VALUES (3)`)
		return nil
	})
	if err != nil || n != -1 {
		t.Fatalf("a deferred query without a row: %v, dest %d", err, n)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM deferrow WHERE n = 3`).Scan(&count); err != nil || count != 1 {
		t.Fatalf("the write behind an empty query: %d rows (%v)", count, err)
	}
}

// tracedPool is a pool on pool's database that counts the batches its connections send.
func tracedPool(t *testing.T, pool *pgxpool.Pool, calls *int) *pgxpool.Pool {
	t.Helper()
	cfg := pool.Config().Copy()
	cfg.MaxConns = 1
	cfg.ConnConfig.Tracer = batchCounter{calls}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

type batchCounter struct{ n *int }

func (b batchCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (b batchCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (b batchCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	*b.n++
	return ctx
}
func (b batchCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (b batchCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// A command in one trip is one implicit transaction without BEGIN and COMMIT: what it queued
// commits together, or nothing does when a statement fails — also what ran before the failure.
func TestInOneTrip(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE onetrip (n int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var calls int
	tracked := tracedPool(t, pool, &calls)
	var n int
	err := database.InOneTrip(ctx, tracked, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO onetrip VALUES (1)`)
		tx.DeferRow(`SELECT count(*) FROM onetrip`, nil, &n) // sees the insert before it
		tx.Defer(`INSERT INTO onetrip VALUES (2)`)
		return nil
	})
	if err != nil || n != 1 || calls != 1 {
		t.Fatalf("one trip: %v, saw %d rows, %d batches", err, n, calls)
	}
	err = database.InOneTrip(ctx, tracked, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO onetrip VALUES (3)`)
		tx.Defer(`INSERT INTO onetrip VALUES (1)`) // taken
		tx.Defer(`INSERT INTO onetrip VALUES (4)`)
		return nil
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("a failing statement: %v, want unique_violation", err)
	}
	err = database.InOneTrip(ctx, tracked, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO onetrip VALUES (5)`)
		_, err := tx.Exec(ctx, `INSERT INTO onetrip VALUES (6)`)
		return err
	})
	if err == nil {
		t.Fatal("a statement waiting for its answer in one trip")
	}
	rows, err := pool.Query(ctx, `SELECT n FROM onetrip ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("rows %v (%v), want [1 2]: a refused command left something", got, err)
	}
	// The connection is fine afterwards.
	if err := database.InTx(ctx, tracked, func(tx *database.Tx) error { return tx.QueryRow(ctx, `SELECT 7`).Scan(&n) }); err != nil || n != 7 {
		t.Fatal(n, err)
	}
}
