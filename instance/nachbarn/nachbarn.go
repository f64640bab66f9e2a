// Package nachbarn is what a neighbouring Ortsweberei's Anträge mean here: their Anträge as
// their origin sent them, the Einsprüche and the verified Stimmen of the neighbour's own
// residents, the delegations the neighbour's close counted with, and the count we make from
// all that ourselves (docs/FEDERATION.md, "Neighbours").
//
// Federation believes an object only from its origin and checks its proof; what it then
// means is decided here: who may vote on a neighbour's Antrag (a verified resident of that
// Ortsweberei), when (in the window its origin announced), which Stimme of a voter counts
// (the latest cast), and which state of an Antrag is kept (the newest, from its own actor).
// The refusals are errors the caller can tell apart, so that the inbox can fetch an Antrag
// once more when a Stimme overtook it (ErrUnknownAntrag, ErrOutsideWindow).
package nachbarn

import (
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/microcosm-cc/bluemonday"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Antrag is a neighbour's Antrag, read-only here.
type Antrag struct {
	ID               uuid.UUID // ours, for the API: given when it is first stored
	IRI              string
	Origin           string // the neighbour's host: taken from the IRI when stored
	Ortsweberei      string // the neighbour's Group
	Actor            string // the Antrag's own actor, the only one that changes it
	ApplicantIRI     string
	ApplicantName    string
	Title            string
	DetailsHTML      string // sanitized again when stored: it is shown as HTML
	AmountCents      *int64
	Status           string
	OpenedAt         time.Time
	DecisionDeadline time.Time
	Extended         bool
	// The window of its Abstimmung as the origin announced it: Stimmen cast from OpensAt,
	// before ClosesAt, count.
	OpensAt  *time.Time
	ClosesAt *time.Time
	ClosedAt *time.Time
	Outcome  string
	// The count the origin announced at the close, for comparison with ours.
	OriginYes, OriginNo, OriginAbstain *int
	// Updated is the origin's own time of this state: a state older than the stored one never
	// overwrites it.
	Updated time.Time
	// Sent is when the origin sent this state (its Create's or Update's published, or when we
	// fetched it from its id); zero is Updated. A state sent no later than the origin's Delete
	// of the Antrag is not stored (DeleteAntragTx). Not read back.
	Sent time.Time
}

// Person is someone of a neighbouring Ortsweberei as their actor document, fetched from its
// own server, describes them. Read back with a Stimme or an Einspruch, only IRI and Name are
// known.
type Person struct {
	IRI         string
	Name        string
	Ortsweberei string // the Group their document says they live in
	Verified    bool   // their document says that Ortsweberei verified them
}

// ResidentOf reports whether the person speaks as a verified resident of the Ortsweberei whose
// Group is ortsweberei. An actor document's own claims (ortsweberei, verified) are believable
// only from the Ortsweberei's own server: anyone can publish an actor that names some Group
// and says verified, so the actor must also live on the Group's host.
func (p Person) ResidentOf(ortsweberei string) bool {
	return p.Verified && p.Ortsweberei == ortsweberei && normalHost(hostOf(p.IRI)) == normalHost(hostOf(ortsweberei))
}

// Stimme is a neighbour resident's Stimme on their Ortsweberei's Antrag, its proof checked.
type Stimme struct {
	Antrag string // the Antrag's IRI
	Voter  Person
	Choice string // yes, no or abstain
	CastAt time.Time
	Object string // the Stimme's own IRI, by which its author deletes it
}

// Einspruch is an objection to a neighbour's Antrag by one of its residents.
type Einspruch struct {
	Antrag    string // the Antrag's IRI
	Author    Person
	Reason    string
	CreatedAt time.Time
}

// Delegation is one a neighbour's close counted with, its delegator's proof checked.
type Delegation struct {
	Antrag    string // the Antrag's IRI
	Delegator Person
	Delegate  string // the delegate's IRI
	Object    string // the delegation's own IRI
}

// Refusals. They are client errors in form only: what a neighbour sends is refused by the
// inbox, which tells them apart to decide whether fetching the Antrag once more could help.
var (
	ErrUnknownAntrag = fault.NotFoundf("antrag_not_found", "There is no Antrag with this id.")
	ErrNotResident   = fault.Forbiddenf("not_a_resident", "Only verified residents of the Antrag's Ortsweberei vote on it or object to it.")
	ErrOutsideWindow = fault.Conflictf("outside_voting_window", "The Stimme was not cast while the Antrag's Abstimmung was open.")
	// ErrStale says that a state at least as new is stored already: nothing changed.
	ErrStale = fault.Conflictf("stale", "A newer state of this is stored already.")
)

// Service keeps the neighbours' Anträge.
type Service struct {
	pool     *pgxpool.Pool
	clock    clock.Clock
	antraege *antrag.Service // ours, for the listing of both
}

// NewService returns the service.
func NewService(pool *pgxpool.Pool, c clock.Clock, antraege *antrag.Service) *Service {
	return &Service{pool: pool, clock: c, antraege: antraege}
}

// sanitizer keeps the formatting Fediverse posts use and drops everything active. Federation
// sanitizes what it converts already; sanitizing is idempotent, and the owner of what is
// shown as HTML makes sure of it itself.
var sanitizer = bluemonday.UGCPolicy()

// hostOf is an IRI's host (with port, if any), lower case.
func hostOf(iri string) string {
	u, err := url.Parse(iri)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// normalHost is a host without port and trailing dot, lower case.
func normalHost(host string) string {
	host = strings.ToLower(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(host, ".")
}
