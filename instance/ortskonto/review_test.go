package ortskonto_test

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// A remittance text may say "WG" before the code — a Wohngemeinschaft donating, or a donor who
// typed "WG" and then pasted the whole code. Ten code-like characters read from that first
// "WG" run into the real code; the real one must still be found and settle its donation.
func TestCAMTCodeAfterAnotherWG(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	b := r.camtDonate(t, jana, 800, true)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtCredit("12.50", "R1", "Spende der WG Mitte "+a.Reference),
		camtCredit("8.00", "R2", "WG "+b.Reference),
	))
	if err != nil {
		t.Fatal(err)
	}
	if res.Settled != 2 || len(res.Unmatched) != 0 {
		t.Errorf("result %+v (unmatched %v)", res, camtReasons(res.Unmatched))
	}
	for _, sp := range []string{r.camtStatus(t, a), r.camtStatus(t, b)} {
		if sp != "settled" {
			t.Errorf("a donation is %s, want settled", sp)
		}
	}
}

// A batch entry is split into its transactions only when they add up to what the bank booked:
// a statement whose batch says 1,00 € on the account but 20,50 € in its transactions must not
// settle 20,50 € of donations.
func TestCAMTBatchThatDoesNotAddUpSettlesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	b := r.camtDonate(t, jana, 800, false)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtNtry{amt: "1.00", cd: "CRDT", sts: "BOOK", ref: "R1", txs: []camtTx{
			{amt: "12.50", ustrd: []string{a.Reference}, name: "Jana"},
			{amt: "8.00", ustrd: []string{b.Reference}, name: "Jana"},
		}},
	))
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.konto.Konto(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Settled != 0 || k.SettledCents != 0 || len(res.Unmatched) != 1 || res.Unmatched[0].AmountCents != 100 {
		t.Errorf("result %+v, settled %d cents", res, k.SettledCents)
	}
	if r.camtStatus(t, a) != "initiated" || r.camtStatus(t, b) != "initiated" {
		t.Errorf("donations %s, %s; want both initiated", r.camtStatus(t, a), r.camtStatus(t, b))
	}
	// The same batch adding up is split and settles both.
	res, err = r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtNtry{amt: "20.50", cd: "CRDT", sts: "BOOK", ref: "R2", txs: []camtTx{
			{amt: "12.50", ustrd: []string{a.Reference}, name: "Jana"},
			{amt: "8.00", ustrd: []string{b.Reference}, name: "Jana"},
		}},
	))
	if err != nil || res.Settled != 2 {
		t.Errorf("a batch that adds up: %+v %v", res, err)
	}
}

// ISO 13616 check digits are 02 to 98: 00, 01 and 99 are never computed, though they pass
// mod 97 where 97, 98 or 02 are right. DE99… is the demo IBAN DE02… mistyped, and must not
// become the account the donors transfer to.
func TestIBANCheckDigitsOutsideTheirRange(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for _, iban := range []string{"DE99120300000000202051", "DE99 1203 0000 0000 2020 51"} {
		_, err := r.konto.Configure(context.Background(), r.admin, ortskonto.Settings{Empfaenger: "e.V.", IBAN: iban, Position: home})
		if !fault.Is(err, "invalid_iban") {
			t.Errorf("IBAN %q: %v, want invalid_iban", iban, err)
		}
	}
	k, err := r.konto.Konto(context.Background())
	if err != nil || k.Bank == nil || k.Bank.IBAN != ortsIBAN {
		t.Errorf("the Ortskonto's IBAN: %+v %v", k.Bank, err)
	}
}

// A return the bank booked before the treasurer settled the donation by hand (the credit was
// seen late) is booked in the journal not before the donation's own booking: a month must not
// hold the Storno of money that the journal books only in the next (the accountant's November
// would show −12,50 € out that never came in).
func TestCAMTReturnIsNotBookedBeforeItsDonation(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	returned := r.clock.Now().In(berlinZone(t)).AddDate(0, 0, 1).Format(time.DateOnly)
	if _, err := r.clock.Advance(72 * time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{ortskonto.StatusPending, ortskonto.StatusSettled} {
		if _, err := r.konto.Transition(ctx, r.admin, a.ID, to, ""); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, returned,
		camtNtry{amt: "12.50", cd: "DBIT", sts: "BOOK", ref: "R1", txs: []camtTx{{ustrd: []string{"Rückgabe " + a.Reference}}}}))
	if err != nil || res.Reversed != 1 {
		t.Fatalf("import %+v %v", res, err)
	}
	var spende, storno time.Time
	if err := r.pool.QueryRow(ctx, `SELECT (SELECT booked_at FROM buchungen WHERE spende_id = $1 AND kind = 'spende'),
       (SELECT booked_at FROM buchungen WHERE spende_id = $1 AND kind = 'storno')`, a.ID).Scan(&spende, &storno); err != nil {
		t.Fatal(err)
	}
	if storno.Before(spende) {
		t.Errorf("the Storno is booked at %v, before its donation's booking at %v", storno, spende)
	}
}

// A pending credit is the bank's notice of what it will book; the booked entry follows in a
// later statement and is the one the treasurer must look at. A pending credit that does not fit
// its donation (another amount) is ignored as the docs say — listed, it would stand in the
// treasurer's list twice, once pending and once booked.
func TestCAMTPendingCreditThatDoesNotFitIsIgnored(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtNtry{amt: "12.00", cd: "CRDT", sts: "PDNG", ref: "R1", txs: []camtTx{{ustrd: []string{a.Reference}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unmatched) != 0 || r.camtStatus(t, a) != "initiated" {
		t.Errorf("pending credit of another amount: %+v (%v), donation %s", res, camtReasons(res.Unmatched), r.camtStatus(t, a))
	}
	all, _, err := r.konto.Umsaetze(context.Background(), r.admin, false, 0, 0)
	if err != nil || len(all) != 1 || all[0].Result != "ignored" || all[0].Reason != "not_booked" {
		t.Errorf("stored %+v %v, want one ignored not_booked", all, err)
	}
	// Booked, the same transfer is listed once.
	res, err = r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtNtry{amt: "12.00", cd: "CRDT", sts: "BOOK", ref: "R1", txs: []camtTx{{ustrd: []string{a.Reference}}}}))
	if err != nil || len(res.Unmatched) != 1 || res.Unmatched[0].Reason != "amount_differs" {
		t.Errorf("booked: %+v %v", res, err)
	}
}

// An import books the money on the bank's day, but what it writes happens now: a donation the
// treasurer marked received by hand on a later day than the bank booked it keeps its history in
// order (its SpendeGebucht is not dated before its SpendeEingegangen, updated_at does not go
// back) and keeps the treasurer's note.
func TestCAMTImportWritesNowAndBooksOnTheBanksDay(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	booked := r.clock.Now().In(berlinZone(t)).AddDate(0, 0, 1).Format(time.DateOnly)
	if _, err := r.clock.Advance(72 * time.Hour); err != nil {
		t.Fatal(err)
	}
	received, err := r.konto.Transition(ctx, r.admin, a.ID, ortskonto.StatusPending, "Überweisung gesehen")
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, booked, camtCredit("12.50", "B1", a.Reference)))
	if err != nil || res.Settled != 1 {
		t.Fatalf("import %+v %v", res, err)
	}
	var eingegangen, gebucht, updated, bookedAt time.Time
	var note string
	if err := r.pool.QueryRow(ctx, `
SELECT (SELECT max(at) FROM events WHERE type = 'SpendeEingegangen' AND subject_id = $1),
       (SELECT max(at) FROM events WHERE type = 'SpendeGebucht' AND subject_id = $1),
       (SELECT updated_at FROM spenden WHERE id = $1), (SELECT note FROM spenden WHERE id = $1),
       (SELECT booked_at FROM buchungen WHERE spende_id = $1 AND kind = 'spende')`, a.ID).
		Scan(&eingegangen, &gebucht, &updated, &note, &bookedAt); err != nil {
		t.Fatal(err)
	}
	if gebucht.Before(eingegangen) {
		t.Errorf("SpendeGebucht at %v, before SpendeEingegangen at %v", gebucht, eingegangen)
	}
	if updated.Before(received.UpdatedAt) {
		t.Errorf("updated_at went back from %v to %v", received.UpdatedAt, updated)
	}
	if note != "Überweisung gesehen" {
		t.Errorf("the treasurer's note became %q", note)
	}
	if !bookedAt.Before(received.UpdatedAt) {
		t.Errorf("the booking is dated %v, not the bank's day %s", bookedAt, booked)
	}
}
