package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// Payouts of the Ortskonto for accepted Anträge (docs/ORTSKONTO.md, "Auszahlungen").

// auszahlungJSON is a payout as an Antrag carries it.
type auszahlungJSON struct {
	ID          uuid.UUID `json:"id"`
	BetragCents int64     `json:"betrag_cents"`
	Status      string    `json:"status"`
	Gedeckt     *bool     `json:"gedeckt"` // null until the Antrag is accepted
}

func auszahlungView(p ortskonto.Auszahlung) *auszahlungJSON {
	return &auszahlungJSON{ID: p.ID, BetragCents: p.BetragCents, Status: p.Status, Gedeckt: p.Gedeckt}
}

// kontoAuszahlungJSON is a payout as the Ortskonto lists it, with its Antrag.
type kontoAuszahlungJSON struct {
	ID          uuid.UUID `json:"id"`
	Antrag      antragRef `json:"antrag"`
	BetragCents int64     `json:"betrag_cents"`
	Status      string    `json:"status"`
	Gedeckt     *bool     `json:"gedeckt"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Note        *string   `json:"note,omitempty"` // to the treasurer who took the step only
}

type antragRef struct {
	ID    uuid.UUID `json:"id"`
	Title string    `json:"title"`
}

func kontoAuszahlungView(p ortskonto.Auszahlung) kontoAuszahlungJSON {
	return kontoAuszahlungJSON{ID: p.ID, Antrag: antragRef{p.AntragID, p.AntragTitle}, BetragCents: p.BetragCents,
		Status: p.Status, Gedeckt: p.Gedeckt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// kontoAuszahlungen is the list GET /api/konto carries.
func (s *Server) kontoAuszahlungen(ctx context.Context) ([]kontoAuszahlungJSON, error) {
	ps, err := s.Konto.Auszahlungen(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]kontoAuszahlungJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, kontoAuszahlungView(p))
	}
	return out, nil
}

// withAuszahlungen sets the payout of each of our Anträge that asked for one (one query).
func (s *Server) withAuszahlungen(ctx context.Context, vs ...*antragJSON) error {
	if s.Konto == nil || len(vs) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	ps, err := s.Konto.AuszahlungenOf(ctx, ids)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if p, ok := ps[v.ID]; ok {
			v.Auszahlung = auszahlungView(p)
		}
	}
	return nil
}

// antragOut is one of our Anträge as the API shows it, with its payout.
func (s *Server) antragOut(ctx context.Context, a antrag.Antrag) (antragJSON, error) {
	v := s.antragView(a)
	return v, s.withAuszahlungen(ctx, &v)
}

// parseBetrag reads betrag_cents: absent or null is none; otherwise it must be a JSON integer
// (not 12.5, 1e3, "100" or true) in range, else 400 invalid_amount.
func parseBetrag(raw json.RawMessage) (*int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	n, ok := jsonCents(raw)
	if !ok {
		return nil, ortskonto.CheckBetrag(0)
	}
	if err := ortskonto.CheckBetrag(n); err != nil {
		return nil, err
	}
	return &n, nil
}

func (s *Server) auszahlungStatus(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, ortskonto.ErrAuszahlungNotFound)
	if err != nil {
		return err
	}
	status, note, err := decodeStep(r)
	if err != nil {
		return err
	}
	p, err := s.Konto.TransitionAuszahlung(r.Context(), me, id, status, note)
	if err != nil {
		return err
	}
	v := kontoAuszahlungView(p)
	v.Note = &p.Note
	respond.JSON(w, http.StatusOK, v)
	return nil
}
