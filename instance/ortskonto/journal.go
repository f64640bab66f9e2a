package ortskonto

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Kinds of bookings.
const (
	KindSpende     = "spende"     // a donation was booked (+)
	KindStorno     = "storno"     // a booked donation was reversed (−)
	KindAuszahlung = "auszahlung" // a payout was paid (−), booked by instance/auszahlung
)

// Buchung is one row of the booking journal: a money movement that changed the balance. For a
// donation's booking Donor is always set, anonymous or not: the treasurer's journal names the
// donor for the tax office; public surfaces use PublicDonor.
type Buchung struct {
	Seq          int64 // the Belegnummer
	BookedAt     time.Time
	Kind         string
	AmountCents  int64 // signed
	SpendeID     *uuid.UUID
	AuszahlungID *uuid.UUID
	Reference    string
	Donor        *Donor // nil for a payout
	Visible      bool   // the donation is visible (false for a payout)
	Message      string // the donation's message; public only when Visible
	// The Antrag a payout's booking paid for (auszahlung.go); nil for a donation.
	AntragID    *uuid.UUID
	AntragTitle string
}

// PublicDonor is the donor as the public may see it: nil for an anonymous donation and for a
// payout.
func (b Buchung) PublicDonor() *Donor {
	if !b.Visible || b.Donor == nil {
		return nil
	}
	d := *b.Donor
	return &d
}

// Anonymous reports whether the booking is an anonymous donor's.
func (b Buchung) Anonymous() bool { return b.SpendeID != nil && !b.Visible }

const buchungColumns = `b.seq, b.booked_at, b.kind, b.amount_cents, b.spende_id, b.auszahlung_id, b.reference,
       s.visible, s.message, s.account_id, a.name, z.antrag_id, z.antrag_title
FROM buchungen b
LEFT JOIN spenden s ON s.id = b.spende_id
LEFT JOIN accounts a ON a.id = s.account_id
LEFT JOIN auszahlungen z ON z.id = b.auszahlung_id`

func scanBuchung(row pgx.Row) (Buchung, error) {
	var b Buchung
	var visible *bool
	var message, name, title *string
	var donor *uuid.UUID
	if err := row.Scan(&b.Seq, &b.BookedAt, &b.Kind, &b.AmountCents, &b.SpendeID, &b.AuszahlungID, &b.Reference,
		&visible, &message, &donor, &name, &b.AntragID, &title); err != nil {
		return Buchung{}, err
	}
	b.BookedAt = b.BookedAt.UTC()
	if visible != nil {
		b.Visible = *visible
	}
	b.Message, b.AntragTitle = deref(message), deref(title)
	if donor != nil {
		b.Donor = &Donor{ID: *donor, Name: deref(name)}
	}
	return b, nil
}

// Journal calls fn for each booking with from ≤ booked_at < to, in seq order, reading the rows
// as a stream (the memory used does not grow with the month). An error from fn ends it.
func (s *Service) Journal(ctx context.Context, from, to time.Time, fn func(Buchung) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+buchungColumns+`
WHERE b.booked_at >= $1 AND b.booked_at < $2 ORDER BY b.seq`, from, to)
	if err != nil {
		return fmt.Errorf("ortskonto: journal: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBuchung(rows)
		if err != nil {
			return fmt.Errorf("ortskonto: journal: %w", err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ortskonto: journal: %w", err)
	}
	return nil
}

// JournalPage returns up to limit bookings before seq before (0: the newest), newest first,
// and the seq to ask for next (0: no more).
func (s *Service) JournalPage(ctx context.Context, before int64, limit int) ([]Buchung, int64, error) {
	if limit <= 0 {
		limit = 50
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	limit = min(limit, 500)
	rows, err := s.pool.Query(ctx, `SELECT `+buchungColumns+`
WHERE b.seq < $1 ORDER BY b.seq DESC LIMIT $2`, before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("ortskonto: journal: %w", err)
	}
	defer rows.Close()
	out := []Buchung{}
	for rows.Next() {
		b, err := scanBuchung(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("ortskonto: journal: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("ortskonto: journal: %w", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, nil
}
