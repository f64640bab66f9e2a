package instance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/webrat"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// The rules that hold from an instant on ("at that instant it is gone", "a delegation that
// takes effect at the very instant of a close counts") are tested here at the instant itself
// and one microsecond (the clock's precision) to either side. A running instance's dev clock
// moves on with real time and cannot stand on an instant, so these tests assemble the domain
// services as instance.Open does, on a clock the test sets, and run the sweeps themselves.

// setClock is a clock.Clock that stands still where the test puts it.
type setClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// rules is the domain of one Ortsweberei (no HTTP, no job queue) on its own database.
type rules struct {
	t            *testing.T
	ctx          context.Context
	clock        *setClock
	pool         *pgxpool.Pool
	accounts     *account.Service
	knoten       *knoten.Service
	delegations  *delegation.Service
	abstimmungen *abstimmung.Service
	antraege     *antrag.Service
	webrat       *webrat.Sweep
	admin        account.Account
}

// newRules assembles the services with the clock at start and the daily delegation batch at
// 03:00 UTC.
func newRules(t *testing.T, start time.Time) *rules {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	clk := &setClock{}
	r := &rules{t: t, ctx: ctx, clock: clk, pool: pool}
	r.at(start)
	events := eventstore.NewStore(pool, 20*time.Millisecond, nil)
	ow := ortsweberei.NewService(pool, clk)
	if err := ow.Ensure(ctx, "Regelweberei", nil); err != nil {
		t.Fatal(err)
	}
	r.accounts = account.NewService(pool, clk, ow)
	r.knoten = knoten.NewService(pool, clk, ow)
	r.delegations = delegation.NewService(pool, clk, r.accounts, events, delegation.Batch{At: 3 * time.Hour, Location: time.UTC})
	r.abstimmungen = abstimmung.NewService(pool, clk, r.knoten, 0)
	r.antraege = antrag.NewService(pool, clk, r.abstimmungen, r.knoten)
	r.webrat = webrat.NewSweep(clk, r.delegations, r.antraege)
	admin, err := r.accounts.CreateAdmin(ctx, "Admin", "admin@example.org", "admin password")
	if err != nil {
		t.Fatal(err)
	}
	r.admin = admin
	return r
}

// at sets the clock.
func (r *rules) at(t time.Time) {
	if t.Truncate(time.Microsecond) != t {
		r.t.Fatalf("instant %v is finer than the clock", t)
	}
	r.clock.mu.Lock()
	r.clock.now = t.UTC()
	r.clock.mu.Unlock()
}

// sweep runs both sweeps as the job queue would at the clock's time. A transaction of another
// test holding the log's horizon back makes the Webrat sweep fail; the job queue tries again,
// and so does this.
func (r *rules) sweep() {
	r.t.Helper()
	for try := 0; ; try++ {
		err := r.webrat.Run(r.ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, eventstore.ErrHorizonHeldBack) || try == 10 {
			r.t.Fatalf("webrat sweep: %v", err)
		}
	}
	if _, err := r.knoten.Sweep(r.ctx); err != nil {
		r.t.Fatalf("knoten sweep: %v", err)
	}
}

// resident registers and verifies a resident.
func (r *rules) resident(name string) account.Account {
	r.t.Helper()
	a, err := r.accounts.Register(r.ctx, account.Registration{Name: name, Address: "Weg 1", Home: geo.Point{Lat: lat, Lon: lon},
		Email: fmt.Sprintf("%s-%s@example.org", name, uuid.NewString()), Password: "correct horse battery"})
	if err != nil {
		r.t.Fatal(err)
	}
	v, err := r.accounts.Verify(r.ctx, r.admin, a.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// must takes a call's result and error; given the test, it fails the test on the error or
// returns the result: must(f())(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// refused fails the test unless err is the fault with the code.
func refused(t *testing.T, what string, err error, code string) {
	t.Helper()
	if !fault.Is(err, code) {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

const (
	µs   = time.Microsecond
	week = 7 * 24 * time.Hour
)

// A Faden expires exactly 7 days after it was spun: one microsecond earlier it is there, at the
// instant it is gone from every read and cannot be twisted, and the sweep records it as of that
// instant. Its Knoten lives on through a later Faden and dissolves, the same way, at that one's
// instant; a sweep that runs late records both as of their instants, not its own time.
func TestFadenExpiresAtItsInstant(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 10, 11, 12, 345678000, time.UTC)
	r := newRules(t, t0)
	ada, ben := r.resident("Ada"), r.resident("Ben")
	k, first, err := r.knoten.Place(r.ctx, ada.ID, knoten.Placement{Type: "idee", Title: "Bank", Point: geo.Point{Lat: lat, Lon: lon}})
	if err != nil {
		t.Fatal(err)
	}
	r.at(t0.Add(time.Hour))
	second := must(r.knoten.Spin(r.ctx, ben.ID, knoten.Spinning{KnotenID: k.ID, Type: "gespraech"}))(t)
	end1, end2 := t0.Add(week), t0.Add(time.Hour+week)
	if first.ExpiresAt == nil || !first.ExpiresAt.Equal(end1) || second.ExpiresAt == nil || !second.ExpiresAt.Equal(end2) {
		t.Fatalf("expires_at %v and %v, want %v and %v", first.ExpiresAt, second.ExpiresAt, end1, end2)
	}
	active := func() map[uuid.UUID]bool {
		t.Helper()
		out := map[uuid.UUID]bool{}
		for _, f := range must(r.knoten.Faeden(r.ctx, k.ID))(t) {
			out[f.ID] = true
		}
		return out
	}
	listed := func() bool {
		t.Helper()
		for _, x := range must(r.knoten.List(r.ctx, knoten.Query{}))(t) {
			if x.ID == k.ID {
				return true
			}
		}
		return false
	}
	recorded := func(typ string, subject uuid.UUID) int {
		t.Helper()
		return countRows(t, r.pool, `SELECT count(*) FROM events WHERE type = $1 AND subject_id = $2`, typ, subject)
	}

	r.at(end1.Add(-µs))
	if fs := active(); !fs[first.ID] || !fs[second.ID] {
		t.Fatalf("1 µs before the first Faden's expiry: %v", fs)
	}
	r.sweep()
	if n := recorded("FadenAbgelaufen", first.ID); n != 0 {
		t.Fatal("the sweep 1 µs before the expiry recorded it")
	}

	r.at(end1)
	if fs := active(); fs[first.ID] || !fs[second.ID] {
		t.Fatalf("at the first Faden's expiry: %v", fs)
	}
	_, err = r.knoten.Twist(r.ctx, ada.ID, first.ID)
	refused(t, "twist at the instant of the expiry", err, "faden_expired")
	r.sweep()
	var expiredAt time.Time
	if err := r.pool.QueryRow(r.ctx, `SELECT expired_at FROM faeden WHERE id = $1`, first.ID).Scan(&expiredAt); err != nil || !expiredAt.Equal(end1) {
		t.Fatalf("the sweep at the instant records the expiry as of it: %v (%v)", expiredAt, err)
	}
	if got := must(r.knoten.Get(r.ctx, k.ID))(t); got.DissolvesAt == nil || !got.DissolvesAt.Equal(end2) {
		t.Fatalf("the Knoten lives on through Ben's Faden, to %v: %+v", end2, got)
	}

	r.at(end2.Add(-µs))
	r.sweep()
	must(r.knoten.Get(r.ctx, k.ID))(t)
	if !listed() || recorded("KnotenAufgeloest", k.ID) != 0 {
		t.Fatal("1 µs before its last Faden's expiry the Knoten is on the map")
	}

	r.at(end2)
	_, err = r.knoten.Get(r.ctx, k.ID)
	refused(t, "the Knoten at the instant of its last Faden's expiry", err, "knoten_dissolved")
	_, err = r.knoten.Faeden(r.ctx, k.ID)
	refused(t, "its Fäden", err, "knoten_dissolved")
	if listed() {
		t.Fatal("at the instant of its last Faden's expiry the Knoten is still listed")
	}
	_, err = r.knoten.Spin(r.ctx, ada.ID, knoten.Spinning{KnotenID: k.ID, Type: "gespraech"})
	refused(t, "a Faden to it", err, "knoten_dissolved")
	r.at(end2.Add(time.Hour))
	r.sweep()
	var dissolvedAt time.Time
	if err := r.pool.QueryRow(r.ctx, `SELECT (SELECT expired_at FROM faeden WHERE id = $1), (SELECT dissolved_at FROM knoten WHERE id = $2)`,
		second.ID, k.ID).Scan(&expiredAt, &dissolvedAt); err != nil || !expiredAt.Equal(end2) || !dissolvedAt.Equal(end2) {
		t.Fatalf("a sweep an hour late records the expiry (%v) and the dissolution (%v) as of %v (%v)", expiredAt, dissolvedAt, end2, err)
	}
	var payload struct {
		ExpiredAt   time.Time `json:"expired_at"`
		DissolvedAt time.Time `json:"dissolved_at"`
	}
	for _, typ := range []string{"FadenAbgelaufen", "KnotenAufgeloest"} {
		var raw []byte
		if err := r.pool.QueryRow(r.ctx, `SELECT payload FROM events WHERE type = $1 ORDER BY id DESC LIMIT 1`, typ).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &payload); err != nil {
			t.Fatal(err)
		}
	}
	if !payload.ExpiredAt.Equal(end2) || !payload.DissolvedAt.Equal(end2) {
		t.Fatalf("the events carry the rule's instant: %+v, want %v", payload, end2)
	}
}

func countRows(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An Einspruch is possible until the deadline, not at it (deadline_passed, even before the
// sweep has decided the Antrag); the first one moves the deadline by exactly 7 days from the
// old deadline, later ones do not; withdrawing ends at the deadline too; and the deadline
// itself decides, at its instant.
func TestEinspruchAndDeadlineAtTheirInstants(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 123456000, time.UTC)
	r := newRules(t, t0)
	ada, ben, cem, dan := r.resident("Ada"), r.resident("Ben"), r.resident("Cem"), r.resident("Dan")
	contested := must(r.antraege.File(r.ctx, ada, antrag.Filing{Title: "Brunnen"}))(t)
	quiet := must(r.antraege.File(r.ctx, ada, antrag.Filing{Title: "Bank"}))(t)
	first := t0.Add(week)
	if !contested.DecisionDeadline.Equal(first) {
		t.Fatalf("deadline %v, want %v", contested.DecisionDeadline, first)
	}

	// The last microsecond: Ben's Einspruch counts and extends by exactly 7 days.
	r.at(first.Add(-µs))
	got := must(r.antraege.Object(r.ctx, ben, contested.ID, "Zu teuer"))(t)
	second := first.Add(week)
	if !got.DecisionDeadline.Equal(second) || !got.Extended {
		t.Fatalf("an Einspruch 1 µs before the deadline moves it to %v; want %v", got.DecisionDeadline, second)
	}
	// At the instant: too late for the quiet one, though nobody has decided it yet.
	r.at(first)
	before := countRows(t, r.pool, `SELECT count(*) FROM events`)
	_, err := r.antraege.Object(r.ctx, ben, quiet.ID, "Zu spät")
	refused(t, "an Einspruch at the deadline", err, "deadline_passed")
	_, err = r.antraege.Withdraw(r.ctx, ada, quiet.ID)
	refused(t, "withdrawing at the deadline", err, "deadline_passed")
	if after := countRows(t, r.pool, `SELECT count(*) FROM events`); after != before {
		t.Fatalf("a refused write wrote %d events", after-before)
	}
	if a := must(r.antraege.Get(r.ctx, quiet.ID))(t); a.Status != antrag.Offen || a.EinspruchCount != 0 {
		t.Fatalf("the refused Einspruch changed the Antrag: %+v", a)
	}
	// The contested one is open a week longer; a second Einspruch does not extend again.
	got = must(r.antraege.Object(r.ctx, cem, contested.ID, "Der Markt hat schon einen"))(t)
	if !got.DecisionDeadline.Equal(second) {
		t.Fatalf("a second Einspruch moved the deadline to %v", got.DecisionDeadline)
	}
	r.sweep()
	if a := must(r.antraege.Get(r.ctx, quiet.ID))(t); a.Status != antrag.Angenommen || a.DecidedAt == nil || !a.DecidedAt.Equal(first) {
		t.Fatalf("at its deadline the Antrag without Einspruch is accepted as of the deadline: %+v", a)
	}

	r.at(second.Add(-µs))
	r.sweep()
	if a := must(r.antraege.Get(r.ctx, contested.ID))(t); a.Status != antrag.Offen {
		t.Fatalf("1 µs before the extended deadline: %q", a.Status)
	}
	got = must(r.antraege.Object(r.ctx, dan, contested.ID, "Im letzten Moment"))(t)
	if !got.DecisionDeadline.Equal(second) || got.EinspruchCount != 3 {
		t.Fatalf("a third Einspruch in the last microsecond: %+v", got)
	}
	r.at(second)
	_, err = r.antraege.Withdraw(r.ctx, ada, contested.ID)
	refused(t, "withdrawing at the extended deadline", err, "deadline_passed")
	r.sweep()
	a := must(r.antraege.Get(r.ctx, contested.ID))(t)
	if a.Status != antrag.ImAbstimmung || a.AbstimmungID == nil {
		t.Fatalf("at the extended deadline the Abstimmung opens: %+v", a)
	}
	v := must(r.abstimmungen.Get(r.ctx, *a.AbstimmungID))(t)
	if !v.OpensAt.Equal(second) || !v.ClosesAt.Equal(second.Add(week)) {
		t.Fatalf("the Abstimmung runs from %v to %v; want from the deadline %v for 7 days", v.OpensAt, v.ClosesAt, second)
	}

	// Votes until the close, not at it.
	closes := v.ClosesAt
	r.at(closes.Add(-µs))
	must(r.abstimmungen.Vote(r.ctx, ben, v.ID, abstimmung.No))(t)
	r.at(closes)
	_, err = r.abstimmungen.Vote(r.ctx, cem, v.ID, abstimmung.No)
	refused(t, "a vote at the close", err, "abstimmung_closed")
	r.sweep()
	if v := must(r.abstimmungen.Get(r.ctx, v.ID))(t); v.Result != abstimmung.Abgelehnt || v.Count.No != 1 || v.Count.Turnout() != 1 {
		t.Fatalf("closed with Ben's vote of the last microsecond only: %+v", v.Count)
	}
}

// "A delegation that takes effect at the very instant of a close counts" (docs/GOVERNANCE.md,
// In time order). Dan asks to delegate to Ada; it takes effect at the 03:00 batch. Ada votes
// yes, Ben no: with Dan's weight the Antrag passes 2:1, without it 1:1 rejects. The close is put
// one microsecond before the batch, at it, and one microsecond after it. Eve's delegation to Ada
// takes effect at the next day's batch, after the close, and never counts. The sweep runs a day
// late, over the batch, the close and the next batch: it applies each as of its own instant.
func TestDelegationAtTheInstantOfACloseCounts(t *testing.T) {
	t.Parallel()
	batch := time.Date(2026, 7, 22, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		close  time.Time
		counts bool
	}{
		{"close 1 µs before the batch", batch.Add(-µs), false},
		{"close at the batch", batch, true},
		{"close 1 µs after the batch", batch.Add(µs), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			filed := c.close.Add(-3 * week) // 7 days, 7 more for the Einspruch, 7 of the vote
			r := newRules(t, filed)
			ada, ben, dan, eve := r.resident("Ada"), r.resident("Ben"), r.resident("Dan"), r.resident("Eve")
			a := must(r.antraege.File(r.ctx, ada, antrag.Filing{Title: "Radweg"}))(t)
			must(r.antraege.Object(r.ctx, ben, a.ID, "Einwand"))(t)
			r.at(filed.Add(2 * week))
			r.sweep()
			a = must(r.antraege.Get(r.ctx, a.ID))(t)
			if a.AbstimmungID == nil {
				t.Fatalf("no Abstimmung: %+v", a)
			}
			must(r.abstimmungen.Vote(r.ctx, ada, *a.AbstimmungID, abstimmung.Yes))(t)
			must(r.abstimmungen.Vote(r.ctx, ben, *a.AbstimmungID, abstimmung.No))(t)
			r.at(batch.Add(-12 * time.Hour))
			d := must(r.delegations.Request(r.ctx, dan, ada.ID))(t)
			if !d.EffectiveAt.Equal(batch) {
				t.Fatalf("the delegation takes effect at %v, want the batch %v", d.EffectiveAt, batch)
			}

			r.at(batch.Add(6 * time.Hour))
			e := must(r.delegations.Request(r.ctx, eve, ada.ID))(t)
			if next := batch.Add(24 * time.Hour); !e.EffectiveAt.Equal(next) {
				t.Fatalf("Eve's delegation takes effect at %v, want %v", e.EffectiveAt, next)
			}

			r.at(batch.Add(25 * time.Hour))
			r.sweep()
			v := must(r.abstimmungen.Get(r.ctx, *a.AbstimmungID))(t)
			if v.ClosedAt == nil || !v.ClosedAt.Equal(c.close) {
				t.Fatalf("closed at %v, want %v", v.ClosedAt, c.close)
			}
			want, yes := abstimmung.Abgelehnt, 1
			if c.counts {
				want, yes = abstimmung.Angenommen, 2
			}
			if v.Result != want || v.Count.Yes != yes || v.Count.No != 1 {
				t.Fatalf("result %s, yes %d, no %d; want %s with yes %d (Dan's delegation counts: %v)",
					v.Result, v.Count.Yes, v.Count.No, want, yes, c.counts)
			}
			if _, carried := v.Count.Reached[dan.ID]; carried != c.counts {
				t.Fatalf("Dan's weight reached Ada: %v; want %v", carried, c.counts)
			}
			if _, carried := v.Count.Reached[eve.ID]; carried {
				t.Fatal("Eve's delegation, in effect only after the close, counted")
			}
			for _, x := range []delegation.Delegation{d, e} {
				if got := must(r.delegations.Get(r.ctx, x.ID))(t); got.State != delegation.Active {
					t.Fatalf("the delegation is %s after its batch", got.State)
				}
				var at time.Time
				if err := r.pool.QueryRow(r.ctx, `SELECT at FROM events WHERE type = 'DelegationWirksam' AND subject_id = $1`, x.ID).Scan(&at); err != nil {
					t.Fatal(err)
				}
				if !at.Equal(x.EffectiveAt) {
					t.Fatalf("DelegationWirksam is recorded at %v, not at its batch %v", at, x.EffectiveAt)
				}
			}
		})
	}
}

// A delegation ends exactly 28 days after the delegator's last write: one microsecond before
// it is in effect, at the instant it ends, as of that instant, also when the sweep runs late.
func TestIdleDelegationEndsAtItsInstant(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 8, 3, 17, 30, 0, 654321000, time.UTC)
	r := newRules(t, t0)
	ada, ben, cem := r.resident("Ada"), r.resident("Ben"), r.resident("Cem")
	d := must(r.delegations.Request(r.ctx, ada, ben.ID))(t) // Ada's last write
	r.at(t0.Add(time.Hour))
	late := must(r.delegations.Request(r.ctx, cem, ben.ID))(t) // Cem's, an hour later
	r.at(d.EffectiveAt)
	r.sweep()
	end := d.RequestedAt.Add(delegation.IdleLimit)
	if got := must(r.delegations.Get(r.ctx, d.ID))(t); got.State != delegation.Active || got.IdleExpiresAt == nil || !got.IdleExpiresAt.Equal(end) {
		t.Fatalf("active, to end at %v: %+v", end, got)
	}
	r.at(end.Add(-µs))
	r.sweep()
	if got := must(r.delegations.Get(r.ctx, d.ID))(t); got.State != delegation.Active {
		t.Fatalf("1 µs before 28 idle days: %+v", got)
	}
	r.at(end)
	r.sweep()
	got := must(r.delegations.Get(r.ctx, d.ID))(t)
	if got.State != delegation.Ended || got.EndReason != "expired" || got.EndedAt == nil || !got.EndedAt.Equal(end) {
		t.Fatalf("at 28 idle days the delegation ends as of that instant: %+v", got)
	}
	if got := must(r.delegations.Get(r.ctx, late.ID))(t); got.State != delegation.Active {
		t.Fatalf("Cem's delegation has an hour to go: %+v", got)
	}
	r.at(end.Add(3 * time.Hour)) // a late sweep
	r.sweep()
	lateEnd := late.RequestedAt.Add(delegation.IdleLimit)
	if got := must(r.delegations.Get(r.ctx, late.ID))(t); got.State != delegation.Ended || got.EndedAt == nil || !got.EndedAt.Equal(lateEnd) {
		t.Fatalf("a late sweep ends Cem's delegation as of its instant %v: %+v", lateEnd, got)
	}
}
