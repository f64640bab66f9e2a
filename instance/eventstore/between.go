package eventstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// A Snapshot is also a log position of its own kind: the set of events a transaction saw. The
// snapshots (instance/snapshot) record one as the state they hold, and an incremental snapshot
// holds what changed between two of them. Unlike a Position, a Snapshot is exact even where
// transactions commit out of order: an event of a transaction still running when the snapshot
// was taken is not in it, however small its tx.

// Contains reports whether the event at p is in the state s saw: its transaction had
// committed when s was taken.
func (s Snapshot) Contains(p Position) bool {
	if p.Tx < s.Xmin {
		return true
	}
	return p.Tx < s.Xmax && !slices.Contains(s.Running, p.Tx)
}

// inSnapshot is Contains in SQL: the events of s, with $n the first of three parameters
// (xmin, xmax, running).
func inSnapshot(n int) string {
	return fmt.Sprintf("(tx < $%d OR (tx < $%d AND tx <> ALL($%d::bigint[])))", n, n+1, n+2)
}

func snapshotArgs(s Snapshot) []any {
	running := s.Running
	if running == nil {
		running = []uint64{} // an empty array, not NULL (tx <> ALL(NULL) is NULL)
	}
	return []any{s.Xmin, s.Xmax, running}
}

// Between calls fn with the events that are in to but not in from — every event, public and
// private, whose transaction committed after from was taken and before to was — in log order
// and in batches of at most batch events. The zero Snapshot is before the first event. q must
// see every event of to: a transaction whose snapshot is to itself (then the read is exact
// even while later transactions commit), or any begun after to was taken. Events the
// retention has removed are not read; the snapshots that covered them hold their effect.
func Between(ctx context.Context, q database.Querier, from, to Snapshot, batch int, fn func(context.Context, []Event) error) error {
	if batch <= 0 {
		batch = 1000
	}
	// Below from's xmin every event is in from, at or above to's xmax none is in to: the
	// range bounds the index scan, the conditions decide at its ends.
	args := append(append([]any{from.Xmin, to.Xmax}, snapshotArgs(to)...), snapshotArgs(from)...)
	query := `
SELECT ` + eventColumns + `
FROM events
WHERE tx >= $1 AND tx < $2 AND ` + inSnapshot(3) + ` AND NOT ` + inSnapshot(6) + `
  AND (tx, id) > ($9::bigint, $10::bigint)
ORDER BY tx, id
LIMIT $11`
	var after Position
	for {
		rows, err := q.Query(ctx, query, append(args, after.Tx, after.ID, batch)...)
		if err != nil {
			return fmt.Errorf("eventstore: between: %w", err)
		}
		evs, err := pgx.CollectRows(rows, scanEvent)
		if err != nil {
			return fmt.Errorf("eventstore: between: %w", err)
		}
		if len(evs) > 0 {
			if err := fn(ctx, evs); err != nil {
				return err
			}
			after = evs[len(evs)-1].Position
		}
		if len(evs) < batch {
			return nil
		}
	}
}

// RemoveCovered deletes the events that happened before the time and are in the snapshot s —
// the retention of the raw log once a verified snapshot holds their effect (instance/snapshot;
// docs/SNAPSHOTS.md, "Retention") — and returns how many it deleted. It also keeps every event
// a follower has not read yet (a cursor in event_cursors at or before it): a follower that
// lagged, federation's delivery say, still gets each event once. It deletes in batches of at
// most batch rows, each its own statement, so that no transaction holds many row locks.
func RemoveCovered(ctx context.Context, q database.Querier, s Snapshot, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 10000
	}
	args := append([]any{before}, snapshotArgs(s)...)
	// The partition key is part of the primary key: (id, at) finds each row's partition.
	query := `
DELETE FROM events WHERE (id, at) IN (
    SELECT id, at FROM events
    WHERE at < $1 AND ` + inSnapshot(2) + `
      AND NOT EXISTS (SELECT 1 FROM event_cursors c WHERE (c.tx, c.id) < (events.tx, events.id))
    LIMIT $5)`
	var total int64
	for {
		tag, err := q.Exec(ctx, query, append(args, batch)...)
		if err != nil {
			return total, fmt.Errorf("eventstore: remove covered: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}
