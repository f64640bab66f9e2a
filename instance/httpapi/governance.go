package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

type personJSON struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// Anträge.

type einspruchJSON struct {
	AccountID uuid.UUID `json:"account_id"`
	Name      string    `json:"name"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	Hidden    bool      `json:"hidden,omitempty"` // the viewer's own, hidden from everyone else
}

type antragJSON struct {
	ID               uuid.UUID       `json:"id"`
	Title            string          `json:"title"`
	DetailsMD        string          `json:"details_md"`
	DetailsHTML      string          `json:"details_html"`
	AmountCents      *int64          `json:"amount_cents"`
	Applicant        personJSON      `json:"applicant"`
	KnotenID         *uuid.UUID      `json:"knoten_id"`
	OpenedAt         time.Time       `json:"opened_at"`
	DecisionDeadline time.Time       `json:"decision_deadline"`
	Extended         bool            `json:"extended"`
	Status           string          `json:"status"`
	DecidedAt        *time.Time      `json:"decided_at"`
	AbstimmungID     *uuid.UUID      `json:"abstimmung_id"`
	EinspruchCount   int             `json:"einspruch_count"`
	Einsprueche      []einspruchJSON `json:"einsprueche,omitempty"`
	Remote           bool            `json:"remote"`
	Origin           string          `json:"origin"`
	Fediverse        *fediverseJSON  `json:"fediverse,omitempty"`
	// Public replies from the Fediverse, and the poll votes of accounts that are not residents
	// here, counted by choice (never who, and never in the Abstimmung).
	Comments     []commentJSON     `json:"comments,omitempty"`
	ForeignVotes *foreignVotesJSON `json:"foreign_votes,omitempty"`
	// The payout it asked of the Ortskonto, if any (auszahlungen.go).
	Auszahlung *auszahlungJSON `json:"auszahlung"`
	// Hidden marks the applicant's own hidden Antrag (a moderator hid it, or the word filter
	// holds it for review: Held), which no one else is shown (docs/MODERATION.md).
	Hidden bool `json:"hidden,omitempty"`
	Held   bool `json:"held,omitempty"`
}

func (s *Server) antragView(a antrag.Antrag) antragJSON {
	v := antragJSON{
		ID: a.ID, Title: a.Title, DetailsMD: a.DetailsMD, DetailsHTML: antrag.RenderMarkdown(a.DetailsMD),
		AmountCents: a.AmountCents, Applicant: personJSON{a.ApplicantID, a.ApplicantName}, KnotenID: a.KnotenID,
		OpenedAt: a.OpenedAt, DecisionDeadline: a.DecisionDeadline, Extended: a.Extended, Status: a.Status,
		DecidedAt: a.DecidedAt, AbstimmungID: a.AbstimmungID, EinspruchCount: a.EinspruchCount,
		Hidden: a.HiddenAt != nil, Held: a.Held,
	}
	for _, e := range a.Einsprueche {
		v.Einsprueche = append(v.Einsprueche, einspruchJSON{e.AccountID, e.Name, e.Reason, e.CreatedAt, e.Hidden})
	}
	if s.Federation != nil {
		v.Origin = s.Federation.Host()
		v.Fediverse = &fediverseJSON{ID: s.Federation.AntragIRI(a.ID), Follow: s.Federation.AntragActorIRI(a.ID)}
	}
	return v
}

type fileAntragRequest struct {
	Title       *string         `json:"title"`
	DetailsMD   *string         `json:"details_md"`
	AmountCents *int64          `json:"amount_cents"`
	BetragCents json.RawMessage `json:"betrag_cents"`
	KnotenID    *string         `json:"knoten_id"`
}

func (s *Server) fileAntrag(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in fileAntragRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Title == nil {
		return missing("title")
	}
	f := antrag.Filing{Title: *in.Title, AmountCents: in.AmountCents}
	betrag, err := parseBetrag(in.BetragCents)
	if err != nil {
		return err
	}
	f.BetragCents = betrag
	if in.DetailsMD != nil {
		f.DetailsMD = *in.DetailsMD
	}
	if in.KnotenID != nil {
		id, err := uuid.Parse(*in.KnotenID)
		if err != nil {
			return fault.NotFoundf("knoten_not_found", "There is no Knoten with this id.")
		}
		f.KnotenID = &id
	}
	a, err := s.Antraege.File(r.Context(), me, f)
	if err != nil {
		return err
	}
	v, err := s.antragOut(r.Context(), a)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listAntraege(w http.ResponseWriter, r *http.Request) error {
	limit := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return fault.Invalidf("limit", "invalid_limit", "limit must be a positive whole number (at most %d).", antrag.MaxLimit)
		}
		limit = n
	}
	status := r.URL.Query().Get("status")
	out := []any{}
	if s.Nachbarn == nil {
		as, err := s.Antraege.List(r.Context(), status, limit)
		if err != nil {
			return err
		}
		vs := make([]antragJSON, len(as))
		ptrs := make([]*antragJSON, len(as))
		for i, a := range as {
			vs[i] = s.antragView(a)
			ptrs[i] = &vs[i]
		}
		if err := s.withAuszahlungen(r.Context(), ptrs...); err != nil {
			return err
		}
		for _, v := range vs {
			out = append(out, v)
		}
		respond.JSON(w, http.StatusOK, map[string]any{"antraege": out})
		return nil
	}
	// Ours and our neighbours' (read-only, marked with their origin), newest first.
	entries, err := s.Nachbarn.Listing(r.Context(), status, limit)
	if err != nil {
		return err
	}
	var ours []*antragJSON
	for _, e := range entries {
		if e.Ours != nil {
			v := s.antragView(*e.Ours)
			ours = append(ours, &v)
			out = append(out, &v)
		} else {
			out = append(out, remoteAntragView(*e.Theirs))
		}
	}
	// Only ours: a neighbour's Antrag never carries a payout from this Ortskonto.
	if err := s.withAuszahlungen(r.Context(), ours...); err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, map[string]any{"antraege": out})
	return nil
}

func (s *Server) getAntrag(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, antrag.ErrNotFound)
	if err != nil {
		return err
	}
	viewer, err := s.viewer(r)
	if err != nil {
		return err
	}
	a, err := s.Antraege.GetAs(r.Context(), viewer, id)
	if isRemoteOnly(err) && s.Nachbarn != nil {
		rv, rerr := s.Nachbarn.Get(r.Context(), id)
		if rerr == nil {
			respond.JSON(w, http.StatusOK, remoteDetailView(rv))
			return nil
		}
		if !errors.Is(rerr, nachbarn.ErrUnknownAntrag) {
			return rerr
		}
	}
	if err != nil {
		return err
	}
	v, err := s.antragOut(r.Context(), a)
	if err != nil {
		return err
	}
	if s.Federation != nil {
		comments, err := s.Antraege.Comments(r.Context(), id)
		if err != nil {
			return err
		}
		for _, c := range comments {
			v.Comments = append(v.Comments, commentJSON{c.IRI, c.Author, c.AuthorName, c.ContentHTML, c.Published})
		}
		if v.ForeignVotes, err = s.foreignVotes(r.Context(), id); err != nil {
			return err
		}
	}
	respond.JSON(w, http.StatusOK, v)
	return nil
}

type objectRequest struct {
	Reason *string `json:"reason"`
}

func (s *Server) objectAntrag(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, antrag.ErrNotFound)
	if err != nil {
		return err
	}
	var in objectRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Reason == nil {
		return missing("reason")
	}
	a, err := s.Antraege.Object(r.Context(), me, id, *in.Reason)
	if err != nil {
		return err
	}
	v, err := s.antragOut(r.Context(), a)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) withdrawAntrag(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, antrag.ErrNotFound)
	if err != nil {
		return err
	}
	a, err := s.Antraege.Withdraw(r.Context(), me, id)
	if err != nil {
		return err
	}
	v, err := s.antragOut(r.Context(), a)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, v)
	return nil
}

// Abstimmungen.

type chainLinkJSON = personJSON

type delegatedJSON struct {
	AccountID uuid.UUID       `json:"account_id"`
	Name      string          `json:"name"`
	Chain     []chainLinkJSON `json:"chain"` // from the delegator to the voter
}

type stimmeJSON struct {
	AccountID uuid.UUID       `json:"account_id"`
	Name      string          `json:"name"`
	Choice    string          `json:"choice"`
	At        time.Time       `json:"at"`
	CastAt    time.Time       `json:"cast_at"`
	Weight    int             `json:"weight"`
	Delegated []delegatedJSON `json:"delegated"`
}

type verlaufJSON struct {
	AccountID uuid.UUID `json:"account_id"`
	Name      string    `json:"name"`
	Choice    string    `json:"choice"`
	At        time.Time `json:"at"`
}

type tallyJSON struct {
	Yes     int       `json:"yes"`
	No      int       `json:"no"`
	Abstain int       `json:"abstain"`
	Turnout int       `json:"turnout"`
	Passing bool      `json:"passing"` // yes > no
	Final   bool      `json:"final"`
	AsOf    time.Time `json:"as_of"`
}

type abstimmungJSON struct {
	ID       uuid.UUID     `json:"id"`
	AntragID uuid.UUID     `json:"antrag_id"`
	Status   string        `json:"status"` // offen or geschlossen
	OpensAt  time.Time     `json:"opens_at"`
	ClosesAt time.Time     `json:"closes_at"`
	ClosedAt *time.Time    `json:"closed_at"`
	Result   *string       `json:"result"`
	Votes    []stimmeJSON  `json:"votes"`
	History  []verlaufJSON `json:"history"`
	Tally    tallyJSON     `json:"tally"`
}

func delegatedView(v abstimmung.View, voter uuid.UUID) []delegatedJSON {
	out := []delegatedJSON{}
	for _, d := range v.Count.Delegators(voter) {
		var chain []chainLinkJSON
		for _, id := range v.Count.Chain(d) {
			chain = append(chain, chainLinkJSON{id, v.Names[id]})
		}
		out = append(out, delegatedJSON{AccountID: d, Name: v.Names[d], Chain: chain})
	}
	return out
}

func abstimmungView(v abstimmung.View) abstimmungJSON {
	out := abstimmungJSON{
		ID: v.ID, AntragID: v.SubjectID, Status: "offen", OpensAt: v.OpensAt, ClosesAt: v.ClosesAt, ClosedAt: v.ClosedAt,
		Votes: []stimmeJSON{}, History: []verlaufJSON{},
		Tally: tallyJSON{Yes: v.Count.Yes, No: v.Count.No, Abstain: v.Count.Abstain, Turnout: v.Count.Turnout(),
			Passing: v.Count.Passed(), Final: v.Closed(), AsOf: v.AsOf},
	}
	if v.Closed() {
		out.Status, out.Result = "geschlossen", &v.Result
	}
	for _, st := range v.Stimmen {
		out.Votes = append(out.Votes, stimmeJSON{AccountID: st.AccountID, Name: st.Name, Choice: st.Choice, At: st.At,
			CastAt: st.CastAt, Weight: v.Count.Weight[st.AccountID], Delegated: delegatedView(v, st.AccountID)})
	}
	for _, st := range v.Verlauf {
		out.History = append(out.History, verlaufJSON{st.AccountID, st.Name, st.Choice, st.At})
	}
	return out
}

func (s *Server) getAbstimmung(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, abstimmung.ErrNotFound)
	if err != nil {
		return err
	}
	v, err := s.Abstimmungen.Get(r.Context(), id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, abstimmungView(v))
	return nil
}

type voteRequest struct {
	Choice *string `json:"choice"`
}

func (s *Server) vote(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, abstimmung.ErrNotFound)
	if err != nil {
		return err
	}
	var in voteRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Choice == nil {
		return missing("choice")
	}
	st, err := s.Abstimmungen.Vote(r.Context(), me, id, *in.Choice)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, verlaufJSON{st.AccountID, st.Name, st.Choice, st.At})
	return nil
}

// Delegationen.

type delegationJSON struct {
	ID            uuid.UUID  `json:"id"`
	From          personJSON `json:"from"`
	To            personJSON `json:"to"`
	State         string     `json:"state"` // pending, active, ended
	RequestedAt   time.Time  `json:"requested_at"`
	EffectiveAt   time.Time  `json:"effective_at"` // when it takes (took) effect: the daily batch
	EndsAt        *time.Time `json:"ends_at"`      // a revocation: the batch at which it ends
	IdleExpiresAt *time.Time `json:"idle_expires_at"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	EndReason     string     `json:"end_reason,omitempty"`
	// DelegateSanction: the delegate is "banned" or "suspended" now, so that the delegator
	// can decide whether to revoke (nothing is revoked for them). Absent otherwise.
	DelegateSanction string `json:"delegate_sanction,omitempty"`
}

func delegationView(d delegation.Delegation) delegationJSON {
	return delegationJSON{ID: d.ID, From: personJSON{d.FromID, d.FromName}, To: personJSON{d.ToID, d.ToName},
		State: d.State, RequestedAt: d.RequestedAt, EffectiveAt: d.EffectiveAt, EndsAt: d.EndsAt,
		IdleExpiresAt: d.IdleExpiresAt, EndedAt: d.EndedAt, EndReason: d.EndReason}
}

type delegateRequest struct {
	ToAccountID *string `json:"to_account_id"`
}

func (s *Server) requestDelegation(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in delegateRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.ToAccountID == nil {
		return missing("to_account_id")
	}
	to, err := uuid.Parse(*in.ToAccountID)
	if err != nil {
		return account.ErrNotFound
	}
	d, err := s.Delegations.Request(r.Context(), me, to)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusCreated, delegationView(d))
	return nil
}

func (s *Server) revokeDelegation(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, delegation.ErrNotFound)
	if err != nil {
		return err
	}
	d, err := s.Delegations.Revoke(r.Context(), me, id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, delegationView(d))
	return nil
}

func (s *Server) getDelegation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, delegation.ErrNotFound)
	if err != nil {
		return err
	}
	d, err := s.Delegations.Get(r.Context(), id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, delegationView(d))
	return nil
}

func (s *Server) listDelegationen(w http.ResponseWriter, r *http.Request) error {
	var f delegation.Filter
	for param, dst := range map[string]**uuid.UUID{"from": &f.From, "to": &f.To} {
		if v := r.URL.Query().Get(param); v != "" {
			id, err := uuid.Parse(v)
			if err != nil {
				return fault.Invalidf(param, "invalid_account_id", "%s must be an account id.", param)
			}
			*dst = &id
		}
	}
	ds, err := s.Delegations.List(r.Context(), f)
	if err != nil {
		return err
	}
	delegates := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		delegates[i] = d.ToID
	}
	sanctioned, err := s.Accounts.SanctionStates(r.Context(), delegates)
	if err != nil {
		return err
	}
	out := make([]delegationJSON, len(ds))
	for i, d := range ds {
		out[i] = delegationView(d)
		out[i].DelegateSanction = sanctioned[d.ToID]
	}
	respond.JSON(w, http.StatusOK, map[string]any{"delegationen": out})
	return nil
}

type effectiveVoterJSON struct {
	AccountID uuid.UUID `json:"account_id"`
	Name      string    `json:"name"`
	Choice    string    `json:"choice"`
	Weight    int       `json:"weight"`
}

type effectiveDelegatorJSON struct {
	AccountID uuid.UUID       `json:"account_id"`
	Name      string          `json:"name"`
	Voter     personJSON      `json:"voter"`
	Chain     []chainLinkJSON `json:"chain"`
}

// effectiveDelegationen answers for one Abstimmung: every voter's weight, and for every
// delegator whose weight counted, the chain it travelled — final once the Abstimmung closed.
func (s *Server) effectiveDelegationen(w http.ResponseWriter, r *http.Request) error {
	raw := r.URL.Query().Get("abstimmung")
	if raw == "" {
		return fault.Invalidf("abstimmung", "missing_field", "Query parameter abstimmung (an Abstimmung id) is required.")
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return abstimmung.ErrNotFound
	}
	v, err := s.Abstimmungen.Get(r.Context(), id)
	if err != nil {
		return err
	}
	voters := []effectiveVoterJSON{}
	for _, st := range v.Stimmen {
		voters = append(voters, effectiveVoterJSON{st.AccountID, st.Name, st.Choice, v.Count.Weight[st.AccountID]})
	}
	delegators := []effectiveDelegatorJSON{}
	for _, st := range v.Stimmen {
		for _, d := range delegatedView(v, st.AccountID) {
			delegators = append(delegators, effectiveDelegatorJSON{AccountID: d.AccountID, Name: d.Name,
				Voter: personJSON{st.AccountID, st.Name}, Chain: d.Chain})
		}
	}
	respond.JSON(w, http.StatusOK, map[string]any{
		"abstimmung_id": v.ID, "as_of": v.AsOf, "final": v.Closed(), "voters": voters, "delegators": delegators,
	})
	return nil
}
