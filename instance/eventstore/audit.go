package eventstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Audit calls fn with every event's position and subject (uuid.Nil for none), in position
// order, as q's snapshot sees the log. The restore drill compares two logs with it: the
// source's at the recovery point and the restored one's. Run it in a REPEATABLE READ
// transaction, or the log may move while it is read.
func Audit(ctx context.Context, q database.Querier, fn func(Position, uuid.UUID) error) error {
	rows, err := q.Query(ctx, `SELECT tx, id, subject_id FROM events ORDER BY tx, id`)
	if err != nil {
		return fmt.Errorf("eventstore: audit: %w", err)
	}
	defer rows.Close()
	var p Position
	var subject *uuid.UUID
	for rows.Next() {
		if err := rows.Scan(&p.Tx, &p.ID, &subject); err != nil {
			return fmt.Errorf("eventstore: audit: %w", err)
		}
		s := uuid.Nil
		if subject != nil {
			s = *subject
		}
		if err := fn(p, s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("eventstore: audit: %w", err)
	}
	return nil
}
