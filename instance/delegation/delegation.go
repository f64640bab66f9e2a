// Package delegation lets a verified resident delegate their vote to another, transitively:
// A→B→C, and when C votes, C carries A's and B's weight. A direct vote anywhere in a chain stops
// it there (see package abstimmung for the count).
//
// The rules (seed 003 §C; docs/GOVERNANCE.md):
//   - One delegation per delegator. A request, a replacement and a revocation take effect in the
//     daily batch (at 03:00 instance time by default), never in between, so that no vote is
//     counted against a graph that changes under it. The API says when each change takes effect.
//   - A request that would close a circle of delegations is refused, when asked and again in the
//     batch, which applies revocations first and then requests in the order they were made.
//   - A delegation ends by itself 28 days after the delegator's last write: any event the
//     delegator is the actor of (spinning a Faden, voting, objecting, filing, delegating,
//     changing the profile). Logging in or reading is not a write.
package delegation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// IdleLimit is how long a delegation outlives the delegator's last write.
const IdleLimit = 28 * 24 * time.Hour

// States of a delegation.
const (
	Pending = "pending" // asked for; takes effect at EffectiveAt
	Active  = "active"  // in effect
	Ended   = "ended"
)

// Delegation is one delegator's delegation to a delegate.
type Delegation struct {
	ID            uuid.UUID
	FromID        uuid.UUID
	FromName      string
	ToID          uuid.UUID
	ToName        string
	State         string
	RequestedAt   time.Time
	EffectiveAt   time.Time  // when it takes (or took) effect
	EndsAt        *time.Time // a revocation asked for: the batch at which it ends
	IdleExpiresAt *time.Time // while active: when it ends unless the delegator writes again
	EndedAt       *time.Time
	EndReason     string
}

// Batch says when the daily batch runs.
type Batch struct {
	At       time.Duration  // the local time of day, as hours and minutes since midnight; default 3 h
	Location *time.Location // default UTC
}

// Next is the first batch strictly after t: at the wall-clock time At of a local day, so 03:00
// stays 03:00 across the changes to and from summer time.
func (b Batch) Next(t time.Time) time.Time {
	loc := b.Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	h, m := int(b.At/time.Hour), int(b.At%time.Hour/time.Minute)
	for day := 0; ; day++ {
		n := time.Date(local.Year(), local.Month(), local.Day()+day, h, m, 0, 0, loc)
		if n.After(t) {
			return n.UTC()
		}
	}
}

// Service runs the delegation rules.
type Service struct {
	pool     *pgxpool.Pool
	clock    clock.Clock
	accounts *account.Service
	events   *eventstore.Store
	batch    Batch
	// horizonWait bounds how long the activity reader waits for older transactions to end
	// (CatchUpActivity); zero or less: as long as the caller's context lasts.
	horizonWait time.Duration
}

// NewService returns the delegation service.
func NewService(pool *pgxpool.Pool, c clock.Clock, accounts *account.Service, events *eventstore.Store, batch Batch) *Service {
	if batch.At == 0 {
		batch.At = 3 * time.Hour
	}
	return &Service{pool: pool, clock: c, accounts: accounts, events: events, batch: batch, horizonWait: 10 * time.Second}
}

// WaitForHorizon sets how long the activity reader waits for older transactions before the
// sweep gives up and tries again at its next run (default 10 s; zero or less: as long as the
// sweep's context lasts). The dev clock's sweeps must finish in the call that moves time, so a
// dev instance waits as long as its job may run rather than fail on a busy machine.
func (s *Service) WaitForHorizon(d time.Duration) { s.horizonWait = d }

// Errors a client can meet.
var (
	ErrNotFound         = fault.NotFoundf("delegation_not_found", "There is no delegation with this id.")
	ErrSelf             = fault.Invalidf("to_account_id", "self_delegation", "You cannot delegate to yourself.")
	ErrCycle            = fault.Invalidf("to_account_id", "delegation_cycle", "This delegation would close a circle: the chain from this account already leads back to you.")
	ErrNotEligible      = fault.Invalidf("to_account_id", "delegate_not_eligible", "You can only delegate to a verified resident of this Ortsweberei.")
	ErrAlreadyDelegated = fault.Conflictf("already_delegated", "You already delegate to this account.")
	ErrNotYours         = fault.Forbiddenf("not_your_delegation", "Only the delegator can revoke a delegation.")
	ErrAlreadyRevoked   = fault.Conflictf("already_revoked", "This delegation is already revoked; it ends at the next batch.")
	ErrEnded            = fault.Gonef("delegation_ended", "This delegation has ended.")
)

// Request asks for a delegation from the resident to the account to; it takes effect at the
// next daily batch. A pending request of the same delegator is replaced.
func (s *Service) Request(ctx context.Context, from account.Account, to uuid.UUID) (Delegation, error) {
	if err := from.CheckMayGovern(); err != nil {
		return Delegation{}, err
	}
	if to == from.ID {
		return Delegation{}, ErrSelf
	}
	delegate, err := s.accounts.Get(ctx, to)
	if err != nil {
		return Delegation{}, err
	}
	if delegate.CheckMayGovern() != nil {
		return Delegation{}, ErrNotEligible
	}
	var d Delegation
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		// One request at a time per delegator: its account row is the lock.
		if _, err := tx.Exec(ctx, `SELECT FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, from.ID); err != nil {
			return fmt.Errorf("delegation: lock: %w", err)
		}
		current, err := s.current(ctx, tx, from.ID)
		if err != nil {
			return err
		}
		var active, pending *Delegation
		for i := range current {
			switch current[i].State {
			case Active:
				active = &current[i]
			case Pending:
				pending = &current[i]
			}
		}
		if active != nil && active.ToID == to && active.EndsAt == nil && (pending == nil || pending.ToID == to) {
			return ErrAlreadyDelegated
		}
		if pending != nil && pending.ToID == to {
			return ErrAlreadyDelegated
		}
		cycle, err := closesCircle(ctx, tx, from.ID, to)
		if err != nil {
			return err
		}
		if cycle {
			return ErrCycle
		}
		d = Delegation{ID: uuid.Must(uuid.NewV7()), FromID: from.ID, FromName: from.Name, ToID: to, ToName: delegate.Name,
			State: Pending, RequestedAt: now, EffectiveAt: s.batch.Next(now)}
		drafts := []eventstore.Draft{DelegationAngefragt.New(eventstore.Header{Actor: from.ID, Subject: d.ID},
			DelegationAngefragtV1{DelegationID: d.ID, FromID: from.ID, ToID: to, EffectiveAt: d.EffectiveAt})}
		if pending != nil {
			tx.Defer(`UPDATE delegationen SET state = 'ended', ended_at = $2, end_reason = 'superseded' WHERE id = $1`, pending.ID, now)
			drafts = append(drafts, DelegationBeendet.New(eventstore.Header{Actor: from.ID, Subject: pending.ID},
				DelegationBeendetV1{DelegationID: pending.ID, FromID: from.ID, ToID: pending.ToID, Reason: "superseded"}))
		}
		tx.Defer(`
INSERT INTO delegationen (id, from_id, to_id, state, requested_at, effective_at)
VALUES ($1, $2, $3, 'pending', $4, $5)`, d.ID, d.FromID, d.ToID, d.RequestedAt, d.EffectiveAt)
		return eventstore.Append(tx, now, drafts...)
	})
	if err != nil {
		return Delegation{}, err
	}
	return d, nil
}

// closesCircle reports whether a delegation from → to would close a circle in the graph as the
// next batch leaves it: each delegator's pending request if there is one, else its effective
// delegation unless that is being revoked.
func closesCircle(ctx context.Context, tx *database.Tx, from, to uuid.UUID) (bool, error) {
	var cycle bool
	err := tx.QueryRow(ctx, `
WITH RECURSIVE chain (id, depth) AS (
    SELECT $2::uuid, 0
  UNION ALL
    SELECT next.to_id, c.depth + 1
    FROM chain c
    CROSS JOIN LATERAL (
        SELECT to_id FROM delegationen
        WHERE from_id = c.id AND (state = 'pending' OR (state = 'active' AND ends_at IS NULL))
        ORDER BY state = 'pending' DESC
        LIMIT 1
    ) next
    WHERE c.id <> $1 AND c.depth < 1000000
)
SELECT EXISTS (SELECT FROM chain WHERE id = $1)`, from, to).Scan(&cycle)
	if err != nil {
		return false, fmt.Errorf("delegation: cycle check: %w", err)
	}
	return cycle, nil
}

// Revoke takes a delegation back. A request that has not taken effect ends at once; an
// effective delegation ends at the next daily batch.
func (s *Service) Revoke(ctx context.Context, by account.Account, id uuid.UUID) (Delegation, error) {
	var d Delegation
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		var err error
		d, err = get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if d.FromID != by.ID {
			return ErrNotYours
		}
		hdr := eventstore.Header{Actor: by.ID, Subject: d.ID}
		switch {
		case d.State == Ended:
			return ErrEnded
		case d.State == Pending:
			d.State, d.EndedAt, d.EndReason = Ended, &now, "withdrawn"
			tx.Defer(`UPDATE delegationen SET state = 'ended', ended_at = $2, end_reason = 'withdrawn' WHERE id = $1`, d.ID, now)
			return eventstore.Append(tx, now, DelegationBeendet.New(hdr,
				DelegationBeendetV1{DelegationID: d.ID, FromID: d.FromID, ToID: d.ToID, Reason: "withdrawn"}))
		case d.EndsAt != nil:
			return ErrAlreadyRevoked
		}
		ends := s.batch.Next(now)
		d.EndsAt = &ends
		tx.Defer(`UPDATE delegationen SET ends_at = $2 WHERE id = $1`, d.ID, ends)
		return eventstore.Append(tx, now, DelegationWiderrufen.New(hdr,
			DelegationWiderrufenV1{DelegationID: d.ID, FromID: d.FromID, EndsAt: ends}))
	})
	if err != nil {
		return Delegation{}, err
	}
	return d, nil
}

// Filter selects delegations for List; nil fields do not filter.
type Filter struct {
	From *uuid.UUID
	To   *uuid.UUID
}

// List returns the pending and active delegations, oldest request first.
func (s *Service) List(ctx context.Context, f Filter) ([]Delegation, error) {
	rows, err := s.pool.Query(ctx, `
SELECT `+columns+`
FROM delegationen d JOIN accounts fa ON fa.id = d.from_id JOIN accounts ta ON ta.id = d.to_id
WHERE d.state <> 'ended' AND ($1::uuid IS NULL OR d.from_id = $1) AND ($2::uuid IS NULL OR d.to_id = $2)
ORDER BY d.request_seq`, f.From, f.To)
	if err != nil {
		return nil, fmt.Errorf("delegation: list: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delegation, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("delegation: list: %w", err)
	}
	return ds, nil
}

// Get returns a delegation, in whatever state.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Delegation, error) {
	return get(ctx, s.pool, id, false)
}

// current returns the delegator's pending and active delegations.
func (s *Service) current(ctx context.Context, q database.Querier, from uuid.UUID) ([]Delegation, error) {
	rows, err := q.Query(ctx, `
SELECT `+columns+`
FROM delegationen d JOIN accounts fa ON fa.id = d.from_id JOIN accounts ta ON ta.id = d.to_id
WHERE d.from_id = $1 AND d.state <> 'ended'`, from)
	if err != nil {
		return nil, fmt.Errorf("delegation: current: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delegation, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("delegation: current: %w", err)
	}
	return ds, nil
}

const columns = `d.id, d.from_id, fa.name, d.to_id, ta.name, d.state, d.requested_at, d.effective_at,
       d.ends_at, d.idle_expires_at, d.ended_at, coalesce(d.end_reason, '')`

func scan(row pgx.Row) (Delegation, error) {
	var d Delegation
	err := row.Scan(&d.ID, &d.FromID, &d.FromName, &d.ToID, &d.ToName, &d.State, &d.RequestedAt, &d.EffectiveAt,
		&d.EndsAt, &d.IdleExpiresAt, &d.EndedAt, &d.EndReason)
	d.RequestedAt, d.EffectiveAt = d.RequestedAt.UTC(), d.EffectiveAt.UTC()
	d.EndsAt, d.IdleExpiresAt, d.EndedAt = utc(d.EndsAt), utc(d.IdleExpiresAt), utc(d.EndedAt)
	return d, err
}

func get(ctx context.Context, q database.Querier, id uuid.UUID, forUpdate bool) (Delegation, error) {
	sql := `SELECT ` + columns + `
FROM delegationen d JOIN accounts fa ON fa.id = d.from_id JOIN accounts ta ON ta.id = d.to_id
WHERE d.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE OF d`
	}
	d, err := scan(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delegation{}, ErrNotFound
	}
	if err != nil {
		return Delegation{}, fmt.Errorf("delegation: get: %w", err)
	}
	return d, nil
}

// Graph returns the effective delegations now: delegator → delegate.
func Graph(ctx context.Context, q database.Querier) (map[uuid.UUID]uuid.UUID, error) {
	edges, err := Edges(ctx, q)
	if err != nil {
		return nil, err
	}
	g := make(map[uuid.UUID]uuid.UUID, len(edges))
	for _, e := range edges {
		g[e.From] = e.To
	}
	return g, nil
}

// Edge is one effective delegation.
type Edge struct{ From, To uuid.UUID }

// Edges returns the effective delegations now, one per delegator, in no particular order: the
// count of a city's Abstimmung reads them as a list (a map it would only walk again).
func Edges(ctx context.Context, q database.Querier) ([]Edge, error) {
	rows, err := q.Query(ctx, `SELECT from_id, to_id FROM delegationen WHERE state = 'active'`)
	if err != nil {
		return nil, fmt.Errorf("delegation: edges: %w", err)
	}
	defer rows.Close()
	edges := make([]Edge, 0, 1024)
	for rows.Next() {
		if len(edges) == cap(edges) {
			// Doubled: append grows a long slice by a quarter, copying a city's list four
			// times over (half of the loading's CPU in the profile).
			edges = slices.Grow(edges, len(edges))
		}
		var e Edge
		if err := rawUUIDs(rows.RawValues(), &e.From, &e.To); err != nil {
			return nil, fmt.Errorf("delegation: edges: %w", err)
		}
		edges = append(edges, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delegation: edges: %w", err)
	}
	return edges, nil
}

// rawUUIDs copies a row's uuid columns from their binary form, 16 bytes each: pgx's scan into
// a uuid.UUID goes through its text form, and even into [16]byte it costs more per row than
// the copy. Over a city's hundred thousand delegations that is what the loading costs.
func rawUUIDs(values [][]byte, dest ...*uuid.UUID) error {
	if len(values) != len(dest) {
		return fmt.Errorf("%d columns, want %d", len(values), len(dest))
	}
	for i, v := range values {
		switch len(v) {
		case 16:
			copy(dest[i][:], v)
		default:
			// The text form: a connection in the simple protocol (a pooler set up so) gets
			// every value as text.
			id, err := uuid.ParseBytes(v)
			if err != nil {
				return fmt.Errorf("column %d: %w", i, err)
			}
			*dest[i] = id
		}
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
