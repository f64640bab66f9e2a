package instance_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Payouts for accepted Anträge (docs/ORTSKONTO.md, "Auszahlungen").

type auszahlungOut struct {
	ID          string `json:"id"`
	BetragCents int64  `json:"betrag_cents"`
	Status      string `json:"status"`
	Gedeckt     *bool  `json:"gedeckt"`
}

type antragMitAuszahlung struct {
	antragOut
	Auszahlung *auszahlungOut `json:"auszahlung"`
}

func fileWithBetrag(t *testing.T, c *instancetest.Client, title string, betrag int64) antragMitAuszahlung {
	t.Helper()
	var a antragMitAuszahlung
	c.Post("/api/antraege", map[string]any{"title": title, "betrag_cents": betrag}).Expect(t, http.StatusCreated).JSON(t, &a)
	if a.Auszahlung == nil || a.Auszahlung.Status != "beantragt" || a.Auszahlung.BetragCents != betrag || a.Auszahlung.Gedeckt != nil {
		t.Fatalf("a filed Antrag carries its payout, asked for and not yet covered or not: %+v", a.Auszahlung)
	}
	return a
}

func antragPayout(t *testing.T, c *instancetest.Client, id string) auszahlungOut {
	t.Helper()
	var a antragMitAuszahlung
	c.Get("/api/antraege/"+id).Expect(t, http.StatusOK).JSON(t, &a)
	if a.Auszahlung == nil {
		t.Fatalf("Antrag %s carries no payout", id)
	}
	return *a.Auszahlung
}

// settle puts cents on the Ortskonto: a donation, seen and booked by an admin.
func settle(t *testing.T, inst *instancetest.Instance, cents int64) {
	t.Helper()
	ctx := context.Background()
	admin, err := inst.Accounts.CreateAdmin(ctx, "Kasse", fmt.Sprintf("kasse-%s@example.org", uuid.NewString()), "admin password")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := inst.Konto.Konto(ctx); err != nil {
		t.Fatal(err)
	} else if k.Bank == nil {
		if _, err := inst.Konto.Configure(ctx, admin, ortskonto.Settings{Empfaenger: "Ortsweberei Lindenau e. V.",
			IBAN: "DE02120300000000202051", Position: geo.Point{Lat: lat, Lon: lon}}); err != nil {
			t.Fatal(err)
		}
	}
	sp, _, err := inst.Konto.Donate(ctx, admin, ortskonto.Donation{AmountCents: cents, Visible: false}, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{ortskonto.StatusPending, ortskonto.StatusSettled} {
		if _, err := inst.Konto.Transition(ctx, admin, sp.ID, to, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func konto(t *testing.T, inst *instancetest.Instance) ortskonto.Konto {
	t.Helper()
	k, err := inst.Konto.Konto(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// balance is the money of a Konto, comparable.
type balance struct{ settled, reversed, pending, reserved, paid int64 }

func money(k ortskonto.Konto) balance {
	return balance{k.SettledCents, k.ReversedCents, k.PendingCents, k.ReservedCents, k.PaidCents}
}

func payoutStep(t *testing.T, c *instancetest.Client, id, status string, want int) *instancetest.Response {
	t.Helper()
	return c.Post("/api/auszahlungen/"+id+"/status", map[string]string{"status": status}).Expect(t, want)
}

// An Antrag accepted at its deadline without Einspruch reserves its payout (covered); the
// treasurer pays it: booked in the journal with −amount, off the balance, the reservation
// gone. Every step is an event in the Antrag's or the payout's own transaction.
func TestAuszahlungAcceptedWithoutEinspruchIsReservedAndPaid(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	kasse := inst.Admin() // admins may always act as treasurer
	settle(t, inst, 10000)

	a := fileWithBetrag(t, ada, "Bank am Spielplatz", 6000)
	if n := inst.Count(`
SELECT count(*) FROM events p JOIN events r ON r.id = p.correlation_id
WHERE p.type = 'AuszahlungBeantragt' AND r.type = 'AntragGestellt' AND r.subject_id = $1`, a.ID); n != 1 {
		t.Fatalf("AuszahlungBeantragt is written with the Antrag, caused by its AntragGestellt: %d", n)
	}
	if k := konto(t, inst); k.ReservedCents != 0 {
		t.Fatalf("asking reserves nothing yet: %+v", k)
	}
	var list struct {
		Antraege []antragMitAuszahlung `json:"antraege"`
	}
	inst.Client().Get("/api/antraege").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Antraege) != 1 || list.Antraege[0].Auszahlung == nil || list.Antraege[0].Auszahlung.ID != a.Auszahlung.ID {
		t.Fatalf("the listing carries the payout: %+v", list.Antraege)
	}

	advanceTo(t, inst, a.DecisionDeadline)
	p := antragPayout(t, ada, a.ID)
	if p.Status != "bewilligt" || p.Gedeckt == nil || !*p.Gedeckt {
		t.Fatalf("accepted without Einspruch, 60 € of 100 €: bewilligt and gedeckt: %+v", p)
	}
	if n := inst.Count(`
SELECT count(*) FROM events p JOIN events r ON r.id = p.correlation_id
WHERE p.type = 'AuszahlungBewilligt' AND r.type = 'AntragAngenommen' AND r.subject_id = $1`, a.ID); n != 1 {
		t.Fatalf("AuszahlungBewilligt is written with AntragAngenommen, caused by it: %d", n)
	}
	if k := konto(t, inst); k.ReservedCents != 6000 || k.AvailableCents() != 4000 || k.BalanceCents() != 10000 {
		t.Fatalf("approved: reserved 60 €, 40 € available, the balance untouched: %+v", k)
	}

	var paid struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Antrag struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"antrag"`
	}
	payoutStep(t, kasse, p.ID, "geleistet", http.StatusOK).JSON(t, &paid)
	if paid.Status != "geleistet" || paid.Antrag.ID != a.ID || paid.Antrag.Title != "Bank am Spielplatz" {
		t.Fatalf("paid: %+v", paid)
	}
	if k := konto(t, inst); k.ReservedCents != 0 || k.PaidCents != 6000 || k.BalanceCents() != 4000 || k.AvailableCents() != 4000 {
		t.Fatalf("paid: 60 € off the balance, nothing reserved: %+v", k)
	}
	if n := inst.Count(`SELECT count(*) FROM buchungen WHERE kind = 'auszahlung' AND amount_cents = -6000 AND auszahlung_id = $1`, p.ID); n != 1 {
		t.Fatalf("one booking of −60 € for the payout, found %d", n)
	}
	var booked []ortskonto.Buchung
	k := money(konto(t, inst))
	if err := inst.Konto.Journal(context.Background(), a.OpenedAt.AddDate(-1, 0, 0), a.OpenedAt.AddDate(1, 0, 0), func(b ortskonto.Buchung) error {
		booked = append(booked, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last := booked[len(booked)-1]; last.Kind != ortskonto.KindAuszahlung || last.AmountCents != -6000 || last.AuszahlungID == nil || last.AuszahlungID.String() != p.ID {
		t.Fatalf("the journal ends with the payout: %+v", last)
	}
	if got := antragPayout(t, ada, a.ID); got.Status != "geleistet" {
		t.Fatalf("the Antrag shows its payout paid: %+v", got)
	}
	var pub struct {
		BalanceCents   int64 `json:"balance_cents"`
		ReservedCents  int64 `json:"reserved_cents"`
		PaidCents      int64 `json:"paid_cents"`
		AvailableCents int64 `json:"available_cents"`
		Auszahlungen   []struct {
			ID          string
			Status      string
			BetragCents int64 `json:"betrag_cents"`
			Gedeckt     *bool
			Antrag      struct{ ID, Title string }
		}
	}
	inst.Client().Get("/api/konto").Expect(t, http.StatusOK).JSON(t, &pub)
	if pub.BalanceCents != 4000 || pub.ReservedCents != 0 || pub.PaidCents != 6000 || pub.AvailableCents != 4000 ||
		len(pub.Auszahlungen) != 1 || pub.Auszahlungen[0].ID != p.ID || pub.Auszahlungen[0].Status != "geleistet" ||
		pub.Auszahlungen[0].Antrag.Title != "Bank am Spielplatz" || pub.Auszahlungen[0].Gedeckt == nil || !*pub.Auszahlungen[0].Gedeckt {
		t.Fatalf("GET /api/konto: %+v", pub)
	}
	var journal struct {
		Buchungen []struct {
			Kind        string
			AmountCents int64 `json:"amount_cents"`
			Donor       any
			Antrag      *struct{ ID, Title string }
		}
	}
	inst.Client().Get("/api/konto/journal").Expect(t, http.StatusOK).JSON(t, &journal)
	if j := journal.Buchungen; len(j) != 2 || j[0].Kind != "auszahlung" || j[0].AmountCents != -6000 || j[0].Donor != nil ||
		j[0].Antrag == nil || j[0].Antrag.ID != a.ID || j[0].Antrag.Title != "Bank am Spielplatz" || j[1].Antrag != nil {
		t.Fatalf("the public journal shows the payout with its Antrag, newest first: %+v", j)
	}

	// Paid is final: neither paid again nor cancelled; nothing changes.
	rows, events := inst.Count(`SELECT count(*) FROM buchungen`), inst.Count(`SELECT count(*) FROM events`)
	for _, to := range []string{"geleistet", "abgebrochen"} {
		if code := payoutStep(t, kasse, p.ID, to, http.StatusConflict).ErrorCode(); code != "illegal_transition" {
			t.Errorf("%s after geleistet: %q", to, code)
		}
	}
	if k2 := money(konto(t, inst)); k2 != k || inst.Count(`SELECT count(*) FROM buchungen`) != rows || inst.Count(`SELECT count(*) FROM events`) != events {
		t.Fatalf("a refused step changed something: %+v → %+v", k, k2)
	}
}

// Through an Abstimmung: accepted → bewilligt, not covered when the available balance is
// short (still reserved, recorded as such); rejected and withdrawn → entfallen, nothing reserved.
func TestAuszahlungThroughAbstimmungAndNotCovered(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	kasse := inst.Admin()
	settle(t, inst, 5000)

	passes := fileWithBetrag(t, ada, "Mehrheit", 3000)
	short := fileWithBetrag(t, ada, "Zu teuer", 2500) // 50 € − 30 € reserved first = 20 € available
	fails := fileWithBetrag(t, ada, "Minderheit", 1000)
	withdrawn := fileWithBetrag(t, ada, "Doch nicht", 1000)
	for _, a := range []antragMitAuszahlung{passes, short, fails} {
		object(t, ben, a.ID, "Einwand")
	}
	var w antragMitAuszahlung
	ada.Post("/api/antraege/"+withdrawn.ID+"/withdraw", nil).Expect(t, http.StatusOK).JSON(t, &w)
	if w.Auszahlung == nil || w.Auszahlung.Status != "entfallen" {
		t.Fatalf("a withdrawn Antrag's payout lapses: %+v", w.Auszahlung)
	}
	inst.Advance("14d")
	ids := map[string]string{}
	for name, a := range map[string]antragMitAuszahlung{"passes": passes, "short": short, "fails": fails} {
		got := getAntrag(t, ada, a.ID)
		if got.AbstimmungID == nil {
			t.Fatalf("%s: no Abstimmung", name)
		}
		ids[name] = *got.AbstimmungID
		if p := antragPayout(t, ada, a.ID); p.Status != "beantragt" {
			t.Fatalf("%s: going to a vote decides nothing about the payout: %+v", name, p)
		}
	}
	castVote(t, ada, ids["passes"], "yes")
	castVote(t, ada, ids["short"], "yes")
	castVote(t, ben, ids["fails"], "no")
	inst.Advance("7d")

	// The two votes close at the same moment; whichever is decided second sees the first's
	// reservation. 30 € + 25 € > 50 €: exactly one of them is not covered.
	pp, ps := antragPayout(t, ada, passes.ID), antragPayout(t, ada, short.ID)
	if pp.Status != "bewilligt" || ps.Status != "bewilligt" || pp.Gedeckt == nil || ps.Gedeckt == nil || *pp.Gedeckt == *ps.Gedeckt {
		t.Fatalf("of 30 € and 25 € approved from 50 €, one is covered and one is not: %+v, %+v", pp, ps)
	}
	if p := antragPayout(t, ada, fails.ID); p.Status != "entfallen" || p.Gedeckt != nil {
		t.Fatalf("rejected: the payout lapses: %+v", p)
	}
	if k := konto(t, inst); k.ReservedCents != 5500 || k.AvailableCents() != -500 || k.BalanceCents() != 5000 {
		t.Fatalf("both approved payouts are reserved, covered or not: %+v", k)
	}
	if n := inst.Count(`
SELECT count(*) FROM events p JOIN events r ON r.id = p.correlation_id
WHERE p.type = 'AuszahlungEntfallen' AND r.type IN ('AntragAbgelehnt', 'AntragZurueckgezogen')`); n != 2 {
		t.Fatalf("AuszahlungEntfallen written with the rejection and the withdrawal: %d", n)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'AuszahlungBewilligt' AND (payload->>'gedeckt')::boolean = false`); n != 1 {
		t.Fatalf("the approval that was not covered is recorded as such: %d", n)
	}

	// A lapsed payout is neither paid nor cancelled; cancelling an approved one releases it.
	events := inst.Count(`SELECT count(*) FROM events`)
	for _, to := range []string{"geleistet", "abgebrochen"} {
		if code := payoutStep(t, kasse, antragPayout(t, ada, fails.ID).ID, to, http.StatusConflict).ErrorCode(); code != "illegal_transition" {
			t.Errorf("%s of a lapsed payout: %q", to, code)
		}
	}
	if inst.Count(`SELECT count(*) FROM events`) != events {
		t.Fatal("a refused step appended an event")
	}
	payoutStep(t, kasse, ps.ID, "abgebrochen", http.StatusOK)
	if k := konto(t, inst); k.ReservedCents != 3000 || k.PaidCents != 0 || k.BalanceCents() != 5000 || k.AvailableCents() != 2000 {
		t.Fatalf("a cancelled payout releases its reservation and books nothing: %+v", k)
	}
	if n := inst.Count(`SELECT count(*) FROM buchungen WHERE kind = 'auszahlung'`); n != 0 {
		t.Fatalf("%d payout bookings, want none", n)
	}
}

// Who may step, what may be asked for: every refusal changes nothing.
func TestAuszahlungRefusals(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	kasse := inst.Admin()

	for _, body := range []string{
		`{"title": "Null", "betrag_cents": 0}`,
		`{"title": "Negativ", "betrag_cents": -100}`,
		`{"title": "Bruch", "betrag_cents": 12.5}`,
		`{"title": "Exponent", "betrag_cents": 1e3}`,
		`{"title": "Text", "betrag_cents": "100"}`,
		`{"title": "Wahr", "betrag_cents": true}`,
		`{"title": "Zu viel", "betrag_cents": 100000001}`,
		`{"title": "Riesig", "betrag_cents": 99999999999999999999}`,
	} {
		if code := ada.DoWith("POST", "/api/antraege", body, "application/json").Expect(t, http.StatusBadRequest).ErrorCode(); code != "invalid_amount" {
			t.Errorf("%s: %q", body, code)
		}
	}
	if n := inst.Count(`SELECT count(*) FROM antraege`) + inst.Count(`SELECT count(*) FROM auszahlungen`); n != 0 {
		t.Fatalf("a refused amount stored something: %d rows", n)
	}
	var none antragMitAuszahlung
	ada.Post("/api/antraege", map[string]any{"title": "Ohne Geld", "betrag_cents": nil}).Expect(t, http.StatusCreated).JSON(t, &none)
	if none.Auszahlung != nil {
		t.Fatalf("an Antrag that asks for nothing has no payout: %+v", none.Auszahlung)
	}
	a := fileWithBetrag(t, ada, "Höchstbetrag", 100000000)

	// Asked for, not yet approved: the treasurer cannot pay or cancel it.
	for _, to := range []string{"geleistet", "abgebrochen"} {
		if code := payoutStep(t, kasse, a.Auszahlung.ID, to, http.StatusConflict).ErrorCode(); code != "illegal_transition" {
			t.Errorf("%s before approval: %q", to, code)
		}
	}
	advanceTo(t, inst, a.DecisionDeadline)
	p := antragPayout(t, ada, a.ID)
	if p.Status != "bewilligt" || p.Gedeckt == nil || *p.Gedeckt {
		t.Fatalf("approved from an empty Ortskonto: bewilligt, not covered: %+v", p)
	}
	if code := payoutStep(t, ada, p.ID, "geleistet", http.StatusForbidden).ErrorCode(); code != "treasurer_required" {
		t.Errorf("a resident pays: %q", code)
	}
	if code := payoutStep(t, kasse, p.ID, "bewilligt", http.StatusBadRequest).ErrorCode(); code != "invalid_status" {
		t.Errorf("an unknown target status: %q", code)
	}
	if code := payoutStep(t, kasse, uuid.NewString(), "geleistet", http.StatusNotFound).ErrorCode(); code != "auszahlung_not_found" {
		t.Errorf("an unknown payout: %q", code)
	}
	if code := inst.Client().Post("/api/auszahlungen/"+p.ID+"/status", map[string]string{"status": "geleistet"}).
		Expect(t, http.StatusUnauthorized).ErrorCode(); code != "unauthenticated" {
		t.Errorf("without a session: %q", code)
	}
	if got := antragPayout(t, ada, a.ID); got.Status != p.Status || *got.Gedeckt != *p.Gedeckt || money(konto(t, inst)) != (balance{reserved: 100000000}) {
		t.Fatalf("a refused step changed the payout: %+v → %+v", p, got)
	}

	// A Kassenwart who is no admin may step.
	ctx := context.Background()
	admin, err := inst.Accounts.CreateAdmin(ctx, "Rollen", "rollen@example.org", "admin password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Accounts.GrantRole(ctx, admin, uuid.MustParse(ada.ID), account.Kassenwart); err != nil {
		t.Fatal(err)
	}
	payoutStep(t, ada, p.ID, "geleistet", http.StatusOK)
	if k := konto(t, inst); k.PaidCents != 100000000 || k.BalanceCents() != -100000000 {
		t.Fatalf("a payout not covered and paid all the same shows as a negative balance: %+v", k)
	}
}
