package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// Bank configures the treasurer's bank routes: the CAMT.053 import and the journal exports.
type Bank struct {
	// Timezone is the Ortsweberei's: the months of the exports and the days the bank booked
	// on are its calendar's (nil: UTC).
	Timezone *time.Location
	// DATEV is the Buchungsstapel's Berater, Mandant and accounts.
	DATEV export.DATEV
}

// MaxCAMTBytes bounds an uploaded bank statement: a busy month of a community account is a
// few hundred kilobytes.
const MaxCAMTBytes = 20 << 20

// LongRequestTimeout bounds the routes whose work grows with what they carry (a statement's
// import, a month's export), instead of DefaultRequestTimeout.
const LongRequestTimeout = 5 * time.Minute

var errCAMTTooLarge = &fault.Error{Kind: fault.TooLarge, Code: "camt_too_large",
	Message: fmt.Sprintf("The bank statement exceeds %d MiB.", MaxCAMTBytes>>20)}

func (s *Server) bankRoutes() {
	if s.Konto == nil {
		return
	}
	s.handle("POST /api/konto/camt", s.authed(s.importCAMT))
	s.handle("GET /api/konto/umsaetze", s.authed(s.listUmsaetze))
	s.handle("GET /api/konto/export", s.authed(s.exportKonto))
}

func (s *Server) timezone() *time.Location {
	if s.Bank.Timezone == nil {
		return time.UTC
	}
	return s.Bank.Timezone
}

// umsatzJSON is an imported bank transaction for the treasurer.
type umsatzJSON struct {
	ID          uuid.UUID  `json:"id"`
	Nr          int64      `json:"nr,omitempty"` // in the list: the page cursor; not yet known in the import's answer
	Konto       string     `json:"konto"`
	StatementID string     `json:"statement_id"`
	Status      string     `json:"status"`
	Credit      bool       `json:"credit"`
	AmountCents int64      `json:"amount_cents"`
	Currency    string     `json:"currency"`
	BookingDate *string    `json:"booking_date"`
	ValueDate   *string    `json:"value_date"`
	BankRef     string     `json:"bank_ref"`
	EntryRef    string     `json:"entry_ref"`
	EndToEndID  string     `json:"end_to_end_id"`
	Remittance  string     `json:"remittance"`
	DebtorName  string     `json:"debtor_name"`
	DebtorIBAN  string     `json:"debtor_iban"`
	Result      string     `json:"result"`
	Reason      string     `json:"reason"`
	SpendeID    *uuid.UUID `json:"spende_id"`
	ImportedAt  time.Time  `json:"imported_at"`
}

func umsatzOf(u ortskonto.Umsatz) umsatzJSON {
	day := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.Format(time.DateOnly)
		return &s
	}
	return umsatzJSON{ID: u.ID, Nr: u.Nr, Konto: u.Konto, StatementID: u.StatementID, Status: u.Status, Credit: u.Credit,
		AmountCents: u.AmountCents, Currency: u.Currency, BookingDate: day(u.BookingDate), ValueDate: day(u.ValueDate),
		BankRef: u.BankRef, EntryRef: u.EntryRef, EndToEndID: u.EndToEndID, Remittance: u.Remittance,
		DebtorName: u.DebtorName, DebtorIBAN: u.DebtorIBAN, Result: u.Result, Reason: u.Reason, SpendeID: u.SpendeID,
		ImportedAt: u.ImportedAt}
}

func umsaetzeOf(us []ortskonto.Umsatz) []umsatzJSON {
	out := make([]umsatzJSON, len(us))
	for i, u := range us {
		out[i] = umsatzOf(u)
	}
	return out
}

// importCAMT takes the statement as the body, as the bank gave it (any media type: banks and
// browsers label XML files differently). It is read whole (at most MaxCAMTBytes) before the
// import's transaction begins, so that a slow upload holds no lock.
func (s *Server) importCAMT(w http.ResponseWriter, r *http.Request, me account.Account) error {
	if !ortskonto.IsTreasurer(me) {
		return ortskonto.ErrTreasurerRequired // before reading 20 MiB from anyone
	}
	if r.ContentLength > MaxCAMTBytes {
		return errCAMTTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxCAMTBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errCAMTTooLarge
		}
		return fault.Malformedf("camt_malformed", "The bank statement could not be read: %v", err)
	}
	res, err := s.Konto.ImportCAMT(r.Context(), me, bytes.NewReader(body), s.timezone())
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, map[string]any{
		"entries": res.Entries, "credits": res.Credits, "settled": res.Settled, "pending": res.Pending,
		"reversed": res.Reversed, "already_imported": res.AlreadyImported, "unmatched": umsaetzeOf(res.Unmatched),
	})
	return nil
}

// listUmsaetze lists the imported transactions, newest first; ?unmatched=true only those the
// import could not match; ?before=NR&limit=N pages (next is the before of the next page).
func (s *Server) listUmsaetze(w http.ResponseWriter, r *http.Request, me account.Account) error {
	q := r.URL.Query()
	unmatched := false
	switch q.Get("unmatched") {
	case "", "false":
	case "true":
		unmatched = true
	default:
		return fault.Malformedf("invalid_filter", `unmatched must be "true" or "false".`)
	}
	var before, limit int64
	for name, into := range map[string]*int64{"before": &before, "limit": &limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return fault.Malformedf("invalid_filter", "%s must be a positive whole number.", name)
			}
			*into = n
		}
	}
	us, next, err := s.Konto.Umsaetze(r.Context(), me, unmatched, before, int(min(limit, 500)))
	if err != nil {
		return err
	}
	var nextJSON *int64
	if next > 0 {
		nextJSON = &next
	}
	respond.JSON(w, http.StatusOK, map[string]any{"umsaetze": umsaetzeOf(us), "next": nextJSON})
	return nil
}

// exportKonto streams the month's booking journal as a download. Everything that can refuse
// it is checked before the first byte; a database error in the middle of the stream can only
// cut it short (and is logged), as the status line has gone out.
func (s *Server) exportKonto(w http.ResponseWriter, r *http.Request, me account.Account) error {
	q := r.URL.Query()
	format := q.Get("format")
	if err := ortskonto.CheckExport(&me, format, s.Bank.DATEV); err != nil {
		return err
	}
	m, err := export.ParseMonth(q.Get("month"), s.timezone())
	if err != nil {
		return ortskonto.ErrInvalidMonth
	}
	name, ctype := fmt.Sprintf("ortskonto-%s.csv", m), "text/csv; charset=utf-8"
	if format == ortskonto.FormatDATEV {
		// DATEV's own files are named EXTF_…; its import looks for that prefix.
		name, ctype = fmt.Sprintf("EXTF_Buchungsstapel_Ortskonto_%s.csv", m), "text/csv; charset=windows-1252"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	w.Header().Set("Cache-Control", "no-store") // the treasurer's journal names anonymous donors
	w.WriteHeader(http.StatusOK)
	if err := s.Konto.ExportJournal(r.Context(), w, format, m, s.Bank.DATEV); err != nil {
		s.Log.ErrorContext(r.Context(), "konto export cut short", "month", m.String(), "format", format, "err", err)
	}
	return nil
}
