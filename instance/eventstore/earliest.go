package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Earliest is the time of the first event the log still holds (false when it holds none):
// where retention has cut it, so that a reader replaying from an earlier moment knows that
// events it would need are gone. By position, so that it is one index probe; retention cuts
// by age, and the log's order follows its times within seconds.
func (s *Store) Earliest(ctx context.Context) (time.Time, bool, error) {
	t, ok, err := database.Earliest(ctx, s.pool, `SELECT (SELECT at FROM events ORDER BY tx, id LIMIT 1)`)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("eventstore: earliest: %w", err)
	}
	return t, ok, nil
}
