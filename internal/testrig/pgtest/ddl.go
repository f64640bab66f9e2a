package pgtest

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what DDL runs on: a pool or a connection.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DDL runs a schema change (a test's trigger on a table) on a database a running instance is
// using. Its table lock queues behind the instance's open transactions, and their next lock on
// that table queues behind it; when one of those also waits for another (a row they both
// write), the waits form a cycle that PostgreSQL breaks by aborting one member — on a busy
// machine sometimes this statement (TestCommentNotStoredWithoutItsEvent failed so under
// make test). A deadlock aborts the statement whole, so it is run again until it goes
// through; any other error fails the test.
func DDL(t testing.TB, ctx context.Context, db Querier, sql string) {
	t.Helper()
	for {
		_, err := db.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "40P01" && ctx.Err() == nil {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return
	}
}
