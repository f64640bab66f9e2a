package inbox

import (
	"context"
	"fmt"
	"time"
)

// What the inbox keeps (ap_inbox, see migrations/00010 and 00011), and for how long:
//
//   - The body of an activity, only until it is processed (processed_at), or at the latest
//     bodyRetention after it arrived (its job gave up). Processing
//     keeps what it needs in tables of its own; the body is not a record of anything.
//   - The activity's id (for a poll vote, with what the vote says: inboxKey) and sender, for
//     dedupWindow: a delivery of the same within that time is acknowledged (202)
//     and not processed again. Senders retry a delivery for hours to a
//     few days, so a month covers every retry; and a stranger cannot replay a captured
//     request after an hour, since its signed Date is then out of the window.
//
// Both run on the instance clock, like every rule (so the dev clock moves them).
const (
	bodyRetention = 24 * time.Hour
	dedupWindow   = 30 * 24 * time.Hour
	sweepBatch    = 1000
)

// SweepResult says what a retention sweep did.
type SweepResult struct {
	BodiesDropped, IDsForgotten int
}

// Sweep applies the inbox retention: bodies of processed activities are dropped, ids
// older than the dedup window are forgotten. It runs as a periodic sweep (instance.go), in
// batches, and only does what is due.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := s.clock.Now()
	// An activity processed needs its body no more; one never processed (its job given up)
	// keeps it bodyRetention at most.
	for {
		tag, err := s.pool.Exec(ctx, `
UPDATE ap_inbox SET body = NULL
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM ap_inbox
    WHERE body IS NOT NULL AND (processed_at IS NOT NULL OR received_at < $1)
    ORDER BY received_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED))`, now.Add(-bodyRetention), sweepBatch)
		if err != nil {
			return res, fmt.Errorf("federation: inbox sweep: bodies: %w", err)
		}
		res.BodiesDropped += int(tag.RowsAffected())
		if tag.RowsAffected() < sweepBatch {
			break
		}
	}
	for {
		tag, err := s.pool.Exec(ctx, `
DELETE FROM ap_inbox WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM ap_inbox WHERE received_at < $1 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED))`,
			now.Add(-dedupWindow), sweepBatch)
		if err != nil {
			return res, fmt.Errorf("federation: inbox sweep: ids: %w", err)
		}
		res.IDsForgotten += int(tag.RowsAffected())
		if tag.RowsAffected() < sweepBatch {
			break
		}
	}
	return res, nil
}
