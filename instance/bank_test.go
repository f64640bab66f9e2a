package instance_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/text/encoding/charmap"

	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

const bankIBAN = "DE02120300000000202051"

// camtStatement is a camt.053.001.02 statement of the Ortskonto with one booked credit per
// (amount, bank reference, remittance text).
func camtStatement(day string, credits ...[3]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>1</MsgId></GrpHdr>
<Stmt><Id>S-%s</Id><Acct><Id><IBAN>%s</IBAN></Id></Acct>`, day, bankIBAN)
	for _, c := range credits {
		fmt.Fprintf(&b, `<Ntry><Amt Ccy="EUR">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>%s</Dt></BookgDt>
<AcctSvcrRef>%s</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Kontoinhaberin</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`, c[0], day, c[1], c[2])
	}
	b.WriteString(`</Stmt></BkToCstmrStmt></Document>`)
	return b.String()
}

// The treasurer's bank routes over HTTP: import a statement, see what did not match, download
// the month's journal for the treasurer and the accountant.
func TestBankImportAndExportsOverHTTP(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	datev, _ := export.DefaultDATEV("04")
	datev.Berater, datev.Mandant = 29098, 55003
	inst := instancetest.Start(t, instancetest.Options{Bank: httpapi.Bank{Timezone: berlin, DATEV: datev}})
	ctx := context.Background()
	adminC := inst.Admin()
	admin, err := inst.Accounts.Get(ctx, uuid.MustParse(adminC.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Konto.Configure(ctx, admin, ortskonto.Settings{Empfaenger: "Ortsweberei e.V.", IBAN: bankIBAN,
		Position: geo.Point{Lat: 51.3397, Lon: 12.3731}}); err != nil {
		t.Fatal(err)
	}
	residentC := inst.Resident("Jana Sichtbar", 51.34, 12.37)
	jana, _ := inst.Accounts.Get(ctx, uuid.MustParse(residentC.ID))
	otherC := inst.Resident("Otto Verborgen", 51.34, 12.37)
	otto, _ := inst.Accounts.Get(ctx, uuid.MustParse(otherC.ID))
	visible, _, err := inst.Konto.Donate(ctx, jana, ortskonto.Donation{AmountCents: 1250, Visible: true}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	anon, _, err := inst.Konto.Donate(ctx, otto, ortskonto.Donation{AmountCents: 700, Visible: false}, "k2")
	if err != nil {
		t.Fatal(err)
	}
	now := inst.Clock.Now().In(berlin)
	day := now.Format(time.DateOnly)
	doc := camtStatement(day, [3]string{"12.50", "R1", "Spende " + visible.Reference}, [3]string{"7.00", "R2", strings.ToLower(anon.Reference)},
		[3]string{"20.00", "R3", "Mitgliedsbeitrag"})

	// Only the treasurer imports (and before the body is read).
	if res := residentC.DoWith("POST", "/api/konto/camt", doc, "application/xml"); res.Status != http.StatusForbidden || res.ErrorCode() != "treasurer_required" {
		t.Fatalf("a resident imported: %d %s", res.Status, res.Body)
	}
	var out struct {
		Entries, Credits, Settled, AlreadyImported int
		Unmatched                                  []struct {
			AmountCents int64  `json:"amount_cents"`
			Reason      string `json:"reason"`
			DebtorName  string `json:"debtor_name"`
			BookingDate string `json:"booking_date"`
		}
	}
	adminC.DoWith("POST", "/api/konto/camt", doc, "application/xml").Expect(t, http.StatusOK).JSON(t, &out)
	if out.Entries != 3 || out.Credits != 3 || out.Settled != 2 || len(out.Unmatched) != 1 ||
		out.Unmatched[0].Reason != "no_reference" || out.Unmatched[0].DebtorName != "Kontoinhaberin" || out.Unmatched[0].BookingDate != day {
		t.Fatalf("import %+v", out)
	}
	var again map[string]any
	adminC.DoWith("POST", "/api/konto/camt", doc, "text/xml").Expect(t, http.StatusOK).JSON(t, &again)
	if again["already_imported"] != 3.0 || again["settled"] != 0.0 || len(again["unmatched"].([]any)) != 0 {
		t.Errorf("the same statement again: %v", again)
	}
	// A statement that cannot be read stores nothing and says where.
	rows := inst.Count(`SELECT count(*) FROM bankumsaetze`)
	bad := strings.Replace(camtStatement(day, [3]string{"1.00", "R9", "x"}), "<Amt Ccy=\"EUR\">1.00", "<Amt Ccy=\"EUR\">1,00", 1)
	res := adminC.DoWith("POST", "/api/konto/camt", bad, "application/xml")
	if res.Status != http.StatusBadRequest || res.ErrorCode() != "camt_malformed" || !bytes.Contains(res.Body, []byte("Ntry[1]/Amt")) {
		t.Errorf("malformed: %d %s", res.Status, res.Body)
	}
	if n := inst.Count(`SELECT count(*) FROM bankumsaetze`); n != rows {
		t.Errorf("a refused statement stored %d rows", n-rows)
	}
	huge := bytes.Repeat([]byte(" "), httpapi.MaxCAMTBytes+1)
	if res := adminC.DoWith("POST", "/api/konto/camt", huge, "application/xml"); res.Status != http.StatusRequestEntityTooLarge || res.ErrorCode() != "camt_too_large" {
		t.Errorf("too large: %d %s", res.Status, res.Body)
	}

	// The list of what did not match, for the treasurer only.
	var list struct {
		Umsaetze []map[string]any `json:"umsaetze"`
	}
	adminC.Get("/api/konto/umsaetze?unmatched=true").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Umsaetze) != 1 || list.Umsaetze[0]["remittance"] != "Mitgliedsbeitrag" {
		t.Errorf("unmatched list %v", list)
	}
	adminC.Get("/api/konto/umsaetze").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Umsaetze) != 3 {
		t.Errorf("%d transactions listed", len(list.Umsaetze))
	}
	var page struct {
		Umsaetze []map[string]any `json:"umsaetze"`
		Next     *int64           `json:"next"`
	}
	adminC.Get("/api/konto/umsaetze?limit=2").Expect(t, http.StatusOK).JSON(t, &page)
	if len(page.Umsaetze) != 2 || page.Next == nil {
		t.Fatalf("first page %+v", page)
	}
	adminC.Get(fmt.Sprintf("/api/konto/umsaetze?limit=2&before=%d", *page.Next)).Expect(t, http.StatusOK).JSON(t, &page)
	if len(page.Umsaetze) != 1 || page.Next != nil {
		t.Errorf("second page %+v", page)
	}
	if res := adminC.Get("/api/konto/umsaetze?before=x"); res.ErrorCode() != "invalid_filter" {
		t.Errorf("before=x: %d %s", res.Status, res.Body)
	}
	if res := residentC.Get("/api/konto/umsaetze?unmatched=true"); res.ErrorCode() != "treasurer_required" {
		t.Errorf("a resident listed: %d", res.Status)
	}
	if res := adminC.Get("/api/konto/umsaetze?unmatched=ja"); res.ErrorCode() != "invalid_filter" {
		t.Errorf("unmatched=ja: %d %s", res.Status, res.Body)
	}

	// The month's journal: the treasurer's CSV names the anonymous donor internally, the
	// accountant's DATEV file does not.
	month := now.Format("2006-01")
	res = adminC.Get("/api/konto/export?month="+month+"&format=csv").Expect(t, http.StatusOK)
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="ortskonto-`+month+`.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if !bytes.HasPrefix(res.Body, []byte("\uFEFFBelegnummer;")) || !bytes.Contains(res.Body, []byte(";12,50;EUR;"+visible.Reference+";Jana Sichtbar;Jana Sichtbar;")) ||
		!bytes.Contains(res.Body, []byte(";7,00;EUR;"+anon.Reference+";anonym;Otto Verborgen;")) {
		t.Errorf("CSV:\n%s", res.Body)
	}
	res = adminC.Get("/api/konto/export?month="+month+"&format=datev").Expect(t, http.StatusOK)
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, "EXTF_Buchungsstapel_Ortskonto_"+month+".csv") {
		t.Errorf("Content-Disposition %q", cd)
	}
	text, _ := charmap.Windows1252.NewDecoder().Bytes(res.Body)
	if !bytes.HasPrefix(text, []byte(`"EXTF";700;21;"Buchungsstapel";13;`)) || !bytes.Contains(text, []byte(";29098;55003;")) ||
		!bytes.Contains(text, []byte(`12,50;"S";"EUR";;;;1800;4830;"";`)) || !bytes.Contains(text, []byte(`"Spende anonym"`)) || bytes.Contains(text, []byte("Verborgen")) {
		t.Errorf("DATEV:\n%s", text)
	}
	for q, code := range map[string]string{
		"month=" + month + "&format=xlsx": "invalid_format",
		"month=2026-13&format=csv":        "invalid_month",
		"format=csv":                      "invalid_month",
	} {
		if res := adminC.Get("/api/konto/export?" + q); res.ErrorCode() != code {
			t.Errorf("%s: %d %s, want %s", q, res.Status, res.Body, code)
		}
	}
	if res := residentC.Get("/api/konto/export?month=" + month + "&format=csv"); res.ErrorCode() != "treasurer_required" {
		t.Errorf("a resident exported: %d", res.Status)
	}
}

// Without the accountant's numbers there is no DATEV file (DATEV would refuse it), and the
// treasurer is told so before a byte is sent.
func TestDATEVExportNeedsItsNumbers(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	adminC := inst.Admin()
	res := adminC.Get("/api/konto/export?month=2026-11&format=datev")
	if res.Status != http.StatusConflict || res.ErrorCode() != "datev_not_configured" {
		t.Errorf("%d %s", res.Status, res.Body)
	}
	adminC.Get("/api/konto/export?month=2026-11&format=csv").Expect(t, http.StatusOK)
}

// A paid payout is in the month's exports with its Antrag: the CSV's Antrag column, the DATEV
// Buchungstext on the payouts account, Haben on the bank, its Belegnummer as Belegfeld 1.
func TestExportsNameAPayoutsAntrag(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	datev, _ := export.DefaultDATEV("04")
	datev.Berater, datev.Mandant = 29098, 55003
	inst := instancetest.Start(t, instancetest.Options{Bank: httpapi.Bank{Timezone: berlin, DATEV: datev}})
	ada := inst.VerifiedResident("Ada", lat, lon)
	kasse := inst.Admin()
	settle(t, inst, 10000)
	a := fileWithBetrag(t, ada, "Bänke für den Marktplatz", 6000)
	advanceTo(t, inst, a.DecisionDeadline)
	p := antragPayout(t, ada, a.ID)
	payoutStep(t, kasse, p.ID, "geleistet", http.StatusOK)
	var seq int
	if err := inst.Pool.QueryRow(context.Background(), `SELECT seq FROM buchungen WHERE kind = 'auszahlung'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	now := inst.Clock.Now().In(berlin)
	month := now.Format("2006-01")

	csv := kasse.Get("/api/konto/export?month="+month+"&format=csv").Expect(t, http.StatusOK).Body
	if want := fmt.Sprintf("\r\n%d;%s;Auszahlung;-60,00;EUR;", seq, now.Format("02.01.2006")); !bytes.Contains(csv, []byte(want)) ||
		!bytes.Contains(csv, []byte(";;;Bänke für den Marktplatz\r\n")) {
		t.Errorf("CSV (want %q):\n%s", want, csv)
	}
	raw := kasse.Get("/api/konto/export?month="+month+"&format=datev").Expect(t, http.StatusOK).Body
	text, _ := charmap.Windows1252.NewDecoder().Bytes(raw)
	if want := fmt.Sprintf(`60,00;"H";"EUR";;;;1800;6300;"";%s;"%d";"";;"Auszahlung Bänke für den Marktplatz"`, now.Format("0201"), seq); !bytes.Contains(text, []byte(want)) {
		t.Errorf("DATEV (want %s):\n%s", want, text)
	}
}
