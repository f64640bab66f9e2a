// Package antrag runs Anträge (proposals) and Einsprüche (objections).
//
// The rules (seed 000 acceptance test 3; docs/GOVERNANCE.md): a verified resident files an
// Antrag; it is open for 7 days. Any other verified resident may object once, with a reason,
// before the deadline. The first Einspruch moves the deadline forward by exactly 7 days; later
// ones are recorded and shown but extend nothing, so no Antrag can be stalled for ever. When the
// deadline passes, an Antrag without Einspruch is accepted; one with Einsprüche goes to a public
// Abstimmung that opens at that deadline (package abstimmung). The applicant may withdraw
// before the deadline.
package antrag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// Frist is how long an Antrag is open, and how far its first Einspruch moves the deadline.
const Frist = 7 * 24 * time.Hour

// Statuses of an Antrag.
const (
	Offen          = "offen"      // open for Einsprüche until the decision deadline
	ImAbstimmung   = "abstimmung" // its Abstimmung runs
	Angenommen     = "angenommen"
	Abgelehnt      = "abgelehnt"
	Zurueckgezogen = "zurueckgezogen"
)

// Statuses lists every status, for validating a filter.
var Statuses = []string{Offen, ImAbstimmung, Angenommen, Abgelehnt, Zurueckgezogen}

// Antrag is a proposal to the Ortsweberei.
type Antrag struct {
	ID               uuid.UUID
	ApplicantID      uuid.UUID
	ApplicantName    string
	KnotenID         *uuid.UUID
	Title            string
	DetailsMD        string
	AmountCents      *int64
	OpenedAt         time.Time
	DecisionDeadline time.Time
	Extended         bool
	Status           string
	DecidedAt        *time.Time
	AbstimmungID     *uuid.UUID
	EinspruchCount   int
	Einsprueche      []Einspruch // filled by Get
	// HiddenAt is set while a moderator, or the word filter's hold, keeps the Antrag from the
	// public (docs/MODERATION.md); Held: held when filed, never public yet.
	HiddenAt *time.Time
	Held     bool
}

// Einspruch is an objection, public with name, reason and time.
type Einspruch struct {
	AccountID uuid.UUID
	Name      string
	Reason    string
	CreatedAt time.Time
	Hidden    bool // only its author is shown a hidden Einspruch (GetAs)
}

// Service runs the Antrag rules.
type Service struct {
	pool         *pgxpool.Pool
	clock        clock.Clock
	abstimmungen *abstimmung.Service
	knoten       *knoten.Service
	hooks        Hooks
	screening    moderation.Screening // SetModeration's
}

// SetModeration installs the word filter and the queue that takes held content; either may
// be nil. Call it once, at assembly, before the service is used.
func (s *Service) SetModeration(f moderation.TextFilter, h moderation.Holder) {
	s.screening.Set(f, h)
}

// check asks the word filter about each field's text: the first blocked field is refused
// (moderation.ErrBlocked), otherwise the first hold is returned.
func (s *Service) check(fields ...string) (moderation.Verdict, error) {
	var held moderation.Verdict
	filter := s.screening.Filter()
	if filter == nil {
		return held, nil
	}
	for i := 0; i+1 < len(fields); i += 2 {
		switch v := filter.Check(fields[i+1]); v.Action {
		case moderation.ActionBlock:
			return v, moderation.ErrBlocked(fields[i])
		case moderation.ActionHold:
			if held.Action == "" {
				held = v
			}
		}
	}
	return held, nil
}

// hold queues held content for review in tx.
func (s *Service) hold(ctx context.Context, tx *database.Tx, t moderation.Target, v moderation.Verdict, at time.Time) error {
	holder := s.screening.Holder()
	if holder == nil {
		return nil
	}
	return holder.HoldTx(ctx, tx, t, v, at)
}

// Hooks let another package act in the transaction that files or decides an Antrag, so that
// what it records commits together with the Antrag or not at all: the Ortskonto's payouts
// (package ortskonto), whose tables antrag never reads. The events a hook returns are appended
// with the Antrag's own, caused by it.
type Hooks struct {
	// Filed runs when a Filing asks the Ortskonto for an amount (BetragCents), after the
	// Antrag is written.
	Filed func(ctx context.Context, tx *database.Tx, a Antrag, betragCents int64, at time.Time) ([]eventstore.Draft, error)
	// Decided runs when an Antrag is accepted, rejected or withdrawn.
	Decided func(ctx context.Context, tx *database.Tx, d Decision) ([]eventstore.Draft, error)
	// Retitled runs when a moderator hides an Antrag (title "") or shows it again (its title),
	// so that a copy of the title kept elsewhere (the payout's) follows: hidden words are
	// public nowhere. A held Antrag is filed with the title "" (Filed) until it is released.
	Retitled func(ctx context.Context, tx *database.Tx, antragID uuid.UUID, title string) error
}

// retitled runs the Retitled hook, if there is one.
func (s *Service) retitled(ctx context.Context, tx *database.Tx, id uuid.UUID, title string) error {
	if s.hooks.Retitled == nil {
		return nil
	}
	return s.hooks.Retitled(ctx, tx, id, title)
}

// Decision is how an Antrag ended: Angenommen, Abgelehnt or Zurueckgezogen, at At.
type Decision struct {
	AntragID uuid.UUID
	Status   string
	At       time.Time
}

// SetHooks installs the hooks; call it once, at assembly, before the service is used.
func (s *Service) SetHooks(h Hooks) { s.hooks = h }

// decided runs the Decided hook, if there is one.
func (s *Service) decided(ctx context.Context, tx *database.Tx, d Decision) ([]eventstore.Draft, error) {
	if s.hooks.Decided == nil {
		return nil, nil
	}
	return s.hooks.Decided(ctx, tx, d)
}

// NewService returns the Antrag service.
func NewService(pool *pgxpool.Pool, c clock.Clock, a *abstimmung.Service, k *knoten.Service) *Service {
	return &Service{pool: pool, clock: c, abstimmungen: a, knoten: k}
}

// Errors a client can meet.
var (
	ErrNotFound        = fault.NotFoundf("antrag_not_found", "There is no Antrag with this id.")
	ErrOwnAntrag       = fault.Forbiddenf("own_antrag", "You cannot object to your own Antrag.")
	ErrNotYours        = fault.Forbiddenf("not_your_antrag", "Only the applicant can withdraw an Antrag.")
	ErrNotOpen         = fault.Conflictf("antrag_not_open", "This Antrag is no longer open: it was withdrawn, decided, or has gone to a vote.")
	ErrDeadlinePassed  = fault.Conflictf("deadline_passed", "The decision deadline of this Antrag has passed.")
	ErrAlreadyObjected = fault.Conflictf("already_objected", "You have objected to this Antrag already; each resident objects once.")
	// ErrHidden: a moderator hid the Antrag, or the word filter holds it for review (its
	// applicant still sees it).
	ErrHidden = fault.Gonef("antrag_hidden", "This Antrag is hidden by the moderation (see the moderation log).")
	// ErrHeld: the applicant's own Antrag waits for a moderator's review.
	ErrHeld = fault.Conflictf("antrag_held", "This Antrag waits for a moderator's review; it cannot be withdrawn before.")
)

// The limits of an Antrag's and an Einspruch's texts in characters; the app takes them from
// GET /api/ortsweberei.
const (
	MaxTitle   = 200
	MaxDetails = 20000
	MaxReason  = 2000
	maxAmount  = 1_000_000_000_00 // one billion euros, in cents
)

// Filing is a new Antrag.
type Filing struct {
	Title       string
	DetailsMD   string
	AmountCents *int64
	KnotenID    *uuid.UUID // the Knoten it is about, if any: the applicant spins an antrag Faden to it
	// BetragCents asks the Ortskonto for a payout when the Antrag is accepted. antrag keeps
	// nothing of it: Hooks.Filed records it (and checks it) in the filing's transaction.
	BetragCents *int64
}

// errNoPayouts is an assembly without the Ortskonto's hooks that was asked for a payout.
var errNoPayouts = errors.New("antrag: a payout was asked for, but no Ortskonto takes part (Hooks.Filed unset)")

// File files an Antrag for the applicant, open for 7 days.
func (s *Service) File(ctx context.Context, applicant account.Account, f Filing) (Antrag, error) {
	if err := applicant.CheckMayGovern(); err != nil {
		return Antrag{}, err
	}
	f.Title, f.DetailsMD = strings.TrimSpace(f.Title), strings.TrimSpace(f.DetailsMD)
	switch {
	case f.Title == "":
		return Antrag{}, fault.Invalidf("title", "empty_title", "An Antrag needs a title.")
	case utf8.RuneCountInString(f.Title) > MaxTitle || strings.IndexFunc(f.Title, unicode.IsControl) >= 0:
		return Antrag{}, fault.Invalidf("title", "invalid_title", "The title must be at most %d characters, without control characters.", MaxTitle)
	case utf8.RuneCountInString(f.DetailsMD) > MaxDetails:
		return Antrag{}, fault.Invalidf("details_md", "invalid_details", "The details must be at most %d characters.", MaxDetails)
	case f.AmountCents != nil && (*f.AmountCents < 0 || *f.AmountCents > maxAmount):
		return Antrag{}, fault.Invalidf("amount_cents", "invalid_amount", "amount_cents must be a whole number of cents from 0 up.")
	case f.BetragCents != nil && s.hooks.Filed == nil:
		return Antrag{}, errNoPayouts
	}
	verdict, err := s.check("title", f.Title, "details_md", f.DetailsMD)
	if err != nil {
		return Antrag{}, err
	}
	var a Antrag
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		a = Antrag{
			ID: uuid.Must(uuid.NewV7()), ApplicantID: applicant.ID, ApplicantName: applicant.Name, KnotenID: f.KnotenID,
			Title: f.Title, DetailsMD: f.DetailsMD, AmountCents: f.AmountCents,
			OpenedAt: now, DecisionDeadline: now.Add(Frist), Status: Offen,
		}
		if f.KnotenID != nil {
			if _, err := s.knoten.SpinTx(ctx, tx, applicant.ID, knoten.Spinning{KnotenID: *f.KnotenID, Type: "antrag"}); err != nil {
				return err
			}
		}
		// Held: stored hidden, its filing a private event; the public AntragGestellt is
		// written when a moderator releases it (HideTx), and its clock starts then.
		filed := AntragGestellt
		if verdict.Action == moderation.ActionHold {
			a.HiddenAt, a.Held, filed = &now, true, AntragZurueckgehalten
		}
		tx.Defer(`
INSERT INTO antraege (id, applicant_id, knoten_id, title, details_md, amount_cents, opened_at, decision_deadline, status, hidden_at, held)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'offen', $9, $10)`,
			a.ID, a.ApplicantID, a.KnotenID, a.Title, a.DetailsMD, a.AmountCents, a.OpenedAt, a.DecisionDeadline, a.HiddenAt, a.Held)
		drafts := []eventstore.Draft{filed.New(eventstore.Header{Actor: applicant.ID, Subject: a.ID}, AntragGestelltV1{
			AntragID: a.ID, ApplicantID: a.ApplicantID, Title: a.Title, DetailsMD: a.DetailsMD,
			AmountCents: a.AmountCents, KnotenID: a.KnotenID, DecisionDeadline: a.DecisionDeadline,
		})}
		if a.Held {
			if err := s.hold(ctx, tx, moderation.Target{Kind: moderation.KindAntrag, ID: a.ID.String()}, verdict, now); err != nil {
				return err
			}
		}
		if f.BetragCents != nil {
			shown := a
			if a.Held {
				shown.Title = "" // released, Retitled gives it its title
			}
			more, err := s.hooks.Filed(ctx, tx, shown, *f.BetragCents, now)
			if err != nil {
				return err
			}
			drafts = append(drafts, more...)
		}
		return eventstore.Append(tx, now, drafts...)
	})
	if err != nil {
		return Antrag{}, err
	}
	return a, nil
}

// Object records the resident's Einspruch. The first one moves the deadline by exactly 7 days.
func (s *Service) Object(ctx context.Context, by account.Account, id uuid.UUID, reason string) (Antrag, error) {
	if err := by.CheckMayGovern(); err != nil {
		return Antrag{}, err
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return Antrag{}, fault.Invalidf("reason", "empty_reason", "An Einspruch needs a reason.")
	case utf8.RuneCountInString(reason) > MaxReason:
		return Antrag{}, fault.Invalidf("reason", "invalid_reason", "The reason must be at most %d characters.", MaxReason)
	}
	verdict, err := s.check("reason", reason)
	if err != nil {
		return Antrag{}, err
	}
	var a Antrag
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		var err error
		if a, err = get(ctx, tx, id, true); err != nil {
			return err
		}
		switch {
		case a.HiddenAt != nil:
			return ErrHidden
		case a.ApplicantID == by.ID:
			return ErrOwnAntrag
		case a.Status != Offen:
			return ErrNotOpen
		case !now.Before(a.DecisionDeadline):
			return ErrDeadlinePassed
		}
		var objected bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM einsprueche WHERE antrag_id = $1 AND account_id = $2)`, id, by.ID).Scan(&objected); err != nil {
			return fmt.Errorf("antrag: object: %w", err)
		}
		if objected {
			return ErrAlreadyObjected
		}
		if verdict.Action == moderation.ActionHold {
			// Held: stored hidden, its event private; it neither extends the deadline nor
			// counts until a moderator releases it (HideTx).
			tx.Defer(`INSERT INTO einsprueche (antrag_id, account_id, reason, created_at, hidden_at, held) VALUES ($1, $2, $3, $4, $4, true)`,
				id, by.ID, reason, now)
			if err := s.hold(ctx, tx, moderation.Target{Kind: moderation.KindEinspruch, ID: einspruchID(id, by.ID)}, verdict, now); err != nil {
				return err
			}
			return eventstore.Append(tx, now, EinspruchZurueckgehalten.New(eventstore.Header{Actor: by.ID, Subject: id},
				EinspruchErhobenV1{AntragID: id, AccountID: by.ID, Reason: reason}))
		}
		tx.Defer(`INSERT INTO einsprueche (antrag_id, account_id, reason, created_at) VALUES ($1, $2, $3, $4)`, id, by.ID, reason, now)
		return eventstore.Append(tx, now, objectionDrafts(&a, by.ID, reason, now, tx)...)
	})
	if err != nil {
		return Antrag{}, err
	}
	return s.GetAs(ctx, by.ID, id)
}

// Withdraw lets the applicant take the Antrag back before its deadline.
func (s *Service) Withdraw(ctx context.Context, by account.Account, id uuid.UUID) (Antrag, error) {
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		a, err := get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		switch {
		case a.ApplicantID != by.ID:
			return ErrNotYours
		case a.Held:
			return ErrHeld
		case a.Status != Offen:
			return ErrNotOpen
		case !now.Before(a.DecisionDeadline):
			return ErrDeadlinePassed
		}
		tx.Defer(`UPDATE antraege SET status = 'zurueckgezogen', decided_at = $2 WHERE id = $1`, id, now)
		more, err := s.decided(ctx, tx, Decision{AntragID: id, Status: Zurueckgezogen, At: now})
		if err != nil {
			return err
		}
		return eventstore.Append(tx, now, append([]eventstore.Draft{AntragZurueckgezogen.New(eventstore.Header{Actor: by.ID, Subject: id},
			AntragZurueckgezogenV1{AntragID: id})}, more...)...)
	})
	if err != nil {
		return Antrag{}, err
	}
	return s.GetAs(ctx, by.ID, id)
}

// objectionDrafts are the public events of an Einspruch that counts from now: EinspruchErhoben,
// and the first one's extension of the deadline (applied to a and the table).
func objectionDrafts(a *Antrag, by uuid.UUID, reason string, now time.Time, tx *database.Tx) []eventstore.Draft {
	drafts := []eventstore.Draft{EinspruchErhoben.New(eventstore.Header{Actor: by, Subject: a.ID},
		EinspruchErhobenV1{AntragID: a.ID, AccountID: by, Reason: reason})}
	if !a.Extended && a.Status == Offen && now.Before(a.DecisionDeadline) {
		previous := a.DecisionDeadline
		a.DecisionDeadline, a.Extended = previous.Add(Frist), true
		tx.Defer(`UPDATE antraege SET decision_deadline = $2, extended = true WHERE id = $1`, a.ID, a.DecisionDeadline)
		drafts = append(drafts, AntragFristVerlaengert.New(eventstore.Header{Actor: by, Subject: a.ID},
			AntragFristVerlaengertV1{AntragID: a.ID, PreviousDeadline: previous, DecisionDeadline: a.DecisionDeadline}))
	}
	a.EinspruchCount++
	return drafts
}

func einspruchID(antrag, account uuid.UUID) string { return antrag.String() + "/" + account.String() }

// Get returns the Antrag with its public Einsprüche, hidden or not (HiddenAt says): for the
// instance's own use (federation, which decides what a hidden Antrag means there). What the
// public and the residents read goes through GetAs.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Antrag, error) {
	return s.get(ctx, uuid.Nil, id)
}

// GetAs returns the Antrag as viewer (uuid.Nil: anyone) may read it. Its applicant sees it
// whole, HiddenAt set when hidden. For everyone else a hidden open Antrag is ErrHidden (its
// clock stands still: there is nothing to do with it), and one past its open phase — in its
// Abstimmung, or decided — is shown without its words (Wordless), so that its vote and its
// record stay where the residents find them. Hidden Einsprüche are left out except the
// viewer's own, marked Hidden.
func (s *Service) GetAs(ctx context.Context, viewer, id uuid.UUID) (Antrag, error) {
	a, err := s.get(ctx, viewer, id)
	if err != nil {
		return Antrag{}, err
	}
	if a.HiddenAt == nil || (viewer != uuid.Nil && viewer == a.ApplicantID) {
		return a, nil
	}
	if a.Status == Offen {
		return Antrag{}, ErrHidden
	}
	return a.Wordless(), nil
}

// Wordless is a hidden Antrag as the public sees it: its process without its words.
func (a Antrag) Wordless() Antrag {
	a.Title, a.DetailsMD = "", ""
	return a
}

func (s *Service) get(ctx context.Context, viewer, id uuid.UUID) (Antrag, error) {
	a, err := get(ctx, s.pool, id, false)
	if err != nil {
		return Antrag{}, err
	}
	rows, err := s.pool.Query(ctx, `
SELECT e.account_id, ac.name, e.reason, e.created_at, e.hidden_at IS NOT NULL
FROM einsprueche e JOIN accounts ac ON ac.id = e.account_id
WHERE e.antrag_id = $1 AND (e.hidden_at IS NULL OR e.account_id = $2)
ORDER BY e.created_at, e.account_id`, id, viewer)
	if err != nil {
		return Antrag{}, fmt.Errorf("antrag: einsprueche: %w", err)
	}
	a.Einsprueche, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Einspruch, error) {
		var e Einspruch
		err := r.Scan(&e.AccountID, &e.Name, &e.Reason, &e.CreatedAt, &e.Hidden)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return Antrag{}, fmt.Errorf("antrag: einsprueche: %w", err)
	}
	return a, nil
}

// Listing limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// List returns the public Anträge, newest first, optionally only those in one status: a
// hidden open Antrag is left out, a hidden one past its open phase is listed without its
// words (GetAs says why).
func (s *Service) List(ctx context.Context, status string, limit int) ([]Antrag, error) {
	if status != "" && !contains(Statuses, status) {
		return nil, fault.Invalidf("status", "unknown_status", "Unknown status %q; statuses are: %s.", status, strings.Join(Statuses, ", "))
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, fault.Invalidf("limit", "invalid_limit", "limit must lie between 1 and %d.", MaxLimit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM antraege a JOIN accounts ac ON ac.id = a.applicant_id
WHERE ($1 = '' OR a.status = $1) AND (a.hidden_at IS NULL OR a.status <> 'offen') ORDER BY a.opened_at DESC, a.id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("antrag: list: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Antrag, error) {
		a, err := scan(r)
		if a.HiddenAt != nil {
			a = a.Wordless()
		}
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("antrag: list: %w", err)
	}
	return as, nil
}

const columns = `a.id, a.applicant_id, ac.name, a.knoten_id, a.title, a.details_md, a.amount_cents, a.opened_at,
       a.decision_deadline, a.extended, a.status, a.decided_at, a.abstimmung_id,
       (SELECT count(*) FROM einsprueche e WHERE e.antrag_id = a.id AND NOT e.held), a.hidden_at, a.held`

func scan(row pgx.Row) (Antrag, error) {
	var a Antrag
	err := row.Scan(&a.ID, &a.ApplicantID, &a.ApplicantName, &a.KnotenID, &a.Title, &a.DetailsMD, &a.AmountCents,
		&a.OpenedAt, &a.DecisionDeadline, &a.Extended, &a.Status, &a.DecidedAt, &a.AbstimmungID, &a.EinspruchCount, &a.HiddenAt, &a.Held)
	a.OpenedAt, a.DecisionDeadline = a.OpenedAt.UTC(), a.DecisionDeadline.UTC()
	if a.DecidedAt != nil {
		t := a.DecidedAt.UTC()
		a.DecidedAt = &t
	}
	a.HiddenAt = snapshot.UTC(a.HiddenAt)
	return a, err
}

func get(ctx context.Context, q database.Querier, id uuid.UUID, forUpdate bool) (Antrag, error) {
	sql := `SELECT ` + columns + ` FROM antraege a JOIN accounts ac ON ac.id = a.applicant_id WHERE a.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE OF a`
	}
	a, err := scan(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Antrag{}, ErrNotFound
	}
	if err != nil {
		return Antrag{}, fmt.Errorf("antrag: get: %w", err)
	}
	return a, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// Count is how many Anträge were ever filed here, in whatever status (held ones, never public,
// not): NodeInfo's local posts.
func (s *Service) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM antraege WHERE NOT held`).Scan(&n); err != nil {
		return 0, fmt.Errorf("antrag: count: %w", err)
	}
	return n, nil
}
