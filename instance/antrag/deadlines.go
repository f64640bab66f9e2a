package antrag

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// NextDeadline is the earliest decision deadline of an open Antrag that is not hidden.
func (s *Service) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	return database.Earliest(ctx, s.pool, `SELECT min(decision_deadline) FROM antraege WHERE status = 'offen' AND hidden_at IS NULL`)
}

// ApplyDeadlines decides, as of t, every open Antrag whose deadline is at or before t: accepted
// without Einspruch; otherwise to an Abstimmung that opens at the deadline. A hidden Antrag
// waits: its clock stands still until it is shown again (hideAntragTx moves its deadline), so
// that nothing the residents cannot read is accepted for want of an Einspruch. A held
// Einspruch does not count until it is released.
func (s *Service) ApplyDeadlines(ctx context.Context, t time.Time) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		rows, err := tx.Query(ctx, `
SELECT a.id, a.knoten_id, a.decision_deadline, EXISTS (SELECT FROM einsprueche e WHERE e.antrag_id = a.id AND NOT e.held)
FROM antraege a
WHERE a.status = 'offen' AND a.hidden_at IS NULL AND a.decision_deadline <= $1
ORDER BY a.decision_deadline, a.id
FOR UPDATE OF a`, t)
		if err != nil {
			return fmt.Errorf("antrag: deadlines: %w", err)
		}
		type due struct {
			id       uuid.UUID
			knotenID *uuid.UUID
			deadline time.Time
			objected bool
		}
		var dues []due
		var d due
		if _, err := pgx.ForEachRow(rows, []any{&d.id, &d.knotenID, &d.deadline, &d.objected}, func() error {
			d.deadline = d.deadline.UTC()
			dues = append(dues, d)
			return nil
		}); err != nil {
			return fmt.Errorf("antrag: deadlines: %w", err)
		}
		for _, d := range dues {
			hdr := eventstore.Header{Subject: d.id}
			if !d.objected {
				tx.Defer(`UPDATE antraege SET status = 'angenommen', decided_at = $2 WHERE id = $1`, d.id, d.deadline)
				more, err := s.decided(ctx, tx, Decision{AntragID: d.id, Status: Angenommen, At: d.deadline})
				if err != nil {
					return err
				}
				if err := eventstore.Append(tx, d.deadline, append([]eventstore.Draft{
					AntragAngenommen.New(hdr, AntragAngenommenV1{AntragID: d.id})}, more...)...); err != nil {
					return err
				}
				continue
			}
			a, err := s.abstimmungen.OpenTx(tx, d.id, d.knotenID, d.deadline)
			if err != nil {
				return err
			}
			tx.Defer(`UPDATE antraege SET status = 'abstimmung', abstimmung_id = $2 WHERE id = $1`, d.id, a.ID)
			if err := eventstore.Append(tx, d.deadline, AntragZurAbstimmung.New(hdr,
				AntragZurAbstimmungV1{AntragID: d.id, AbstimmungID: a.ID})); err != nil {
				return err
			}
		}
		return nil
	})
}

// NextVoteClose is the earliest close of an open Abstimmung.
func (s *Service) NextVoteClose(ctx context.Context) (time.Time, bool, error) {
	return s.abstimmungen.NextClose(ctx)
}

// ConcludeVotes closes, as of t, every Abstimmung due at or before t and decides its Antrag.
func (s *Service) ConcludeVotes(ctx context.Context, t time.Time) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		rows, err := tx.Query(ctx, `
SELECT a.id, b.id, b.closes_at
FROM abstimmungen b JOIN antraege a ON a.abstimmung_id = b.id
WHERE b.closed_at IS NULL AND b.closes_at <= $1
ORDER BY b.closes_at, b.id
FOR UPDATE OF a`, t)
		if err != nil {
			return fmt.Errorf("antrag: votes: %w", err)
		}
		type due struct {
			antrag, abstimmung uuid.UUID
			closesAt           time.Time
		}
		var dues []due
		var d due
		if _, err := pgx.ForEachRow(rows, []any{&d.antrag, &d.abstimmung, &d.closesAt}, func() error {
			d.closesAt = d.closesAt.UTC()
			dues = append(dues, d)
			return nil
		}); err != nil {
			return fmt.Errorf("antrag: votes: %w", err)
		}
		for _, d := range dues {
			b, _, err := s.abstimmungen.CloseTx(ctx, tx, d.abstimmung, d.closesAt)
			if err != nil {
				return err
			}
			hdr := eventstore.Header{Subject: d.antrag}
			tx.Defer(`UPDATE antraege SET status = $2, decided_at = $3 WHERE id = $1`, d.antrag, b.Result, d.closesAt)
			var draft eventstore.Draft
			status := Abgelehnt
			if b.Result == abstimmung.Angenommen {
				status = Angenommen
				draft = AntragAngenommen.New(hdr, AntragAngenommenV1{AntragID: d.antrag, AbstimmungID: &d.abstimmung})
			} else {
				draft = AntragAbgelehnt.New(hdr, AntragAbgelehntV1{AntragID: d.antrag, AbstimmungID: d.abstimmung})
			}
			more, err := s.decided(ctx, tx, Decision{AntragID: d.antrag, Status: status, At: d.closesAt})
			if err != nil {
				return err
			}
			if err := eventstore.Append(tx, d.closesAt, append([]eventstore.Draft{draft}, more...)...); err != nil {
				return err
			}
		}
		return nil
	})
}
