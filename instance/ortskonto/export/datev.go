package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// DATEV configures the Buchungsstapel: who it is for (the accountant's Berater- and
// Mandantennummer), the chart of accounts and the three accounts the Ortskonto books on.
type DATEV struct {
	Berater          int        // Beraternummer, 1001–9999999
	Mandant          int        // Mandantennummer, 1–99999
	SKR              string     // Sachkontenrahmen: "03" or "04"
	Sachkontenlaenge int        // digits of a Sachkonto, 4–8
	WJBeginn         time.Month // first month of the fiscal year
	// Bank is the Ortskonto's bank account (Konto); Spenden the Gegenkonto of donations and
	// their reversals; Auszahlungen the Gegenkonto of payouts.
	Bank, Spenden, Auszahlungen string
}

// DefaultDATEV is the configuration for a chart of accounts, with Berater and Mandant still
// to be set. The accounts are the standard charts' bank account and their neutral "other
// income/expenses" accounts — SKR03: Bank 1200, Spenden 2700 (Sonstige Erträge),
// Auszahlungen 4900 (Sonstige betriebliche Aufwendungen); SKR04: Bank 1800, Spenden 4830
// (Sonstige betriebliche Erträge), Auszahlungen 6300 (Sonstige betriebliche Aufwendungen).
// Neither chart has an account for donations; a Verein's accountant usually adds one, and
// then sets it here.
func DefaultDATEV(skr string) (DATEV, error) {
	c := DATEV{SKR: skr, Sachkontenlaenge: 4, WJBeginn: time.January}
	switch skr {
	case "03":
		c.Bank, c.Spenden, c.Auszahlungen = "1200", "2700", "4900"
	case "04":
		c.Bank, c.Spenden, c.Auszahlungen = "1800", "4830", "6300"
	default:
		return DATEV{}, fmt.Errorf("Sachkontenrahmen %q: only 03 (SKR03) and 04 (SKR04)", skr)
	}
	return c, nil
}

// ErrNotConfigured says that Berater and Mandant are missing: DATEV refuses a stapel
// without them, so no file is written.
var ErrNotConfigured = errors.New("datev: the Berater- and Mandantennummer are not set")

// Check reports a configuration DATEV would refuse.
func (c DATEV) Check() error {
	if c.Berater == 0 || c.Mandant == 0 {
		return ErrNotConfigured
	}
	switch {
	case c.Berater < 1001 || c.Berater > 9999999:
		return fmt.Errorf("datev: Beraternummer %d is not within 1001–9999999", c.Berater)
	case c.Mandant < 1 || c.Mandant > 99999:
		return fmt.Errorf("datev: Mandantennummer %d is not within 1–99999", c.Mandant)
	case c.SKR != "03" && c.SKR != "04":
		return fmt.Errorf("datev: Sachkontenrahmen %q: only 03 and 04", c.SKR)
	case c.Sachkontenlaenge < 4 || c.Sachkontenlaenge > 8:
		return fmt.Errorf("datev: Sachkontenlänge %d is not within 4–8", c.Sachkontenlaenge)
	case c.WJBeginn < time.January || c.WJBeginn > time.December:
		return fmt.Errorf("datev: the fiscal year cannot begin in month %d", c.WJBeginn)
	}
	for name, k := range map[string]string{"Bank": c.Bank, "Spenden": c.Spenden, "Auszahlungen": c.Auszahlungen} {
		if k == "" || len(k) > c.Sachkontenlaenge || !digits(k) {
			return fmt.Errorf("datev: the %s account %q is not a Sachkonto of at most %d digits", name, k, c.Sachkontenlaenge)
		}
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DATEVColumns are the Buchungsstapel's leading columns the Ortskonto fills, named as in
// DATEV's format description (Formatversion 13); DATEV reads the columns by position and
// takes the ones left off at the end as empty.
var DATEVColumns = []string{
	"Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
	"WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum",
	"Belegfeld 1", "Belegfeld 2", "Skonto", "Buchungstext",
}

// WriteDATEV writes the month's bookings as a DATEV Buchungsstapel: the EXTF header (format
// 700, category 21, version 13), the column names, one line per booking; Windows-1252, as
// DATEV reads it, ";" between fields, texts in double quotes, CRLF line ends. created is the
// header's "erzeugt am" (the instance's clock).
//
// Every booking is on the Ortskonto's bank account against the kind's account: a donation
// Soll (S) on the bank, a reversal or a payout Haben (H). Belegfeld 1 is a donation's
// reference code, a payout's Belegnummer;
// the Buchungstext names a donor only if they donated visibly, else says "anonym".
func WriteDATEV(w io.Writer, c DATEV, m Month, created time.Time, src Source) error {
	if err := c.Check(); err != nil {
		return err
	}
	from, to := m.Range()
	fy := m.Year
	if m.Month < c.WJBeginn {
		fy--
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	d := &datevLine{w: bw}
	// Line 1: the header ("Vorlaufsatz"), 31 fields.
	d.text("EXTF")
	d.num("700")
	d.num("21")
	d.text("Buchungsstapel")
	d.num("13")
	d.num(created.In(m.Loc).Format("20060102150405") + fmt.Sprintf("%03d", created.Nanosecond()/1e6))
	d.num("")    // Importiert: DATEV fills it in
	d.text("WG") // Herkunft: two letters naming the exporting program
	d.text("Weltgewebe")
	d.text("") // Importiert von
	d.num(strconv.Itoa(c.Berater))
	d.num(strconv.Itoa(c.Mandant))
	d.num(fmt.Sprintf("%04d%02d01", fy, int(c.WJBeginn)))
	d.num(strconv.Itoa(c.Sachkontenlaenge))
	d.num(from.Format("20060102"))
	d.num(to.AddDate(0, 0, -1).Format("20060102"))
	d.text("Ortskonto " + m.String()) // Bezeichnung, ≤ 30 characters
	d.text("")                        // Diktatkürzel
	d.num("1")                        // Buchungstyp: Finanzbuchführung
	d.num("0")                        // Rechnungslegungszweck: unabhängig
	d.num("0")                        // Festschreibung: no, the accountant reviews before locking
	d.text("EUR")
	d.num("")  // reserviert
	d.text("") // Derivatskennzeichen
	d.num("")  // reserviert
	d.num("")  // reserviert
	d.text(c.SKR)
	d.num("")  // Branchen-Lösungs-Id
	d.num("")  // reserviert
	d.text("") // reserviert
	d.text("") // Anwendungsinformation
	d.end()
	// Line 2: the column names, unquoted as in DATEV's own files.
	for _, name := range DATEVColumns {
		d.num(cp1252(name))
	}
	d.end()
	err := src(func(b Booking) error {
		at := b.BookedAt.In(m.Loc)
		if at.Before(from) || !at.Before(to) {
			return fmt.Errorf("datev: booking %d of %s is outside %s", b.Seq, at.Format(time.DateOnly), m)
		}
		sh, gegen, text := "S", c.Spenden, "Spende "+publicDonor(b)
		if b.AmountCents < 0 {
			sh = "H"
		}
		switch b.Kind {
		case KindStorno:
			text = "Storno Spende " + publicDonor(b)
		case KindAuszahlung:
			what := b.Antrag
			if what == "" {
				what = b.Reference
			}
			gegen, text = c.Auszahlungen, "Auszahlung "+what
		}
		abs := b.AmountCents
		if abs < 0 {
			abs = -abs
		}
		d.num(euro(abs))
		d.text(sh)
		d.text("EUR")
		d.num("")
		d.num("")
		d.num("")
		d.num(c.Bank)
		d.num(gegen)
		d.text("") // BU-Schlüssel: donations carry no VAT
		d.num(at.Format("0201"))
		beleg := belegfeld(b.Reference)
		if b.Kind == KindAuszahlung {
			// A payout's reference is its Antrag's title, no document number: the
			// Belegnummer is.
			beleg = strconv.FormatInt(b.Seq, 10)
		}
		d.text(beleg)
		d.text("")
		d.num("")
		d.text(strings.TrimSpace(clipRunes(cp1252(oneLine(text)), 60)))
		d.end()
		return d.err
	})
	if err != nil {
		return err
	}
	if d.err != nil {
		return d.err
	}
	return bw.Flush()
}

// datevLine writes one line's fields, in Windows-1252.
type datevLine struct {
	w   *bufio.Writer
	n   int
	err error
}

func (d *datevLine) sep() {
	if d.n > 0 {
		d.w.WriteByte(';')
	}
	d.n++
}

// num writes a field as it is (numbers, dates, empty fields, plain column names).
func (d *datevLine) num(s string) {
	d.sep()
	d.put(s)
}

// text writes a text field in double quotes. A quote inside becomes an apostrophe: DATEV's
// description leaves no way to escape one.
func (d *datevLine) text(s string) {
	d.sep()
	d.w.WriteByte('"')
	d.put(strings.ReplaceAll(s, `"`, "'"))
	d.w.WriteByte('"')
}

func (d *datevLine) put(s string) {
	for _, r := range s {
		b, ok := charmap.Windows1252.EncodeRune(r)
		if !ok {
			b = '?'
		}
		if err := d.w.WriteByte(b); err != nil && d.err == nil {
			d.err = err
		}
	}
}

func (d *datevLine) end() {
	if _, err := d.w.WriteString("\r\n"); err != nil && d.err == nil {
		d.err = err
	}
	d.n = 0
}

// cp1252 replaces what Windows-1252 cannot hold by "?", so that a text's length in
// characters is its length in the file. The text is composed first (NFC): a letter sent
// decomposed ("é" as e + U+0301, as some systems type it) is one Windows-1252 character, not
// "e?".
func cp1252(s string) string {
	return strings.Map(func(r rune) rune {
		if _, ok := charmap.Windows1252.EncodeRune(r); !ok {
			return '?'
		}
		return r
	}, norm.NFC.String(s))
}

// belegfeld makes a reference a valid Belegfeld 1: at most 36 of the characters DATEV
// allows there (letters, digits, $ & % * + - /).
func belegfeld(ref string) string {
	var b strings.Builder
	for _, r := range ref {
		if b.Len() == 36 {
			break
		}
		if r < 0x80 && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("$&%*+-/", r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
