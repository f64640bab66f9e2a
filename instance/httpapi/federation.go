package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// Fediverse is what the API asks of federation (*federation.Service): its routes, the names
// and IRIs it shows, and the admin's federation and blocks. What arrived from elsewhere is read
// from its owners: neighbours' Anträge from nachbarn, replies and poll votes from antrag.
type Fediverse interface {
	Register(mux *http.ServeMux)
	Host() string
	GroupIRI() string
	GroupHandle() string
	AntragIRI(id uuid.UUID) string
	AntragActorIRI(id uuid.UUID) string
	Federate(ctx context.Context, target string) (string, error)
	Block(ctx context.Context, by account.Account, domain, reason string) error
	Unblock(ctx context.Context, by account.Account, domain, reason string) error
	Blocks(ctx context.Context) ([]string, error)
}

type fediverseJSON struct {
	ID     string `json:"id,omitempty"`     // the object's ActivityPub id
	Follow string `json:"follow,omitempty"` // the actor a Fediverse user follows for it
	Actor  string `json:"actor,omitempty"`
	Handle string `json:"handle,omitempty"`
}

type commentJSON struct {
	ID          string    `json:"id"`
	Author      string    `json:"author"`
	AuthorName  string    `json:"author_name"`
	ContentHTML string    `json:"content_html"`
	Published   time.Time `json:"published"`
}

// foreignVotesJSON counts the poll votes from the Fediverse on one of our Anträge, by choice.
// Who voted is not shown: Fediverse polls are anonymous to everyone but the poll's author.
type foreignVotesJSON struct {
	Yes     int `json:"yes"`
	No      int `json:"no"`
	Abstain int `json:"abstain"`
}

// foreignVotes is what GET /api/antraege/{id} shows of them: nil (left out) when there are none.
func (s *Server) foreignVotes(ctx context.Context, antragID uuid.UUID) (*foreignVotesJSON, error) {
	v, err := s.Antraege.ForeignVotes(ctx, antragID)
	if err != nil || v.Total() == 0 {
		return nil, err
	}
	return &foreignVotesJSON{Yes: v.Yes, No: v.No, Abstain: v.Abstain}, nil
}

// remoteAntragJSON is a neighbour's Antrag: read-only, marked with its origin, with the
// Stimmen we verified and the count we made from them.
type remoteAntragJSON struct {
	ID               uuid.UUID             `json:"id"`
	Remote           bool                  `json:"remote"`
	Origin           string                `json:"origin"`
	Title            string                `json:"title"`
	DetailsHTML      string                `json:"details_html"`
	AmountCents      *int64                `json:"amount_cents"`
	Applicant        remotePerson          `json:"applicant"`
	OpenedAt         time.Time             `json:"opened_at"`
	DecisionDeadline time.Time             `json:"decision_deadline"`
	Extended         bool                  `json:"extended"`
	Status           string                `json:"status"`
	OpensAt          *time.Time            `json:"opens_at,omitempty"`
	ClosesAt         *time.Time            `json:"closes_at,omitempty"`
	ClosedAt         *time.Time            `json:"closed_at,omitempty"`
	Result           string                `json:"result,omitempty"`
	Fediverse        fediverseJSON         `json:"fediverse"`
	Einsprueche      []remoteEinspruchJSON `json:"einsprueche,omitempty"`
	Votes            []remoteVoteJSON      `json:"votes,omitempty"`
	Tally            *remoteTallyJSON      `json:"tally,omitempty"`
	OriginTally      *remoteTallyJSON      `json:"origin_tally,omitempty"`
}

type remotePerson struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type remoteEinspruchJSON struct {
	Author    remotePerson `json:"author"`
	Reason    string       `json:"reason"`
	CreatedAt time.Time    `json:"created_at"`
}

type remoteVoteJSON struct {
	Voter  remotePerson `json:"voter"`
	Choice string       `json:"choice"`
	At     time.Time    `json:"at"`
	Object string       `json:"object"`
}

type remoteTallyJSON struct {
	Yes     int `json:"yes"`
	No      int `json:"no"`
	Abstain int `json:"abstain"`
}

func remoteAntragView(a nachbarn.Antrag) remoteAntragJSON {
	v := remoteAntragJSON{ID: a.ID, Remote: true, Origin: a.Origin, Title: a.Title, DetailsHTML: a.DetailsHTML, AmountCents: a.AmountCents,
		Applicant: remotePerson{a.ApplicantIRI, a.ApplicantName}, OpenedAt: a.OpenedAt, DecisionDeadline: a.DecisionDeadline,
		Extended: a.Extended, Status: a.Status, OpensAt: a.OpensAt, ClosesAt: a.ClosesAt, ClosedAt: a.ClosedAt, Result: a.Outcome,
		Fediverse: fediverseJSON{ID: a.IRI}}
	if a.OriginYes != nil {
		v.OriginTally = &remoteTallyJSON{*a.OriginYes, *a.OriginNo, *a.OriginAbstain}
	}
	return v
}

func remoteDetailView(rv nachbarn.View) remoteAntragJSON {
	v := remoteAntragView(rv.Antrag)
	for _, e := range rv.Einsprueche {
		v.Einsprueche = append(v.Einsprueche, remoteEinspruchJSON{remotePerson{e.Author.IRI, e.Author.Name}, e.Reason, e.CreatedAt})
	}
	for _, st := range rv.Stimmen {
		v.Votes = append(v.Votes, remoteVoteJSON{remotePerson{st.Voter.IRI, st.Voter.Name}, st.Choice, st.CastAt, st.Object})
	}
	v.Tally = &remoteTallyJSON{rv.Yes, rv.No, rv.Abstain}
	return v
}

type federateRequest struct {
	Target *string `json:"target"`
}

func (s *Server) federate(w http.ResponseWriter, r *http.Request, me account.Account) error {
	if !me.IsAdmin {
		return fault.Forbiddenf("admin_required", "Only an admin of this instance can federate with a neighbour.")
	}
	var in federateRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Target == nil {
		return missing("target")
	}
	iri, err := s.Federation.Federate(r.Context(), *in.Target)
	if err != nil {
		return fault.Invalidf("target", "federation_failed", "Could not federate with %s: %v", *in.Target, err)
	}
	respond.JSON(w, http.StatusAccepted, map[string]string{"neighbour": iri})
	return nil
}

type blockRequest struct {
	Domain *string `json:"domain"`
	Reason string  `json:"reason"` // optional; shown in the public moderation log
}

func (s *Server) block(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in blockRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Domain == nil {
		return missing("domain")
	}
	if err := s.Federation.Block(r.Context(), me, *in.Domain, in.Reason); err != nil {
		return err
	}
	return s.listBlocks(w, r, me)
}

func (s *Server) unblock(w http.ResponseWriter, r *http.Request, me account.Account) error {
	// The reason is optional here, as for address blocks: a DELETE often has no body.
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	if err := s.Federation.Unblock(r.Context(), me, r.PathValue("domain"), in.Reason); err != nil {
		return err
	}
	return s.listBlocks(w, r, me)
}

func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request, me account.Account) error {
	if !me.IsAdmin {
		return fault.Forbiddenf("admin_required", "Only an admin of this instance can see the blocked domains.")
	}
	blocks, err := s.Federation.Blocks(r.Context())
	if err != nil {
		return err
	}
	if blocks == nil {
		blocks = []string{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"blocks": blocks})
	return nil
}

// isRemoteOnly reports whether the id names a neighbour's Antrag rather than ours.
func isRemoteOnly(err error) bool { return fault.Is(err, "antrag_not_found") }
