package eventstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// A position's tx is the writing transaction's id plus an offset that belongs to the database
// (the SQL function events_tx_offset, see migrations/00017_event_positions.sql). Transaction
// ids belong to the cluster: a dump restored into another cluster, whose counter is lower,
// would otherwise hand out positions below the restored ones, and every follower whose cursor
// came with the dump would wait for them in vain.

// KeepPositionsAhead makes every position handed out from now on sort after every position the
// database holds (in the log and in the consumers' cursors). That is already so unless the
// database was restored from another cluster; then it raises the offset. Call it at start,
// after migrating and before anything appends.
func KeepPositionsAhead(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Cheap and lock-free at every start: a committed event's transaction id is below the
	// snapshot's xmax, so in a database that was not restored the log is never at or past it.
	const check = `
SELECT greatest((SELECT max(tx) FROM events), (SELECT max(tx) FROM event_cursors), 0),
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint + events_tx_offset(),
       events_tx_offset()`
	var last, next, offset int64
	if err := pool.QueryRow(ctx, check).Scan(&last, &next, &offset); err != nil {
		return fmt.Errorf("eventstore: positions: %w", err)
	}
	if last < next {
		return nil
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("eventstore: positions: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	// No append may run while the offset changes: one that had planned with the old offset
	// would write a position below the restored ones. The lock waits for running appends (of
	// every process on the database) and holds new ones until the new offset is committed;
	// it also makes a second process starting at the same time wait, then find nothing to do.
	if _, err := tx.Exec(ctx, `LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("eventstore: positions: %w", err)
	}
	if err := tx.QueryRow(ctx, check).Scan(&last, &next, &offset); err != nil {
		return fmt.Errorf("eventstore: positions: %w", err)
	}
	if last < next {
		return nil
	}
	// The next multiple of 2³² above the log: past every position the old cluster can have
	// handed out (to map clients, say) after the dump was taken, unless it ran four billion
	// transactions since.
	raised := (last>>32 + 1) << 32
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE OR REPLACE FUNCTION events_tx_offset() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN %d`, raised)); err != nil {
		return fmt.Errorf("eventstore: raise the position offset (the instance's role must own events_tx_offset()): %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("eventstore: positions: %w", err)
	}
	log.Info("event log: new positions moved past the log's (restored from another cluster?)",
		"last_position_tx", last, "offset_was", offset, "offset", raised)
	return nil
}

// Snapshot is a PostgreSQL snapshot in the terms of log positions: which transactions' events
// it saw.
type Snapshot struct {
	Xmin, Xmax uint64
	Running    []uint64 // between Xmin and Xmax and not yet committed: not seen
}

// CurrentSnapshot returns q's snapshot; in a repeatable-read transaction, the one every query of
// it sees.
func CurrentSnapshot(ctx context.Context, q database.Querier) (Snapshot, error) {
	var s Snapshot
	err := q.QueryRow(ctx, `
SELECT pg_snapshot_xmin(s)::text::bigint + events_tx_offset(), pg_snapshot_xmax(s)::text::bigint + events_tx_offset(),
       ARRAY(SELECT pg_snapshot_xip(s)::text::bigint + events_tx_offset())
FROM pg_current_snapshot() AS s`).Scan(&s.Xmin, &s.Xmax, &s.Running)
	if err != nil {
		return Snapshot{}, fmt.Errorf("eventstore: snapshot: %w", err)
	}
	return s, nil
}
