package knoten

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Group commit of taps. Many residents tapping at once would each pay a transaction of their
// own: a round trip, the executor's start of three statements, a commit and its WAL flush. A
// spin that arrives while others are being written waits for them and goes with everyone who
// arrived meanwhile, as one transaction: one statement spins the whole batch through
// knoten_spin (the same rule, row by row, in arrival order), one statement appends their
// events, one commit. A spin that finds nothing running goes at once, alone, in one round trip
// (Service.spinAlone): a quiet instance waits for nothing, and a busy one writes in batches
// as large as its load makes them, without a timer.
//
// What each resident gets is what a transaction of their own would give: their Faden and its
// event committed before the answer, or their refusal (the batch's other spins go on), or the
// database's error. The spins of one batch share their instant (the batch's clock reading).

const (
	// spinBatchMax bounds a batch: the statement's arrays, and how long the first in it waits
	// for the last.
	spinBatchMax = 64
	// spinBatchesRunning is how many batches are written at once. One more than one, so that
	// a batch is gathered while the one before waits for its commit's flush; few, so that the
	// waiting spins gather into batches rather than into connections.
	spinBatchesRunning = 2
)

type spinQueue struct {
	mu      sync.Mutex
	waiting []*spinCall
	running int
}

type spinCall struct {
	ctx   context.Context
	actor uuid.UUID
	sp    Spinning
	f     Faden
	err   error
	done  chan struct{}
}

// spin queues a tap and waits for its outcome. Once queued, the spin is written whatever the
// caller's context does meanwhile (as a statement sent is); the batch's context ends at the
// latest deadline among its callers'.
func (s *Service) spin(ctx context.Context, actor uuid.UUID, sp Spinning) (Faden, error) {
	c := &spinCall{ctx: ctx, actor: actor, sp: sp, done: make(chan struct{})}
	q := &s.spins
	q.mu.Lock()
	q.waiting = append(q.waiting, c)
	s.startSpinBatches()
	q.mu.Unlock()
	<-c.done
	return c.f, c.err
}

// startSpinBatches starts a batch of the waiting spins while fewer than spinBatchesRunning run.
// The caller holds s.spins.mu.
func (s *Service) startSpinBatches() {
	q := &s.spins
	for q.running < spinBatchesRunning && len(q.waiting) > 0 {
		n := min(len(q.waiting), spinBatchMax)
		batch := q.waiting[:n:n]
		q.waiting = q.waiting[n:]
		if len(q.waiting) == 0 {
			q.waiting = nil // the backing array goes with the batch
		}
		q.running++
		go s.runSpinBatch(batch)
	}
}

func (s *Service) runSpinBatch(batch []*spinCall) {
	ctx, cancel := batchContext(batch)
	now := s.clock.Now()
	if len(batch) == 1 {
		c := batch[0]
		c.f, c.err = s.spinAlone(ctx, c.actor, newFaden(c.actor, c.sp, now))
	} else {
		s.spinBatch(ctx, batch, now)
	}
	cancel()
	for _, c := range batch {
		close(c.done)
	}
	q := &s.spins
	q.mu.Lock()
	q.running--
	s.startSpinBatches()
	q.mu.Unlock()
}

// batchContext is the context a batch is written under: the first caller's values, no
// cancellation (one caller leaving must not undo the others' taps), and the latest of the
// callers' deadlines, if all have one.
func batchContext(batch []*spinCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(batch[0].ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}

// spinBatch writes a batch of two or more taps in one transaction of two round trips: the
// spins through knoten_spin, in arrival order, refusals returned rather than raised; then the
// events of those spun, and the commit. When the transaction fails as a whole (not a refusal:
// the database's error), each spin is tried alone, so that one tap's failure is its own.
func (s *Service) spinBatch(ctx context.Context, batch []*spinCall, now time.Time) {
	n := len(batch)
	ids, knoten, actors := make([]pgtype.UUID, n), make([]pgtype.UUID, n), make([]pgtype.UUID, n)
	types, twisted, expires := make([]string, n), make([]bool, n), make([]*time.Time, n)
	for i, c := range batch {
		c.f = newFaden(c.actor, c.sp, now)
		ids[i], knoten[i], actors[i] = pgUUID(c.f.ID), pgUUID(c.f.KnotenID), pgUUID(c.f.AccountID)
		types[i], twisted[i], expires[i] = c.f.Type, c.f.Twisted, c.f.ExpiresAt
		c.err = nil
	}
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		rows, err := tx.Query(ctx, `
SELECT r.cell, r.refused
  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::boolean[], $6::timestamptz[]) WITH ORDINALITY
       AS i(id, knoten_id, account_id, type, twisted, expires_at, ord)
 CROSS JOIN LATERAL knoten_spin(i.id, i.knoten_id, i.account_id, i.type, i.twisted, $7, i.expires_at, false) AS r
 ORDER BY i.ord`, ids, knoten, actors, types, twisted, expires, now)
		if err != nil {
			return err
		}
		drafts := make([]eventstore.Draft, 0, n)
		i := 0
		for rows.Next() {
			var cell *int64
			var refused *string
			if err := rows.Scan(&cell, &refused); err != nil {
				rows.Close()
				return err
			}
			c := batch[i]
			i++
			if refused != nil {
				c.f, c.err = Faden{}, spinRefusal(c.f.KnotenID, *refused)
				continue
			}
			drafts = append(drafts, FadenGesponnen.New(eventstore.Header{Actor: c.actor, Subject: c.f.ID, Cell: *cell}, spunPayload(c.f)))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return eventstore.AppendEach(tx, now, drafts...)
	})
	if err == nil {
		return
	}
	// The server refused the transaction (a PgError; it wrote nothing): each tap alone, so
	// that what one tap met is its own. Anything else (the connection lost) may have come
	// after the commit: trying again could spin twice.
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		for _, c := range batch {
			c.f, c.err = Faden{}, fmt.Errorf("knoten: spin: %w", err)
		}
		return
	}
	for _, c := range batch {
		c.f, c.err = s.spinAlone(ctx, c.actor, newFaden(c.actor, c.sp, now))
	}
}

func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }
