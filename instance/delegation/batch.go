package delegation

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// activityConsumer is this package's cursor in the event log.
const activityConsumer = "delegation-activity"

// CatchUpActivity reads the event log from where it last stopped and records each actor's
// latest write, moving the idle expiry of their effective delegation accordingly. The Webrat
// sweep runs it before bringing anything due into effect. It first waits until every write
// committed before it is readable: a delegation must not expire for want of a write that was
// made but not yet seen. If a long-running transaction holds the log back, it fails, and the
// sweep tries again later rather than expire on stale information.
func (s *Service) CatchUpActivity(ctx context.Context) error {
	if err := s.events.CatchUp(ctx, s.horizonWait); err != nil {
		return fmt.Errorf("delegation: activity: %w", err)
	}
	for {
		after, err := eventstore.LoadCursor(ctx, s.pool, activityConsumer, false)
		if err != nil {
			return err
		}
		evs, err := s.events.Read(ctx, after, 5000)
		if err != nil || len(evs) == 0 {
			return err
		}
		last := map[uuid.UUID]time.Time{}
		for _, e := range evs {
			if e.ActorID != uuid.Nil && e.At.After(last[e.ActorID]) {
				last[e.ActorID] = e.At
			}
		}
		ids := make([]uuid.UUID, 0, len(last))
		ats := make([]time.Time, 0, len(last))
		for id, at := range last {
			ids, ats = append(ids, id), append(ats, at)
		}
		err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
			tx.Defer(`
INSERT INTO account_activity (account_id, last_write_at)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
ON CONFLICT (account_id) DO UPDATE SET last_write_at = greatest(account_activity.last_write_at, excluded.last_write_at)`, ids, ats)
			tx.Defer(`
UPDATE delegationen d SET idle_expires_at = greatest(d.idle_expires_at, a.last_write_at + $2::interval)
FROM account_activity a
WHERE d.state = 'active' AND a.account_id = d.from_id AND d.from_id = ANY($1)`, ids, IdleLimit)
			eventstore.SaveCursor(tx, activityConsumer, evs[len(evs)-1].Position, s.clock.Now())
			return nil
		})
		if err != nil {
			return fmt.Errorf("delegation: activity: %w", err)
		}
	}
}

// NextDue is the earliest instant at which a delegation change is due: a batch with requests
// or revocations, or an idle expiry.
func (s *Service) NextDue(ctx context.Context) (time.Time, bool, error) {
	return database.Earliest(ctx, s.pool, `
SELECT least(
    (SELECT min(effective_at) FROM delegationen WHERE state = 'pending'),
    (SELECT min(ends_at) FROM delegationen WHERE state = 'active' AND ends_at IS NOT NULL),
    (SELECT min(idle_expires_at) FROM delegationen WHERE state = 'active'))`)
}

// ApplyDue brings into effect, as of t, everything due at or before t, in this fixed order:
//  1. revocations end;
//  2. requests take effect in the order they were made, each checked again: both sides must
//     still be verified residents, and it must not close a circle in the graph as the requests
//     before it have left it; it replaces the delegator's previous delegation;
//  3. delegations whose delegator has not written for 28 days end.
func (s *Service) ApplyDue(ctx context.Context, t time.Time) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var drafts []eventstore.Draft

		// 1. Revocations.
		rows, err := tx.Query(ctx, `
UPDATE delegationen SET state = 'ended', ended_at = ends_at, end_reason = 'revoked'
WHERE state = 'active' AND ends_at <= $1
RETURNING id, from_id, to_id`, t)
		if err != nil {
			return fmt.Errorf("delegation: revocations: %w", err)
		}
		var id, from, to uuid.UUID
		if _, err := pgx.ForEachRow(rows, []any{&id, &from, &to}, func() error {
			drafts = append(drafts, DelegationBeendet.New(eventstore.Header{Subject: id},
				DelegationBeendetV1{DelegationID: id, FromID: from, ToID: to, Reason: "revoked"}))
			return nil
		}); err != nil {
			return fmt.Errorf("delegation: revocations: %w", err)
		}

		// 2. Requests.
		more, err := s.applyRequests(ctx, tx, t)
		if err != nil {
			return err
		}
		drafts = append(drafts, more...)

		// 3. Idle expiry.
		rows, err = tx.Query(ctx, `
UPDATE delegationen SET state = 'ended', ended_at = idle_expires_at, end_reason = 'expired'
WHERE state = 'active' AND idle_expires_at <= $1
RETURNING id, from_id, to_id, idle_expires_at - $2::interval`, t, IdleLimit)
		if err != nil {
			return fmt.Errorf("delegation: expiry: %w", err)
		}
		var lastWrite time.Time
		if _, err := pgx.ForEachRow(rows, []any{&id, &from, &to, &lastWrite}, func() error {
			drafts = append(drafts, DelegationAbgelaufen.New(eventstore.Header{Subject: id},
				DelegationAbgelaufenV1{DelegationID: id, FromID: from, ToID: to, LastWriteAt: lastWrite.UTC()}))
			return nil
		}); err != nil {
			return fmt.Errorf("delegation: expiry: %w", err)
		}
		return eventstore.AppendEach(tx, t, drafts...)
	})
}

type request struct{ id, from, to uuid.UUID }

func (s *Service) applyRequests(ctx context.Context, tx *database.Tx, t time.Time) ([]eventstore.Draft, error) {
	reqs, err := dueRequests(ctx, tx, t)
	if err != nil || len(reqs) == 0 {
		return nil, err
	}
	g, err := loadGraph(ctx, tx)
	if err != nil {
		return nil, err
	}
	eligible, err := eligibleAmong(ctx, tx, reqs)
	if err != nil {
		return nil, err
	}
	d := decide(reqs, eligible, g)
	// In this order: the one-active-per-delegator index must never see two. The replaced and
	// the refused end in one statement.
	tx.Defer(`
UPDATE delegationen d SET state = 'ended', ended_at = $3, end_reason = r.reason
FROM unnest($1::uuid[], $2::text[]) AS r (id, reason)
WHERE d.id = r.id`, binaryUUIDs(d.ended), d.endReasons, t)
	tx.Defer(`
UPDATE delegationen d SET state = 'active',
       idle_expires_at = greatest(d.requested_at,
                                  (SELECT last_write_at FROM account_activity WHERE account_id = d.from_id)) + $2::interval
WHERE d.id = ANY($1)`, binaryUUIDs(d.activate), IdleLimit)
	return d.drafts, nil
}

// dueRequests locks the requests due at t, in the order they were made.
func dueRequests(ctx context.Context, tx *database.Tx, t time.Time) ([]request, error) {
	rows, err := tx.Query(ctx, `
SELECT id, from_id, to_id FROM delegationen
WHERE state = 'pending' AND effective_at <= $1
ORDER BY request_seq
FOR UPDATE`, t)
	if err != nil {
		return nil, fmt.Errorf("delegation: requests: %w", err)
	}
	defer rows.Close()
	var reqs []request
	for rows.Next() {
		var r request
		if err := rawUUIDs(rows.RawValues(), &r.id, &r.from, &r.to); err != nil {
			return nil, fmt.Errorf("delegation: requests: %w", err)
		}
		reqs = append(reqs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delegation: requests: %w", err)
	}
	return reqs, nil
}

// decisions is what the batch does with its requests.
type decisions struct {
	drafts     []eventstore.Draft // in request order: a refusal, or a replaced delegation's end and the new one's start
	activate   []uuid.UUID        // requests that take effect
	ended      []uuid.UUID        // delegations replaced, and requests refused
	endReasons []string           // beside ended: "replaced", or the refusal's reason
}

// decide goes through the requests in the order they were made: each is refused if one side is
// not eligible or if it would close a circle in the graph as the requests before it have left
// it; otherwise it replaces the delegator's effective delegation. It changes g as it goes.
func decide(reqs []request, eligible map[uuid.UUID]bool, g *graph) decisions {
	var d decisions
	for _, r := range reqs {
		reason := ""
		from, to := g.index(r.from), g.index(r.to)
		switch {
		case !eligible[r.from] || !eligible[r.to]:
			reason = "not_eligible"
		case g.reaches(to, from):
			reason = "cycle"
		}
		if reason != "" {
			d.ended, d.endReasons = append(d.ended, r.id), append(d.endReasons, reason)
			d.drafts = append(d.drafts, DelegationAbgelehnt.New(eventstore.Header{Subject: r.id},
				DelegationAbgelehntV1{DelegationID: r.id, FromID: r.from, ToID: r.to, Reason: reason}))
			continue
		}
		var replaces *uuid.UUID
		if old := g.active[from]; old != uuid.Nil {
			replaces = &old
			d.ended, d.endReasons = append(d.ended, old), append(d.endReasons, "replaced")
			d.drafts = append(d.drafts, DelegationBeendet.New(eventstore.Header{Subject: old},
				DelegationBeendetV1{DelegationID: old, FromID: r.from, ToID: g.ids[g.next[from]], Reason: "replaced"}))
		}
		g.next[from], g.active[from] = to, r.id
		d.activate = append(d.activate, r.id)
		d.drafts = append(d.drafts, DelegationWirksam.New(eventstore.Header{Subject: r.id},
			DelegationWirksamV1{DelegationID: r.id, FromID: r.from, ToID: r.to, Replaces: replaces}))
	}
	return d
}

// graph is the effective delegations over dense account numbers, so that the circle checks of
// a city's batch walk slices rather than a map (ten thousand walks of chains dozens long).
type graph struct {
	num    map[uuid.UUID]int32
	ids    []uuid.UUID // each number's account
	next   []int32     // each account's delegate; -1: none
	active []uuid.UUID // each account's effective delegation; uuid.Nil: none
}

func (g *graph) index(u uuid.UUID) int32 {
	if i, ok := g.num[u]; ok {
		return i
	}
	i := int32(len(g.ids))
	g.num[u] = i
	g.ids, g.next, g.active = append(g.ids, u), append(g.next, -1), append(g.active, uuid.Nil)
	return i
}

// delegate records the effective delegation id from → to.
func (g *graph) delegate(id, from, to uuid.UUID) {
	f := g.index(from)
	g.next[f], g.active[f] = g.index(to), id
}

// reaches reports whether following the graph from start arrives at target. The graph has no
// circles (the batch never lets one in); the step bound only guards against a broken one.
func (g *graph) reaches(start, target int32) bool {
	x := start
	for range len(g.next) + 1 {
		if x == target {
			return true
		}
		if x = g.next[x]; x < 0 {
			return false
		}
	}
	return false
}

// binaryUUIDs is ids as pgx sends them in binary: a uuid.UUID it sends through its text form,
// which for the batch's arrays of ten thousand was a third of its own CPU time.
func binaryUUIDs(ids []uuid.UUID) []pgtype.UUID {
	b := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		b[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	return b
}

// loadGraph reads the effective delegations now.
func loadGraph(ctx context.Context, q database.Querier) (*graph, error) {
	rows, err := q.Query(ctx, `SELECT id, from_id, to_id FROM delegationen WHERE state = 'active'`)
	if err != nil {
		return nil, fmt.Errorf("delegation: graph: %w", err)
	}
	defer rows.Close()
	g := &graph{num: map[uuid.UUID]int32{}}
	for rows.Next() {
		var id, from, to uuid.UUID
		if err := rawUUIDs(rows.RawValues(), &id, &from, &to); err != nil {
			return nil, fmt.Errorf("delegation: graph: %w", err)
		}
		g.delegate(id, from, to)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delegation: graph: %w", err)
	}
	return g, nil
}

// eligibleAmong tells which of the requests' delegators and delegates are verified residents.
func eligibleAmong(ctx context.Context, q database.Querier, reqs []request) (map[uuid.UUID]bool, error) {
	ids := make([]pgtype.UUID, 0, 2*len(reqs))
	for _, r := range reqs {
		ids = append(ids, pgtype.UUID{Bytes: r.from, Valid: true}, pgtype.UUID{Bytes: r.to, Valid: true})
	}
	rows, err := q.Query(ctx, `
SELECT id FROM accounts WHERE id = ANY($1) AND verified_at IS NOT NULL AND home IS NOT NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("delegation: eligibility: %w", err)
	}
	ok := map[uuid.UUID]bool{}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { ok[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("delegation: eligibility: %w", err)
	}
	return ok, nil
}

// CountActiveSince counts how many of the accounts ids last wrote (were the actor of any
// event, as the activity reader has seen them) strictly after since. Unlike a count over the
// event log it reaches past the log's retention (docs/SNAPSHOTS.md, "Retention"): NodeInfo's
// active users of a half year. It lags the log by up to one Webrat sweep.
func (s *Service) CountActiveSince(ctx context.Context, ids []uuid.UUID, since time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM account_activity WHERE account_id = ANY($1) AND last_write_at > $2`,
		ids, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("delegation: active since %s: %w", since, err)
	}
	return n, nil
}
