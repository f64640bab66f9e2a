package camt_test

import (
	"errors"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto/camt"
)

const ownIBAN = "DE02120300000000202051"

func readAll(t *testing.T, doc string) ([]camt.Entry, error) {
	t.Helper()
	rd := camt.NewReader(strings.NewReader(doc))
	var out []camt.Entry
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

func mustRead(t *testing.T, doc string) []camt.Entry {
	t.Helper()
	es, err := readAll(t, doc)
	if err != nil {
		t.Fatalf("read: %v\n%s", err, doc)
	}
	return es
}

func day(s string) time.Time {
	d, _ := time.Parse("2006-01-02", s)
	return d
}

// Every version German banks deliver reads to the same entries: the status nested or not,
// the debtor with or without Pty, a batch's amounts under AmtDtls (.02) or Amt (.03 on).
func TestEveryVersionReadsTheSameEntries(t *testing.T) {
	for _, v := range []string{"02", "03", "04", "05", "06", "07", "08"} {
		t.Run("camt.053.001."+v, func(t *testing.T) {
			doc := statement(v, "DE02 1203 0000 0000 2020 51",
				credit("12.50", "REF-1", "Spende WG-7K3QD-", "M9XPA danke"),
				ntry{amt: "4.99", cd: "DBIT", sts: "BOOK", book: "2026-11-03", val: "2026-11-02", svcrRef: "REF-2", ntryRef: "2"},
				ntry{amt: "60.00", cd: "CRDT", sts: "BOOK", book: "2026-11-03", val: "2026-11-04", svcrRef: "REF-3", txs: []txd{
					{amt: "10.00", ustrd: []string{"WG-AAAAA-BBBBB"}, name: "A & B", iban: "DE75512108001245126199", e2e: "E1"},
					{amt: "20", ustrd: []string{"Mitgliedsbeitrag"}, name: "C", e2e: "E2"},
					{amt: "30.0", ref: "RF18539007547034", name: "D", e2e: "E3"},
				}},
				ntry{amt: "0.01", cd: "CRDT", sts: "PDNG", book: "2026-11-04", svcrRef: "REF-4"},
			)
			es := mustRead(t, doc)
			if len(es) != 4 {
				t.Fatalf("%d entries, want 4", len(es))
			}
			e := es[0]
			if e.Statement.IBAN != ownIBAN || e.Statement.ID != "STMT-2026-11-03" || e.Statement.Currency != "EUR" {
				t.Errorf("statement %+v", e.Statement)
			}
			if e.AmountCents != 1250 || e.Currency != "EUR" || !e.Credit || e.Status != camt.Booked || e.AcctSvcrRef != "REF-1" || e.Index != 1 {
				t.Errorf("entry 1 %+v", e)
			}
			if !e.BookingDate.Equal(day("2026-11-03")) || !e.ValueDate.Equal(day("2026-11-03")) {
				t.Errorf("entry 1 dates %v %v", e.BookingDate, e.ValueDate)
			}
			if len(e.Details) != 1 {
				t.Fatalf("entry 1 details %+v", e.Details)
			}
			d := e.Details[0]
			if d.Remittance != "Spende WG-7K3QD- M9XPA danke" || d.DebtorName != "Erika Mustermann" || d.DebtorIBAN != "DE89370400440532013000" || d.EndToEndID != "E2E-REF-1" || d.HasAmount {
				t.Errorf("entry 1 detail %+v", d)
			}
			if e := es[1]; e.Credit || e.AmountCents != 499 || e.NtryRef != "2" || !e.ValueDate.Equal(day("2026-11-02")) || len(e.Details) != 0 {
				t.Errorf("entry 2 %+v", e)
			}
			b := es[2]
			if b.AmountCents != 6000 || len(b.Details) != 3 {
				t.Fatalf("batch %+v", b)
			}
			want := []struct {
				cents      int64
				text, name string
			}{{1000, "WG-AAAAA-BBBBB", "A & B"}, {2000, "Mitgliedsbeitrag", "C"}, {3000, "", "D"}}
			for i, w := range want {
				d := b.Details[i]
				if !d.HasAmount || d.AmountCents != w.cents || d.Currency != "EUR" || d.Remittance != w.text || d.DebtorName != w.name {
					t.Errorf("batch detail %d: %+v, want %+v", i, d, w)
				}
			}
			if b.Details[2].CreditorRef != "RF18539007547034" {
				t.Errorf("structured reference %q", b.Details[2].CreditorRef)
			}
			if e := es[3]; e.Status != camt.Pending || e.AmountCents != 1 || !e.ValueDate.IsZero() {
				t.Errorf("entry 4 %+v", e)
			}
		})
	}
}

func TestAmountsAreExactDecimals(t *testing.T) {
	good := map[string]int64{"0.01": 1, "12.5": 1250, "12.50": 1250, "100": 10000, "007.10": 710,
		"999999999999999.99": 99999999999999999, " 3.00 ": 300, "0.1": 10}
	for in, want := range good {
		es := mustRead(t, statement("08", ownIBAN, ntry{amt: in, cd: "CRDT", sts: "BOOK"}))
		if es[0].AmountCents != want {
			t.Errorf("%q: %d cents, want %d", in, es[0].AmountCents, want)
		}
	}
	bad := map[string]string{
		"12.345":              "more than two decimals",
		"0.001":               "more than two decimals",
		"-1.00":               "not a decimal",
		"+1.00":               "not a decimal",
		"1e3":                 "not a decimal",
		"1,50":                "not a decimal",
		"12.":                 "not a decimal",
		".50":                 "not a decimal",
		"zwölf":               "not a decimal",
		"1 000.00":            "not a decimal",
		"NaN":                 "not a decimal",
		"1000000000000000.00": "too large",
	}
	for in, want := range bad {
		_, err := readAll(t, statement("08", ownIBAN, credit("1.00", "OK"), ntry{amt: in, cd: "CRDT", sts: "BOOK"}))
		var ce *camt.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.Contains(ce.Path, "Ntry[2]/Amt") || ce.Line == 0 {
			t.Errorf("%q: %v, want an error at Ntry[2]/Amt saying %q", in, err, want)
		}
	}
	_, err := readAll(t, strings.Replace(statement("08", ownIBAN, credit("1.00", "X")), `Ccy="EUR">1.00`, `Ccy="euro">1.00`, 1))
	if err == nil || !strings.Contains(err.Error(), "ISO 4217") {
		t.Errorf("bad currency: %v", err)
	}
}

// A refused statement says where: the line and the element.
func TestMalformedStatementsNameWhere(t *testing.T) {
	valid := statement("02", ownIBAN, credit("1.00", "A"), credit("2.00", "B"))
	cases := []struct {
		name, doc, want, path string
	}{
		{"no amount", statement("02", ownIBAN, credit("1.00", "A"), ntry{cd: "CRDT", sts: "BOOK"}), "without an amount", "Stmt[1]/Ntry[2]"},
		{"no indicator", strings.Replace(valid, "<CdtDbtInd>CRDT</CdtDbtInd>\n  <Sts>", "<Sts>", 1), "credit/debit", "Stmt[1]/Ntry[1]"},
		{"bad indicator", strings.Replace(valid, "<CdtDbtInd>CRDT</CdtDbtInd>\n  <Sts>", "<CdtDbtInd>PLUS</CdtDbtInd>\n  <Sts>", 1), "neither CRDT nor DBIT", "Stmt[1]/Ntry[1]/CdtDbtInd"},
		{"no status", statement("02", ownIBAN, ntry{amt: "1.00", cd: "CRDT"}), "without a status", "Stmt[1]/Ntry[1]"},
		{"bad date", strings.Replace(valid, "<BookgDt><Dt>2026-11-03", "<BookgDt><Dt>03.11.2026", 1), "not YYYY-MM-DD", "Stmt[1]/Ntry[1]/BookgDt/Dt"},
		{"unclosed", strings.Replace(valid, "</Ntry>", "", 1), "malformed XML", ""},
		{"truncated", valid[:len(valid)/2], "", ""},
		{"not XML", "Buchungstag;Betrag\n03.11.2026;12,50\n", "", ""},
		{"empty", "", "empty document", ""},
		{"wrong root", `<?xml version="1.0"?><Statement xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>`, "root element is <Statement>", ""},
		{"camt.054", strings.ReplaceAll(valid, "camt.053.001.02", "camt.054.001.02"), "namespace", "Document"},
		{"pain.001", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>`, "namespace", "Document"},
		{"no namespace", `<Document><BkToCstmrStmt/></Document>`, "no namespace", "Document"},
		{"wrong message", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrDbtCdtNtfctn/></Document>`, "not <BkToCstmrStmt>", ""},
		{"text after root", valid + "garbage", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readAll(t, c.doc)
			var ce *camt.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *camt.Error", err)
			}
			if !strings.Contains(ce.Msg, c.want) || c.path != "" && ce.Path != c.path {
				t.Errorf("got %q (path %q), want %q at %q", err, ce.Path, c.want, c.path)
			}
			if c.name != "empty" && ce.Line == 0 {
				t.Errorf("%v: no line", err)
			}
		})
	}
	// The line is where the fault is, not where the reader's buffer happens to be.
	es := mustRead(t, valid)
	doc := statement("02", ownIBAN, credit("1.00", "A"), credit("2.00", "B"), ntry{amt: "1.234", cd: "CRDT", sts: "BOOK"})
	_, err := readAll(t, doc)
	var ce *camt.Error
	errors.As(err, &ce)
	lines := strings.Split(doc, "\n")
	if ce == nil || ce.Line < 1 || ce.Line > len(lines) || !strings.Contains(lines[ce.Line-1], "1.234") {
		t.Errorf("error %v points at the wrong line (entries read before: %d)", err, len(es))
	}
}

// A hostile statement costs the reader a bounded amount of memory and time.
func TestHostileStatementsAreBounded(t *testing.T) {
	huge := statement("08", ownIBAN, credit("1.00", "A", strings.Repeat("x", 50<<20)))
	laughs := `<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt><Ntry><AddtlNtryInf>&c;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>`
	deep := `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt>` +
		strings.Repeat("<Ntry>", 100000) + strings.Repeat("</Ntry>", 100000) + `</Stmt></BkToCstmrStmt></Document>`
	undeclared := strings.Replace(statement("08", ownIBAN, credit("1.00", "A", "LOL")), "LOL", "&lol;", 1)
	manyLines := statement("08", ownIBAN, credit("1.00", "A", strings.Split(strings.Repeat("zeile,", 1000), ",")...))
	bigAttr := strings.Replace(statement("08", ownIBAN, credit("1.00", "A")), `<Amt Ccy="EUR">`, `<Amt Ccy="EUR" x="`+strings.Repeat("y", 1<<20)+`">`, 1)
	longField := statement("08", ownIBAN, credit("1.00", "A", strings.Repeat("y", 8<<10)))
	var batch []txd
	for range 2000 {
		batch = append(batch, txd{amt: "1.00", ustrd: []string{strings.Repeat("z", 3000)}})
	}
	bigEntry := statement("08", ownIBAN, ntry{amt: "2000.00", cd: "CRDT", sts: "BOOK", txs: batch})
	for name, c := range map[string]struct {
		doc, want string
		maxAlloc  uint64 // 0: the document is small, its allocations say nothing
	}{
		"huge text node":      {huge, "text", 8 << 20}, // "longer than" or "without markup", whichever trips first
		"entity expansion":    {laughs, "directive", 8 << 20},
		"deep nesting":        {deep, "nested deeper", 8 << 20},
		"undeclared entity":   {undeclared, "malformed XML", 0},
		"many Ustrd":          {manyLines, "remittance lines", 0},
		"huge attribute":      {bigAttr, "without markup", 8 << 20},
		"overlong text field": {longField, "longer than", 0},
		"huge batch entry":    {bigEntry, "bytes of text", 0},
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := readAll(t, c.doc)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			// The document itself is in memory already; the reader may not make copies of it.
			if grew := after.TotalAlloc - before.TotalAlloc; c.maxAlloc > 0 && grew > c.maxAlloc {
				t.Errorf("reading allocated %d MiB", grew>>20)
			}
		})
	}
}

// A statement of many entries is read one entry at a time: memory does not grow with it.
func TestReadingStreams(t *testing.T) {
	const n = 20000
	pr, pw := io.Pipe()
	go func() {
		doc := statement("08", ownIBAN)
		head, tail, _ := strings.Cut(doc, "</Stmt>")
		io.WriteString(pw, head)
		for i := range n {
			io.WriteString(pw, entry("08", credit("1.00", "R"+strings.Repeat("0", i%7), "WG-AAAAA-BBBBB Spende für das Gewebe")))
		}
		io.WriteString(pw, "</Stmt>"+tail)
		pw.Close()
	}()
	rd := camt.NewReader(pr)
	var ms runtime.MemStats
	count, peak := 0, uint64(0)
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
		if count%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if count != n {
		t.Fatalf("%d entries, want %d", count, n)
	}
	if peak > 64<<20 {
		t.Errorf("heap in use reached %d MiB for %d entries", peak>>20, n)
	}
}

func TestPrefixedNamespaceAndLatin1(t *testing.T) {
	doc := statement("05", ownIBAN, credit("3.00", "L", "Spende von Jürgen"))
	doc = strings.Replace(doc, `<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version="1.0" encoding="ISO-8859-1"?>`, 1)
	doc = strings.Replace(doc, "Jürgen", "J\xfcrgen", 1)
	doc = strings.Replace(doc, `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.05"`, `<n:Document xmlns:n="urn:iso:std:iso:20022:tech:xsd:camt.053.001.05"`, 1)
	doc = regexp.MustCompile(`<(/?)([A-Z])`).ReplaceAllString(doc, "<${1}n:$2")
	doc = strings.Replace(doc, "<n:n:", "<n:", -1)
	es := mustRead(t, doc)
	if len(es) != 1 || es[0].Details[0].Remittance != "Spende von Jürgen" || es[0].AmountCents != 300 {
		t.Fatalf("%+v", es)
	}
	// An element of another namespace is not the statement's, even with the same name.
	foreign := strings.Replace(statement("08", ownIBAN, credit("3.00", "F")), "<AcctSvcrRef>F</AcctSvcrRef>", `<x:AcctSvcrRef xmlns:x="urn:example">EVIL</x:AcctSvcrRef><AcctSvcrRef>F</AcctSvcrRef>`, 1)
	if es := mustRead(t, foreign); es[0].AcctSvcrRef != "F" {
		t.Errorf("foreign element read: %q", es[0].AcctSvcrRef)
	}
}
