package snapshot

import (
	"context"
	"errors"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Retain deletes the events older than the retention (by their time, on the instance clock)
// that the newest recorded snapshot holds, and that every follower of the log has read; it
// returns how many. A snapshot is recorded only after it was written, read back and verified,
// so no event goes before a verified snapshot holds its effect. Without a recorded snapshot,
// or with a negative retention, nothing is deleted.
//
// Deleting scans the log (it is indexed by position, not time), so a process runs it only
// when a newer snapshot was recorded or an hour has passed since its last run.
func (s *Service) Retain(ctx context.Context) (int64, error) {
	if s.opts.Retention < 0 {
		return 0, nil
	}
	last, err := latest(ctx, s.pool, "")
	if errors.Is(err, ErrNoSnapshot) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	now := s.clock.Now()
	s.mu.Lock()
	fresh := last.Hash == s.retainedUpTo && now.Sub(s.retainedAt) < time.Hour && !now.Before(s.retainedAt)
	s.mu.Unlock()
	if fresh {
		return 0, nil
	}
	n, err := eventstore.RemoveCovered(ctx, s.pool, last.Position, now.Add(-s.opts.Retention), 10000)
	if n > 0 {
		s.log.Info("event retention: events a snapshot holds removed", "events", n, "snapshot", last.Hash,
			"older_than", now.Add(-s.opts.Retention))
	}
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	s.retainedUpTo, s.retainedAt = last.Hash, now
	s.mu.Unlock()
	return n, nil
}
