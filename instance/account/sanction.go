package account

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Sanction kinds (docs/MODERATION.md, "Actions"). Who may impose which is the moderation
// package's to decide; this package records them and keeps sanctioned accounts from writing.
const (
	SanctionWarn    = "warn"
	SanctionSuspend = "suspend"
	SanctionBan     = "ban"
	SanctionLift    = "lift" // a suspension or a ban lifted
)

// Sanction is a moderation action against an account.
type Sanction struct {
	Kind   string
	Until  time.Time // a suspension's end; zero for the others
	By     uuid.UUID // the moderator or admin
	Reason string
	// Ref is the moderation log's entry of the sanction: the account's own view (GET /api/me)
	// names it, so that the account can appeal it.
	Ref uuid.UUID
}

// RolleGesperrtV1: the account may not write, until Until (a suspension) or for good (a ban,
// Until null).
type RolleGesperrtV1 struct {
	AccountID uuid.UUID  `json:"account_id"`
	By        uuid.UUID  `json:"by"`
	Reason    string     `json:"reason"`
	Until     *time.Time `json:"until"`
}

// VerwarntV1: the account was warned.
type VerwarntV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	By        uuid.UUID `json:"by"`
	Reason    string    `json:"reason"`
}

// SperreAufgehobenV1: a suspension or ban was lifted.
type SperreAufgehobenV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	By        uuid.UUID `json:"by"`
	Reason    string    `json:"reason"`
}

var (
	RolleGesperrt    = eventstore.Define[RolleGesperrtV1]("RolleGesperrt", 1, eventstore.Private, "A moderator suspended (until) or an admin banned (for good) an account.")
	Verwarnt         = eventstore.Define[VerwarntV1]("Verwarnt", 1, eventstore.Private, "A moderator warned an account.")
	SperreAufgehoben = eventstore.Define[SperreAufgehobenV1]("SperreAufgehoben", 1, eventstore.Private, "An account's suspension or ban was lifted.")
)

// ErrNotSanctioned answers a lift of an account that is neither suspended nor banned.
var ErrNotSanctioned = fault.Conflictf("not_sanctioned", "This account is neither suspended nor banned.")

// Banned reports whether the account is banned.
func (a Account) Banned() bool { return a.BannedAt != nil }

// Suspended reports whether a suspension holds at now.
func (a Account) Suspended(now time.Time) bool {
	return a.SuspendedUntil != nil && a.SuspendedUntil.After(now)
}

// MayWrite says whether the account may change anything at now: not while banned (403
// account_banned) nor while suspended (403 account_suspended, with Retry-After until the
// suspension ends). Reading, logging out and appealing stay open (the HTTP API's business).
func (a Account) MayWrite(now time.Time) error {
	if a.Banned() {
		return fault.Forbiddenf("account_banned", "This account is banned from writing on this instance: %s", a.SanctionReason)
	}
	if a.Suspended(now) {
		e := fault.Forbiddenf("account_suspended", "This account is suspended until %s: %s",
			a.SuspendedUntil.UTC().Format(time.RFC3339), a.SanctionReason)
		e.RetryAfter = a.SuspendedUntil.Sub(now)
		return e
	}
	return nil
}

// MayWrite is Account.MayWrite on the instance clock, which sanctions are measured in.
func (s *Service) MayWrite(a Account) error { return a.MayWrite(s.clock.Now()) }

// Now is the instance clock's time, for callers that check MayWrite themselves.
func (s *Service) Now() time.Time { return s.clock.Now() }

// GetTx reads the account inside tx, locked when forUpdate: a moderation action reads the
// target's roles and sanction state and acts on them in one transaction.
func GetTx(ctx context.Context, tx *database.Tx, id uuid.UUID, forUpdate bool) (Account, error) {
	return getAccount(ctx, tx, id, forUpdate)
}

// SanctionTx records sanction x against the account id inside tx (the moderation action's
// transaction), with its event, and returns the account as it is afterwards. The caller has
// checked who may; the account is locked. A lift of an account that is neither suspended nor
// banned is ErrNotSanctioned.
func SanctionTx(ctx context.Context, tx *database.Tx, id uuid.UUID, x Sanction, at time.Time) (Account, error) {
	a, err := getAccount(ctx, tx, id, true)
	if err != nil {
		return Account{}, err
	}
	hdr := eventstore.Header{Actor: x.By, Subject: id}
	switch x.Kind {
	case SanctionWarn:
		tx.Defer(`INSERT INTO account_verwarnungen (id, account_id, by_id, reason, at, ref) VALUES ($1, $2, $3, $4, $5, $6)`,
			uuid.Must(uuid.NewV7()), id, x.By, x.Reason, at, nullable(x.Ref))
		return a, eventstore.Append(tx, at, Verwarnt.New(hdr, VerwarntV1{AccountID: id, By: x.By, Reason: x.Reason}))
	case SanctionSuspend:
		until := x.Until.UTC()
		if a.Banned() {
			// The ban stays the sanction in force: its reason is what the account is shown and
			// its entry what an appeal lifts.
			tx.Defer(`UPDATE accounts SET suspended_until = $2 WHERE id = $1`, id, until)
			a.SuspendedUntil = &until
		} else {
			tx.Defer(`UPDATE accounts SET suspended_until = $2, sanction_reason = $3, sanction_ref = $4 WHERE id = $1`, id, until, x.Reason, nullable(x.Ref))
			a.SuspendedUntil, a.SanctionReason, a.SanctionRef = &until, x.Reason, nullable(x.Ref)
		}
		return a, eventstore.Append(tx, at, RolleGesperrt.New(hdr, RolleGesperrtV1{AccountID: id, By: x.By, Reason: x.Reason, Until: &until}))
	case SanctionBan:
		at := at.UTC()
		tx.Defer(`UPDATE accounts SET banned_at = $2, sanction_reason = $3, sanction_ref = $4 WHERE id = $1`, id, at, x.Reason, nullable(x.Ref))
		a.BannedAt, a.SanctionReason, a.SanctionRef = &at, x.Reason, nullable(x.Ref)
		return a, eventstore.Append(tx, at, RolleGesperrt.New(hdr, RolleGesperrtV1{AccountID: id, By: x.By, Reason: x.Reason}))
	case SanctionLift:
		if !a.Banned() && !a.Suspended(at) {
			return Account{}, ErrNotSanctioned
		}
		tx.Defer(`UPDATE accounts SET suspended_until = NULL, banned_at = NULL, sanction_reason = NULL, sanction_ref = NULL WHERE id = $1`, id)
		a.SuspendedUntil, a.BannedAt, a.SanctionReason, a.SanctionRef = nil, nil, "", nil
		return a, eventstore.Append(tx, at, SperreAufgehoben.New(hdr, SperreAufgehobenV1{AccountID: id, By: x.By, Reason: x.Reason}))
	}
	return Account{}, fmt.Errorf("account: unknown sanction %q", x.Kind)
}

// Warning is a warning as its account sees it.
type Warning struct {
	At      time.Time  `json:"at"`
	Reason  string     `json:"reason"`
	Eintrag *uuid.UUID `json:"eintrag_id"` // its entry in the moderation log
}

// Warnings lists the account's warnings, oldest first.
func (s *Service) Warnings(ctx context.Context, id uuid.UUID) ([]Warning, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, reason, ref FROM account_verwarnungen WHERE account_id = $1 ORDER BY at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("account: warnings: %w", err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Warning, error) {
		var w Warning
		err := r.Scan(&w.At, &w.Reason, &w.Eintrag)
		w.At = w.At.UTC()
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("account: warnings: %w", err)
	}
	return ws, nil
}

// Names returns the public names of the accounts (those that exist), for the moderation log
// and queue.
func (s *Service) Names(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("account: names: %w", err)
	}
	var id uuid.UUID
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error { out[id] = name; return nil })
	if err != nil {
		return nil, fmt.Errorf("account: names: %w", err)
	}
	return out, nil
}

func nullable(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
