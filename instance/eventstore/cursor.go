package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// LoadCursor returns the position a consumer of the log has saved, or the zero Position for a
// consumer that has read nothing yet. Read it in the transaction that will save the next one,
// with forUpdate, so that two runs of the same consumer cannot both advance from it.
func LoadCursor(ctx context.Context, q database.Querier, consumer string, forUpdate bool) (Position, error) {
	sql := `SELECT tx, id FROM event_cursors WHERE consumer = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var p Position
	err := q.QueryRow(ctx, sql, consumer).Scan(&p.Tx, &p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: cursor %s: %w", consumer, err)
	}
	return p, nil
}

// FindCursor is LoadCursor that tells a consumer with no saved position (false) from one whose
// saved position is the zero Position (true): a consumer that started on an empty log saved
// the zero Position, and must go on from there, not from wherever the log is when it resumes.
func FindCursor(ctx context.Context, q database.Querier, consumer string) (Position, bool, error) {
	var p Position
	err := q.QueryRow(ctx, `SELECT tx, id FROM event_cursors WHERE consumer = $1`, consumer).Scan(&p.Tx, &p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("eventstore: cursor %s: %w", consumer, err)
	}
	return p, true, nil
}

// SaveCursor stores a consumer's position in tx: whatever the consumer did with the events up to
// p commits together with the cursor, so a crash replays nothing twice and skips nothing.
func SaveCursor(tx *database.Tx, consumer string, p Position, at time.Time) {
	tx.Defer(`
INSERT INTO event_cursors (consumer, tx, id, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer) DO UPDATE SET tx = excluded.tx, id = excluded.id, updated_at = excluded.updated_at`,
		consumer, p.Tx, p.ID, at)
}

// DropCursor removes a consumer's cursor: for one that will not read the log again (a marker a
// restore left once its positions are moved, a retired follower). A cursor that stays behind
// keeps every later event from the retention (RemoveCovered), for good.
func DropCursor(ctx context.Context, q database.Querier, consumer string) error {
	if _, err := q.Exec(ctx, `DELETE FROM event_cursors WHERE consumer = $1`, consumer); err != nil {
		return fmt.Errorf("eventstore: drop cursor %s: %w", consumer, err)
	}
	return nil
}
