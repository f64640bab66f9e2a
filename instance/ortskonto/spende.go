package ortskonto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/textcheck"
)

// MaxIdempotencyKey is the longest Idempotency-Key taken.
const MaxIdempotencyKey = 255

var (
	errKeyMissing = &fault.Error{Kind: fault.Malformed, Code: "idempotency_key_missing",
		Message: "POST /api/spenden needs an Idempotency-Key header (any unique string, the same on a retry)."}
	errKeyInvalid = &fault.Error{Kind: fault.Malformed, Code: "invalid_idempotency_key",
		Message: fmt.Sprintf("The Idempotency-Key must be 1 to %d visible ASCII characters.", MaxIdempotencyKey)}
	errKeyReused = fault.Invalidf("", "idempotency_key_reused",
		"This Idempotency-Key was used for another donation; use a new key for a new donation.")
)

// CheckIdempotencyKey refuses a key that is missing or not 1–255 visible ASCII characters.
func CheckIdempotencyKey(key string) error {
	if key == "" {
		return errKeyMissing
	}
	if len(key) > MaxIdempotencyKey {
		return errKeyInvalid
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return errKeyInvalid
		}
	}
	return nil
}

// CheckDonation checks a donation and returns it as stored (the currency filled in).
func CheckDonation(d Donation) (Donation, error) {
	if d.AmountCents < MinAmountCents || d.AmountCents > MaxAmountCents {
		return d, ErrInvalidAmount
	}
	if d.Currency == "" {
		d.Currency = Currency
	}
	if d.Currency != Currency {
		return d, ErrInvalidCurrency
	}
	if !textcheck.String(d.Message) || utf8.RuneCountInString(d.Message) > MaxMessage || containsControl(d.Message) {
		return d, ErrInvalidMessage
	}
	return d, nil
}

// Errors of a donation's input; all 400.
var (
	ErrInvalidAmount = &fault.Error{Kind: fault.Malformed, Code: "invalid_amount", Field: "amount_cents",
		Message: fmt.Sprintf("amount_cents must be a whole number of cents from %d to %d (1,000,000 €).", MinAmountCents, MaxAmountCents)}
	ErrInvalidCurrency = &fault.Error{Kind: fault.Malformed, Code: "invalid_currency", Field: "currency",
		Message: `The Ortskonto takes euros only: currency must be "EUR" or left out.`}
	ErrInvalidVisible = &fault.Error{Kind: fault.Malformed, Code: "invalid_visible", Field: "visible",
		Message: "visible must be true (shown as a Goldfaden, with your name) or false (anonymous)."}
	ErrInvalidMessage = &fault.Error{Kind: fault.Malformed, Code: "invalid_message", Field: "message",
		Message: fmt.Sprintf("The message must be text of at most %d characters.", MaxMessage)}
	errInvalidStatus = &fault.Error{Kind: fault.Malformed, Code: "invalid_status", Field: "status",
		Message: `status must be "pending", "settled", "failed" or "reversed".`}
	errInvalidNote = &fault.Error{Kind: fault.Malformed, Code: "invalid_note", Field: "note",
		Message: fmt.Sprintf("The note must be text of at most %d characters.", MaxMessage)}
)

func containsControl(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && isControl(r) {
			return true
		}
	}
	return false
}

// requestHash identifies a donation request: a retry with the same key must ask the same.
func requestHash(d Donation) []byte {
	h := sha256.New()
	binary.Write(h, binary.BigEndian, d.AmountCents)
	h.Write([]byte{0})
	h.Write([]byte(d.Currency))
	h.Write([]byte{0})
	if d.Visible {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	h.Write([]byte(d.Message))
	return h.Sum(nil)
}

// errKeyTaken: the idempotency key has a row already (the first request's, committed).
var errKeyTaken = errors.New("ortskonto: idempotency key taken")

// Donate records a donation by a logged-in account and returns it with the transfer
// instructions. idemKey is the request's Idempotency-Key: the same account asking again with
// the same key and the same donation gets the first answer again (replayed true), never a
// second donation, also when both requests run at once; with another donation, 422
// idempotency_key_reused.
func (s *Service) Donate(ctx context.Context, by account.Account, d Donation, idemKey string) (Spende, bool, error) {
	if by.ID == uuid.Nil {
		return Spende{}, false, fault.ErrUnauthenticated
	}
	if err := CheckIdempotencyKey(idemKey); err != nil {
		return Spende{}, false, err
	}
	d, err := CheckDonation(d)
	if err != nil {
		return Spende{}, false, err
	}
	hash := requestHash(d)
	for attempt := 0; ; attempt++ {
		sp, err := s.donate(ctx, by, d, idemKey, hash)
		switch {
		case errors.Is(err, errKeyTaken):
			sp, found, err := s.replay(ctx, by.ID, idemKey, hash)
			if found || err != nil || attempt >= 3 {
				return sp, found, err
			}
			// The row went away between (it cannot today: keys are never deleted); try again.
		case uniqueViolation(err, "spenden_reference") && attempt < 3:
			// Two donations drew the same 50-bit code: draw again.
		default:
			return sp, false, err
		}
	}
}

func (s *Service) donate(ctx context.Context, by account.Account, d Donation, key string, hash []byte) (Spende, error) {
	var sp Spende
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var empfaenger, iban, bic *string
		var cell *int64
		if err := tx.QueryRow(ctx, `SELECT empfaenger, iban, bic, position_h3 FROM ortskonto`).Scan(&empfaenger, &iban, &bic, &cell); err != nil {
			return fmt.Errorf("ortskonto: donate: %w", err)
		}
		if iban == nil {
			return ErrNotConfigured
		}
		now := s.now()
		sp = Spende{
			ID: uuid.Must(uuid.NewV7()), Reference: newReference(), AmountCents: d.AmountCents, Currency: d.Currency,
			Visible: d.Visible, Status: StatusInitiated, Message: d.Message, CreatedAt: now, UpdatedAt: now,
			Donor: Donor{ID: by.ID, Name: by.Name},
		}
		sp.Ueberweisung = &Ueberweisung{Empfaenger: deref(empfaenger), IBAN: *iban, BIC: deref(bic),
			Verwendungszweck: sp.Reference, BetragCents: sp.AmountCents}
		answer, err := json.Marshal(storedOf(sp))
		if err != nil {
			return err
		}
		// The key row is the lock: a second request with this key waits here until the first
		// commits, then finds the row and answers as the first did.
		rows, err := tx.Query(ctx, `
INSERT INTO spenden_idempotenz (account_id, key, request_hash, spende_id, answer, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING true`, by.ID, key, hash, sp.ID, answer, now)
		var inserted bool
		if err == nil {
			_, err = pgx.ForEachRow(rows, []any{&inserted}, func() error { return nil })
		}
		if err != nil {
			return fmt.Errorf("ortskonto: donate: %w", err)
		}
		if !inserted {
			return errKeyTaken
		}
		tx.Defer(`
INSERT INTO spenden (id, account_id, reference, amount_cents, currency, visible, message, status, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
			sp.ID, by.ID, sp.Reference, sp.AmountCents, sp.Currency, sp.Visible, sp.Message, sp.Status, now)
		applyDelta(tx, stepDelta("", StatusInitiated, sp.AmountCents))
		var pay SpendeInitiiertV1
		pay = SpendeInitiiertV1{SpendeID: sp.ID, Reference: sp.Reference, AmountCents: sp.AmountCents,
			Currency: sp.Currency, Visible: sp.Visible}
		if sp.Visible {
			pay.AccountID, pay.Message = &by.ID, sp.Message
		}
		// An anonymous donor is not even the event's actor: followers of the log (the map feed,
		// federation's publisher) never meet the name.
		actor := uuid.Nil
		if sp.Visible {
			actor = by.ID
		}
		return eventstore.Append(tx, now, SpendeInitiiert.New(header(actor, sp, cell), pay))
	})
	if err != nil {
		return Spende{}, err
	}
	return sp, nil
}

// header is a donation event's: the Ortskonto's cell only when the donation is visible (its
// Goldfaden is on the map; an anonymous donation is nowhere).
func header(actor uuid.UUID, sp Spende, cell *int64) eventstore.Header {
	h := eventstore.Header{Actor: actor, Subject: sp.ID}
	if sp.Visible && cell != nil {
		h.Cell = *cell
	}
	return h
}

// replay returns the first answer to the key, if the same donation was asked.
func (s *Service) replay(ctx context.Context, accountID uuid.UUID, key string, hash []byte) (Spende, bool, error) {
	var stored []byte
	var answer []byte
	err := s.pool.QueryRow(ctx, `SELECT request_hash, answer FROM spenden_idempotenz WHERE account_id = $1 AND key = $2`,
		accountID, key).Scan(&stored, &answer)
	if errors.Is(err, pgx.ErrNoRows) {
		return Spende{}, false, nil
	}
	if err != nil {
		return Spende{}, false, fmt.Errorf("ortskonto: replay: %w", err)
	}
	if !bytes.Equal(stored, hash) {
		return Spende{}, false, errKeyReused
	}
	var st storedSpende
	if err := json.Unmarshal(answer, &st); err != nil {
		return Spende{}, false, fmt.Errorf("ortskonto: replay: %w", err)
	}
	return st.spende(), true, nil
}

// storedSpende is a donation as its first answer said it, kept with its idempotency key.
type storedSpende struct {
	ID           uuid.UUID     `json:"id"`
	Reference    string        `json:"reference"`
	AmountCents  int64         `json:"amount_cents"`
	Currency     string        `json:"currency"`
	Visible      bool          `json:"visible"`
	Status       string        `json:"status"`
	Message      string        `json:"message"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
	DonorID      uuid.UUID     `json:"donor_id"`
	DonorName    string        `json:"donor_name"`
	Ueberweisung *Ueberweisung `json:"ueberweisung"`
}

func storedOf(sp Spende) storedSpende {
	return storedSpende{ID: sp.ID, Reference: sp.Reference, AmountCents: sp.AmountCents, Currency: sp.Currency,
		Visible: sp.Visible, Status: sp.Status, Message: sp.Message, CreatedAt: sp.CreatedAt, UpdatedAt: sp.UpdatedAt,
		DonorID: sp.Donor.ID, DonorName: sp.Donor.Name, Ueberweisung: sp.Ueberweisung}
}

func (st storedSpende) spende() Spende {
	return Spende{ID: st.ID, Reference: st.Reference, AmountCents: st.AmountCents, Currency: st.Currency,
		Visible: st.Visible, Status: st.Status, Message: st.Message, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt,
		Donor: Donor{ID: st.DonorID, Name: st.DonorName}, Ueberweisung: st.Ueberweisung}
}

// now is the instance clock to the database's precision, so that what a write answers and what
// a later read says agree.
func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

func uniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// Transition moves a donation to status to by hand; only the treasurer may. A step the machine
// does not allow (initiated → settled included: a transfer is seen before it is booked) is
// refused with illegal_transition and changes nothing.
func (s *Service) Transition(ctx context.Context, by account.Account, id uuid.UUID, to string, note string) (Spende, error) {
	if !IsTreasurer(by) {
		return Spende{}, ErrTreasurerRequired
	}
	if !slices.Contains(Statuses[1:], to) {
		return Spende{}, errInvalidStatus
	}
	if !textcheck.String(note) || utf8.RuneCountInString(note) > MaxMessage || containsControl(note) {
		return Spende{}, errInvalidNote
	}
	sp, err := s.transition(ctx, by.ID, id, to, note, s.now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case sqlStateNotFound:
			return Spende{}, ErrNotFound
		case sqlStateIllegal:
			return Spende{}, ErrIllegalTransition
		}
	}
	if err != nil {
		return Spende{}, fmt.Errorf("ortskonto: transition: %w", err)
	}
	return sp, nil
}

// transition is a step by hand in one round trip: the step (ortskonto_step: the rule, the
// donation, the journal, the balance row) and its event travel together as one implicit
// transaction (database.InOneTrip: no BEGIN, no COMMIT statement; the pipeline's end
// commits). A refused step raises an error in the statement, which aborts the transaction
// before its event is written. The event's payload is known beforehand but for the state before
// and the amount, which the step sets with the event's cell (the Ortskonto's if the donation is
// visible, none if anonymous).
func (s *Service) transition(ctx context.Context, by, id uuid.UUID, to, note string, at time.Time) (Spende, error) {
	rule := stepRules[to]
	var sp Spende
	err := database.InOneTrip(ctx, s.pool, func(tx *database.Tx) error {
		tx.DeferRow(`SELECT * FROM ortskonto_step($1, $2, $3, $4, $5, $6, $7)`,
			[]any{[16]byte(id), to, note, at, rule.from, rule.deltas, rule.booking}, // the id as bytes: uuid.UUID's Valuer goes through text
			&sp.ID, &sp.Reference, &sp.AmountCents, &sp.Currency, &sp.Visible, &sp.Status, &sp.Message, &sp.Note,
			&sp.CreatedAt, &sp.UpdatedAt, &sp.Donor.ID, &sp.Donor.Name)
		return eventstore.Append(tx, at, eventFor(to).New(eventstore.Header{Actor: by, Subject: id, CellFromTx: true, PayloadFromTx: true},
			SpendeTransitionV2{SpendeID: id, To: to, Note: note}))
	})
	sp.CreatedAt, sp.UpdatedAt = sp.CreatedAt.UTC(), sp.UpdatedAt.UTC()
	return sp, err
}

// The errors ortskonto_step raises (migrations 00026, 00033).
const (
	sqlStateNotFound = "WGK04"
	sqlStateIllegal  = "WGK09"
)

// TransitionTx moves a donation to status to inside the caller's transaction for the bank
// import (which checked that its caller is the treasurer): the money is booked in the journal
// at bookedAt (the bank's day), while the step itself — its events, the donation's updated_at —
// happens now, so that a donation's history stays in order when the treasurer took a step by
// hand after the bank's day. The treasurer's note stays. A booked credit settles an
// initiated donation in two steps, SpendeEingegangen then SpendeGebucht, as one command. A step
// the machine does not allow returns ErrIllegalTransition; the caller should roll back or go
// on, but nothing was written.
func (s *Service) TransitionTx(ctx context.Context, tx *database.Tx, by uuid.UUID, id uuid.UUID, to string, bookedAt time.Time) (Spende, error) {
	cur, cell, err := lockSpende(ctx, tx, id)
	if err != nil {
		return Spende{}, err
	}
	var steps []string
	switch {
	case cur.Status == StatusInitiated && to == StatusSettled:
		steps = []string{StatusPending, StatusSettled}
	case Allowed(cur.Status, to):
		steps = []string{to}
	default:
		return cur, ErrIllegalTransition
	}
	return s.step(tx, by, cur, steps, "", s.now(), bookedAt.UTC().Truncate(time.Microsecond), cell)
}

// step writes the steps of one command at time at: the donation's row, the balance row, the
// journal's bookings (dated bookedAt) and one event per step, the first the root. Without a
// note the donation keeps the one it has.
func (s *Service) step(tx *database.Tx, actor uuid.UUID, sp Spende, steps []string, note string, at, bookedAt time.Time, cell *int64) (Spende, error) {
	var d delta
	drafts := make([]eventstore.Draft, 0, len(steps))
	from := sp.Status
	for _, to := range steps {
		d = d.add(stepDelta(from, to, sp.AmountCents))
		drafts = append(drafts, eventFor(to).New(header(actor, sp, cell), SpendeTransitionV2{SpendeID: sp.ID, From: from, To: to,
			AmountCents: sp.AmountCents, Note: note}))
		if kind, sign := journalRowOf(to); kind != "" {
			tx.Defer(`INSERT INTO buchungen (booked_at, kind, amount_cents, spende_id, reference) VALUES ($1, $2, $3, $4, $5)`,
				bookedAt, kind, sign*sp.AmountCents, sp.ID, sp.Reference)
		}
		from = to
	}
	if note != "" {
		sp.Note = note
	}
	sp.Status, sp.UpdatedAt = from, at
	tx.Defer(`UPDATE spenden SET status = $2, note = $3, updated_at = $4 WHERE id = $1`, sp.ID, sp.Status, sp.Note, at)
	if err := eventstore.Append(tx, at, drafts...); err != nil {
		return Spende{}, err
	}
	// Last: the balance row is every step's, and its lock is held from here to the commit.
	applyDelta(tx, d)
	return sp, nil
}

func applyDelta(tx *database.Tx, d delta) {
	tx.Defer(`
UPDATE ortskonto SET pending_cents = pending_cents + $1, settled_cents = settled_cents + $2,
       reversed_cents = reversed_cents + $3, initiated_count = initiated_count + $4,
       pending_count = pending_count + $5, settled_count = settled_count + $6,
       failed_count = failed_count + $7, reversed_count = reversed_count + $8`,
		d.pending, d.settled, d.reversed, d.counts[0], d.counts[1], d.counts[2], d.counts[3], d.counts[4])
}

const spendeColumns = `s.id, s.reference, s.amount_cents, s.currency, s.visible, s.status, s.message, s.note,
       s.created_at, s.updated_at, s.account_id, a.name`

const spendeFrom = ` FROM spenden s JOIN accounts a ON a.id = s.account_id`

func scanSpende(row pgx.Row, extra ...any) (Spende, error) {
	var sp Spende
	err := row.Scan(append([]any{&sp.ID, &sp.Reference, &sp.AmountCents, &sp.Currency, &sp.Visible, &sp.Status,
		&sp.Message, &sp.Note, &sp.CreatedAt, &sp.UpdatedAt, &sp.Donor.ID, &sp.Donor.Name}, extra...)...)
	sp.CreatedAt, sp.UpdatedAt = sp.CreatedAt.UTC(), sp.UpdatedAt.UTC()
	return sp, err
}

// lockSpende reads and locks a donation, with the Ortskonto's cell. The balance row is locked
// first: every write that takes both takes it first (a step ends by updating it, and the bank
// import steps many donations in one transaction), so that a step by hand and an import never
// each hold what the other waits for.
func lockSpende(ctx context.Context, tx *database.Tx, id uuid.UUID) (Spende, *int64, error) {
	tx.Defer(`SELECT 1 FROM ortskonto FOR UPDATE`)
	var cell *int64
	sp, err := scanSpende(tx.QueryRow(ctx, `SELECT `+spendeColumns+`, o.position_h3`+spendeFrom+` CROSS JOIN ortskonto o
WHERE s.id = $1 FOR UPDATE OF s`, id), &cell)
	if err != nil {
		return Spende{}, nil, noRows(fmt.Errorf("ortskonto: spende: %w", err), ErrNotFound)
	}
	return sp, cell, nil
}

// FindByReference returns the donation whose Verwendungszweck ref names, ignoring case, spaces
// and hyphens (and reading O as 0, I and L as 1); ErrNotFound otherwise.
func (s *Service) FindByReference(ctx context.Context, q database.Querier, ref string) (Spende, error) {
	key, ok := referenceKey(ref)
	if !ok {
		return Spende{}, ErrNotFound
	}
	sp, err := scanSpende(q.QueryRow(ctx, `SELECT `+spendeColumns+spendeFrom+` WHERE replace(s.reference, '-', '') = $1`, key))
	if err != nil {
		return Spende{}, noRows(fmt.Errorf("ortskonto: by reference: %w", err), ErrNotFound)
	}
	return sp, nil
}

// Get returns a donation to its donor or the treasurer; to anyone else it does not exist.
func (s *Service) Get(ctx context.Context, by account.Account, id uuid.UUID) (Spende, error) {
	sp, err := scanSpende(s.pool.QueryRow(ctx, `SELECT `+spendeColumns+spendeFrom+` WHERE s.id = $1`, id))
	if err != nil {
		return Spende{}, noRows(fmt.Errorf("ortskonto: spende: %w", err), ErrNotFound)
	}
	if by.ID == uuid.Nil || (sp.Donor.ID != by.ID && !IsTreasurer(by)) {
		return Spende{}, ErrNotFound
	}
	return sp, nil
}

// Page is where a listing starts and how long it is.
type Page struct {
	Before uuid.UUID // the last donation of the previous page; uuid.Nil: the newest
	Limit  int       // default 50, at most 500
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}

// List returns donations newest first, all of them or those in one status; only the treasurer
// may, and sees every donor.
func (s *Service) List(ctx context.Context, by account.Account, status string, p Page) ([]Spende, error) {
	if !IsTreasurer(by) {
		return nil, ErrTreasurerRequired
	}
	if status != "" && !slices.Contains(Statuses, status) {
		return nil, &fault.Error{Kind: fault.Malformed, Code: "invalid_status", Field: "status",
			Message: "status must be one of initiated, pending, settled, failed, reversed."}
	}
	return s.list(ctx, `($1 = '' OR s.status = $1)`, status, p)
}

// Mine returns the account's own donations, newest first.
func (s *Service) Mine(ctx context.Context, by account.Account, p Page) ([]Spende, error) {
	return s.list(ctx, `s.account_id = $1`, by.ID, p)
}

// Goldfaeden returns the last visible donations that did not fail, newest first.
func (s *Service) Goldfaeden(ctx context.Context, limit int) ([]Spende, error) {
	return s.list(ctx, `s.visible AND s.status <> 'failed' AND $1::bool`, true, Page{Limit: limit})
}

func (s *Service) list(ctx context.Context, where string, arg any, p Page) ([]Spende, error) {
	sql := `SELECT ` + spendeColumns + spendeFrom + ` WHERE ` + where + `
  AND ($2::uuid IS NULL OR (s.created_at, s.id) < (SELECT created_at, id FROM spenden WHERE id = $2))
ORDER BY s.created_at DESC, s.id DESC LIMIT $3`
	var before *uuid.UUID
	if p.Before != uuid.Nil {
		before = &p.Before
	}
	rows, err := s.pool.Query(ctx, sql, arg, before, p.limit())
	if err != nil {
		return nil, fmt.Errorf("ortskonto: list: %w", err)
	}
	defer rows.Close()
	out := []Spende{}
	for rows.Next() {
		sp, err := scanSpende(rows)
		if err != nil {
			return nil, fmt.Errorf("ortskonto: list: %w", err)
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ortskonto: list: %w", err)
	}
	return out, nil
}
