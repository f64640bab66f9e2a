package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// The Ortskonto's routes (docs/API.md, docs/ORTSKONTO.md). Whoever asks, an anonymous
// donation's donor is named only to the donor and the treasurer: every view below takes the
// donor through PublicDonor unless the viewer may see it.

// MaxGoldfaeden is how many of the last visible donations GET /api/konto lists.
const MaxGoldfaeden = 20

type donorJSON struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

func donorView(d *ortskonto.Donor) *donorJSON {
	if d == nil {
		return nil
	}
	return &donorJSON{ID: d.ID, Name: d.Name}
}

type spendeJSON struct {
	ID          uuid.UUID  `json:"id"`
	Reference   string     `json:"reference"`
	AmountCents int64      `json:"amount_cents"`
	Currency    string     `json:"currency"`
	Visible     bool       `json:"visible"`
	Status      string     `json:"status"`
	Message     string     `json:"message"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Donor       *donorJSON `json:"donor"`
}

// spendeView is a donation as viewer sees it: the donor only to the donor and the treasurer,
// or when the donation is visible.
func spendeView(sp ortskonto.Spende, viewer account.Account) spendeJSON {
	d := sp.PublicDonor()
	if viewer.ID != uuid.Nil && (viewer.ID == sp.Donor.ID || ortskonto.IsTreasurer(viewer)) {
		d = &sp.Donor
	}
	return spendeJSON{ID: sp.ID, Reference: sp.Reference, AmountCents: sp.AmountCents, Currency: sp.Currency,
		Visible: sp.Visible, Status: sp.Status, Message: sp.Message, CreatedAt: sp.CreatedAt, UpdatedAt: sp.UpdatedAt,
		Donor: donorView(d)}
}

type goldfadenJSON struct {
	ID          uuid.UUID `json:"id"`
	AccountID   uuid.UUID `json:"account_id"`
	AccountName string    `json:"account_name"`
	Status      string    `json:"status"`
	AmountCents int64     `json:"amount_cents"`
	Message     string    `json:"message"`
	CreatedAt   time.Time `json:"created_at"`
}

type bankJSON struct {
	Empfaenger string `json:"empfaenger"`
	IBAN       string `json:"iban"`
	BIC        string `json:"bic"`
}

type countsJSON struct {
	Initiated int64 `json:"initiated"`
	Pending   int64 `json:"pending"`
	Settled   int64 `json:"settled"`
	Failed    int64 `json:"failed"`
	Reversed  int64 `json:"reversed"`
}

type kontoJSON struct {
	BalanceCents   int64           `json:"balance_cents"`
	PendingCents   int64           `json:"pending_cents"`
	ReservedCents  int64           `json:"reserved_cents"`
	AvailableCents int64           `json:"available_cents"`
	SettledCents   int64           `json:"settled_cents"`
	ReversedCents  int64           `json:"reversed_cents"`
	PaidCents      int64           `json:"paid_cents"`
	Counts         countsJSON      `json:"counts"`
	Bank           *bankJSON       `json:"bank"`
	Position       *pointJSON      `json:"position"`
	Goldfaeden     []goldfadenJSON `json:"goldfaeden"`
	// Auszahlungen are the open and recent payouts (auszahlungen.go).
	Auszahlungen []kontoAuszahlungJSON `json:"auszahlungen"`
}

func kontoView(k ortskonto.Konto, gold []ortskonto.Spende) kontoJSON {
	v := kontoJSON{
		BalanceCents: k.BalanceCents(), PendingCents: k.PendingCents, ReservedCents: k.ReservedCents,
		AvailableCents: k.AvailableCents(), SettledCents: k.SettledCents, ReversedCents: k.ReversedCents, PaidCents: k.PaidCents,
		Counts: countsJSON{Initiated: k.Counts.Initiated, Pending: k.Counts.Pending, Settled: k.Counts.Settled,
			Failed: k.Counts.Failed, Reversed: k.Counts.Reversed},
		Position: pointView(k.Position), Goldfaeden: []goldfadenJSON{}, Auszahlungen: []kontoAuszahlungJSON{},
	}
	if k.Bank != nil {
		v.Bank = &bankJSON{Empfaenger: k.Bank.Empfaenger, IBAN: k.Bank.IBAN, BIC: k.Bank.BIC}
	}
	for _, sp := range gold {
		d := sp.PublicDonor()
		if d == nil {
			continue // Goldfaeden lists visible donations only; this guards the view as well
		}
		v.Goldfaeden = append(v.Goldfaeden, goldfadenJSON{ID: sp.ID, AccountID: d.ID, AccountName: d.Name, Status: sp.Status,
			AmountCents: sp.AmountCents, Message: sp.Message, CreatedAt: sp.CreatedAt})
	}
	return v
}

func (s *Server) getKonto(w http.ResponseWriter, r *http.Request) error {
	k, err := s.Konto.Konto(r.Context())
	if err != nil {
		return err
	}
	gold, err := s.Konto.Goldfaeden(r.Context(), MaxGoldfaeden)
	if err != nil {
		return err
	}
	v := kontoView(k, gold)
	if v.Auszahlungen, err = s.kontoAuszahlungen(r.Context()); err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, v)
	return nil
}

type buchungJSON struct {
	Seq         int64     `json:"seq"`
	BookedAt    time.Time `json:"booked_at"`
	Kind        string    `json:"kind"`
	AmountCents int64     `json:"amount_cents"`
	// Donor is {"id","name"} for a visible donor, "anonym" for an anonymous one, null for a
	// payout.
	Donor any `json:"donor"`
	// Antrag is the payout's Antrag, null for a donation.
	Antrag  *antragRef `json:"antrag"`
	Message string     `json:"message"`
}

// buchungView is a booking as the public journal shows it: an anonymous donor is "anonym", and
// so is their message (a greeting may name its writer).
func buchungView(b ortskonto.Buchung) buchungJSON {
	v := buchungJSON{Seq: b.Seq, BookedAt: b.BookedAt, Kind: b.Kind, AmountCents: b.AmountCents}
	if b.AntragID != nil {
		v.Antrag = &antragRef{*b.AntragID, b.AntragTitle}
	}
	switch {
	case b.Anonymous():
		v.Donor = "anonym"
	case b.PublicDonor() != nil:
		v.Donor = donorView(b.PublicDonor())
		v.Message = b.Message
	}
	return v
}

func (s *Server) getJournal(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fault.Invalidf("before", "invalid_before", "before must be a booking's seq (a positive whole number).")
		}
		before = n
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 500 {
			return fault.Invalidf("limit", "invalid_limit", "limit must be a positive whole number (at most %d).", 500)
		}
		limit = n
	}
	bs, next, err := s.Konto.JournalPage(r.Context(), before, limit)
	if err != nil {
		return err
	}
	body := struct {
		Buchungen []buchungJSON `json:"buchungen"`
		Next      *int64        `json:"next"`
	}{Buchungen: make([]buchungJSON, 0, len(bs))}
	for _, b := range bs {
		body.Buchungen = append(body.Buchungen, buchungView(b))
	}
	if next != 0 {
		body.Next = &next
	}
	respond.JSON(w, http.StatusOK, body)
	return nil
}

// donateRequest takes every field raw: a float, a string or a negative amount is an
// invalid_amount (400) with its own words, not the decoder's invalid_field_type.
type donateRequest struct {
	AmountCents json.RawMessage `json:"amount_cents"`
	Currency    json.RawMessage `json:"currency"`
	Visible     json.RawMessage `json:"visible"`
	Message     json.RawMessage `json:"message"`
}

func (in donateRequest) donation() (ortskonto.Donation, error) {
	var d ortskonto.Donation
	n, ok := jsonCents(in.AmountCents)
	if !ok {
		return d, ortskonto.ErrInvalidAmount
	}
	d.AmountCents = n
	if c := bytes.TrimSpace(in.Currency); len(c) > 0 && string(c) != "null" {
		if err := json.Unmarshal(c, &d.Currency); err != nil || d.Currency == "" {
			return d, ortskonto.ErrInvalidCurrency
		}
	}
	switch string(bytes.TrimSpace(in.Visible)) {
	case "true":
		d.Visible = true
	case "false":
	default:
		return d, ortskonto.ErrInvalidVisible
	}
	if m := bytes.TrimSpace(in.Message); len(m) > 0 && string(m) != "null" {
		if err := json.Unmarshal(m, &d.Message); err != nil {
			return d, ortskonto.ErrInvalidMessage
		}
	}
	return ortskonto.CheckDonation(d)
}

func (s *Server) donate(w http.ResponseWriter, r *http.Request, me account.Account) error {
	key := r.Header.Get("Idempotency-Key")
	if err := ortskonto.CheckIdempotencyKey(key); err != nil {
		return err
	}
	var in donateRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := in.donation()
	if err != nil {
		return err
	}
	sp, replayed, err := s.Konto.Donate(r.Context(), me, d, key)
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("Idempotency-Replayed", "true")
	}
	body := struct {
		Spende       spendeJSON              `json:"spende"`
		Ueberweisung *ortskonto.Ueberweisung `json:"ueberweisung"`
	}{spendeView(sp, me), sp.Ueberweisung}
	respond.JSON(w, http.StatusCreated, body)
	return nil
}

// page reads ?before=<id>&limit=N of the donation listings.
func spendenPage(r *http.Request) (ortskonto.Page, error) {
	var p ortskonto.Page
	q := r.URL.Query()
	if v := q.Get("before"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return p, fault.Invalidf("before", "invalid_before", "before must be a donation's id.")
		}
		p.Before = id
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 500 {
			return p, fault.Invalidf("limit", "invalid_limit", "limit must be a positive whole number (at most %d).", 500)
		}
		p.Limit = n
	}
	return p, nil
}

func (s *Server) writeSpenden(w http.ResponseWriter, list []ortskonto.Spende, viewer account.Account) {
	out := make([]spendeJSON, 0, len(list))
	for _, sp := range list {
		out = append(out, spendeView(sp, viewer))
	}
	respond.JSON(w, http.StatusOK, struct {
		Spenden []spendeJSON `json:"spenden"`
	}{out})
}

func (s *Server) listSpenden(w http.ResponseWriter, r *http.Request, me account.Account) error {
	p, err := spendenPage(r)
	if err != nil {
		return err
	}
	list, err := s.Konto.List(r.Context(), me, r.URL.Query().Get("status"), p)
	if err != nil {
		return err
	}
	s.writeSpenden(w, list, me)
	return nil
}

func (s *Server) mySpenden(w http.ResponseWriter, r *http.Request, me account.Account) error {
	p, err := spendenPage(r)
	if err != nil {
		return err
	}
	list, err := s.Konto.Mine(r.Context(), me, p)
	if err != nil {
		return err
	}
	s.writeSpenden(w, list, me)
	return nil
}

func (s *Server) getSpende(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, ortskonto.ErrNotFound)
	if err != nil {
		return err
	}
	sp, err := s.Konto.Get(r.Context(), me, id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, spendeView(sp, me))
	return nil
}

// stepRequest is a treasurer's step on a donation or a payout: {"status": …, "note"?: …}.
type stepRequest struct {
	Status *string `json:"status"`
	Note   *string `json:"note"`
}

// decodeStep reads a stepRequest: the status it asks for and the note ("" without one).
func decodeStep(r *http.Request) (status, note string, err error) {
	var in stepRequest
	if err := decode(r, &in); err != nil {
		return "", "", err
	}
	if in.Status == nil {
		return "", "", missing("status")
	}
	if in.Note != nil {
		note = *in.Note
	}
	return *in.Status, note, nil
}

func (s *Server) transitionSpende(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, ortskonto.ErrNotFound)
	if err != nil {
		return err
	}
	status, note, err := decodeStep(r)
	if err != nil {
		return err
	}
	sp, err := s.Konto.Transition(r.Context(), me, id, status, note)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, spendeView(sp, me))
	return nil
}

type kontoSettingsRequest struct {
	Empfaenger *string    `json:"empfaenger"`
	IBAN       *string    `json:"iban"`
	BIC        *string    `json:"bic"`
	Position   *geo.Point `json:"position"`
}

func (s *Server) setKonto(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in kontoSettingsRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	switch {
	case in.Empfaenger == nil:
		return missing("empfaenger")
	case in.IBAN == nil:
		return missing("iban")
	case in.Position == nil:
		return missing("position")
	}
	set := ortskonto.Settings{Empfaenger: *in.Empfaenger, IBAN: *in.IBAN, Position: *in.Position}
	if in.BIC != nil {
		set.BIC = *in.BIC
	}
	if _, err := s.Konto.Configure(r.Context(), me, set); err != nil {
		return err
	}
	return s.getKonto(w, r)
}

func (s *Server) grantRole(w http.ResponseWriter, r *http.Request, me account.Account) error {
	return s.changeRole(w, r, me, s.Accounts.GrantRole)
}

func (s *Server) revokeRole(w http.ResponseWriter, r *http.Request, me account.Account) error {
	return s.changeRole(w, r, me, s.Accounts.RevokeRole)
}

func (s *Server) changeRole(w http.ResponseWriter, r *http.Request, me account.Account,
	change func(context.Context, account.Account, uuid.UUID, string) (account.Account, error)) error {
	id, err := pathID(r, account.ErrNotFound)
	if err != nil {
		return err
	}
	a, err := change(r.Context(), me, id, r.PathValue("role"))
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, profileView(a.Profile()))
	return nil
}
