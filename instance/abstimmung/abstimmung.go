// Package abstimmung runs public, by-name votes (Abstimmungen) with transitive delegation.
//
// A verified resident votes yes, no or abstain, and may change the Stimme until the close;
// every cast and change is public, with name and time. At the close the count is taken with the
// delegations in effect at that moment (package delegation), fixed, and never changes again:
// passed iff weighted yes > weighted no; a tie and 0:0 reject; abstentions count for turnout only.
package abstimmung

import (
	"context"
	"encoding/json"
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
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// DefaultDuration is how long an Abstimmung runs unless the instance says otherwise.
const DefaultDuration = 7 * 24 * time.Hour

// Results.
const (
	Angenommen = "angenommen"
	Abgelehnt  = "abgelehnt"
)

// Abstimmung is a vote on a subject.
type Abstimmung struct {
	ID        uuid.UUID
	SubjectID uuid.UUID
	KnotenID  *uuid.UUID // the subject's Knoten, if it has one: voters spin an abstimmung Faden to it
	OpensAt   time.Time
	ClosesAt  time.Time
	ClosedAt  *time.Time
	Result    string // "" until closed
}

// Closed reports whether the close has been recorded.
func (a Abstimmung) Closed() bool { return a.ClosedAt != nil }

// Stimme is one resident's vote.
type Stimme struct {
	AccountID uuid.UUID
	Name      string
	Choice    string
	At        time.Time // cast, or last changed
	CastAt    time.Time
}

// Service runs Abstimmungen.
type Service struct {
	pool     *pgxpool.Pool
	clock    clock.Clock
	knoten   *knoten.Service
	duration time.Duration
}

// NewService returns the Abstimmung service; duration is how long each Abstimmung runs.
func NewService(pool *pgxpool.Pool, c clock.Clock, k *knoten.Service, duration time.Duration) *Service {
	if duration <= 0 {
		duration = DefaultDuration
	}
	return &Service{pool: pool, clock: c, knoten: k, duration: duration}
}

// Errors a client can meet.
var (
	ErrNotFound      = fault.NotFoundf("abstimmung_not_found", "There is no Abstimmung with this id.")
	ErrNotOpen       = fault.Conflictf("abstimmung_not_open", "This Abstimmung has not opened yet.")
	ErrClosed        = fault.Conflictf("abstimmung_closed", "This Abstimmung is closed; its result is final.")
	ErrInvalidChoice = fault.Invalidf("choice", "invalid_choice", `choice must be "yes", "no" or "abstain".`)
)

// OpenTx opens an Abstimmung on a subject, from opensAt for the instance's duration, in the
// caller's transaction.
func (s *Service) OpenTx(tx *database.Tx, subjectID uuid.UUID, knotenID *uuid.UUID, opensAt time.Time) (Abstimmung, error) {
	a := Abstimmung{ID: uuid.Must(uuid.NewV7()), SubjectID: subjectID, KnotenID: knotenID, OpensAt: opensAt, ClosesAt: opensAt.Add(s.duration)}
	tx.Defer(`INSERT INTO abstimmungen (id, subject_id, knoten_id, opens_at, closes_at) VALUES ($1, $2, $3, $4, $5)`,
		a.ID, a.SubjectID, a.KnotenID, a.OpensAt, a.ClosesAt)
	return a, eventstore.Append(tx, opensAt, AbstimmungEroeffnet.New(eventstore.Header{Subject: a.ID},
		AbstimmungEroeffnetV1{AbstimmungID: a.ID, SubjectID: subjectID, OpensAt: a.OpensAt, ClosesAt: a.ClosesAt}))
}

// Vote casts or changes the voter's Stimme. Casting the same choice again changes nothing.
func (s *Service) Vote(ctx context.Context, voter account.Account, id uuid.UUID, choice string) (Stimme, error) {
	if err := voter.CheckMayGovern(); err != nil {
		return Stimme{}, err
	}
	if choice != Yes && choice != No && choice != Abstain {
		return Stimme{}, ErrInvalidChoice
	}
	var st Stimme
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		// A share lock: votes run side by side, the close (which takes an update lock) waits
		// for them, and no vote slips in after it.
		a, err := get(ctx, tx, id, "FOR SHARE")
		if err != nil {
			return err
		}
		switch {
		case a.Closed() || !now.Before(a.ClosesAt):
			return ErrClosed
		case now.Before(a.OpensAt):
			return ErrNotOpen
		}
		// The first Stimme is inserted outright. Two first votes at once cannot both find no row
		// and both insert: the second insert waits for the first transaction, and once it has
		// committed, finds the row and inserts nothing; the Stimme is then read (and locked) as
		// it stands, and this vote is a change or a repeat.
		var first bool
		err = tx.QueryRow(ctx, `
INSERT INTO stimmen (abstimmung_id, account_id, choice, cast_at, changed_at) VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (abstimmung_id, account_id) DO NOTHING
RETURNING true`, id, voter.ID, choice, now).Scan(&first)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("abstimmung: vote: %w", err)
		}
		var previous string
		var castAt time.Time
		if !first {
			err = tx.QueryRow(ctx, `SELECT choice, cast_at FROM stimmen WHERE abstimmung_id = $1 AND account_id = $2 FOR UPDATE`, id, voter.ID).
				Scan(&previous, &castAt)
			if err != nil {
				return fmt.Errorf("abstimmung: vote: %w", err)
			}
		}
		st = Stimme{AccountID: voter.ID, Name: voter.Name, Choice: choice, At: now, CastAt: now}
		hdr := eventstore.Header{Actor: voter.ID, Subject: id}
		switch previous {
		case choice:
			st.At, st.CastAt = castAt.UTC(), castAt.UTC()
			return nil
		case "":
			if a.KnotenID != nil {
				// The vote is engagement with the Antrag's Knoten. A Knoten that has dissolved
				// meanwhile, or that the moderators hid, takes no Faden; the vote counts all the same.
				_, err := s.knoten.SpinTx(ctx, tx, voter.ID, knoten.Spinning{KnotenID: *a.KnotenID, Type: "abstimmung"})
				if err != nil && !fault.Is(err, "knoten_dissolved") && !fault.Is(err, "knoten_not_found") && !fault.Is(err, "knoten_hidden") {
					return err
				}
			}
			err = eventstore.Append(tx, now, StimmeAbgegeben.New(hdr, StimmeAbgegebenV1{AbstimmungID: id, AccountID: voter.ID, Choice: choice}))
		default:
			st.CastAt = castAt.UTC()
			tx.Defer(`UPDATE stimmen SET choice = $3, changed_at = $4 WHERE abstimmung_id = $1 AND account_id = $2`, id, voter.ID, choice, now)
			err = eventstore.Append(tx, now, StimmeGeaendert.New(hdr, StimmeGeaendertV1{AbstimmungID: id, AccountID: voter.ID, Choice: choice, Previous: previous}))
		}
		tx.Defer(`INSERT INTO stimmen_verlauf (abstimmung_id, account_id, choice, at) VALUES ($1, $2, $3, $4)`, id, voter.ID, choice, now)
		return err
	})
	if err != nil {
		return Stimme{}, err
	}
	return st, nil
}

// View is an Abstimmung as the public sees it.
type View struct {
	Abstimmung
	Stimmen []Stimme // the current Stimme of each voter, in the order they were first cast
	Verlauf []Stimme // every cast and change, in order
	Count   Count    // final once closed; otherwise as it would stand now
	AsOf    time.Time
	Names   map[uuid.UUID]string // of every account in Stimmen, Verlauf and Count's chains
}

// Find returns the Abstimmung alone, without its Stimmen and count (which Get reads too).
func (s *Service) Find(ctx context.Context, id uuid.UUID) (Abstimmung, error) {
	return get(ctx, s.pool, id, "")
}

// Get returns the Abstimmung with its Stimmen, history and count.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (View, error) {
	a, err := get(ctx, s.pool, id, "")
	if err != nil {
		return View{}, err
	}
	v := View{Abstimmung: a}
	if v.Stimmen, err = s.stimmen(ctx, id); err != nil {
		return View{}, err
	}
	if v.Verlauf, err = s.verlauf(ctx, id); err != nil {
		return View{}, err
	}
	if v.Count, v.AsOf, err = s.count(ctx, a); err != nil {
		return View{}, err
	}
	ids := make([]uuid.UUID, 0, len(v.Count.Reached))
	for d := range v.Count.Reached {
		ids = append(ids, d)
	}
	if v.Names, err = names(ctx, s.pool, ids); err != nil {
		return View{}, err
	}
	for _, st := range append(v.Stimmen, v.Verlauf...) {
		v.Names[st.AccountID] = st.Name
	}
	return v, nil
}

// count is the final count of a closed Abstimmung, or the count as it would stand now.
func (s *Service) count(ctx context.Context, a Abstimmung) (Count, time.Time, error) {
	if a.Closed() {
		var raw []byte
		if err := s.pool.QueryRow(ctx, `SELECT tally FROM abstimmungen WHERE id = $1`, a.ID).Scan(&raw); err != nil {
			return Count{}, time.Time{}, fmt.Errorf("abstimmung: count: %w", err)
		}
		c, err := thaw(raw)
		return c, *a.ClosedAt, err
	}
	now := s.clock.Now()
	c, err := countNow(ctx, s.pool, a.ID)
	return c, now, err
}

// countNow counts the Stimmen with the delegations in effect now.
func countNow(ctx context.Context, q database.Querier, id uuid.UUID) (Count, error) {
	rows, err := q.Query(ctx, `SELECT account_id, choice FROM stimmen WHERE abstimmung_id = $1`, id)
	if err != nil {
		return Count{}, fmt.Errorf("abstimmung: count: %w", err)
	}
	votes := map[uuid.UUID]string{}
	var voter uuid.UUID
	var choice string
	if _, err := pgx.ForEachRow(rows, []any{&voter, &choice}, func() error { votes[voter] = choice; return nil }); err != nil {
		return Count{}, fmt.Errorf("abstimmung: count: %w", err)
	}
	edges, err := delegation.Edges(ctx, q)
	if err != nil {
		return Count{}, err
	}
	return tally(votes, edges), nil
}

// NextClose is the earliest closing time of an open Abstimmung.
func (s *Service) NextClose(ctx context.Context) (time.Time, bool, error) {
	return database.Earliest(ctx, s.pool, `SELECT min(closes_at) FROM abstimmungen WHERE closed_at IS NULL`)
}

// CloseTx closes the Abstimmung as of at, in the caller's transaction: it counts the Stimmen with
// the delegations in effect now (the caller brings everything due before at into effect first),
// freezes the count and the result, and records AbstimmungGeschlossen.
func (s *Service) CloseTx(ctx context.Context, tx *database.Tx, id uuid.UUID, at time.Time) (Abstimmung, Count, error) {
	a, err := get(ctx, tx, id, "FOR UPDATE")
	if err != nil {
		return Abstimmung{}, Count{}, err
	}
	if a.Closed() {
		return Abstimmung{}, Count{}, fmt.Errorf("abstimmung: %s is closed already", id)
	}
	c, err := countNow(ctx, tx, id)
	if err != nil {
		return Abstimmung{}, Count{}, err
	}
	a.Result = Abgelehnt
	if c.Passed() {
		a.Result = Angenommen
	}
	a.ClosedAt = &at
	frozen, err := freeze(c)
	if err != nil {
		return Abstimmung{}, Count{}, err
	}
	tx.Defer(`UPDATE abstimmungen SET closed_at = $2, result = $3, tally = $4 WHERE id = $1`, id, at, a.Result, frozen)
	err = eventstore.Append(tx, at, AbstimmungGeschlossen.New(eventstore.Header{Subject: id}, AbstimmungGeschlossenV1{
		AbstimmungID: id, SubjectID: a.SubjectID, Result: a.Result, Yes: c.Yes, No: c.No, Abstain: c.Abstain}))
	return a, c, err
}

func get(ctx context.Context, q database.Querier, id uuid.UUID, lock string) (Abstimmung, error) {
	var a Abstimmung
	var result *string
	err := q.QueryRow(ctx, `
SELECT id, subject_id, knoten_id, opens_at, closes_at, closed_at, result FROM abstimmungen WHERE id = $1 `+lock, id).
		Scan(&a.ID, &a.SubjectID, &a.KnotenID, &a.OpensAt, &a.ClosesAt, &a.ClosedAt, &result)
	if errors.Is(err, pgx.ErrNoRows) {
		return Abstimmung{}, ErrNotFound
	}
	if err != nil {
		return Abstimmung{}, fmt.Errorf("abstimmung: get: %w", err)
	}
	a.OpensAt, a.ClosesAt = a.OpensAt.UTC(), a.ClosesAt.UTC()
	if a.ClosedAt != nil {
		t := a.ClosedAt.UTC()
		a.ClosedAt = &t
	}
	if result != nil {
		a.Result = *result
	}
	return a, nil
}

func (s *Service) stimmen(ctx context.Context, id uuid.UUID) ([]Stimme, error) {
	rows, err := s.pool.Query(ctx, `
SELECT s.account_id, a.name, s.choice, s.changed_at, s.cast_at
FROM stimmen s JOIN accounts a ON a.id = s.account_id
WHERE s.abstimmung_id = $1
ORDER BY s.cast_at, s.account_id`, id)
	if err != nil {
		return nil, fmt.Errorf("abstimmung: stimmen: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stimme, error) {
		var st Stimme
		err := r.Scan(&st.AccountID, &st.Name, &st.Choice, &st.At, &st.CastAt)
		st.At, st.CastAt = st.At.UTC(), st.CastAt.UTC()
		return st, err
	})
}

func (s *Service) verlauf(ctx context.Context, id uuid.UUID) ([]Stimme, error) {
	rows, err := s.pool.Query(ctx, `
SELECT v.account_id, a.name, v.choice, v.at
FROM stimmen_verlauf v JOIN accounts a ON a.id = v.account_id
WHERE v.abstimmung_id = $1
ORDER BY v.seq`, id)
	if err != nil {
		return nil, fmt.Errorf("abstimmung: verlauf: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stimme, error) {
		var st Stimme
		err := r.Scan(&st.AccountID, &st.Name, &st.Choice, &st.At)
		st.At = st.At.UTC()
		st.CastAt = st.At
		return st, err
	})
}

// names looks up the public names of accounts.
func names(ctx context.Context, q database.Querier, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	m := map[uuid.UUID]string{}
	if len(ids) == 0 {
		return m, nil
	}
	rows, err := q.Query(ctx, `SELECT id, name FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("abstimmung: names: %w", err)
	}
	var id uuid.UUID
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { m[id] = name; return nil }); err != nil {
		return nil, fmt.Errorf("abstimmung: names: %w", err)
	}
	return m, nil
}

// frozenCount is how a final count is stored: weights per voter and, per delegator whose weight
// counted, the next hop and the voter reached.
type frozenCount struct {
	Yes         int               `json:"yes"`
	No          int               `json:"no"`
	Abstain     int               `json:"abstain"`
	Weights     []frozenWeight    `json:"weights"`
	Delegations []frozenDelegated `json:"delegations"`
}

type frozenWeight struct {
	Voter  uuid.UUID `json:"voter"`
	Weight int       `json:"weight"`
}

type frozenDelegated struct {
	From  uuid.UUID `json:"from"`
	Via   uuid.UUID `json:"via"`
	Voter uuid.UUID `json:"voter"`
}

func freeze(c Count) ([]byte, error) {
	f := frozenCount{Yes: c.Yes, No: c.No, Abstain: c.Abstain}
	for v, w := range c.Weight {
		f.Weights = append(f.Weights, frozenWeight{Voter: v, Weight: w})
	}
	for d, v := range c.Reached {
		f.Delegations = append(f.Delegations, frozenDelegated{From: d, Via: c.Via[d], Voter: v})
	}
	slices.SortFunc(f.Weights, func(a, b frozenWeight) int { return slices.Compare(a.Voter[:], b.Voter[:]) })
	slices.SortFunc(f.Delegations, func(a, b frozenDelegated) int { return slices.Compare(a.From[:], b.From[:]) })
	return json.Marshal(f)
}

func thaw(raw []byte) (Count, error) {
	var f frozenCount
	if err := json.Unmarshal(raw, &f); err != nil {
		return Count{}, fmt.Errorf("abstimmung: frozen count: %w", err)
	}
	c := Count{Yes: f.Yes, No: f.No, Abstain: f.Abstain, Weight: map[uuid.UUID]int{}, Via: map[uuid.UUID]uuid.UUID{}, Reached: map[uuid.UUID]uuid.UUID{}}
	for _, w := range f.Weights {
		c.Weight[w.Voter] = w.Weight
	}
	for _, d := range f.Delegations {
		c.Via[d.From], c.Reached[d.From] = d.Via, d.Voter
	}
	return c, nil
}

// CountNow counts an Abstimmung's Stimmen with the delegations in effect now, as the close
// would (the benchmark's unit of work; Get does this for an open Abstimmung).
func (s *Service) CountNow(ctx context.Context, id uuid.UUID) (Count, error) {
	return countNow(ctx, s.pool, id)
}
