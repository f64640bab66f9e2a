package ortskonto

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/textcheck"
)

// Payouts (docs/ORTSKONTO.md, "Auszahlungen"): an Antrag may ask the Ortskonto for an amount.
// The payout is recorded with the Antrag (Beantragt), reserved when the Antrag is accepted
// (Bewilligt, "gedeckt" or not as the available balance stood at that moment), and then paid
// (Geleistet: booked in the journal) or cancelled (Abgebrochen) by the treasurer; a rejected or
// withdrawn Antrag's payout lapses (Entfallen). The antrag package calls in through its hooks
// (instance.go wires them), in its own transactions; it never reads these tables.

// A payout's states.
const (
	Beantragt   = "beantragt"   // asked for with its Antrag, which is not decided yet
	Bewilligt   = "bewilligt"   // the Antrag was accepted: the amount is reserved
	Geleistet   = "geleistet"   // paid and booked; final
	Abgebrochen = "abgebrochen" // cancelled by the treasurer after approval, the reservation released; final
	Entfallen   = "entfallen"   // the Antrag was rejected or withdrawn; final
)

// Auszahlung is a payout asked for by an Antrag.
type Auszahlung struct {
	ID          uuid.UUID
	AntragID    uuid.UUID
	AntragTitle string
	BetragCents int64
	Status      string
	// Gedeckt is whether the available balance covered the amount when the Antrag was accepted;
	// nil before (and for a payout that lapsed).
	Gedeckt   *bool
	Note      string // the treasurer's note on the last step
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Errors of payouts a client may see.
var (
	ErrAuszahlungNotFound      = fault.NotFoundf("auszahlung_not_found", "There is no such payout.")
	ErrIllegalPayoutTransition = fault.Conflictf("illegal_transition", "The payout cannot move to this status from its current one: only an approved payout is paid or cancelled, once.")
	errInvalidPayoutStatus     = &fault.Error{Kind: fault.Malformed, Code: "invalid_status", Field: "status", Message: `status must be "geleistet" or "abgebrochen".`}
	errInvalidBetrag           = &fault.Error{Kind: fault.Malformed, Code: "invalid_amount", Field: "betrag_cents", Message: fmt.Sprintf("betrag_cents must be a whole number of cents from %d to %d.", MinAmountCents, MaxAmountCents)}
)

// maxJournalReference is how much of the Antrag's title a payout's booking carries as its
// reference, in characters: a SEPA remittance text.
const maxJournalReference = 140

// CheckBetrag checks an amount asked of the Ortskonto: whole cents, 1 cent to 1,000,000 €.
func CheckBetrag(cents int64) error {
	if cents < MinAmountCents || cents > MaxAmountCents {
		return errInvalidBetrag
	}
	return nil
}

// RequestTx records, in the transaction filing the Antrag, the payout it asks for.
func (s *Service) RequestTx(ctx context.Context, tx *database.Tx, applicant, antragID uuid.UUID, antragTitle string, betragCents int64, at time.Time) ([]eventstore.Draft, error) {
	if err := CheckBetrag(betragCents); err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7())
	tx.Defer(`
INSERT INTO auszahlungen (id, antrag_id, antrag_title, betrag_cents, status, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'beantragt', $5, $5)`, id, antragID, antragTitle, betragCents, at)
	return []eventstore.Draft{AuszahlungBeantragt.New(eventstore.Header{Actor: applicant, Subject: id},
		AuszahlungBeantragtV1{AuszahlungID: id, AntragID: antragID, BetragCents: betragCents})}, nil
}

// AntragDecidedTx settles, in the transaction deciding the Antrag, what becomes of its payout:
// accepted, the amount is reserved (Bewilligt), covered or not by what is available right now;
// otherwise it lapses (Entfallen, with the Antrag's status as the reason). An Antrag without a
// payout changes nothing here.
func (s *Service) AntragDecidedTx(ctx context.Context, tx *database.Tx, antragID uuid.UUID, accepted bool, antragStatus string, at time.Time) ([]eventstore.Draft, error) {
	p, err := scanAuszahlung(tx.QueryRow(ctx, `SELECT `+auszahlungColumns+` FROM auszahlungen WHERE antrag_id = $1 FOR UPDATE`, antragID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ortskonto: payout of antrag %s: %w", antragID, err)
	}
	if p.Status != Beantragt {
		// An Antrag is decided once, so this cannot happen; if it did, failing would stop every
		// other deadline of the sweep with it, for good. The payout has left "beantragt"
		// already: there is nothing to decide.
		return nil, nil
	}
	hdr := eventstore.Header{Subject: p.ID}
	if !accepted {
		tx.Defer(`UPDATE auszahlungen SET status = 'entfallen', updated_at = $2 WHERE id = $1`, p.ID, at)
		return []eventstore.Draft{AuszahlungEntfallen.New(hdr, AuszahlungEntfallenV1{AuszahlungID: p.ID, AntragID: antragID,
			BetragCents: p.BetragCents, Grund: antragStatus})}, nil
	}
	// The balance row is locked: what is available cannot change under the decision, and
	// several Anträge accepted at once each see the reservations of those before.
	var available int64
	if err := tx.QueryRow(ctx, `
SELECT settled_cents - reversed_cents - paid_cents - reserved_cents FROM ortskonto FOR UPDATE`).Scan(&available); err != nil {
		return nil, fmt.Errorf("ortskonto: balance: %w", err)
	}
	gedeckt := available >= p.BetragCents
	tx.Defer(`UPDATE ortskonto SET reserved_cents = reserved_cents + $1`, p.BetragCents)
	tx.Defer(`UPDATE auszahlungen SET status = 'bewilligt', gedeckt = $2, updated_at = $3 WHERE id = $1`, p.ID, gedeckt, at)
	return []eventstore.Draft{AuszahlungBewilligt.New(hdr, AuszahlungBewilligtV1{AuszahlungID: p.ID, AntragID: antragID,
		BetragCents: p.BetragCents, Gedeckt: gedeckt, AvailableCents: available})}, nil
}

// TransitionAuszahlung is the treasurer's step on an approved payout: Geleistet (paid: booked
// in the journal, off the balance) or Abgebrochen (the reservation released).
func (s *Service) TransitionAuszahlung(ctx context.Context, by account.Account, id uuid.UUID, to, note string) (Auszahlung, error) {
	if !IsTreasurer(by) {
		return Auszahlung{}, ErrTreasurerRequired
	}
	if to != Geleistet && to != Abgebrochen {
		return Auszahlung{}, errInvalidPayoutStatus
	}
	if !textcheck.String(note) || utf8.RuneCountInString(note) > MaxMessage || containsControl(note) {
		return Auszahlung{}, errInvalidNote
	}
	var p Auszahlung
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		p, err = scanAuszahlung(tx.QueryRow(ctx, `SELECT `+auszahlungColumns+` FROM auszahlungen WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrAuszahlungNotFound
		}
		if err != nil {
			return fmt.Errorf("ortskonto: payout: %w", err)
		}
		if p.Status != Bewilligt {
			return ErrIllegalPayoutTransition
		}
		now := s.now()
		hdr := eventstore.Header{Actor: by.ID, Subject: id}
		var draft eventstore.Draft
		if to == Geleistet {
			var seq int64
			if err := tx.QueryRow(ctx, `
INSERT INTO buchungen (booked_at, kind, amount_cents, auszahlung_id, reference) VALUES ($1, 'auszahlung', $2, $3, $4) RETURNING seq`,
				now, -p.BetragCents, id, cut(p.AntragTitle, maxJournalReference)).Scan(&seq); err != nil {
				return fmt.Errorf("ortskonto: book payout: %w", err)
			}
			tx.Defer(`UPDATE ortskonto SET reserved_cents = reserved_cents - $1, paid_cents = paid_cents + $1`, p.BetragCents)
			draft = AuszahlungGeleistet.New(hdr, AuszahlungGeleistetV1{AuszahlungID: id, AntragID: p.AntragID,
				BetragCents: p.BetragCents, Seq: seq, Note: note})
		} else {
			tx.Defer(`UPDATE ortskonto SET reserved_cents = reserved_cents - $1`, p.BetragCents)
			draft = AuszahlungAbgebrochen.New(hdr, AuszahlungAbgebrochenV1{AuszahlungID: id, AntragID: p.AntragID,
				BetragCents: p.BetragCents, Note: note})
		}
		tx.Defer(`UPDATE auszahlungen SET status = $2, note = $3, updated_at = $4 WHERE id = $1`, id, to, note, now)
		p.Status, p.Note, p.UpdatedAt = to, note, now
		return eventstore.Append(tx, now, draft)
	})
	if err != nil {
		return Auszahlung{}, err
	}
	return p, nil
}

// AuszahlungenOf returns the payouts of the Anträge that asked for one, by Antrag.
func (s *Service) AuszahlungenOf(ctx context.Context, antragIDs []uuid.UUID) (map[uuid.UUID]Auszahlung, error) {
	out := map[uuid.UUID]Auszahlung{}
	if len(antragIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auszahlungColumns+` FROM auszahlungen WHERE antrag_id = ANY($1)`, antragIDs)
	if err != nil {
		return nil, fmt.Errorf("ortskonto: payouts: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Auszahlung, error) { return scanAuszahlung(r) })
	if err != nil {
		return nil, fmt.Errorf("ortskonto: payouts: %w", err)
	}
	for _, p := range ps {
		out[p.AntragID] = p
	}
	return out, nil
}

// How many finished payouts GET /api/konto lists besides the open ones, and at most how many
// open ones.
const (
	RecentAuszahlungen  = 20
	MaxOpenAuszahlungen = 100
)

// Auszahlungen lists the payouts the Ortskonto slider shows: the open ones (asked for and
// approved), oldest first, then the most recently finished.
func (s *Service) Auszahlungen(ctx context.Context) ([]Auszahlung, error) {
	rows, err := s.pool.Query(ctx, `
(SELECT `+auszahlungColumns+` FROM auszahlungen WHERE status IN ('beantragt', 'bewilligt') ORDER BY created_at, id LIMIT $1)
UNION ALL
(SELECT `+auszahlungColumns+` FROM auszahlungen WHERE status NOT IN ('beantragt', 'bewilligt') ORDER BY updated_at DESC, id DESC LIMIT $2)`,
		MaxOpenAuszahlungen, RecentAuszahlungen)
	if err != nil {
		return nil, fmt.Errorf("ortskonto: payouts: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Auszahlung, error) { return scanAuszahlung(r) })
	if err != nil {
		return nil, fmt.Errorf("ortskonto: payouts: %w", err)
	}
	return ps, nil
}

const auszahlungColumns = `id, antrag_id, antrag_title, betrag_cents, status, gedeckt, note, created_at, updated_at`

func scanAuszahlung(row pgx.Row) (Auszahlung, error) {
	var p Auszahlung
	err := row.Scan(&p.ID, &p.AntragID, &p.AntragTitle, &p.BetragCents, &p.Status, &p.Gedeckt, &p.Note, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// AntragRetitledTx keeps the payout's copy of its Antrag's title as the Antrag shows it: ""
// while a moderator hides the Antrag or the word filter holds it (docs/MODERATION.md), its
// title again when it is shown. The journal and the payout list read it from here.
func (s *Service) AntragRetitledTx(ctx context.Context, tx *database.Tx, antragID uuid.UUID, title string) error {
	tx.Defer(`UPDATE auszahlungen SET antrag_title = $2 WHERE antrag_id = $1`, antragID, title)
	return nil
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
