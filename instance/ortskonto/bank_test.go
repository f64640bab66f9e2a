package ortskonto_test

import (
	"context"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// The bank import's tests build CAMT.053 statements in code (camt.053.001.08, the layout of
// most German banks today; the reader's own tests cover the older versions).

const ortsIBAN = "DE02120300000000202051"

type camtTx struct {
	amt   string // "" leaves the transaction's own amount out
	ustrd []string
	name  string
}

type camtNtry struct {
	amt, ccy, cd, sts, book, ref string
	txs                          []camtTx
}

func camtCredit(amt, ref string, ustrd ...string) camtNtry {
	return camtNtry{amt: amt, cd: "CRDT", sts: "BOOK", ref: ref, txs: []camtTx{{ustrd: ustrd, name: "Erika Mustermann"}}}
}

func camtStmt(iban, book string, entries ...camtNtry) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>%sT06:00:00+01:00</CreDtTm></GrpHdr>
<Stmt><Id>STMT-%s</Id><Acct><Id><IBAN>%s</IBAN></Id><Ccy>EUR</Ccy></Acct>
`, book, book, iban)
	for _, e := range entries {
		ccy := e.ccy
		if ccy == "" {
			ccy = "EUR"
		}
		bk := e.book
		if bk == "" {
			bk = book
		}
		fmt.Fprintf(&b, "<Ntry><Amt Ccy=%q>%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>%s</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><ValDt><Dt>%s</Dt></ValDt>",
			ccy, e.amt, e.cd, e.sts, bk, bk)
		if e.ref != "" {
			fmt.Fprintf(&b, "<AcctSvcrRef>%s</AcctSvcrRef>", e.ref)
		}
		if len(e.txs) > 0 {
			b.WriteString("<NtryDtls>")
			for _, t := range e.txs {
				b.WriteString("<TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>")
				if t.amt != "" {
					fmt.Fprintf(&b, "<Amt Ccy=%q>%s</Amt>", ccy, t.amt)
				}
				fmt.Fprintf(&b, "<RltdPties><Dbtr><Pty><Nm>%s</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties>",
					html.EscapeString(t.name))
				b.WriteString("<RmtInf>")
				for _, u := range t.ustrd {
					fmt.Fprintf(&b, "<Ustrd>%s</Ustrd>", html.EscapeString(u))
				}
				b.WriteString("</RmtInf></TxDtls>")
			}
			b.WriteString("</NtryDtls>")
		}
		b.WriteString("</Ntry>\n")
	}
	b.WriteString("</Stmt></BkToCstmrStmt></Document>\n")
	return b.String()
}

func berlinZone(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (r *rig) camtDonate(t testing.TB, who account.Account, cents int64, visible bool) ortskonto.Spende {
	t.Helper()
	sp, _, err := r.konto.Donate(context.Background(), who, ortskonto.Donation{AmountCents: cents, Visible: visible}, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func (r *rig) camtStatus(t testing.TB, sp ortskonto.Spende) string {
	t.Helper()
	var s string
	if err := r.pool.QueryRow(context.Background(), `SELECT status FROM spenden WHERE id = $1`, sp.ID).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (r *rig) camtCount(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := r.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *rig) importCAMT(t testing.TB, doc string) (ortskonto.ImportResult, error) {
	t.Helper()
	return r.konto.ImportCAMT(context.Background(), r.admin, strings.NewReader(doc), berlinZone(t))
}

// spaced writes a reference the way donors and banks mangle it: lower case, spaces instead of
// hyphens.
func camtSpaced(ref string) string { return strings.ToLower(strings.ReplaceAll(ref, "-", " ")) }

func camtReasons(us []ortskonto.Umsatz) map[string]string {
	out := map[string]string{}
	for _, u := range us {
		out[fmt.Sprintf("%d", u.AmountCents)] = u.Reason
	}
	return out
}

func TestCAMTImportSettlesWhatMatches(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana, ben := r.resident(t, "Jana"), r.resident(t, "Ben")
	a := r.camtDonate(t, jana, 1250, true) // initiated; its code lower case with spaces
	b := r.camtDonate(t, ben, 2000, true)  // pending by hand; its code broken over two lines
	c := r.camtDonate(t, jana, 500, true)  // the transfer is for another amount
	d := r.camtDonate(t, ben, 300, false)  // anonymous, inside a batch
	e := r.camtDonate(t, jana, 4200, true) // the bank reports it pending
	f := r.camtDonate(t, ben, 999, true)   // in US dollars
	g := r.camtDonate(t, jana, 100, true)  // its code without hyphens, in AddtlNtryInf only
	if _, err := r.konto.Transition(ctx, r.admin, b.ID, ortskonto.StatusPending, ""); err != nil {
		t.Fatal(err)
	}
	// The bank books the next day; the import runs three days later.
	created := r.clock.Now()
	if _, err := r.clock.Advance(72 * time.Hour); err != nil {
		t.Fatal(err)
	}
	bookDay := created.In(berlinZone(t)).AddDate(0, 0, 1).Format(time.DateOnly)
	bRef := b.Reference
	doc := camtStmt("DE02 1203 0000 0000 2020 51", bookDay,
		camtCredit("12.50", "R1", "Spende "+camtSpaced(a.Reference)+" fürs Gewebe"),
		camtCredit("20.00", "R2", "Danke! "+bRef[:6], bRef[6:9]+"\n"+bRef[9:]),
		camtCredit("7.00", "R3", c.Reference),
		camtCredit("50.00", "R4", "Mitgliedsbeitrag 2026"),
		camtCredit("9.00", "R5", "WG-ZZZZZ-ZZZZZ"),
		camtNtry{amt: "4.99", cd: "DBIT", sts: "BOOK", ref: "R6"},
		camtNtry{amt: "13.00", cd: "CRDT", sts: "BOOK", ref: "R7", txs: []camtTx{
			{amt: "3.00", ustrd: []string{d.Reference}, name: "Anonyma"},
			{amt: "10.00", ustrd: []string{"Sammelüberweisung"}, name: "Verein"},
		}},
		camtNtry{amt: "42.00", cd: "CRDT", sts: "PDNG", ref: "R8", txs: []camtTx{{ustrd: []string{e.Reference}}}},
		camtNtry{amt: "9.99", ccy: "USD", cd: "CRDT", sts: "BOOK", ref: "R9", txs: []camtTx{{ustrd: []string{f.Reference}}}},
	)
	doc = strings.Replace(doc, "</Ntry>\n</Stmt>", "</Ntry>\n<Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><AcctSvcrRef>R10</AcctSvcrRef><AddtlNtryInf>SEPA-GUTSCHRIFT "+strings.ReplaceAll(g.Reference, "-", "")+"</AddtlNtryInf></Ntry>\n</Stmt>", 1)

	res, err := r.importCAMT(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 10 || res.Settled != 4 || res.Pending != 1 || res.AlreadyImported != 0 || res.Credits != 9 {
		t.Errorf("result %+v", res)
	}
	want := map[string]string{"700": "amount_differs", "5000": "no_reference", "900": "unknown_reference", "1000": "no_reference", "999": "currency"}
	if got := camtReasons(res.Unmatched); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unmatched %v, want %v", got, want)
	}
	for sp, st := range map[*ortskonto.Spende]string{&a: "settled", &b: "settled", &c: "initiated", &d: "settled", &e: "pending", &f: "initiated", &g: "settled"} {
		if got := r.camtStatus(t, *sp); got != st {
			t.Errorf("donation of %d cents is %s, want %s", sp.AmountCents, got, st)
		}
	}
	k, err := r.konto.Konto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k.SettledCents != 1250+2000+300+100 || k.BalanceCents() != 3650 || k.PendingCents != 500+4200+999 {
		t.Errorf("konto %+v", k)
	}
	// An initiated donation took both steps, in one transaction, each an event.
	var steps []string
	rows, _ := r.pool.Query(ctx, `SELECT type FROM events WHERE subject_id = $1 ORDER BY id`, a.ID)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		steps = append(steps, s)
	}
	rows.Close()
	if strings.Join(steps, ",") != "SpendeInitiiert,SpendeEingegangen,SpendeGebucht" {
		t.Errorf("events of a: %v", steps)
	}
	// The journal books the money on the bank's day, in the Ortsweberei's zone.
	var booked time.Time
	if err := r.pool.QueryRow(ctx, `SELECT booked_at FROM buchungen WHERE spende_id = $1`, a.ID).Scan(&booked); err != nil {
		t.Fatal(err)
	}
	if got := booked.In(berlinZone(t)); got.Format(time.DateOnly) != bookDay || got.Hour() != 0 {
		t.Errorf("booked at %v, want %s 00:00 Berlin", got, bookDay)
	}
	// The treasurer's list: what did not match, with the debtor as the bank named it.
	list, _, err := r.konto.Umsaetze(ctx, r.admin, true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 || list[0].DebtorName == "" && list[0].Reason != "currency" {
		t.Errorf("unmatched list %+v", list)
	}
	all, _, _ := r.konto.Umsaetze(ctx, r.admin, false, 0, 0)
	if len(all) != 11 { // ten entries, the batch in two
		t.Errorf("%d rows stored, want 11", len(all))
	}
	// Pages: newest first, the statement's last entry on top; every row once.
	for _, unmatched := range []bool{false, true} {
		var paged []ortskonto.Umsatz
		before := int64(0)
		for page := 0; ; page++ {
			us, next, err := r.konto.Umsaetze(ctx, r.admin, unmatched, before, 2)
			if err != nil || page > 10 {
				t.Fatal(err, page)
			}
			paged = append(paged, us...)
			if next == 0 {
				break
			}
			before = next
		}
		want := all
		if unmatched {
			want = list
		}
		if len(paged) != len(want) {
			t.Fatalf("unmatched=%v: %d rows over the pages, want %d", unmatched, len(paged), len(want))
		}
		for i := range paged {
			if paged[i].ID != want[i].ID || i > 0 && paged[i].Nr >= paged[i-1].Nr {
				t.Errorf("unmatched=%v: row %d is %v (nr %d), want %v", unmatched, i, paged[i].ID, paged[i].Nr, want[i].ID)
			}
		}
	}
	if all[0].BankRef != "R10" || all[len(all)-1].BankRef != "R1" {
		t.Errorf("newest first: %s … %s", all[0].BankRef, all[len(all)-1].BankRef)
	}
	if n := r.camtCount(t, `SELECT count(*) FROM events WHERE type = 'KontoauszugImportiert'`); n != 1 {
		t.Errorf("%d import events", n)
	}
}

// Importing the same statement again — or one that overlaps it — changes nothing that was
// imported before.
func TestSameStatementTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	jana := r.resident(t, "Jana")
	a, b := r.camtDonate(t, jana, 1250, true), r.camtDonate(t, jana, 800, false)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	// Entries with and without the bank's reference: the second kind is known by its content;
	// two equal transfers on one day are two entries all the same.
	noRef := func(amt, text string) camtNtry { e := camtCredit(amt, "", text); return e }
	doc := camtStmt(ortsIBAN, today, camtCredit("12.50", "R1", a.Reference), noRef("5.00", "Kaffeekasse"), noRef("5.00", "Kaffeekasse"),
		camtNtry{amt: "1.00", cd: "CRDT", sts: "BOOK", ref: "NONREF", txs: []camtTx{{ustrd: []string{"ohne Referenz"}}}})
	first, err := r.importCAMT(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if first.Settled != 1 || len(first.Unmatched) != 3 || first.AlreadyImported != 0 {
		t.Fatalf("first import %+v", first)
	}
	before := r.camtSnapshot(t)
	again, err := r.importCAMT(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if again.Entries != 4 || again.AlreadyImported != 4 || again.Settled != 0 || len(again.Unmatched) != 0 {
		t.Errorf("second import %+v", again)
	}
	if after := r.camtSnapshot(t); after != before {
		t.Errorf("the second import changed something:\n%s\n%s", before, after)
	}
	// The next day's statement repeats yesterday's last entry and brings b.
	next := camtStmt(ortsIBAN, today, noRef("5.00", "Kaffeekasse"), camtCredit("8.00", "R2", b.Reference))
	res, err := r.importCAMT(t, next)
	if err != nil {
		t.Fatal(err)
	}
	if res.AlreadyImported != 1 || res.Settled != 1 || len(res.Unmatched) != 0 || r.camtStatus(t, b) != "settled" {
		t.Errorf("overlapping import %+v", res)
	}
	// A statement the reader refuses in its last line stores none of its good entries.
	c := r.camtDonate(t, jana, 300, true)
	before = r.camtSnapshot(t)
	bad := camtStmt(ortsIBAN, today, camtCredit("3.00", "R3", c.Reference), camtCredit("1.234", "R4", "drei Nachkommastellen"))
	_, err = r.importCAMT(t, bad)
	if f, ok := fault.As(err); !ok || f.Code != "camt_malformed" || !strings.Contains(f.Message, "Ntry[2]/Amt") || !strings.Contains(f.Message, "line ") {
		t.Errorf("malformed statement: %v", err)
	}
	if after := r.camtSnapshot(t); after != before || r.camtStatus(t, c) != "initiated" {
		t.Errorf("a refused statement changed something:\n%s\n%s", before, after)
	}
}

// snapshot is everything an import may change.
func (r *rig) camtSnapshot(t testing.TB) string {
	t.Helper()
	k, err := r.konto.Konto(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("settled=%d reversed=%d pending=%d counts=%+v rows=%d buchungen=%d events=%d statuses=%d",
		k.SettledCents, k.ReversedCents, k.PendingCents, k.Counts,
		r.camtCount(t, `SELECT count(*) FROM bankumsaetze`), r.camtCount(t, `SELECT count(*) FROM buchungen`),
		r.camtCount(t, `SELECT count(*) FROM events`), r.camtCount(t, `SELECT count(*) FROM spenden WHERE status = 'settled'`))
}

// A returned transfer (a debit carrying a settled donation's code and amount) reverses it;
// one that does not fit goes to the treasurer.
func TestCAMTReturnReversesASettledDonation(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	a, b := r.camtDonate(t, jana, 1250, true), r.camtDonate(t, jana, 600, true)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	if _, err := r.importCAMT(t, camtStmt(ortsIBAN, today, camtCredit("12.50", "R1", a.Reference), camtCredit("6.00", "R2", b.Reference))); err != nil {
		t.Fatal(err)
	}
	c := r.camtDonate(t, jana, 700, true)
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtNtry{amt: "12.50", cd: "DBIT", sts: "BOOK", ref: "R3", txs: []camtTx{{ustrd: []string{"Rücküberweisung " + a.Reference}}}},
		camtNtry{amt: "5.00", cd: "DBIT", sts: "BOOK", ref: "R4", txs: []camtTx{{ustrd: []string{"Teilrückzahlung " + b.Reference}}}},
		camtNtry{amt: "7.00", cd: "DBIT", sts: "BOOK", ref: "R5", txs: []camtTx{{ustrd: []string{"Rückgabe " + c.Reference}}}},
		camtNtry{amt: "30.00", cd: "DBIT", sts: "BOOK", ref: "R6", txs: []camtTx{{ustrd: []string{"Auszahlung Bänke"}}}},
		camtCredit("12.50", "R7", "nochmal "+a.Reference),
	))
	if err != nil {
		t.Fatal(err)
	}
	if res.Reversed != 1 || r.camtStatus(t, a) != "reversed" || r.camtStatus(t, b) != "settled" {
		t.Errorf("result %+v, a %s, b %s", res, r.camtStatus(t, a), r.camtStatus(t, b))
	}
	want := map[string]string{"500": "amount_differs", "700": "not_settled", "1250": "already_reversed"}
	if got := camtReasons(res.Unmatched); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unmatched %v, want %v", got, want)
	}
	k, _ := r.konto.Konto(ctx)
	if k.BalanceCents() != 600 || k.ReversedCents != 1250 {
		t.Errorf("konto %+v", k)
	}
	if n := r.camtCount(t, `SELECT count(*) FROM buchungen WHERE spende_id = $1 AND kind = 'storno' AND amount_cents = -1250`, a.ID); n != 1 {
		t.Errorf("%d Storno bookings", n)
	}
	// A donation settled by hand before the statement came: the credit goes to the treasurer.
	d := r.camtDonate(t, jana, 450, true)
	for _, to := range []string{ortskonto.StatusPending, ortskonto.StatusSettled} {
		if _, err := r.konto.Transition(ctx, r.admin, d.ID, to, ""); err != nil {
			t.Fatal(err)
		}
	}
	res, err = r.importCAMT(t, camtStmt(ortsIBAN, today, camtCredit("4.50", "R8", d.Reference)))
	if err != nil || res.Settled != 0 || len(res.Unmatched) != 1 || res.Unmatched[0].Reason != "already_settled" {
		t.Errorf("already settled: %+v %v", res, err)
	}
}

func TestCAMTImportRefusals(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	before := r.camtSnapshot(t)
	// Another account's statement settles nothing, even with our codes in it.
	_, err := r.importCAMT(t, camtStmt("DE89370400440532013000", today, camtCredit("12.50", "R1", a.Reference)))
	if !fault.Is(err, "camt_wrong_account") {
		t.Errorf("another account: %v", err)
	}
	// Only the treasurer imports, and sees the list.
	if _, err := r.konto.ImportCAMT(ctx, jana, strings.NewReader(camtStmt(ortsIBAN, today, camtCredit("12.50", "R1", a.Reference))), berlinZone(t)); !fault.Is(err, "treasurer_required") {
		t.Errorf("a resident imported: %v", err)
	}
	if _, _, err := r.konto.Umsaetze(ctx, jana, true, 0, 0); !fault.Is(err, "treasurer_required") {
		t.Errorf("a resident listed: %v", err)
	}
	// A day without bookings is a statement too: nothing to do.
	if res, err := r.importCAMT(t, camtStmt(ortsIBAN, today)); err != nil || res.Entries != 0 {
		t.Errorf("a statement without entries: %+v %v", res, err)
	}
	for name, doc := range map[string]string{
		"not XML":  "Buchungstag;Betrag\n",
		"camt.054": strings.ReplaceAll(camtStmt(ortsIBAN, today, camtCredit("12.50", "R1", a.Reference)), "camt.053", "camt.054"),
	} {
		if _, err := r.importCAMT(t, doc); !fault.Is(err, "camt_malformed") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if after := r.camtSnapshot(t); after != before {
		t.Errorf("a refused import changed something:\n%s\n%s", before, after)
	}
	// A Kassenwart who is no admin may import.
	kw := r.resident(t, "Kim")
	kw, err = r.accounts.GrantRole(ctx, r.admin, kw.ID, account.Kassenwart)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.konto.ImportCAMT(ctx, kw, strings.NewReader(camtStmt(ortsIBAN, today, camtCredit("12.50", "R1", a.Reference))), berlinZone(t)); err != nil || res.Settled != 1 {
		t.Errorf("the Kassenwart: %+v %v", res, err)
	}
}

// A double-clicked upload, or two treasurers with the same statement at once: every import
// answers, and each entry counts once.
func TestConcurrentImportsOfOneStatement(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	jana := r.resident(t, "Jana")
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	var entries []camtNtry
	for i := range 20 {
		sp := r.camtDonate(t, jana, int64(100+i), true)
		entries = append(entries, camtCredit(fmt.Sprintf("%d.%02d", (100+i)/100, (100+i)%100), fmt.Sprintf("R%d", i), sp.Reference))
	}
	doc := camtStmt(ortsIBAN, today, entries...)
	const n = 4
	results := make(chan ortskonto.ImportResult, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			res, err := r.importCAMT(t, doc)
			results <- res
			errs <- err
		}()
	}
	settled, already := 0, 0
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("an import failed: %v", err)
		}
		res := <-results
		settled += res.Settled
		already += res.AlreadyImported
	}
	if settled != 20 || already != 20*(n-1) {
		t.Errorf("%d settled, %d already imported; want 20 and %d", settled, already, 20*(n-1))
	}
	if k, _ := r.konto.Konto(context.Background()); k.Counts.Settled != 20 {
		t.Errorf("konto %+v", k)
	}
}
