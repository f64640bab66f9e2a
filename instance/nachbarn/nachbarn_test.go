package nachbarn_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

const (
	plagwitz = "https://plagwitz.example"
	group    = plagwitz + "/ap/ortsweberei"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	svc  *nachbarn.Service
}

// newFixture runs the service on a database of its own. Our own Anträge are not needed here
// (the listing test runs a whole instance).
func newFixture(t *testing.T) *fixture {
	pool := pgtest.Pool(t)
	return &fixture{t: t, ctx: context.Background(), pool: pool, svc: nachbarn.NewService(pool, clock.System{}, nil)}
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// remoteAntrag is a neighbour's Antrag on host, its vote open for a week from t0.
func remoteAntrag(host, id string) nachbarn.Antrag {
	opens, closes := t0, t0.Add(7*24*time.Hour)
	return nachbarn.Antrag{IRI: host + "/ap/antraege/" + id, Ortsweberei: host + "/ap/ortsweberei",
		Actor: host + "/ap/antraege/" + id + "/actor", ApplicantIRI: host + "/ap/users/anna", ApplicantName: "Anna",
		Title: "Bank am Teich", DetailsHTML: "<p>Eine Bank</p>", Status: "abstimmung", OpenedAt: t0.Add(-14 * 24 * time.Hour),
		DecisionDeadline: t0, Extended: true, OpensAt: &opens, ClosesAt: &closes, Updated: t0}
}

func (f *fixture) store(a nachbarn.Antrag) nachbarn.Antrag {
	f.t.Helper()
	if err := f.svc.StoreAntrag(f.ctx, a); err != nil {
		f.t.Fatal(err)
	}
	got, err := f.svc.Find(f.ctx, a.IRI)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func (f *fixture) view(a nachbarn.Antrag) nachbarn.View {
	f.t.Helper()
	v, err := f.svc.Get(f.ctx, a.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// resident is a verified resident of the Ortsweberei on host, as their actor document says.
func resident(host, name string) nachbarn.Person {
	return nachbarn.Person{IRI: host + "/ap/users/" + name, Name: name, Ortsweberei: host + "/ap/ortsweberei", Verified: true}
}

func stimme(a nachbarn.Antrag, voter nachbarn.Person, choice string, at time.Time) nachbarn.Stimme {
	return nachbarn.Stimme{Antrag: a.IRI, Voter: voter, Choice: choice, CastAt: at,
		Object: voter.IRI + "/stimmen/" + at.Format(time.RFC3339Nano)}
}

func choices(v nachbarn.View) []string {
	var out []string
	for _, st := range v.Stimmen {
		out = append(out, st.Voter.Name+" "+st.Choice)
	}
	return out
}

// A neighbour resident's Stimme counts once: of their Stimmen the one cast last, whatever
// order they arrive in, each counted one with its FernstimmeEmpfangen.
func TestStimmeCountsOnceLatestWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	emil, frieda := resident(plagwitz, "emil"), resident(plagwitz, "frieda")
	received := func() int {
		return f.count(`SELECT count(*) FROM events WHERE type = 'FernstimmeEmpfangen' AND NOT public`)
	}

	first := stimme(a, emil, abstimmung.Yes, t0.Add(2*time.Hour))
	if err := f.svc.CountStimme(f.ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CountStimme(f.ctx, stimme(a, frieda, abstimmung.No, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for what, st := range map[string]nachbarn.Stimme{
		"the same again":             first,
		"an older one, arrived late": stimme(a, emil, abstimmung.No, t0.Add(time.Hour)),
	} {
		if err := f.svc.CountStimme(f.ctx, st); !errors.Is(err, nachbarn.ErrStale) {
			t.Errorf("%s: %v, want ErrStale", what, err)
		}
	}
	v := f.view(a)
	if got, want := choices(v), []string{"frieda no", "emil yes"}; !slices.Equal(got, want) || v.Yes != 1 || v.No != 1 {
		t.Fatalf("Stimmen %q, count %d:%d; want %q, 1:1", got, v.Yes, v.No, want)
	}
	if n := received(); n != 2 {
		t.Errorf("%d FernstimmeEmpfangen, want 2", n)
	}

	later := stimme(a, emil, abstimmung.Abstain, t0.Add(3*time.Hour))
	if err := f.svc.CountStimme(f.ctx, later); err != nil {
		t.Fatal(err)
	}
	v = f.view(a)
	if got, want := choices(v), []string{"frieda no", "emil abstain"}; !slices.Equal(got, want) || v.Yes != 0 || v.No != 1 || v.Abstain != 1 {
		t.Fatalf("after Emil's change: %q, %d:%d:%d", got, v.Yes, v.No, v.Abstain)
	}
	if st := v.Stimmen[1]; !st.CastAt.Equal(later.CastAt) || st.Object != later.Object || st.Antrag != a.IRI {
		t.Errorf("Emil's Stimme shown as %+v, want %+v", st, later)
	}
	if n := received(); n != 3 {
		t.Errorf("%d FernstimmeEmpfangen, want 3", n)
	}
	var payload nachbarn.FernstimmeV1
	var raw []byte
	if err := f.pool.QueryRow(f.ctx, `SELECT payload FROM events WHERE type = 'FernstimmeEmpfangen' ORDER BY id DESC LIMIT 1`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	if want := (nachbarn.FernstimmeV1{Antrag: a.IRI, Voter: emil.IRI, Choice: abstimmung.Abstain, Object: later.Object}); payload != want {
		t.Errorf("event %+v, want %+v", payload, want)
	}
}

// Only a verified resident of the Antrag's own Ortsweberei votes, only while its vote is
// open, only with a choice there is: every refusal is told apart and stores nothing.
func TestStimmeRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	noWindow := remoteAntrag(plagwitz, "2")
	noWindow.Status, noWindow.OpensAt, noWindow.ClosesAt = "offen", nil, nil
	noWindow = f.store(noWindow)
	emil := resident(plagwitz, "emil")
	unverified := emil
	unverified.Verified = false
	elsewhere := resident("https://lindenau.example", "lotte") // verified, of another Ortsweberei
	impostor := resident("https://evil.example", "mallory")
	impostor.Ortsweberei = group // claims Plagwitz from another host
	in := t0.Add(time.Hour)
	for _, c := range []struct {
		what string
		st   nachbarn.Stimme
		want error
	}{
		{"by someone not verified", stimme(a, unverified, abstimmung.Yes, in), nachbarn.ErrNotResident},
		{"by a resident of another Ortsweberei", stimme(a, elsewhere, abstimmung.Yes, in), nachbarn.ErrNotResident},
		{"by an actor of another host claiming the Ortsweberei", stimme(a, impostor, abstimmung.Yes, in), nachbarn.ErrNotResident},
		{"before the vote opened", stimme(a, emil, abstimmung.Yes, t0.Add(-time.Second)), nachbarn.ErrOutsideWindow},
		{"at its close", stimme(a, emil, abstimmung.Yes, *a.ClosesAt), nachbarn.ErrOutsideWindow},
		{"on an Antrag whose vote we know of no window", stimme(noWindow, emil, abstimmung.Yes, in), nachbarn.ErrOutsideWindow},
		{"on an Antrag we do not keep", stimme(remoteAntrag(plagwitz, "3"), emil, abstimmung.Yes, in), nachbarn.ErrUnknownAntrag},
		{"with no choice there is", stimme(a, emil, "vielleicht", in), abstimmung.ErrInvalidChoice},
	} {
		if err := f.svc.CountStimme(f.ctx, c.st); !errors.Is(err, c.want) {
			t.Errorf("a Stimme %s: %v, want %v", c.what, err, c.want)
		}
	}
	if n := f.count(`SELECT count(*) FROM remote_stimmen`) + f.count(`SELECT count(*) FROM events`); n != 0 {
		t.Errorf("the refusals stored %d rows and events", n)
	}
	// The first and last moments of the window count.
	for _, at := range []time.Time{*a.OpensAt, a.ClosesAt.Add(-time.Microsecond)} {
		if err := f.svc.CountStimme(f.ctx, stimme(a, resident(plagwitz, "at"+at.Format("150405.000000")), abstimmung.Yes, at)); err != nil {
			t.Errorf("a Stimme at %s: %v", at, err)
		}
	}
}

// The residence rule on the actor document's claims.
func TestPersonResidentOf(t *testing.T) {
	p := resident(plagwitz, "emil")
	for _, c := range []struct {
		what string
		p    func(nachbarn.Person) nachbarn.Person
		want bool
	}{
		{"verified, of the Group's host", func(p nachbarn.Person) nachbarn.Person { return p }, true},
		{"on another port of the Group's host", func(p nachbarn.Person) nachbarn.Person {
			p.IRI = "https://PLAGWITZ.example:8443/ap/users/emil"
			return p
		}, true},
		{"not verified", func(p nachbarn.Person) nachbarn.Person { p.Verified = false; return p }, false},
		{"of another Group", func(p nachbarn.Person) nachbarn.Person { p.Ortsweberei = plagwitz + "/ap/other"; return p }, false},
		{"on a subdomain", func(p nachbarn.Person) nachbarn.Person { p.IRI = "https://eu.plagwitz.example/ap/users/emil"; return p }, false},
		{"on another host", func(p nachbarn.Person) nachbarn.Person { p.IRI = "https://plagwitz.example.evil/u/emil"; return p }, false},
	} {
		if got := c.p(p).ResidentOf(group); got != c.want {
			t.Errorf("%s: ResidentOf = %v, want %v", c.what, got, c.want)
		}
	}
}

// A neighbour's Antrag keeps the newest state its own actor sent: an older state, or one by
// another actor, changes nothing. What is shown as HTML is safe.
func TestStaleAntragStateIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v1 := remoteAntrag(plagwitz, "1")
	v1.DetailsHTML = `<p>Eine Bank</p><script>alert(1)</script><img src="x" onerror="alert(2)">`
	a := f.store(v1)
	if a.ID == uuid.Nil || a.Origin != "plagwitz.example" || a.DetailsHTML != `<p>Eine Bank</p><img src="x">` {
		t.Fatalf("stored as %+v", a)
	}
	older := v1
	older.Title, older.Updated = "Alte Bank", t0.Add(-time.Hour)
	other := v1
	other.Title, other.Actor, other.Updated = "Fremde Bank", plagwitz+"/ap/users/mallory", t0.Add(time.Hour)
	for what, s := range map[string]nachbarn.Antrag{"an older state": older, "another actor's state": other} {
		if err := f.svc.StoreAntrag(f.ctx, s); !errors.Is(err, nachbarn.ErrStale) {
			t.Errorf("%s: %v, want ErrStale", what, err)
		}
	}
	if got, _ := f.svc.Find(f.ctx, v1.IRI); got.Title != "Bank am Teich" {
		t.Fatalf("title %q after stale states", got.Title)
	}
	// The same state again with the origin's count (the live count changes without updated),
	// and then a newer one: both taken, under the same id.
	yes, no, abstain := 3, 1, 0
	again := v1
	again.OriginYes, again.OriginNo, again.OriginAbstain = &yes, &no, &abstain
	closed := t0.Add(7 * 24 * time.Hour)
	newer := again
	newer.Status, newer.Outcome, newer.ClosedAt, newer.Updated = "angenommen", "angenommen", &closed, closed
	for _, s := range []nachbarn.Antrag{again, newer} {
		if err := f.svc.StoreAntrag(f.ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.svc.Find(f.ctx, v1.IRI)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Status != "angenommen" || got.Outcome != "angenommen" || got.ClosedAt == nil ||
		!got.ClosedAt.Equal(closed) || got.OriginYes == nil || *got.OriginYes != 3 || !got.Updated.Equal(closed) {
		t.Errorf("after the newer state: %+v", got)
	}

	// Only its actor withdraws it.
	if err := f.svc.Withdraw(f.ctx, v1.IRI, other.Actor); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Find(f.ctx, v1.IRI); got.Status != "angenommen" {
		t.Fatalf("withdrawn by another actor: %s", got.Status)
	}
	if err := f.svc.Withdraw(f.ctx, v1.IRI, v1.Actor); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Find(f.ctx, v1.IRI); got.Status != "zurueckgezogen" {
		t.Fatalf("status %s after its actor's Delete", got.Status)
	}
	if _, err := f.svc.Find(f.ctx, plagwitz+"/ap/antraege/9"); !errors.Is(err, nachbarn.ErrUnknownAntrag) {
		t.Errorf("Find of an unknown IRI: %v", err)
	}
	if _, err := f.svc.Get(f.ctx, uuid.New()); !errors.Is(err, nachbarn.ErrUnknownAntrag) {
		t.Errorf("Get of an unknown id: %v", err)
	}
}

// Our count of a neighbour's closed vote: the verified Stimmen, carried along the verified
// delegations the origin counted with, by the same rules as at home.
func TestRecountWithDelegations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	p := func(name string) nachbarn.Person { return resident(plagwitz, name) }
	for i, st := range []nachbarn.Stimme{
		stimme(a, p("emil"), abstimmung.Yes, t0.Add(time.Hour)),
		stimme(a, p("frieda"), abstimmung.No, t0.Add(2*time.Hour)),
	} {
		if err := f.svc.CountStimme(f.ctx, st); err != nil {
			t.Fatal(i, err)
		}
	}
	delegate := func(from, to string) error {
		return f.svc.StoreDelegation(f.ctx, nachbarn.Delegation{Antrag: a.IRI, Delegator: p(from), Delegate: p(to).IRI,
			Object: p(from).IRI + "/delegationen/" + to})
	}
	for _, d := range [][2]string{{"gustav", "emil"}, {"hanna", "gustav"}, {"ina", "frieda"}, {"frieda", "emil"}, {"jan", "frieda"}} {
		if err := delegate(d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	// Jan's latest delegation counts: to Emil.
	if err := delegate("jan", "emil"); err != nil {
		t.Fatal(err)
	}
	lotte := resident("https://lindenau.example", "lotte")
	if err := f.svc.StoreDelegation(f.ctx, nachbarn.Delegation{Antrag: a.IRI, Delegator: lotte, Delegate: p("frieda").IRI,
		Object: lotte.IRI + "/d"}); !errors.Is(err, nachbarn.ErrNotResident) {
		t.Errorf("a delegation by another Ortsweberei's resident: %v", err)
	}
	if err := f.svc.StoreDelegation(f.ctx, nachbarn.Delegation{Antrag: plagwitz + "/ap/antraege/9", Delegator: p("kai"),
		Delegate: p("emil").IRI, Object: p("kai").IRI + "/d"}); !errors.Is(err, nachbarn.ErrUnknownAntrag) {
		t.Errorf("a delegation on an Antrag we do not keep: %v", err)
	}
	v := f.view(a)
	// Emil with Gustav, Hanna (through Gustav) and Jan; Frieda voted herself, with Ina.
	if v.Yes != 4 || v.No != 2 || v.Abstain != 0 {
		t.Errorf("count %d:%d:%d, want 4:2:0", v.Yes, v.No, v.Abstain)
	}
	if n := f.count(`SELECT count(*) FROM remote_delegationen`); n != 5 {
		t.Errorf("%d delegations stored, want 5", n)
	}
}

// Einsprüche on a neighbour's Antrag: by its verified residents, once each, in order.
func TestEinsprueche(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	object := func(who nachbarn.Person, reason string, at time.Time) error {
		return f.svc.AddEinspruch(f.ctx, nachbarn.Einspruch{Antrag: a.IRI, Author: who, Reason: reason, CreatedAt: at})
	}
	emil, frieda := resident(plagwitz, "emil"), resident(plagwitz, "frieda")
	for _, err := range []error{
		object(frieda, "Zu teuer", t0.Add(-2*time.Hour)),
		object(emil, "Zu laut", t0.Add(-3*time.Hour)),
		object(frieda, "Doch zu teuer", t0.Add(-time.Hour)), // once each: changes nothing
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := object(resident("https://lindenau.example", "lotte"), "Nicht hier", t0); !errors.Is(err, nachbarn.ErrNotResident) {
		t.Errorf("an Einspruch by another Ortsweberei's resident: %v", err)
	}
	if err := f.svc.AddEinspruch(f.ctx, nachbarn.Einspruch{Antrag: plagwitz + "/ap/antraege/9", Author: emil, Reason: "x",
		CreatedAt: t0}); !errors.Is(err, nachbarn.ErrUnknownAntrag) {
		t.Errorf("an Einspruch on an Antrag we do not keep: %v", err)
	}
	var got []string
	for _, e := range f.view(a).Einsprueche {
		got = append(got, e.Author.Name+": "+e.Reason)
	}
	if want := []string{"emil: Zu laut", "frieda: Zu teuer"}; !slices.Equal(got, want) {
		t.Errorf("Einsprüche %q, want %q", got, want)
	}
}

// A deleted Stimme leaves the count; only its voter deletes it.
func TestRemoveStimme(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	emil, frieda := resident(plagwitz, "emil"), resident(plagwitz, "frieda")
	st := stimme(a, emil, abstimmung.Yes, t0.Add(time.Hour))
	for _, s := range []nachbarn.Stimme{st, stimme(a, frieda, abstimmung.No, t0.Add(time.Hour))} {
		if err := f.svc.CountStimme(f.ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.RemoveStimme(f.ctx, st.Object, frieda.IRI); err != nil {
		t.Fatal(err)
	}
	if v := f.view(a); v.Yes != 1 {
		t.Fatalf("Frieda's Delete removed Emil's Stimme: %q", choices(v))
	}
	if err := f.svc.RemoveStimme(f.ctx, st.Object, emil.IRI); err != nil {
		t.Fatal(err)
	}
	if v := f.view(a); !slices.Equal(choices(v), []string{"frieda no"}) || v.Yes != 0 || v.No != 1 {
		t.Fatalf("after Emil's Delete: %q %d:%d", choices(v), v.Yes, v.No)
	}
}

// Blocking a domain forgets everything it and its subdomains sent: their Anträge with all
// that hangs on them, and their actors' Stimmen, Einsprüche and delegations elsewhere. What
// other domains sent stays, a look-alike name's too.
func TestForgetDomain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hosts := []string{"https://spam.example", "https://eu.spam.example:8443", "https://notspam.example", plagwitz}
	for _, h := range hosts {
		a := f.store(remoteAntrag(h, "1"))
		if err := f.svc.CountStimme(f.ctx, stimme(a, resident(h, "v"), abstimmung.Yes, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.AddEinspruch(f.ctx, nachbarn.Einspruch{Antrag: a.IRI, Author: resident(h, "v"), Reason: "r", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.StoreDelegation(f.ctx, nachbarn.Delegation{Antrag: a.IRI, Delegator: resident(h, "d"),
			Delegate: resident(h, "v").IRI, Object: h + "/d"}); err != nil {
			t.Fatal(err)
		}
	}
	// Rows of a spam actor on Plagwitz's Antrag, as an older version of the rules let in.
	pa := remoteAntrag(plagwitz, "1").IRI
	for _, q := range []string{
		`INSERT INTO remote_stimmen (antrag, voter, choice, cast_at, object) VALUES ($1, 'https://x.spam.example:8443/u', 'no', now(), 'x')`,
		`INSERT INTO remote_einsprueche (antrag, author, reason, created_at) VALUES ($1, 'https://SPAM.example/u', 'r', now())`,
		`INSERT INTO remote_delegationen (antrag, delegator, delegate, object) VALUES ($1, 'https://a.spam.example/u', 'x', 'x')`,
	} {
		if _, err := f.pool.Exec(f.ctx, q, pa); err != nil {
			t.Fatal(err)
		}
	}
	if err := database.InTx(f.ctx, f.pool, func(tx *database.Tx) error { return f.svc.ForgetDomainTx(f.ctx, tx, "spam.example") }); err != nil {
		t.Fatal(err)
	}
	for table, col := range map[string]string{"remote_antraege": "iri", "remote_stimmen": "voter", "remote_einsprueche": "author",
		"remote_delegationen": "delegator"} {
		rows, err := f.pool.Query(f.ctx, `SELECT `+col+` FROM `+table+` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			left = append(left, s)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		want := map[string][]string{
			"remote_antraege":     {"https://notspam.example/ap/antraege/1", pa},
			"remote_stimmen":      {"https://notspam.example/ap/users/v", plagwitz + "/ap/users/v"},
			"remote_einsprueche":  {"https://notspam.example/ap/users/v", plagwitz + "/ap/users/v"},
			"remote_delegationen": {"https://notspam.example/ap/users/d", plagwitz + "/ap/users/d"},
		}[table]
		if !slices.Equal(left, want) {
			t.Errorf("%s left: %q, want %q", table, left, want)
		}
	}
}

// A Stimme and its FernstimmeEmpfangen commit together (layout plan §4): when the log refuses
// the event, the Stimme is not counted either, and the retry counts it once.
func TestStimmeNotCountedWithoutItsEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	// The log refuses the event as a full disk or a lost connection would: after the row.
	for _, sql := range []string{
		`CREATE FUNCTION refuse_fernstimme() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the log refuses %', NEW.type; END $$`,
		`CREATE TRIGGER refuse_fernstimme BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.type = 'FernstimmeEmpfangen') EXECUTE FUNCTION refuse_fernstimme()`,
	} {
		pgtest.DDL(t, f.ctx, f.pool, sql)
	}
	st := stimme(a, resident(plagwitz, "emil"), abstimmung.Yes, t0.Add(time.Hour))
	if err := f.svc.CountStimme(f.ctx, st); err == nil {
		t.Fatal("the Stimme was counted although the log refused its event")
	}
	if n := f.count(`SELECT count(*) FROM remote_stimmen`); n != 0 {
		t.Errorf("%d Stimmen counted without their FernstimmeEmpfangen", n)
	}
	pgtest.DDL(t, f.ctx, f.pool, `DROP TRIGGER refuse_fernstimme ON events`)
	if err := f.svc.CountStimme(f.ctx, st); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if n, e := f.count(`SELECT count(*) FROM remote_stimmen`), f.count(`SELECT count(*) FROM events WHERE type = 'FernstimmeEmpfangen'`); n != 1 || e != 1 {
		t.Errorf("after the retry: %d Stimmen, %d FernstimmeEmpfangen, want 1 each", n, e)
	}
}

// An Einspruch its origin deleted (a moderator there hid it) stays out, and its words are never
// kept, whichever of its Create and its Delete arrives first: delivery jobs keep no order
// between them (FEDERATION.md), so a retried Create may come after the Delete.
func TestEinspruchDeletedBeforeItsCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.store(remoteAntrag(plagwitz, "1"))
	emil, frieda := resident(plagwitz, "emil"), resident(plagwitz, "frieda")
	del := func(object, actor string) {
		t.Helper()
		if err := database.InTx(f.ctx, f.pool, func(tx *database.Tx) error { return f.svc.DeleteEinspruchTx(f.ctx, tx, object, actor) }); err != nil {
			t.Fatal(err)
		}
	}
	del(a.IRI+"/einsprueche/emil", emil.IRI)
	del(plagwitz+"/ap/antraege/9/einsprueche/emil", emil.IRI) // an Antrag we do not keep: nothing, no error
	for _, who := range []nachbarn.Person{emil, frieda} {
		if err := f.svc.AddEinspruch(f.ctx, nachbarn.Einspruch{Antrag: a.IRI, Author: who, Reason: "Beleidigung von " + who.Name, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range f.view(a).Einsprueche {
		got = append(got, e.Author.Name)
	}
	if !slices.Equal(got, []string{"frieda"}) {
		t.Errorf("shown after Emil's Delete and his late Create: %q, want only Frieda's", got)
	}
	if n := f.count(`SELECT count(*) FROM remote_einsprueche WHERE reason LIKE '%emil%'`); n != 0 {
		t.Errorf("Emil's deleted Einspruch's words are kept")
	}
}

// A neighbour's Delete of its Antrag (a moderator there hid it) is kept, with its time, also
// when the Antrag was never seen here: a Create or Update sent no later than the Delete stores
// nothing, whichever arrives first; the first state sent after it (the origin's Update once the
// Antrag is shown again) is stored. A Delete older than the state kept (a retry that came after
// that Update) leaves the Antrag shown. Another actor's Delete is no tombstone of it.
func TestAntragDeletedBeforeItsCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := remoteAntrag(plagwitz, "1")
	hiddenAt := t0.Add(time.Hour)
	del := func(actor string, at time.Time) {
		t.Helper()
		if err := database.InTx(f.ctx, f.pool, func(tx *database.Tx) error { return f.svc.DeleteAntragTx(f.ctx, tx, a.IRI, actor, at) }); err != nil {
			t.Fatal(err)
		}
	}
	del(plagwitz+"/ap/users/mallory", hiddenAt.Add(time.Hour)) // not the Antrag's actor: no tombstone of it
	del(a.Actor, hiddenAt)
	for _, sent := range []time.Time{t0, hiddenAt} {
		late := a
		late.Sent = sent
		if err := f.svc.StoreAntrag(f.ctx, late); !errors.Is(err, nachbarn.ErrStale) {
			t.Errorf("a state sent at %s, before the Delete, stored: %v", sent, err)
		}
	}
	if n := f.count(`SELECT count(*) FROM remote_antraege`); n != 0 {
		t.Fatalf("%d Anträge kept after the Delete and a late Create", n)
	}

	shown := a
	shown.Sent = hiddenAt.Add(time.Minute) // the origin's Update once shown again
	got := f.store(shown)
	if got.Title != "Bank am Teich" || got.Status != "abstimmung" {
		t.Fatalf("shown again: %+v", got)
	}
	del(a.Actor, hiddenAt) // the same Delete again, retried after that Update
	if got, _ := f.svc.Find(f.ctx, a.IRI); got.Title != "Bank am Teich" || got.Status != "abstimmung" {
		t.Errorf("an older Delete withdrew the Antrag shown again: %+v", got)
	}

	// Hidden again: withdrawn without words, and its Einsprüche lose theirs; one raised before
	// that Delete and arriving after it keeps none, one raised later keeps its words.
	emil, frieda, gerd := resident(plagwitz, "emil"), resident(plagwitz, "frieda"), resident(plagwitz, "gerd")
	if err := f.svc.AddEinspruch(f.ctx, nachbarn.Einspruch{Antrag: a.IRI, Author: emil, Reason: "Worte von Emil", CreatedAt: hiddenAt.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	del(a.Actor, hiddenAt.Add(time.Hour))
	for _, e := range []nachbarn.Einspruch{
		{Antrag: a.IRI, Author: frieda, Reason: "Worte von Frieda", CreatedAt: hiddenAt.Add(3 * time.Minute)},
		{Antrag: a.IRI, Author: gerd, Reason: "Gerd, später", CreatedAt: hiddenAt.Add(2 * time.Hour)},
	} {
		if err := f.svc.AddEinspruch(f.ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := f.svc.Find(f.ctx, a.IRI); got.Title != "" || got.DetailsHTML != "" || got.Status != "zurueckgezogen" {
		t.Errorf("hidden again: %+v", got)
	}
	var reasons []string
	for _, e := range f.view(got).Einsprueche {
		reasons = append(reasons, e.Author.Name+": "+e.Reason)
	}
	if want := []string{"emil: ", "frieda: ", "gerd: Gerd, später"}; !slices.Equal(reasons, want) {
		t.Errorf("Einsprüche after the second Delete: %q, want %q", reasons, want)
	}
}
