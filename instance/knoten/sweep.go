package knoten

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// SweepBatch is how many Fäden (or Knoten) one sweep transaction ends. Small enough to keep
// row locks short for residents acting on the same Knoten; large enough that 100k due Fäden
// take a few dozen transactions.
const SweepBatch = 1000

// SweepResult counts what a sweep ended.
type SweepResult struct {
	Expired   int // Fäden
	Dissolved int // Knoten
}

// Sweep records every expiry that is due at the instance's current time: Fäden first, then the
// Knoten they left without Garn or Faden. Reads never wait for it (they apply the rules at read
// time); it turns due transitions into events and moves ended rows out of the hot indexes.
//
// Why a sweep and not one timer job per Faden: every Faden expires, so a job per Faden would
// put a row into the job queue for every spin (measured: ~0.7 ms and ~200 B each) only to
// repeat what the partial index on faeden.expires_at already answers in one scan.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	now := s.clock.Now()
	var res SweepResult
	for {
		n, err := s.expireBatch(ctx, now)
		res.Expired += n
		if err != nil {
			return res, err
		}
		if n < SweepBatch {
			break
		}
	}
	// Dissolution is a separate pass, in its own transactions, so a sweep never holds a
	// Faden's lock while waiting for its Knoten's (residents' writes lock Knoten, then Faden).
	for {
		n, err := s.dissolveBatch(ctx, now)
		res.Dissolved += n
		if err != nil {
			return res, err
		}
		if n < SweepBatch {
			break
		}
	}
	return res, nil
}

func (s *Service) expireBatch(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
WITH due AS (
    SELECT id FROM faeden
    WHERE expired_at IS NULL AND NOT twisted AND expires_at <= $1
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE faeden f SET expired_at = f.expires_at
FROM due, knoten k
WHERE f.id = due.id AND k.id = f.knoten_id
RETURNING f.id, f.knoten_id, f.expires_at, k.h3`, now, SweepBatch)
		if err != nil {
			return fmt.Errorf("knoten: expire: %w", err)
		}
		var drafts []eventstore.Draft
		for rows.Next() {
			var p FadenAbgelaufenV1
			var cell int64
			if err := rows.Scan(&p.FadenID, &p.KnotenID, &p.ExpiredAt, &cell); err != nil {
				return fmt.Errorf("knoten: expire: %w", err)
			}
			p.ExpiredAt = p.ExpiredAt.UTC()
			drafts = append(drafts, FadenAbgelaufen.New(eventstore.Header{Subject: p.FadenID, Cell: cell}, p))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("knoten: expire: %w", err)
		}
		n = len(drafts)
		_, err = eventstore.Append(ctx, tx, now, drafts...)
		return err
	})
	return n, err
}

func (s *Service) dissolveBatch(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
WITH due AS (
    SELECT id FROM knoten
    WHERE dissolved_at IS NULL AND dissolves_at <= $1
    ORDER BY dissolves_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE knoten k SET dissolved_at = k.dissolves_at
FROM due
WHERE k.id = due.id
RETURNING k.id, k.dissolved_at, k.h3`, now, SweepBatch)
		if err != nil {
			return fmt.Errorf("knoten: dissolve: %w", err)
		}
		var drafts []eventstore.Draft
		for rows.Next() {
			var id uuid.UUID
			var at time.Time
			var cell int64
			if err := rows.Scan(&id, &at, &cell); err != nil {
				return fmt.Errorf("knoten: dissolve: %w", err)
			}
			drafts = append(drafts, KnotenAufgeloest.New(eventstore.Header{Subject: id, Cell: cell},
				KnotenAufgeloestV1{KnotenID: id, DissolvedAt: at.UTC()}))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("knoten: dissolve: %w", err)
		}
		n = len(drafts)
		_, err = eventstore.Append(ctx, tx, now, drafts...)
		return err
	})
	return n, err
}
