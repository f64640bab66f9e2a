package export_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func berlin(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// november is a month of bookings that touches every rule: a name with umlauts, an anonymous
// donor, a reversal, payouts with hostile titles, a donor who is a spreadsheet formula, and a
// booking just after midnight in Berlin that is still October in UTC.
func november() []export.Booking {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	return []export.Booking{
		{Seq: 101, BookedAt: at("2026-10-31T23:30:00Z"), Kind: export.KindSpende, AmountCents: 1250, Reference: "WG-7K3QD-M9XPA", Donor: "Jürgen Weißmüller"},
		{Seq: 102, BookedAt: at("2026-11-03T09:15:00Z"), Kind: export.KindSpende, AmountCents: 100000000, Reference: "WG-AAAAA-BBBBB", Donor: "Anna Verborgen", Anonymous: true},
		{Seq: 103, BookedAt: at("2026-11-04T12:00:00Z"), Kind: export.KindSpende, AmountCents: 1, Reference: "WG-CCCCC-DDDDD", Donor: "=HYPERLINK(\"http://evil\";\"x\")"},
		{Seq: 104, BookedAt: at("2026-11-05T08:00:00Z"), Kind: export.KindStorno, AmountCents: -1250, Reference: "WG-7K3QD-M9XPA", Donor: "Jürgen Weißmüller"},
		{Seq: 105, BookedAt: at("2026-11-06T10:00:00Z"), Kind: export.KindStorno, AmountCents: -100000000, Reference: "WG-AAAAA-BBBBB", Donor: "Anna Verborgen", Anonymous: true},
		{Seq: 106, BookedAt: at("2026-11-20T16:45:00Z"), Kind: export.KindAuszahlung, AmountCents: -4999, Reference: "AZ-2026-0007", Antrag: "Bänke für den Marktplatz; \"schön\" und\nneu 🌳"},
		{Seq: 107, BookedAt: at("2026-11-30T22:59:59Z"), Kind: export.KindAuszahlung, AmountCents: -123456789, Reference: "AZ 2026/0008 (Rest)", Antrag: strings.Repeat("Sehr langer Antragstitel ", 5)},
	}
}

func source(bs []export.Booking) export.Source {
	return func(fn func(export.Booking) error) error {
		for _, b := range bs {
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	}
}

func datevConfig(t testing.TB) export.DATEV {
	c, err := export.DefaultDATEV("03")
	if err != nil {
		t.Fatal(err)
	}
	c.Berater, c.Mandant = 29098, 55003
	return c
}

var created = time.Date(2026, 12, 1, 6, 30, 0, 123e6, time.UTC)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after a deliberate change)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestCSVGolden(t *testing.T) {
	m, err := export.ParseMonth("2026-11", berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := export.WriteCSV(&buf, m, source(november())); err != nil {
		t.Fatal(err)
	}
	golden(t, "journal-2026-11.csv.golden", buf.Bytes())

	// What the golden file means, said once more so that an -update cannot bless a mistake.
	out := buf.Bytes()
	if !bytes.HasPrefix(out, []byte("\xEF\xBB\xBFBelegnummer;Datum;")) {
		t.Errorf("no UTF-8 byte order mark or header: %q", out[:20])
	}
	r := csv.NewReader(bytes.NewReader(out[3:]))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(november()) {
		t.Fatalf("%d records", len(recs))
	}
	first, anon, formula, payout := recs[1], recs[2], recs[3], recs[6]
	if first[1] != "01.11.2026" || first[3] != "12,50" || first[6] != "Jürgen Weißmüller" {
		t.Errorf("first booking %q", first)
	}
	if anon[3] != "1000000,00" || anon[6] != "anonym" || anon[7] != "Anna Verborgen" {
		t.Errorf("the treasurer's journal must name the anonymous donor internally only: %q", anon)
	}
	if formula[6] != `'=HYPERLINK("http://evil";"x")` {
		t.Errorf("a formula as a name must be defused: %q", formula[6])
	}
	if payout[3] != "-49,99" || payout[6] != "" || payout[7] != "" || strings.Contains(payout[8], "\n") {
		t.Errorf("payout %q", payout)
	}
	if !bytes.Contains(out, []byte("\r\n")) || bytes.Count(out, []byte("\r\n")) != len(recs) {
		t.Errorf("lines must end in CRLF")
	}
}

func TestDATEVGolden(t *testing.T) {
	m, _ := export.ParseMonth("2026-11", berlin(t))
	var buf bytes.Buffer
	if err := export.WriteDATEV(&buf, datevConfig(t), m, created, source(november())); err != nil {
		t.Fatal(err)
	}
	golden(t, "journal-2026-11.datev.golden", buf.Bytes())

	out := buf.Bytes()
	if bytes.Contains(out, []byte("Verborgen")) {
		t.Errorf("DATEV names an anonymous donor")
	}
	if !bytes.Contains(out, []byte("J\xfcrgen Wei\xdfm\xfcller")) {
		t.Errorf("the file is not Windows-1252")
	}
	text, err := charmap.Windows1252.NewDecoder().Bytes(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(text), "\r\n"), "\r\n")
	if len(lines) != 2+len(november()) {
		t.Fatalf("%d lines", len(lines))
	}
	header := strings.Split(lines[0], ";")
	if len(header) != 31 {
		t.Fatalf("header has %d fields, want 31: %s", len(header), lines[0])
	}
	for i, want := range map[int]string{0: `"EXTF"`, 1: "700", 2: "21", 3: `"Buchungsstapel"`, 4: "13", 5: "20261201073000123",
		10: "29098", 11: "55003", 12: "20260101", 13: "4", 14: "20261101", 15: "20261130", 18: "1", 20: "0", 21: `"EUR"`, 26: `"03"`} {
		if header[i] != want {
			t.Errorf("header field %d = %s, want %s", i+1, header[i], want)
		}
	}
	if lines[1] != strings.Join(export.DATEVColumns, ";") {
		t.Errorf("column line %q", lines[1])
	}
	r := csv.NewReader(strings.NewReader(strings.Join(lines[2:], "\n")))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ umsatz, sh, konto, gegen, datum, beleg, text string }
	want := []row{
		{"12,50", "S", "1200", "2700", "0111", "WG-7K3QD-M9XPA", "Spende Jürgen Weißmüller"},
		{"1000000,00", "S", "1200", "2700", "0311", "WG-AAAAA-BBBBB", "Spende anonym"},
		{"0,01", "S", "1200", "2700", "0411", "WG-CCCCC-DDDDD", `Spende =HYPERLINK('http://evil';'x')`},
		{"12,50", "H", "1200", "2700", "0511", "WG-7K3QD-M9XPA", "Storno Spende Jürgen Weißmüller"},
		{"1000000,00", "H", "1200", "2700", "0611", "WG-AAAAA-BBBBB", "Storno Spende anonym"},
		{"49,99", "H", "1200", "4900", "2011", "106", "Auszahlung Bänke für den Marktplatz; 'schön' und neu ?"},
		{"1234567,89", "H", "1200", "4900", "3011", "107", "Auszahlung " + strings.Repeat("Sehr langer Antragstitel ", 2)[:49]},
	}
	for i, w := range want {
		f := recs[i]
		got := row{f[0], f[1], f[6], f[7], f[9], f[10], f[13]}
		if got != w {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+3, got, w)
		}
		if len(f) != len(export.DATEVColumns) || len([]rune(f[13])) > 60 || f[2] != "EUR" {
			t.Errorf("line %d: %q", i+3, f)
		}
	}
}

func TestDATEVRefusesWhatDATEVWouldRefuse(t *testing.T) {
	m, _ := export.ParseMonth("2026-11", berlin(t))
	c, _ := export.DefaultDATEV("04")
	if err := export.WriteDATEV(io.Discard, c, m, created, source(nil)); !errors.Is(err, export.ErrNotConfigured) {
		t.Errorf("without Berater and Mandant: %v", err)
	}
	bad := []func(*export.DATEV){
		func(c *export.DATEV) { c.Berater = 999 },
		func(c *export.DATEV) { c.Mandant = 100000 },
		func(c *export.DATEV) { c.SKR = "49" },
		func(c *export.DATEV) { c.Bank = "12a0" },
		func(c *export.DATEV) { c.Spenden = "123456" },
		func(c *export.DATEV) { c.Sachkontenlaenge = 9 },
	}
	for i, f := range bad {
		c := datevConfig(t)
		f(&c)
		if err := export.WriteDATEV(io.Discard, c, m, created, source(nil)); err == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
	if _, err := export.DefaultDATEV("49"); err == nil {
		t.Error("SKR 49 accepted")
	}
	// A booking the source hands out from another month is a bug, not a line.
	dec := []export.Booking{{Seq: 1, BookedAt: time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC), Kind: export.KindSpende, AmountCents: 1}}
	if err := export.WriteDATEV(io.Discard, datevConfig(t), m, created, source(dec)); err == nil {
		t.Error("a December booking (Berlin) went into November")
	}
	// The fiscal year begins in July: November 2026 belongs to the year from July 2026,
	// March 2027 still to it.
	c = datevConfig(t)
	c.WJBeginn = time.July
	for month, wj := range map[string]string{"2026-11": "20260701", "2027-03": "20260701"} {
		m, _ := export.ParseMonth(month, berlin(t))
		var buf bytes.Buffer
		export.WriteDATEV(&buf, c, m, created, source(nil))
		if f := strings.Split(buf.String(), ";"); f[12] != wj {
			t.Errorf("%s: WJ-Beginn %s, want %s", month, f[12], wj)
		}
	}
	for _, s := range []string{"2026-13", "26-11", "2026-1", "november", "2026-11-01"} {
		if _, err := export.ParseMonth(s, berlin(t)); err == nil {
			t.Errorf("month %q accepted", s)
		}
	}
}

// 100,000 bookings cost the memory of one: the writers hold no more than their buffers.
func TestExportsStreamInBoundedMemory(t *testing.T) {
	m, _ := export.ParseMonth("2026-11", berlin(t))
	const n = 100000
	var peak uint64
	src := func(fn func(export.Booking) error) error {
		var ms runtime.MemStats
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			b := export.Booking{Seq: int64(i + 1), BookedAt: start.Add(time.Duration(i) * 20 * time.Second), Kind: export.KindSpende,
				AmountCents: int64(100 + i), Reference: "WG-7K3QD-M9XPA", Donor: "Jürgen Weißmüller", Anonymous: i%2 == 0}
			if err := fn(b); err != nil {
				return err
			}
			if i%20000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		return nil
	}
	var size countingWriter
	if err := export.WriteDATEV(&size, datevConfig(t), m, created, src); err != nil {
		t.Fatal(err)
	}
	if size < n*60 {
		t.Fatalf("only %d bytes", size)
	}
	if err := export.WriteCSV(&size, m, src); err != nil {
		t.Fatal(err)
	}
	if peak > 32<<20 {
		t.Errorf("heap in use reached %d MiB", peak>>20)
	}
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
