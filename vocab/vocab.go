// Package vocab is Weltgewebe's ActivityStreams vocabulary: the JSON-LD context of our own
// (weltgewebe.jsonld, served at /ns/v1 and referenced by its canonical URL ContextURL), the
// contexts we build on, and the Go types that map Knoten, Faden, Antrag, Einspruch, Stimme and
// Delegation onto ActivityStreams objects.
//
// Typed structs, not a code-generated vocabulary: we emit a few dozen shapes and read a few
// more, and hand-written types keep the build fast and the JSON visible. Decoding is lenient
// where the Fediverse is (see decode.go).
package vocab

import (
	_ "embed"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Context URLs.
const (
	ActivityStreams = "https://www.w3.org/ns/activitystreams"
	SecurityV1      = "https://w3id.org/security/v1"
	DataIntegrityV2 = "https://w3id.org/security/data-integrity/v2"
	MultikeyV1      = "https://w3id.org/security/multikey/v1"
	// ContextURL is the canonical URL of our own context. Every instance serves the same
	// document at /ns/v1; no instance ever fetches it (see DocumentLoader).
	ContextURL = "https://weltgewebe.org/ns/v1"
	// Namespace is the IRI prefix of every wg: term.
	Namespace = "https://weltgewebe.org/ns#"
	// Public is the special collection that addresses everyone.
	Public = "https://www.w3.org/ns/activitystreams#Public"
)

//go:embed weltgewebe.jsonld
var contextDocument []byte

// ContextDocument is our JSON-LD context document.
func ContextDocument() []byte { return contextDocument }

// Context is the @context of every document we emit.
var Context = []any{ActivityStreams, SecurityV1, DataIntegrityV2, MultikeyV1, ContextURL}

// Degrees is a latitude or longitude. It is always written with a decimal point (51.0, not
// 51): some consumers read a JSON number without one as an integer.
type Degrees float64

// MarshalJSON implements json.Marshaler.
func (d Degrees) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(d), 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return []byte(s), nil
}

// Time is an xsd:dateTime, written in UTC with second precision or finer, like 2026-11-22T10:00:00Z.
type Time = time.Time

// PublicKey is an actor's RSA key for HTTP signatures (security/v1).
type PublicKey struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// Multikey is an actor's Ed25519 key for object integrity proofs (FEP-521a).
type Multikey struct {
	ID                 string `json:"id"`
	Type               string `json:"type"` // "Multikey"
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// Endpoints of an actor.
type Endpoints struct {
	SharedInbox string `json:"sharedInbox"`
}

// Actor is a Person (a resident), the Ortsweberei's Group, an Antrag's Service actor, or the
// instance's Application actor.
type Actor struct {
	Context                   any        `json:"@context,omitempty"`
	ID                        string     `json:"id"`
	Type                      any        `json:"type"`
	PreferredUsername         string     `json:"preferredUsername"`
	Name                      string     `json:"name,omitempty"`
	Summary                   string     `json:"summary,omitempty"`
	URL                       string     `json:"url,omitempty"`
	Inbox                     string     `json:"inbox"`
	Outbox                    string     `json:"outbox"`
	Followers                 string     `json:"followers"`
	Following                 string     `json:"following,omitempty"`
	Endpoints                 *Endpoints `json:"endpoints,omitempty"`
	PublicKey                 *PublicKey `json:"publicKey,omitempty"`
	AssertionMethod           []Multikey `json:"assertionMethod,omitempty"`
	ManuallyApprovesFollowers bool       `json:"manuallyApprovesFollowers"`
	Discoverable              bool       `json:"discoverable"`
	Indexable                 bool       `json:"indexable"`
	Published                 *Time      `json:"published,omitempty"`
	// Ortsweberei is the Group a resident or an Antrag belongs to.
	Ortsweberei string `json:"ortsweberei,omitempty"`
	// Verified says whether the Ortsweberei's admins verified this resident.
	Verified *bool `json:"verified,omitempty"`
}

// Activity is any activity: Create, Update, Delete, Announce, Follow, Accept, Reject, Undo.
type Activity struct {
	Context   any      `json:"@context,omitempty"`
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Actor     string   `json:"actor"`
	Object    any      `json:"object"` // an IRI or an embedded object
	Target    any      `json:"target,omitempty"`
	To        []string `json:"to,omitempty"`
	Cc        []string `json:"cc,omitempty"`
	Published *Time    `json:"published,omitempty"`
}

// PollOption is an answer of a Question, as Mastodon shows it.
type PollOption struct {
	Type    string        `json:"type"` // "Note"
	Name    string        `json:"name"`
	Replies OptionReplies `json:"replies"`
}

// OptionReplies counts the votes for a PollOption.
type OptionReplies struct {
	Type       string `json:"type"` // "Collection"
	TotalItems int    `json:"totalItems"`
}

// Source is the text an object was rendered from.
type Source struct {
	Content   string `json:"content"`
	MediaType string `json:"mediaType"`
}

// Antrag is an Antrag as an as:Question, so that Mastodon shows it as a poll with live counts.
// Name is the title; Content is the title again (Mastodon never shows a Question's name),
// followed by the details as HTML, whose Markdown is in Source. The option totals are
// weighted, and VotersCount is the number of residents whose weight counted, so that the
// totals add up to it (see federation's antragObject).
type Antrag struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         []string `json:"type"` // ["Question", "Antrag"]
	AttributedTo string   `json:"attributedTo"`
	Applicant    string   `json:"applicant"`
	// Title is the Antrag's title. It is not the Question's name: GoToSocial shows a name
	// without a summary as a content warning over the whole post, so the title opens the
	// content instead, and neighbours read it from here.
	Title            string       `json:"title"`
	Content          string       `json:"content"`
	Source           *Source      `json:"source,omitempty"`
	URL              string       `json:"url,omitempty"`
	Published        Time         `json:"published"`
	Updated          *Time        `json:"updated,omitempty"`
	To               []string     `json:"to"`
	Cc               []string     `json:"cc,omitempty"`
	OneOf            []PollOption `json:"oneOf"`
	VotersCount      int          `json:"votersCount"`
	EndTime          Time         `json:"endTime"`
	Closed           *Time        `json:"closed,omitempty"`
	Ortsweberei      string       `json:"ortsweberei"`
	Status           string       `json:"status"`
	DecisionDeadline Time         `json:"decisionDeadline"`
	Extended         bool         `json:"extended"`
	AmountCents      *int64       `json:"amountCents,omitempty"`
	Knoten           string       `json:"knoten,omitempty"`
	Abstimmung       string       `json:"abstimmung,omitempty"`
	OpensAt          *Time        `json:"opensAt,omitempty"`
	ClosesAt         *Time        `json:"closesAt,omitempty"`
	// At the close: the result and the weighted count, and the delegations it used.
	Outcome       string       `json:"outcome,omitempty"`
	YesWeight     *int         `json:"yesWeight,omitempty"`
	NoWeight      *int         `json:"noWeight,omitempty"`
	AbstainWeight *int         `json:"abstainWeight,omitempty"`
	Delegations   []Delegation `json:"delegations,omitempty"`
}

// Abstimmung is an Antrag's public by-name vote: when it opens and closes and, once closed,
// its outcome. Its Stimmen are objects of their own, each signed by its voter.
type Abstimmung struct {
	Context  any    `json:"@context,omitempty"`
	ID       string `json:"id"`
	Type     string `json:"type"` // "Abstimmung"
	Antrag   string `json:"antrag"`
	OpensAt  Time   `json:"opensAt"`
	ClosesAt Time   `json:"closesAt"`
	Closed   *Time  `json:"closed,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
}

// Einspruch is an objection: a Note replying to the Antrag, so Mastodon shows it in the thread.
type Einspruch struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         []string `json:"type"` // ["Note", "Einspruch"]
	AttributedTo string   `json:"attributedTo"`
	InReplyTo    string   `json:"inReplyTo"`
	Antrag       string   `json:"antrag"`
	Content      string   `json:"content"` // the reason, as HTML
	Reason       string   `json:"reason"`
	Published    Time     `json:"published"`
	To           []string `json:"to"`
	Cc           []string `json:"cc,omitempty"`
}

// Stimme is a vote: a Note naming the chosen option and replying to the Antrag's Question (the
// shape of a Mastodon poll vote), with an integrity proof by the voter (FEP-8b32) so that any
// Ortsweberei can check it without trusting the one that delivered it.
type Stimme struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         []string `json:"type"` // ["Note", "Stimme"]
	AttributedTo string   `json:"attributedTo"`
	InReplyTo    string   `json:"inReplyTo"`
	Antrag       string   `json:"antrag"`
	Abstimmung   string   `json:"abstimmung"`
	Name         string   `json:"name"`   // the option's name: "Ja", "Nein", "Enthaltung"
	Choice       string   `json:"choice"` // yes, no, abstain
	Published    Time     `json:"published"`
	To           []string `json:"to"`
	Proof        *Proof   `json:"proof,omitempty"`
}

// StimmeNote is a Stimme as the voter's Fediverse followers see it: a public post saying how
// the voter voted, linking to the Antrag and to the signed Stimme. The Stimme itself has the
// shape of a poll vote, which Mastodon and GoToSocial take as a vote on a poll that is not
// theirs and drop.
type StimmeNote struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         string   `json:"type"` // "Note"
	AttributedTo string   `json:"attributedTo"`
	Content      string   `json:"content"`
	URL          string   `json:"url,omitempty"`
	Stimme       string   `json:"stimme"`
	Published    Time     `json:"published"`
	To           []string `json:"to"`
	Cc           []string `json:"cc,omitempty"`
}

// StreamNote is the Ortsweberei's post about a livestream, for its Fediverse followers: created
// when the stream first goes live (a link to its page), updated when it ends. Plain ActivityStreams
// terms only, so that Mastodon and GoToSocial show it as any post; updated is set once it
// ended, so that both show the new text as an edit.
type StreamNote struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         string   `json:"type"` // "Note"
	AttributedTo string   `json:"attributedTo"`
	Content      string   `json:"content"`
	URL          string   `json:"url"`
	Published    Time     `json:"published"`
	Updated      *Time    `json:"updated,omitempty"`
	To           []string `json:"to"`
	Cc           []string `json:"cc,omitempty"`
}

// Delegation of a resident's vote to another, signed by the delegator.
type Delegation struct {
	Context     any      `json:"@context,omitempty"`
	ID          string   `json:"id"`
	Type        string   `json:"type"` // "Delegation"
	Delegator   string   `json:"delegator"`
	Delegate    string   `json:"delegate"`
	EffectiveAt Time     `json:"effectiveAt"`
	EndedAt     *Time    `json:"endedAt,omitempty"`
	Published   Time     `json:"published"`
	To          []string `json:"to,omitempty"`
	Proof       *Proof   `json:"proof,omitempty"`
}

// Proof is a Data Integrity proof (FEP-8b32, cryptosuite eddsa-jcs-2022).
type Proof struct {
	// Context is the signed document's @context, which eddsa-jcs-2022 copies into the proof and
	// signs with it: a proof that lost it on the way would no longer verify.
	Context            any    `json:"@context,omitempty"`
	Type               string `json:"type"` // "DataIntegrityProof"
	Cryptosuite        string `json:"cryptosuite"`
	VerificationMethod string `json:"verificationMethod"`
	ProofPurpose       string `json:"proofPurpose"`
	Created            string `json:"created"`
	ProofValue         string `json:"proofValue,omitempty"`
}

// Knoten is a pin on the map: an as:Place.
type Knoten struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         []string `json:"type"` // ["Place", "Knoten"]
	Name         string   `json:"name"`
	Content      string   `json:"content,omitempty"`
	Latitude     Degrees  `json:"latitude"`
	Longitude    Degrees  `json:"longitude"`
	KnotenType   string   `json:"knotenType"`
	H3           string   `json:"h3"`
	AttributedTo string   `json:"attributedTo"`
	Published    Time     `json:"published"`
	Permanent    bool     `json:"permanent"`
	Ortsweberei  string   `json:"ortsweberei"`
	To           []string `json:"to,omitempty"`
}

// Faden is a thread of engagement to a Knoten.
type Faden struct {
	Context      any      `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         string   `json:"type"` // "Faden"
	AttributedTo string   `json:"attributedTo"`
	Knoten       string   `json:"knoten"`
	FadenType    string   `json:"fadenType"`
	Twisted      bool     `json:"twisted"`
	ExpiresAt    *Time    `json:"expiresAt,omitempty"`
	Published    Time     `json:"published"`
	To           []string `json:"to,omitempty"`
}

// OrderedCollection is an outbox or a followers collection.
type OrderedCollection struct {
	Context    any    `json:"@context,omitempty"`
	ID         string `json:"id"`
	Type       string `json:"type"` // "OrderedCollection"
	TotalItems *int   `json:"totalItems,omitempty"`
	First      string `json:"first,omitempty"`
	Last       string `json:"last,omitempty"`
}

// OrderedCollectionPage is one page of an OrderedCollection.
type OrderedCollectionPage struct {
	Context      any               `json:"@context,omitempty"`
	ID           string            `json:"id"`
	Type         string            `json:"type"` // "OrderedCollectionPage"
	PartOf       string            `json:"partOf"`
	Next         string            `json:"next,omitempty"`
	Prev         string            `json:"prev,omitempty"`
	OrderedItems []json.RawMessage `json:"orderedItems"`
}

// Choice names: our values and the poll option names Mastodon shows.
var (
	ChoiceNames = map[string]string{"yes": "Ja", "no": "Nein", "abstain": "Enthaltung"}
	NameChoices = map[string]string{"Ja": "yes", "Nein": "no", "Enthaltung": "abstain"}
	// ChoiceOrder is the order of the Question's oneOf.
	ChoiceOrder = []string{"yes", "no", "abstain"}
)

// Snapshot announces one of an Ortsweberei's signed snapshots (docs/SNAPSHOTS.md) to its
// neighbours, so that they keep a mirror: its id and url are the file's URL on the origin
// (<base>/snapshots/<hash>.json.gz), detachedSignature the .sig file's, signatureValue that
// file's text (base64 of the Ed25519 signature over the hash's 32 bytes).
type Snapshot struct {
	Context           any      `json:"@context,omitempty"`
	ID                string   `json:"id"`
	Type              string   `json:"type"` // "Snapshot"
	AttributedTo      string   `json:"attributedTo"`
	URL               string   `json:"url"`
	MediaType         string   `json:"mediaType"`
	SnapshotHash      string   `json:"snapshotHash"`
	SnapshotKind      string   `json:"snapshotKind"`
	AsOf              Time     `json:"asOf"`
	PreviousSnapshot  string   `json:"previousSnapshot,omitempty"`
	BaseSnapshot      string   `json:"baseSnapshot,omitempty"`
	DetachedSignature string   `json:"detachedSignature"`
	SignatureValue    string   `json:"signatureValue"`
	Published         Time     `json:"published"`
	To                []string `json:"to,omitempty"`
}
