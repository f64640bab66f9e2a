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

// What a lift lifts (Sanction.Lifts): a ban and a suspension are lifted each on its own.
const (
	LiftBan        = "ban"
	LiftSuspension = "suspension"
)

// ErrInvalidSanction answers a lift that names neither a ban nor a suspension.
var ErrInvalidSanction = fault.Invalidf("sanction", "invalid_sanction", `The sanction to lift is "ban" or "suspension".`)

// Sanction is a moderation action against an account.
type Sanction struct {
	Kind   string
	Until  time.Time // a suspension's end; zero for the others
	By     uuid.UUID // the moderator or admin
	Reason string
	// Ref is the moderation log's entry of the sanction: the account's own view (GET /api/me)
	// names it, so that the account can appeal it.
	Ref uuid.UUID
	// Lifts is what a lift lifts: LiftBan or LiftSuspension ("": the strongest in force).
	Lifts string
}

// InForce is the strongest sanction that holds at now — LiftBan, LiftSuspension, or "" —
// which a lift that names none lifts.
func (a Account) InForce(now time.Time) string {
	switch {
	case a.Banned():
		return LiftBan
	case a.Suspended(now):
		return LiftSuspension
	}
	return ""
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

// SperreAufgehobenV2: a ban or a suspension was lifted, the one Sanction names (LiftBan,
// LiftSuspension); the other, if in force, still holds.
type SperreAufgehobenV2 struct {
	AccountID uuid.UUID `json:"account_id"`
	By        uuid.UUID `json:"by"`
	Reason    string    `json:"reason"`
	Sanction  string    `json:"sanction"`
}

// SperreAufgehobenV1: written before v2, when a lift lifted the suspension and the ban at once.
type SperreAufgehobenV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	By        uuid.UUID `json:"by"`
	Reason    string    `json:"reason"`
}

var (
	RolleGesperrt    = eventstore.Define[RolleGesperrtV1]("RolleGesperrt", 1, eventstore.Private, "A moderator suspended (until) or an admin banned (for good) an account.")
	Verwarnt         = eventstore.Define[VerwarntV1]("Verwarnt", 1, eventstore.Private, "A moderator warned an account.")
	SperreAufgehoben = eventstore.Define[SperreAufgehobenV2]("SperreAufgehoben", 2, eventstore.Private, "An account's ban or suspension was lifted (the other stays).")
	_                = eventstore.Define[SperreAufgehobenV1]("SperreAufgehoben", 1, eventstore.Private, "An account's suspension and ban were lifted (no longer written).")
)

// ErrNotSanctioned answers a lift of an account that is neither suspended nor banned
// (or not under the one the lift names).
var ErrNotSanctioned = fault.Conflictf("not_sanctioned", "This account is not under this sanction (neither banned nor suspended, or not the one named).")

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
// checked who may; the account is locked. A lift lifts x.Lifts (the strongest in force when
// "") and leaves the other: ErrNotSanctioned when that is not in force, ErrInvalidSanction
// when x.Lifts names neither.
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
		ref := nullable(x.Ref)
		a.SuspendedUntil, a.SuspensionReason, a.SuspensionRef = &until, x.Reason, ref
		if !a.Banned() {
			// A ban stays the sanction in force: its reason is what the account is shown.
			a.SanctionReason, a.SanctionRef = x.Reason, ref
		}
		deferSanctions(tx, a)
		return a, eventstore.Append(tx, at, RolleGesperrt.New(hdr, RolleGesperrtV1{AccountID: id, By: x.By, Reason: x.Reason, Until: &until}))
	case SanctionBan:
		at := at.UTC()
		a.BannedAt, a.SanctionReason, a.SanctionRef = &at, x.Reason, nullable(x.Ref)
		deferSanctions(tx, a)
		return a, eventstore.Append(tx, at, RolleGesperrt.New(hdr, RolleGesperrtV1{AccountID: id, By: x.By, Reason: x.Reason}))
	case SanctionLift:
		lifts := x.Lifts
		if lifts == "" {
			lifts = a.InForce(at)
		}
		switch {
		case lifts != LiftBan && lifts != LiftSuspension && lifts != "":
			return Account{}, ErrInvalidSanction
		case lifts == "", lifts == LiftBan && !a.Banned(), lifts == LiftSuspension && !a.Suspended(at):
			return Account{}, ErrNotSanctioned
		case lifts == LiftBan:
			a.BannedAt, a.SanctionReason, a.SanctionRef = nil, "", nil
			if a.Suspended(at) {
				a.SanctionReason, a.SanctionRef = a.SuspensionReason, a.SuspensionRef
			}
		default:
			a.SuspendedUntil, a.SuspensionReason, a.SuspensionRef = nil, "", nil
			if !a.Banned() {
				a.SanctionReason, a.SanctionRef = "", nil
			}
		}
		deferSanctions(tx, a)
		return a, eventstore.Append(tx, at, SperreAufgehoben.New(hdr, SperreAufgehobenV2{AccountID: id, By: x.By, Reason: x.Reason, Sanction: lifts}))
	}
	return Account{}, fmt.Errorf("account: unknown sanction %q", x.Kind)
}

// deferSanctions writes a's sanction columns as they are now.
func deferSanctions(tx *database.Tx, a Account) {
	tx.Defer(`UPDATE accounts SET suspended_until = $2, banned_at = $3, sanction_reason = nullif($4, ''), sanction_ref = $5,
       suspension_reason = nullif($6, ''), suspension_ref = $7 WHERE id = $1`,
		a.ID, a.SuspendedUntil, a.BannedAt, a.SanctionReason, a.SanctionRef, a.SuspensionReason, a.SuspensionRef)
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

// Sanction states, as others are told of an account (SanctionStates).
const (
	StateBanned    = "banned"
	StateSuspended = "suspended"
)

// SanctionStates says which of the accounts are banned or suspended now (the others are not
// in the answer): for the delegators of a sanctioned account, who are told on their
// delegation. Sanctions are public already (the moderation log names them).
func (s *Service) SanctionStates(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	return s.byID(ctx, "sanction states", `
SELECT id, CASE WHEN banned_at IS NOT NULL THEN 'banned' ELSE 'suspended' END FROM accounts
WHERE id = ANY($1) AND (banned_at IS NOT NULL OR suspended_until > $2)`, ids, s.clock.Now())
}

// Names returns the public names of the accounts (those that exist), for the moderation log
// and queue.
func (s *Service) Names(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	return s.byID(ctx, "names", `SELECT id, name FROM accounts WHERE id = ANY($1)`, ids)
}

// byID runs sql, which selects an id and a text of the accounts ids ($1), as a map.
func (s *Service) byID(ctx context.Context, what, sql string, ids []uuid.UUID, args ...any) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, sql, append([]any{ids}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("account: %s: %w", what, err)
	}
	var id uuid.UUID
	var text string
	if _, err := pgx.ForEachRow(rows, []any{&id, &text}, func() error { out[id] = text; return nil }); err != nil {
		return nil, fmt.Errorf("account: %s: %w", what, err)
	}
	return out, nil
}

func nullable(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
