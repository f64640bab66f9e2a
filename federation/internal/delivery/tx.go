package delivery

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// EnqueueTx queues one activity for one inbox in the caller's transaction: the delivery
// exists exactly when what it announces was committed. It is enqueue's transactional twin
// and goes the same way (QueueTx).
func (s *Service) EnqueueTx(ctx context.Context, tx *database.Tx, signer, inbox string, activity any) error {
	return s.QueueTx(ctx, riverTx{tx}, signer, []string{inbox}, activity)
}

// PgxTx hands one of our transactions to River (InsertTx), so that a job of another federation
// package is inserted in the same transaction as what it is about; see riverTx.
func PgxTx(tx *database.Tx) pgx.Tx { return riverTx{tx} }

// riverTx hands one of our pipelined transactions (database.Tx) to code that takes a pgx.Tx
// (River's InsertTx, QueueTx), so that a job is inserted in the same transaction as what it is
// about. River's insert needs only Exec, Query and QueryRow; the rest of what a pgx.Tx can do (commit, roll back, nest,
// batch, copy) belongs to the transaction's owner and is refused here.
type riverTx struct{ tx *database.Tx }

var errNotOurTx = errors.New("federation: this transaction is run by database.InTx")

func (t riverTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.tx.Exec(ctx, sql, args...)
}
func (t riverTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.tx.Query(ctx, sql, args...)
}
func (t riverTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.tx.QueryRow(ctx, sql, args...)
}
func (riverTx) Begin(context.Context) (pgx.Tx, error) { return nil, errNotOurTx }
func (riverTx) Commit(context.Context) error          { return errNotOurTx }
func (riverTx) Rollback(context.Context) error        { return errNotOurTx }
func (riverTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errNotOurTx
}
func (riverTx) SendBatch(context.Context, *pgx.Batch) pgx.BatchResults { return refusedBatch{} }
func (riverTx) LargeObjects() pgx.LargeObjects                         { return pgx.LargeObjects{} }
func (riverTx) Prepare(context.Context, string, string) (*pgconn.StatementDescription, error) {
	return nil, errNotOurTx
}
func (riverTx) Conn() *pgx.Conn { return nil }

type refusedBatch struct{}

func (refusedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, errNotOurTx }
func (refusedBatch) Query() (pgx.Rows, error)         { return nil, errNotOurTx }
func (refusedBatch) QueryRow() pgx.Row                { return refusedRow{} }
func (refusedBatch) Close() error                     { return errNotOurTx }
func (refusedBatch) Tx() pgx.Tx                       { return nil }

type refusedRow struct{}

func (refusedRow) Scan(...any) error { return errNotOurTx }
