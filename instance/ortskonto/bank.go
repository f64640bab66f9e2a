package ortskonto

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/camt"
)

// The bank side of the Ortskonto: the treasurer imports the bank's CAMT.053 statements, and
// each booked credit that carries a donation's reference code and its amount settles it.
// Every entry is stored once (bankumsaetze), so that importing the same statement twice,
// or two statements that overlap, changes nothing the second time. See docs/ORTSKONTO.md,
// "Bank".

// Results of an imported transaction (bankumsaetze.result).
const (
	ResultSettled   = "settled"   // a booked credit settled its donation
	ResultPending   = "pending"   // a pending credit moved its donation to pending
	ResultReversed  = "reversed"  // a booked debit returned a settled donation
	ResultUnmatched = "unmatched" // the treasurer must look: Reason says why
	ResultIgnored   = "ignored"   // nothing to do here (a payout, a fee, an unbooked entry)
)

// Reasons a transaction was not matched (or ignored).
const (
	ReasonNoReference      = "no_reference"       // no WG-… code in the text
	ReasonUnknownReference = "unknown_reference"  // a code no donation has
	ReasonAmountDiffers    = "amount_differs"     // the donation is for another amount
	ReasonAlreadySettled   = "already_settled"    // paid twice, or settled by hand before
	ReasonAlreadyReversed  = "already_reversed"   // the donation was returned already
	ReasonDonationFailed   = "donation_failed"    // the treasurer marked it failed
	ReasonNotSettled       = "not_settled"        // a return of a donation never settled
	ReasonCurrency         = "currency"           // not EUR
	ReasonNotBooked        = "not_booked"         // pending or information only
	ReasonDebit            = "debit"              // money out without a donation's code
	ReasonIllegal          = "illegal_transition" // the donation moved meanwhile
)

// Umsatz is one imported bank transaction: an entry of the statement, or one transaction of
// a batch entry. It names the debtor as the bank did: for the treasurer only.
type Umsatz struct {
	ID          uuid.UUID
	Nr          int64  // the order of import: newer is higher
	Konto       string // the statement's account
	StatementID string
	Status      string // BOOK, PDNG, INFO
	Credit      bool
	AmountCents int64
	Currency    string
	BookingDate *time.Time // a calendar date (midnight UTC)
	ValueDate   *time.Time
	BankRef     string
	EntryRef    string
	EndToEndID  string
	Remittance  string
	DebtorName  string
	DebtorIBAN  string
	Result      string
	Reason      string
	SpendeID    *uuid.UUID
	ImportedAt  time.Time
}

// ImportResult says what an import did.
type ImportResult struct {
	Entries         int // entries in the statement
	Credits         int // booked credit transactions among them (new ones)
	Settled         int
	Pending         int
	Reversed        int
	AlreadyImported int // entries stored by an earlier import, left alone
	Unmatched       []Umsatz
}

// KontoauszugImportiertV1 records an import: counts only. The statement's rows name debtors
// and their IBANs, which stay in bankumsaetze, out of the log.
type KontoauszugImportiertV1 struct {
	Konto           string   `json:"konto"`
	Statements      []string `json:"statements"`
	Entries         int      `json:"entries"`
	Credits         int      `json:"credits"`
	Settled         int      `json:"settled"`
	Pending         int      `json:"pending"`
	Reversed        int      `json:"reversed"`
	Unmatched       int      `json:"unmatched"`
	AlreadyImported int      `json:"already_imported"`
}

// KontoauszugImportiert is appended once per import that stored anything.
var KontoauszugImportiert = eventstore.Define[KontoauszugImportiertV1]("KontoauszugImportiert", 1, eventstore.Private,
	"The treasurer imported a bank statement (CAMT.053).")

// ErrWrongAccount refuses a statement of another account than the Ortskonto's: its credits
// must not settle anything.
func errWrongAccount(got, want string) *fault.Error {
	return fault.Invalidf("", "camt_wrong_account", "This statement is for the account %s, not for the Ortskonto (%s).", got, want)
}

// camtLock serialises imports: two treasurers uploading overlapping statements at once would
// otherwise both find an entry new.
const camtLock = 0x77676361 // "wgca"

// batchSize is how many entries are checked against the stored ones in one query.
const batchSize = 200

// ImportCAMT imports a CAMT.053 statement, all of it in one transaction: a statement the reader
// refuses (400 camt_malformed, naming the line and element) stores nothing. loc is the
// Ortsweberei's time zone: a booking takes the bank's booking date there, so that the
// accountant finds it in the month the bank booked it (nil: UTC).
func (s *Service) ImportCAMT(ctx context.Context, by account.Account, r io.Reader, loc *time.Location) (ImportResult, error) {
	if !IsTreasurer(by) {
		return ImportResult{}, ErrTreasurerRequired
	}
	if loc == nil {
		loc = time.UTC
	}
	var res ImportResult
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		res = ImportResult{Unmatched: []Umsatz{}}
		tx.Defer(`SELECT pg_advisory_xact_lock($1)`, camtLock)
		k, err := s.KontoTx(ctx, tx)
		if err != nil {
			return err
		}
		if k.Bank == nil {
			return ErrNotConfigured
		}
		im := &importer{s: s, tx: tx, by: by.ID, loc: loc, now: s.now(), own: k.Bank.IBAN, res: &res,
			seen: map[string]bool{}, occurrences: map[string]int{}}
		rd := camt.NewReader(r)
		for {
			batch, err := readBatch(rd)
			if err != nil {
				var ce *camt.Error
				if errors.As(err, &ce) {
					return fault.Malformedf("camt_malformed", "The bank statement cannot be read: %s", strings.TrimPrefix(ce.Error(), "camt: "))
				}
				return err
			}
			if len(batch) == 0 {
				break
			}
			if err := im.batch(ctx, batch); err != nil {
				return err
			}
		}
		if res.Entries == res.AlreadyImported {
			// Nothing new (or a day without bookings, which banks send too): no event either.
			return nil
		}
		return eventstore.Append(tx, im.now, KontoauszugImportiert.New(eventstore.Header{Actor: by.ID},
			KontoauszugImportiertV1{Konto: k.Bank.IBAN, Statements: im.statements, Entries: res.Entries, Credits: res.Credits,
				Settled: res.Settled, Pending: res.Pending, Reversed: res.Reversed, Unmatched: len(res.Unmatched),
				AlreadyImported: res.AlreadyImported}))
	})
	if err != nil {
		return ImportResult{}, err
	}
	return res, nil
}

func readBatch(rd *camt.Reader) ([]camt.Entry, error) {
	var out []camt.Entry
	for len(out) < batchSize {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// importer is one import's state.
type importer struct {
	s           *Service
	tx          *database.Tx
	by          uuid.UUID
	loc         *time.Location
	now         time.Time
	own         string // the Ortskonto's IBAN
	res         *ImportResult
	seen        map[string]bool // entry keys of this statement, for an entry it repeats
	occurrences map[string]int  // how often an entry without a bank reference came so far
	statements  []string
}

func (im *importer) batch(ctx context.Context, entries []camt.Entry) error {
	keys := make([]string, len(entries))
	for i, e := range entries {
		if acct := e.Statement.Account(); acct != im.own {
			return errWrongAccount(acct, im.own)
		}
		if n := len(im.statements); n == 0 || im.statements[n-1] != e.Statement.ID {
			im.statements = append(im.statements, e.Statement.ID)
		}
		keys[i] = im.key(e)
	}
	stored := map[string]bool{}
	rows, err := im.tx.Query(ctx, `SELECT DISTINCT entry_key FROM bankumsaetze WHERE konto = $1 AND entry_key = ANY($2)`, im.own, keys)
	if err != nil {
		return fmt.Errorf("ortskonto: camt: %w", err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("ortskonto: camt: %w", err)
		}
		stored[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ortskonto: camt: %w", err)
	}
	for i, e := range entries {
		im.res.Entries++
		if stored[keys[i]] || im.seen[keys[i]] {
			im.res.AlreadyImported++
			continue
		}
		im.seen[keys[i]] = true
		for _, u := range units(e) {
			if err := im.unit(ctx, e, keys[i], u.part, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// key is an entry's identity on its account: the bank's reference for it, or, when the bank
// gave none, a hash of what the entry says, numbered by its occurrence in this statement (two
// equal transfers on one day are two entries; the same entry in an overlapping statement is
// the first of its kind there too). The status is part of it: a pending entry that comes back
// booked is new news.
func (im *importer) key(e camt.Entry) string {
	status := e.Status
	if ref := strings.TrimSpace(e.AcctSvcrRef); ref != "" && !strings.EqualFold(ref, "NONREF") {
		return status + ":ref:" + ref
	}
	h := sha256.New()
	field := func(s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	field(strconv.FormatBool(e.Credit))
	field(strconv.FormatInt(e.AmountCents, 10))
	field(e.Currency)
	field(date(e.BookingDate))
	field(date(e.ValueDate))
	field(e.NtryRef)
	field(e.AddtlInfo)
	for _, d := range e.Details {
		field(strconv.FormatInt(d.AmountCents, 10))
		field(d.EndToEndID)
		field(d.Remittance)
		field(d.CreditorRef)
		field(d.DebtorName)
		field(d.DebtorIBAN)
		field(d.CreditorIBAN)
	}
	sum := status + ":sha256:" + hex.EncodeToString(h.Sum(nil))
	im.occurrences[sum]++
	return sum + "#" + strconv.Itoa(im.occurrences[sum])
}

// unit is what is matched on its own: the entry, or one transaction of a batch entry.
type unit struct {
	part     int
	amount   int64
	currency string
	text     string // where a reference code may stand
	detail   camt.Detail
}

// units splits an entry into what is matched: a batch whose transactions each carry their
// amount, in the entry's currency, adding up to the entry's amount into those transactions
// (part 1…n), anything else whole (part 0). A batch that does not add up (a statement made up
// or garbled, fees netted, another currency) is the treasurer's to look at: its transactions
// must not settle more, or other, money than the bank booked.
func units(e camt.Entry) []unit {
	whole := unit{amount: e.AmountCents, currency: e.Currency}
	if len(e.Details) > 1 {
		var split []unit
		var sum int64
		for i, d := range e.Details {
			// Stopping once past the entry's amount also keeps the sum from overflowing (each
			// amount is below 10^17 cents, the reader's bound).
			if sum += d.AmountCents; !d.HasAmount || d.Currency != e.Currency || sum > e.AmountCents {
				split = nil
				break
			}
			split = append(split, unit{part: i + 1, amount: d.AmountCents, currency: d.Currency, text: searchText(d.Remittance, d.CreditorRef, d.AddtlInfo), detail: d})
		}
		if split != nil && sum == e.AmountCents {
			return split
		}
	}
	var texts []string
	for _, d := range e.Details {
		texts = append(texts, d.Remittance, d.CreditorRef, d.AddtlInfo)
	}
	texts = append(texts, e.AddtlInfo)
	whole.text = searchText(texts...)
	if len(e.Details) > 0 {
		whole.detail = e.Details[0]
		var rem []string
		for _, d := range e.Details {
			if d.Remittance != "" {
				rem = append(rem, d.Remittance)
			}
		}
		whole.detail.Remittance = strings.Join(rem, " ")
	}
	return []unit{whole}
}

// searchText joins the texts a code may stand in, with every run of white space (a bank
// breaks lines where it likes) made one space, which FindReferences skips.
func searchText(texts ...string) string {
	return strings.Join(strings.Fields(strings.Join(texts, " ")), " ")
}

func (im *importer) unit(ctx context.Context, e camt.Entry, key string, part int, u unit) error {
	row := Umsatz{ID: uuid.New(), Konto: im.own, StatementID: e.Statement.ID, Status: e.Status, Credit: e.Credit,
		AmountCents: u.amount, Currency: u.currency, BookingDate: dateOrNil(e.BookingDate), ValueDate: dateOrNil(e.ValueDate),
		BankRef: e.AcctSvcrRef, EntryRef: e.NtryRef, EndToEndID: u.detail.EndToEndID, Remittance: u.detail.Remittance,
		DebtorName: u.detail.DebtorName, DebtorIBAN: u.detail.DebtorIBAN, ImportedAt: im.now}
	if row.Remittance == "" {
		row.Remittance = e.AddtlInfo
	}
	booked := e.Status == camt.Booked
	if booked && e.Credit {
		im.res.Credits++
	}
	row.Result, row.Reason = ResultIgnored, ReasonNotBooked
	if booked && e.Credit {
		row.Result, row.Reason = ResultUnmatched, ReasonNoReference
	}
	if !booked && e.Status != camt.Pending || !booked && !e.Credit {
		return im.store(row, key, part)
	}
	if !e.Credit {
		row.Reason = ReasonDebit
	}
	if u.currency != Currency {
		if booked && e.Credit {
			row.Reason = ReasonCurrency
		}
		return im.store(row, key, part)
	}
	sp, found, err := im.find(ctx, u.text)
	if err != nil {
		return err
	}
	if !found {
		if e.Credit && booked && len(FindReferences(u.text)) > 0 {
			row.Reason = ReasonUnknownReference
		}
		return im.store(row, key, part)
	}
	id := sp.ID
	row.SpendeID = &id
	// From here on the text names a donation: whatever does not fit goes to the treasurer,
	// a debit included.
	row.Result = ResultUnmatched
	to, reason := "", ""
	switch {
	case !booked && (sp.Status != StatusInitiated || sp.AmountCents != u.amount):
		// A pending credit (here a credit: pending debits were stored above) only announces
		// what the bank will book; what does not fit goes to the treasurer once, booked.
		row.Result, reason = ResultIgnored, ReasonNotBooked
	case sp.AmountCents != u.amount:
		reason = ReasonAmountDiffers
	case !e.Credit && sp.Status == StatusSettled:
		to = StatusReversed
	case !e.Credit && sp.Status == StatusReversed:
		reason = ReasonAlreadyReversed
	case !e.Credit:
		reason = ReasonNotSettled
	case !booked:
		to = StatusPending
	case sp.Status == StatusInitiated || sp.Status == StatusPending:
		to = StatusSettled
	case sp.Status == StatusSettled:
		reason = ReasonAlreadySettled
	case sp.Status == StatusReversed:
		reason = ReasonAlreadyReversed
	default:
		reason = ReasonDonationFailed
	}
	row.Reason = reason
	if to != "" {
		at, err := im.bookedAt(ctx, e, sp, to)
		if err != nil {
			return err
		}
		if _, err := im.s.TransitionTx(ctx, im.tx, im.by, sp.ID, to, at); err != nil {
			if !errors.Is(err, ErrIllegalTransition) {
				return err
			}
			row.Reason = ReasonIllegal
		} else {
			row.Result = to
			switch to {
			case StatusSettled:
				im.res.Settled++
			case StatusPending:
				im.res.Pending++
			case StatusReversed:
				im.res.Reversed++
			}
		}
	}
	return im.store(row, key, part)
}

// find returns the donation whose code the text carries: the first code of a donation, if
// several look like one.
func (im *importer) find(ctx context.Context, text string) (Spende, bool, error) {
	refs := FindReferences(text)
	for i, ref := range refs {
		if i == 8 {
			break // a text stuffed with codes gets no more lookups
		}
		sp, err := im.s.FindByReference(ctx, im.tx, ref)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Spende{}, false, err
		}
		return sp, true, nil
	}
	return Spende{}, false, nil
}

// bookedAt is when the journal books the money: the bank's booking day (00:00 in the
// Ortsweberei's zone), but never before the donation was announced, never before its earlier
// booking (a return the bank booked before the treasurer settled the donation by hand: the
// Storno must not land in a month that never had the money) and never after now, so that the
// log stays in the order things happened.
func (im *importer) bookedAt(ctx context.Context, e camt.Entry, sp Spende, to string) (time.Time, error) {
	d := e.BookingDate
	if d.IsZero() {
		d = e.ValueDate
	}
	if d.IsZero() {
		return im.now, nil
	}
	at := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, im.loc)
	if at.Before(sp.CreatedAt) {
		at = sp.CreatedAt
	}
	// Only a return has an earlier booking (an initiated or pending donation has none): the
	// credits, nearly all of an import, cost no query here.
	if to == StatusReversed {
		var booked *time.Time
		if err := im.tx.QueryRow(ctx, `SELECT max(booked_at) FROM buchungen WHERE spende_id = $1`, sp.ID).Scan(&booked); err != nil {
			return time.Time{}, fmt.Errorf("ortskonto: camt: %w", err)
		}
		if booked != nil && at.Before(*booked) {
			at = *booked
		}
	}
	if at.After(im.now) {
		at = im.now
	}
	return at, nil
}

func dateOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (im *importer) store(u Umsatz, key string, part int) error {
	if u.Result == ResultUnmatched {
		im.res.Unmatched = append(im.res.Unmatched, u)
	}
	// A failure here (the entry stored after all) would be a bug: the batch read says it is
	// new, and the advisory lock keeps other imports out.
	im.tx.Defer(`
INSERT INTO bankumsaetze (id, konto, entry_key, part, statement_id, status, credit, amount_cents, currency, booking_date,
    value_date, bank_ref, entry_ref, end_to_end_id, remittance, debtor_name, debtor_iban, result, reason, spende_id,
    imported_at, imported_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		u.ID, u.Konto, key, part, u.StatementID, u.Status, u.Credit, u.AmountCents, u.Currency, u.BookingDate, u.ValueDate,
		u.BankRef, u.EntryRef, u.EndToEndID, u.Remittance, u.DebtorName, u.DebtorIBAN, u.Result, u.Reason, u.SpendeID,
		u.ImportedAt, im.by)
	return nil
}

// Umsaetze lists imported transactions for the treasurer, newest first: only the unmatched
// ones if unmatched, at most limit (≤ 500), those imported before the one numbered before
// (0: from the newest). next is the before of the following page, 0 when there is none.
func (s *Service) Umsaetze(ctx context.Context, by account.Account, unmatched bool, before int64, limit int) (out []Umsatz, next int64, err error) {
	if !IsTreasurer(by) {
		return nil, 0, ErrTreasurerRequired
	}
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, `
SELECT id, nr, konto, statement_id, status, credit, amount_cents, currency, booking_date, value_date, bank_ref, entry_ref,
       end_to_end_id, remittance, debtor_name, debtor_iban, result, reason, spende_id, imported_at
FROM bankumsaetze WHERE nr < $1 AND (NOT $2 OR result = 'unmatched') ORDER BY nr DESC LIMIT $3`, before, unmatched, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("ortskonto: umsaetze: %w", err)
	}
	out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Umsatz, error) {
		var u Umsatz
		err := row.Scan(&u.ID, &u.Nr, &u.Konto, &u.StatementID, &u.Status, &u.Credit, &u.AmountCents, &u.Currency, &u.BookingDate,
			&u.ValueDate, &u.BankRef, &u.EntryRef, &u.EndToEndID, &u.Remittance, &u.DebtorName, &u.DebtorIBAN, &u.Result,
			&u.Reason, &u.SpendeID, &u.ImportedAt)
		u.ImportedAt = u.ImportedAt.UTC()
		return u, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("ortskonto: umsaetze: %w", err)
	}
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Nr
	}
	return out, next, nil
}
