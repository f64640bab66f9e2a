package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx is a transaction that pipelines its statements. A write whose result the caller does not
// need is queued with Defer and travels to the server together with the next statement that
// needs an answer, or with COMMIT; BEGIN travels with the first statement. A typical command
// (lock a row, check it, write the projection, append the event) so costs two round trips
// instead of six, which matters on a loopback socket and far more with the database on
// another host.
//
// An error in a deferred statement surfaces at the next flush (the next Exec, Query or
// QueryRow, or the commit), and the transaction is rolled back. So defer only writes whose
// failure would be a bug; a write whose failure is an answer to the client (a unique email,
// say) goes through Exec.
type Tx struct {
	pooled  *pgxpool.Conn
	conn    *pgx.Conn
	pending []pending
	begun   bool // BEGIN has been sent
	oneTrip bool // InOneTrip's: no BEGIN, no COMMIT, nothing sent before the end
	done    bool // committed or rolled back, connection released
}

type pending struct {
	sql  string
	args []any
	dest []any // DeferRow's: the row is scanned here when the queue is sent
}

// InTx runs fn in a transaction and commits when fn returns nil. Every write of the instance
// goes through here: its projection updates and its events commit together or not at all.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(*Tx) error) error {
	tx, err := Begin(ctx, pool)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // also on panic; a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// InOneTrip runs a command whose every statement fn queues (Defer, DeferRow) and sends them
// together as one pipeline without BEGIN and COMMIT: PostgreSQL runs the statements up to the
// pipeline's Sync as one implicit transaction, which commits at the Sync, or rolls back
// whole at the first error (the statements after it are skipped). Two statements fewer than
// InTx, for the hottest commands. fn must not call Exec, Query or QueryRow (they fail).
func InOneTrip(ctx context.Context, pool *pgxpool.Pool, fn func(*Tx) error) error {
	tx, err := Begin(ctx, pool)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tx.oneTrip = true
	tx.pending = tx.pending[:0] // no BEGIN
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Begin starts a transaction on a connection from pool. Nothing is sent yet: BEGIN goes out
// with the first statement. Commit or Rollback must follow; InTx does both.
func Begin(ctx context.Context, pool *pgxpool.Pool) (*Tx, error) {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: acquire: %w", err)
	}
	return &Tx{pooled: c, conn: c.Conn(), pending: []pending{{sql: "begin"}}}, nil
}

// Defer queues a statement to run before the next one that is sent.
func (t *Tx) Defer(sql string, args ...any) {
	t.pending = append(t.pending, pending{sql: sql, args: args})
}

// DeferRow queues a query whose first row is scanned into dest when the queue is sent: a command
// whose every statement is queued (a step that checks and writes in one statement, its event)
// is one round trip with its COMMIT. dest holds the row after a flush that returned nil. The
// server runs what is queued behind the query whatever rows it returns, so a query refuses a
// command by raising an error, never by returning no row: no row leaves dest as it was.
func (t *Tx) DeferRow(sql string, args []any, dest ...any) {
	t.pending = append(t.pending, pending{sql: sql, args: args, dest: dest})
}

// Exec runs a statement now (with everything queued before it) and returns its command tag.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, err := t.send(ctx, pending{sql: sql, args: args})
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

// Query runs a query now (with everything queued before it).
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, err := t.send(ctx, pending{sql: sql, args: args})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs a query now (with everything queued before it) and reads its first row.
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

// send sends the queued statements and last, reads the results of the queued ones, and
// returns the batch positioned at last's result.
func (t *Tx) send(ctx context.Context, last pending) (pgx.BatchResults, error) {
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	if t.oneTrip && last.sql != "" {
		return nil, errors.New("database: a command in one trip queues its statements, it cannot wait for an answer")
	}
	b := &pgx.Batch{}
	for _, p := range t.pending {
		b.Queue(p.sql, p.args...)
	}
	if last.sql != "" {
		b.Queue(last.sql, last.args...)
	}
	queued := t.pending
	t.pending = nil
	t.begun = true
	br := t.conn.SendBatch(ctx, b)
	for _, p := range queued {
		err := error(nil)
		if p.dest != nil {
			err = scanRow(br, p.dest)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

// Commit sends what is queued and commits, and gives the connection back to the pool.
func (t *Tx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if !t.begun && len(t.pending) == 1 && !t.oneTrip {
		t.release()
		return nil // nothing was asked of the database
	}
	if t.oneTrip && len(t.pending) == 0 {
		t.release()
		return nil
	}
	if t.oneTrip {
		// The queue alone: the pipeline's Sync commits it.
		br, err := t.send(ctx, pending{})
		if err == nil {
			err = br.Close()
		}
		if err != nil {
			t.Rollback(ctx)
			return fmt.Errorf("database: commit: %w", err)
		}
		t.release()
		return nil
	}
	tag, err := t.Exec(ctx, "commit")
	if err != nil {
		t.Rollback(ctx)
		return fmt.Errorf("database: commit: %w", err)
	}
	t.release()
	if tag.String() != "COMMIT" {
		return fmt.Errorf("database: commit: the server rolled the transaction back (%s)", tag)
	}
	return nil
}

// Rollback drops what is queued, rolls back what was sent, and gives the connection back to
// the pool. It is a no-op after Commit or a previous Rollback.
func (t *Tx) Rollback(ctx context.Context) {
	if t.done {
		return
	}
	t.pending = nil
	if !t.conn.IsClosed() && t.conn.PgConn().TxStatus() != 'I' {
		if _, err := t.conn.Exec(context.WithoutCancel(ctx), "rollback"); err != nil {
			// The connection's state is unknown: it must not go back into the pool.
			_ = t.conn.Close(context.WithoutCancel(ctx))
		}
	}
	t.release()
}

func (t *Tx) release() {
	t.done = true
	t.pooled.Release()
}

func scanRow(br pgx.BatchResults, dest []any) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
	}
	rows.Close()
	return rows.Err()
}

// batchRows closes the batch it came from when it is closed.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

// row is QueryRow's result, like pgx's own.
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
