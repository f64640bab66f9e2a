package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// CountActorsSince counts how many of the accounts ids acted (are the actor of any event,
// public or private) strictly after since: NodeInfo's active users of a month and a half year.
func (s *Store) CountActorsSince(ctx context.Context, ids []uuid.UUID, since time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT actor_id) FROM events WHERE actor_id = ANY($1) AND at > $2`, ids, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("eventstore: actors since %s: %w", since, err)
	}
	return n, nil
}
