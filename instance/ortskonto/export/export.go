// Package export writes the Ortskonto's monthly booking journal for the people who keep the
// books: a CSV for the treasurer (Excel in a German locale opens it as it is) and a DATEV
// Buchungsstapel (EXTF) that the accountant imports.
//
// Both writers take the bookings from a Source one at a time and write each line as it
// comes, so a month of 100,000 bookings costs the memory of one.
package export

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Booking is one line of the booking journal (ortskonto's buchungen), as the exports need it.
type Booking struct {
	Seq         int64     // the Belegnummer
	BookedAt    time.Time // when the money moved
	Kind        string    // KindSpende, KindStorno, KindAuszahlung
	AmountCents int64     // signed: + into the account, − out of it
	Reference   string    // the donation's reference code (Verwendungszweck), or the payout's
	// Donor is the donor's name; Anonymous says the donor asked not to be named in public.
	// Only the treasurer's CSV ever prints the name of an anonymous donor.
	Donor     string
	Anonymous bool
	Antrag    string // the title of the Antrag a payout belongs to
}

// Kinds of booking (the contract's buchungen.kind).
const (
	KindSpende     = "spende"
	KindStorno     = "storno"
	KindAuszahlung = "auszahlung"
)

// Source streams the month's bookings in Belegnummer order to fn, stopping at fn's first
// error (ortskonto.Service.Journal has this shape).
type Source func(fn func(Booking) error) error

// Month is a calendar month in the Ortsweberei's time zone.
type Month struct {
	Year  int
	Month time.Month
	Loc   *time.Location
}

// ParseMonth reads "YYYY-MM", a month in loc (nil: UTC).
func ParseMonth(s string, loc *time.Location) (Month, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil || len(s) != 7 || t.Year() < 2000 || t.Year() > 9999 {
		return Month{}, fmt.Errorf("month %q is not YYYY-MM", s)
	}
	return Month{Year: t.Year(), Month: t.Month(), Loc: loc}, nil
}

// Range is the month as the half-open interval [from, to).
func (m Month) Range() (from, to time.Time) {
	from = time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, m.Loc)
	return from, from.AddDate(0, 1, 0)
}

func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// euro writes cents as a German decimal without thousands separators ("-1234,50"): Excel in
// a German locale reads it as a number, and so does every accounting import.
func euro(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-cents) // -MinInt64 wraps to itself, and as uint64 it is right
	}
	return sign + strconv.FormatUint(u/100, 10) + "," + fmt.Sprintf("%02d", u%100)
}

// kindLabel is a kind as the journal names it.
func kindLabel(kind string) string {
	switch kind {
	case KindSpende:
		return "Spende"
	case KindStorno:
		return "Storno"
	case KindAuszahlung:
		return "Auszahlung"
	}
	return kind
}

// publicDonor is the donor as everyone but the treasurer sees them.
func publicDonor(b Booking) string {
	switch {
	case b.Kind == KindAuszahlung:
		return ""
	case b.Anonymous || b.Donor == "":
		return "anonym"
	}
	return b.Donor
}

// oneLine folds line breaks and other control characters into spaces: a name or title from
// outside must not start a new record in any reader's hands.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// clipRunes shortens s to n characters.
func clipRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
