package ortskonto

import (
	"context"
	"io"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
)

// Export formats of the monthly booking journal.
const (
	FormatCSV   = "csv"   // the treasurer's journal (names anonymous donors in "Spender intern")
	FormatDATEV = "datev" // the accountant's Buchungsstapel (says "anonym")
)

// Errors of an export a client may see.
var (
	ErrInvalidFormat      = fault.Malformedf("invalid_format", `The format must be "csv" or "datev".`)
	ErrInvalidMonth       = fault.Malformedf("invalid_month", "The month must be given as YYYY-MM.")
	ErrDATEVNotConfigured = fault.Conflictf("datev_not_configured", "The DATEV export needs the accountant's Berater- and Mandantennummer in the instance's settings.")
)

// CheckExport refuses an export before a byte of it is written: who asks, the format, and a
// DATEV configuration DATEV would refuse. by nil is the operator's command line.
func CheckExport(by *account.Account, format string, datev export.DATEV) error {
	if by != nil && !IsTreasurer(*by) {
		return ErrTreasurerRequired
	}
	switch format {
	case FormatCSV:
		return nil
	case FormatDATEV:
		if err := datev.Check(); err != nil {
			if err == export.ErrNotConfigured {
				return ErrDATEVNotConfigured
			}
			return fault.Conflictf("datev_not_configured", "The DATEV settings are not valid: %v.", err)
		}
		return nil
	}
	return ErrInvalidFormat
}

// ExportJournal writes the month's booking journal (Journal, streamed) in format to w; call
// CheckExport first. The Buchungsstapel's "erzeugt am" is the instance's clock.
func (s *Service) ExportJournal(ctx context.Context, w io.Writer, format string, m export.Month, datev export.DATEV) error {
	from, to := m.Range()
	src := func(fn func(export.Booking) error) error {
		return s.Journal(ctx, from, to, func(b Buchung) error { return fn(bookingOf(b)) })
	}
	switch format {
	case FormatCSV:
		return export.WriteCSV(w, m, src)
	case FormatDATEV:
		return export.WriteDATEV(w, datev, m, s.clock.Now(), src)
	}
	return ErrInvalidFormat
}

// bookingOf is a journal row as the exports take it. The donor's name travels with an
// anonymous donation's row too: the writers decide who may read it (only the CSV's
// "Spender intern").
func bookingOf(b Buchung) export.Booking {
	e := export.Booking{Seq: b.Seq, BookedAt: b.BookedAt, Kind: b.Kind, AmountCents: b.AmountCents, Reference: b.Reference,
		Anonymous: b.Anonymous(), Antrag: b.AntragTitle}
	if b.Donor != nil {
		e.Donor = b.Donor.Name
	}
	return e
}
