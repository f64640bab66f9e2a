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

// SweepBatch is how many due Fäden one sweep transaction takes on (with every other due Faden
// of their Knoten). Small enough to keep row locks short for residents acting on the same
// Knoten; large enough that 100k due Fäden take about a hundred transactions.
const SweepBatch = 1000

// SweepResult counts what a sweep ended.
type SweepResult struct {
	Expired   int // Fäden
	Dissolved int // Knoten
}

// Sweep records every expiry that is due at the instance's current time: Fäden reaching their
// 7 days, and with them the Knoten they leave without Garn or Faden. Reads never wait for it
// (they apply the rules at read time); it turns due transitions into events.
//
// Why a sweep and not one timer job per Faden: every Faden expires, so a job per Faden would
// put a row into the job queue for every spin (measured: ~0.7 ms and ~200 B each) only to
// repeat what the partial index faeden_due answers in one scan.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	now := s.clock.Now()
	var res SweepResult
	for {
		b, err := s.sweepBatch(ctx, now)
		res.Expired += b.Expired
		res.Dissolved += b.Dissolved
		if err != nil || b.Expired == 0 {
			return res, err
		}
	}
}

// sweepBatch locks the Knoten of the next due Fäden, expires all their due Fäden, and
// dissolves those of them that are left with neither Garn nor an active Faden — one
// transaction, so a Knoten never outlives its last Faden in the log. It locks Knoten before
// Fäden, in the same order residents' writes do, and skips Knoten a resident is busy with:
// their Fäden stay due for the next round.
func (s *Service) sweepBatch(ctx context.Context, now time.Time) (SweepResult, error) {
	var res SweepResult
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		rows, err := tx.Query(ctx, `
SELECT id, h3 FROM knoten
WHERE id IN (SELECT knoten_id FROM faeden
             WHERE expired_at IS NULL AND NOT twisted AND expires_at <= $1
             ORDER BY expires_at LIMIT $2)
FOR UPDATE SKIP LOCKED`, now, SweepBatch)
		if err != nil {
			return fmt.Errorf("knoten: sweep: %w", err)
		}
		cells := map[uuid.UUID]int64{}
		var ids []uuid.UUID
		var id uuid.UUID
		var cell int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &cell}, func() error {
			cells[id] = cell
			ids = append(ids, id)
			return nil
		}); err != nil {
			return fmt.Errorf("knoten: sweep: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}

		rows, err = tx.Query(ctx, `
UPDATE faeden SET expired_at = expires_at
WHERE knoten_id = ANY($1) AND expired_at IS NULL AND NOT twisted AND expires_at <= $2
RETURNING id, knoten_id, expires_at`, ids, now)
		if err != nil {
			return fmt.Errorf("knoten: expire: %w", err)
		}
		var drafts []eventstore.Draft
		var p FadenAbgelaufenV1
		if _, err := pgx.ForEachRow(rows, []any{&p.FadenID, &p.KnotenID, &p.ExpiredAt}, func() error {
			p.ExpiredAt = p.ExpiredAt.UTC()
			drafts = append(drafts, FadenAbgelaufen.New(eventstore.Header{Subject: p.FadenID, Cell: cells[p.KnotenID]}, p))
			return nil
		}); err != nil {
			return fmt.Errorf("knoten: expire: %w", err)
		}
		res.Expired = len(drafts)

		rows, err = tx.Query(ctx, `
UPDATE knoten SET dissolved_at = dissolves_at
WHERE id = ANY($1) AND dissolved_at IS NULL AND dissolves_at <= $2
RETURNING id, dissolved_at`, ids, now)
		if err != nil {
			return fmt.Errorf("knoten: dissolve: %w", err)
		}
		var d KnotenAufgeloestV1
		if _, err := pgx.ForEachRow(rows, []any{&d.KnotenID, &d.DissolvedAt}, func() error {
			d.DissolvedAt = d.DissolvedAt.UTC()
			drafts = append(drafts, KnotenAufgeloest.New(eventstore.Header{Subject: d.KnotenID, Cell: cells[d.KnotenID]}, d))
			res.Dissolved++
			return nil
		}); err != nil {
			return fmt.Errorf("knoten: dissolve: %w", err)
		}
		return eventstore.AppendEach(tx, now, drafts...)
	})
	if err != nil {
		return SweepResult{}, err
	}
	return res, nil
}
