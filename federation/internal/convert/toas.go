// Package convert is the one converter between our objects and ActivityStreams, both ways, and
// writes nothing: toas.go makes our documents and activities (and signs what carries a proof),
// fromas.go reads what arrives. It imports no job package but keys and iri.
package convert

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/keys"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/stream"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Services are the domain services the converter reads from.
type Services struct {
	Events       *eventstore.Store
	Accounts     *account.Service
	Ortsweberei  *ortsweberei.Service
	Antraege     *antrag.Service
	Abstimmungen *abstimmung.Service
	Delegations  *delegation.Service
	// Knoten answers for a Faden whose first events the retention has removed.
	Knoten *knoten.Service
	// SnapshotKeys is the instance's snapshot key, published on the Group actor (nil: none).
	SnapshotKeys SnapshotKeys
	// Streams are the livestreams the Ortsweberei posts about.
	Streams *stream.Service
}

// SnapshotKeys gives the public half of the key that signs the Ortsweberei's snapshots
// (instance/snapshot.Keys).
type SnapshotKeys interface {
	Public(ctx context.Context) (ed25519.PublicKey, error)
}

// Converter converts; it holds nothing that changes.
type Converter struct {
	iri   iri.Base
	pool  *pgxpool.Pool
	clock clock.Clock // the instance clock: what is gone by now
	keys  *keys.Store // our actors' keys: their documents, and the proofs they sign
	svc   Services
}

// New returns the converter.
func New(base iri.Base, pool *pgxpool.Pool, c clock.Clock, k *keys.Store, svc Services) *Converter {
	return &Converter{iri: base, pool: pool, clock: c, keys: k, svc: svc}
}

// Handles resolves account ids to their actor IRIs, remembering what it looked up.
type Handles struct {
	s     *Converter
	cache map[uuid.UUID]string
}

// Handles starts a lookup of account handles (one per document or page).
func (s *Converter) Handles() *Handles { return &Handles{s: s, cache: map[uuid.UUID]string{}} }

func (h *Handles) iri(ctx context.Context, id uuid.UUID) (string, error) {
	if id == uuid.Nil {
		return h.s.iri.Group(), nil // the instance's own doings speak as the Ortsweberei
	}
	if iri, ok := h.cache[id]; ok {
		return iri, nil
	}
	acc, err := h.s.svc.Accounts.Get(ctx, id)
	if err != nil {
		return "", err
	}
	iri := h.s.iri.User(acc.Handle)
	h.cache[id] = iri
	return iri, nil
}

// AntragObject is the Antrag as a Question, as it stands now: with the live (or, once closed,
// the final) weighted count as Mastodon's poll option totals.
func (s *Converter) AntragObject(ctx context.Context, a antrag.Antrag) (*vocab.Antrag, error) {
	if a.HiddenAt != nil {
		return nil, ErrHidden
	}
	var vote *abstimmung.View
	if a.AbstimmungID != nil {
		v, err := s.svc.Abstimmungen.Get(ctx, *a.AbstimmungID)
		if err != nil {
			return nil, err
		}
		vote = &v
		if v.Closed() && a.Status == antrag.ImAbstimmung {
			// The vote closed after a was read; the Antrag was decided in the same
			// transaction. Read as of before, the Question would be closed at the close's
			// time without its outcome, and Mastodon, having that `updated`, would ignore the
			// close's own Update.
			if a, err = s.svc.Antraege.Get(ctx, a.ID); err != nil {
				return nil, err
			}
		}
	}
	h := s.Handles()
	applicant, err := h.iri(ctx, a.ApplicantID)
	if err != nil {
		return nil, err
	}
	q := &vocab.Antrag{
		Context: vocab.Context, ID: s.iri.Antrag(a.ID), Type: []string{"Question", "Antrag"},
		AttributedTo: s.iri.AntragActor(a.ID), Applicant: applicant, Title: a.Title,
		Source: &vocab.Source{Content: a.DetailsMD, MediaType: "text/markdown"},
		URL:    s.iri.Of("/antraege/" + a.ID.String()), Published: a.OpenedAt,
		To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.GroupPath), s.iri.FollowersOf(iri.AntragActorPath(a.ID))},
		EndTime: a.DecisionDeadline, Ortsweberei: s.iri.Group(), Status: a.Status,
		DecisionDeadline: a.DecisionDeadline, Extended: a.Extended, AmountCents: a.AmountCents,
	}
	if a.KnotenID != nil {
		q.Knoten = s.iri.Knoten(*a.KnotenID)
	}
	counts := map[string]int{}
	if vote != nil {
		v := *vote
		q.Abstimmung = s.iri.Of("/ap/abstimmungen/" + v.ID.String())
		q.OpensAt, q.ClosesAt = &v.OpensAt, &v.ClosesAt
		q.EndTime = v.ClosesAt
		// The option totals are weighted (a delegate's Stimme carries its delegators), and
		// Mastodon divides each option's total by votersCount for its percentages and shows
		// votersCount as "N people". The number of people whose weight counted, abstentions
		// included since Enthaltung is an option too, is what makes both true: the totals
		// add up to it, so the percentages add up to 100 %, and it is how many residents the
		// count speaks for. The number of direct voters would be smaller than the totals'
		// sum as soon as anyone delegated.
		q.VotersCount = v.Count.Turnout()
		counts = map[string]int{abstimmung.Yes: v.Count.Yes, abstimmung.No: v.Count.No, abstimmung.Abstain: v.Count.Abstain}
		if v.Closed() {
			q.Closed = v.ClosedAt
			q.Outcome = v.Result
			y, n, ab := v.Count.Yes, v.Count.No, v.Count.Abstain
			q.YesWeight, q.NoWeight, q.AbstainWeight = &y, &n, &ab
			if q.Delegations, err = s.countedDelegations(ctx, v); err != nil {
				return nil, err
			}
		}
	}
	if q.Closed == nil && (a.Status == antrag.Angenommen || a.Status == antrag.Zurueckgezogen || a.Status == antrag.Abgelehnt) {
		q.Closed = a.DecidedAt
		if a.Status != antrag.Zurueckgezogen {
			q.Outcome = a.Status
		}
	}
	for _, c := range vocab.ChoiceOrder {
		q.OneOf = append(q.OneOf, vocab.PollOption{Type: "Note", Name: vocab.ChoiceNames[c],
			Replies: vocab.OptionReplies{Type: "Collection", TotalItems: counts[c]}})
	}
	q.Content = questionContent(a.Title, OutcomeHTML(q.Status, q.YesWeight, q.NoWeight, q.AbstainWeight), antrag.RenderMarkdown(a.DetailsMD))
	q.Updated = antragChangedAt(a, vote)
	return q, nil
}

// antragChangedAt is when the Antrag last changed what its followers are shown (its deadline,
// its status and end time when the vote opened, its close and outcome), at the time of the
// event that changed it; nil while it is as it was filed. Mastodon and GoToSocial mark a post
// "edited" as soon as it has an updated later than (GoToSocial: not before) its published,
// so a count that moves must not touch it. Neighbours keep the state with the newest updated
// (nachbarn.StoreAntrag): two documents with the same updated differ only in the live count,
// which they recount themselves.
func antragChangedAt(a antrag.Antrag, v *abstimmung.View) *time.Time {
	var at *time.Time
	later := func(t time.Time) {
		if at == nil || t.After(*at) {
			at = &t
		}
	}
	if a.Extended && len(a.Einsprueche) > 0 {
		later(a.Einsprueche[0].CreatedAt) // the first Einspruch moved the deadline, in its event
	}
	if v != nil {
		later(v.OpensAt) // the vote opened at the deadline: status and end time changed
		if v.ClosedAt != nil {
			later(*v.ClosedAt)
		}
	}
	if a.DecidedAt != nil {
		later(*a.DecidedAt)
	}
	if at != nil && at.Before(a.OpenedAt) {
		at = &a.OpenedAt // GoToSocial refuses a status updated before it was published
	}
	return at
}

// questionContent is an Antrag's Question's content: its title, how it ended (once it has),
// then its details (HTML). The title is not the Question's name: GoToSocial shows a name
// without a summary as a content warning over the post, and Mastodon shows a Question's
// content and never its name.
func questionContent(title, outcome, detailsHTML string) string {
	return QuestionTitleHTML(title) + outcome + detailsHTML
}

// QuestionTitleHTML is the title as it opens the content. A neighbour strips it, and the
// outcome after it, again to keep the details (AntragFromAS).
func QuestionTitleHTML(title string) string {
	return "<p><strong>" + html.EscapeString(title) + "</strong></p>\n"
}

// OutcomeHTML says how an Antrag ended, for those who see only the post: a closed poll alone
// does not say whether the Antrag passed (an Enthaltung counts, and a delegate's Stimme
// weighs more than one). The counts are the weighted ones, as the poll shows them. Empty
// while the Antrag is undecided.
func OutcomeHTML(status string, yes, no, abstain *int) string {
	switch {
	case status == antrag.Zurueckgezogen:
		return "<p><strong>Zurückgezogen.</strong></p>\n"
	case status != antrag.Angenommen && status != antrag.Abgelehnt:
		return ""
	}
	word := "Angenommen"
	if status == antrag.Abgelehnt {
		word = "Abgelehnt"
	}
	if yes == nil || no == nil || abstain == nil {
		return "<p><strong>" + word + "</strong> ohne Einspruch.</p>\n"
	}
	return fmt.Sprintf("<p><strong>%s.</strong> Ja: %d, Nein: %d, Enthaltung: %d</p>\n", word, *yes, *no, *abstain)
}

// countedDelegations are the delegations that carried weight at the close, each signed by its
// delegator: with them and the signed Stimmen a neighbour recomputes the count on its own.
func (s *Converter) countedDelegations(ctx context.Context, v abstimmung.View) ([]vocab.Delegation, error) {
	var out []vocab.Delegation
	// In the delegators' order, not the map's: the same closed Question must be the same
	// document at every fetch (a neighbour compares what it stored, and a reader diffs).
	for _, from := range slices.SortedFunc(maps.Keys(v.Count.Via), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
		via := v.Count.Via[from]
		d, err := s.svc.Delegations.InEffectAt(ctx, from, via, *v.ClosedAt)
		if err != nil {
			return nil, fmt.Errorf("federation: delegation %s→%s at the close: %w", from, via, err)
		}
		obj, err := s.DelegationObject(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, *obj)
	}
	return out, nil
}

// DelegationObject is a delegation, signed by its delegator (created = when it was asked for,
// so the same delegation always has the same proof).
func (s *Converter) DelegationObject(ctx context.Context, d delegation.Delegation) (*vocab.Delegation, error) {
	h := s.Handles()
	from, err := h.iri(ctx, d.FromID)
	if err != nil {
		return nil, err
	}
	to, err := h.iri(ctx, d.ToID)
	if err != nil {
		return nil, err
	}
	obj := &vocab.Delegation{Context: vocab.Context, ID: s.iri.Delegation(d.ID), Type: "Delegation",
		Delegator: from, Delegate: to, EffectiveAt: d.EffectiveAt, Published: d.RequestedAt, To: []string{vocab.Public}}
	if err := s.sign(ctx, from, d.RequestedAt, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// stimme is what a Stimme's event says: who chose what in which Abstimmung, on which Antrag.
type stimme struct {
	abstimmung, antrag uuid.UUID
	voterIRI, choice   string
	changed            bool // a Stimme changed, not a first one
}

func (s *Converter) stimmeOf(ctx context.Context, e eventstore.Event) (stimme, error) {
	var st stimme
	var voter uuid.UUID
	switch {
	case abstimmung.StimmeAbgegeben.Is(e):
		p, err := abstimmung.StimmeAbgegeben.Decode(e)
		if err != nil {
			return st, err
		}
		st.abstimmung, voter, st.choice = p.AbstimmungID, p.AccountID, p.Choice
	case abstimmung.StimmeGeaendert.Is(e):
		p, err := abstimmung.StimmeGeaendert.Decode(e)
		if err != nil {
			return st, err
		}
		st.abstimmung, voter, st.choice, st.changed = p.AbstimmungID, p.AccountID, p.Choice, true
	default:
		return st, iri.ErrNotFound
	}
	v, err := s.svc.Abstimmungen.Find(ctx, st.abstimmung)
	if err != nil {
		return st, err
	}
	st.antrag = v.SubjectID
	st.voterIRI, err = s.Handles().iri(ctx, voter)
	return st, err
}

// StimmeObject is a cast or changed Stimme, from its event, signed by the voter.
func (s *Converter) StimmeObject(ctx context.Context, e eventstore.Event) (*vocab.Stimme, error) {
	st, err := s.stimmeOf(ctx, e)
	if err != nil {
		return nil, err
	}
	obj := &vocab.Stimme{Context: vocab.Context, ID: s.iri.Stimme(e.Position.ID), Type: []string{"Note", "Stimme"},
		AttributedTo: st.voterIRI, InReplyTo: s.iri.Antrag(st.antrag), Antrag: s.iri.Antrag(st.antrag),
		Abstimmung: s.iri.Of("/ap/abstimmungen/" + st.abstimmung.String()), Name: vocab.ChoiceNames[st.choice], Choice: st.choice,
		Published: e.At, To: []string{vocab.Public, s.iri.AntragActor(st.antrag)}}
	if err := s.sign(ctx, st.voterIRI, e.At, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// StimmeNoteObject is a Stimme as the voter's followers are shown it, id <Stimme>/note: a
// public post that names the choice and links to the Antrag and to the signed Stimme. It is
// not a reply: Mastodon keeps replies to accounts one does not follow out of the home feed.
// The Abstimmung is public and by name, so the post tells no more than the Antrag's page.
func (s *Converter) StimmeNoteObject(ctx context.Context, e eventstore.Event) (*vocab.StimmeNote, error) {
	st, err := s.stimmeOf(ctx, e)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.Antraege.Get(ctx, st.antrag)
	if err == nil && a.HiddenAt != nil {
		return nil, ErrHidden // the post names the Antrag's title
	}
	if err != nil {
		return nil, err
	}
	page := s.iri.Of("/antraege/" + st.antrag.String())
	lead := "Stimme zum Antrag"
	if st.changed {
		lead = "Geänderte Stimme zum Antrag"
	}
	path, _ := s.iri.Local(st.voterIRI)
	content := fmt.Sprintf("<p>%s <a href=\"%s\">«%s»</a>: <strong>%s</strong></p>\n<p><a href=\"%s\">Die signierte Stimme</a> in der öffentlichen Abstimmung.</p>",
		lead, html.EscapeString(page), html.EscapeString(a.Title), vocab.ChoiceNames[st.choice], html.EscapeString(s.iri.Stimme(e.Position.ID)))
	return &vocab.StimmeNote{Context: vocab.Context, ID: s.iri.Stimme(e.Position.ID) + "/note", Type: "Note",
		AttributedTo: st.voterIRI, Content: content, URL: page, Stimme: s.iri.Stimme(e.Position.ID), Published: e.At,
		To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(path)}}, nil
}

// StimmeNoteCreateFor is the Create of a Stimme's post, id <event>/note, sent by the voter to
// their followers.
func (s *Converter) StimmeNoteCreateFor(ctx context.Context, e eventstore.Event) (*vocab.Activity, error) {
	note, err := s.StimmeNoteObject(ctx, e)
	if err != nil {
		return nil, err
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, "/note"), Type: "Create",
		Actor: note.AttributedTo, Object: note, To: note.To, Cc: note.Cc, Published: &at}, nil
}

// sign adds the author's integrity proof to obj (a pointer to a vocab type with a Proof field).
func (s *Converter) sign(ctx context.Context, authorIRI string, created time.Time, obj any) error {
	path, ok := s.iri.Local(authorIRI)
	if !ok {
		return fmt.Errorf("federation: cannot sign for %s", authorIRI)
	}
	k, err := s.keys.Get(ctx, path)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	signed, err := proof.Sign(doc, k.Ed, authorIRI+"#ed25519-key", created)
	if err != nil {
		return err
	}
	return json.Unmarshal(signed, obj)
}

// EinspruchObject is a resident's Einspruch as a Note on the Antrag.
func (s *Converter) EinspruchObject(ctx context.Context, antragID uuid.UUID, e antrag.Einspruch) (*vocab.Einspruch, error) {
	author, err := s.Handles().iri(ctx, e.AccountID)
	if err != nil {
		return nil, err
	}
	return &vocab.Einspruch{Context: vocab.Context, ID: s.iri.Einspruch(antragID, e.AccountID), Type: []string{"Note", "Einspruch"},
		AttributedTo: author, InReplyTo: s.iri.Antrag(antragID), Antrag: s.iri.Antrag(antragID),
		Content: "<p>" + html.EscapeString(e.Reason) + "</p>", Reason: e.Reason, Published: e.CreatedAt,
		To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.AntragActorPath(antragID))}}, nil
}

// KnotenObject is a Knoten as a Place.
func (s *Converter) KnotenObject(ctx context.Context, k knoten.Knoten) (*vocab.Knoten, error) {
	creator, err := s.Handles().iri(ctx, k.CreatedBy)
	if err != nil {
		return nil, err
	}
	return &vocab.Knoten{Context: vocab.Context, ID: s.iri.Knoten(k.ID), Type: []string{"Place", "Knoten"},
		Name: k.Title, Content: html.EscapeString(k.Description), Latitude: vocab.Degrees(k.Point.Lat), Longitude: vocab.Degrees(k.Point.Lon),
		KnotenType: k.Type, H3: fmt.Sprintf("%x", k.Cell), AttributedTo: creator, Published: k.CreatedAt,
		Permanent: k.Permanent(), Ortsweberei: s.iri.Group(), To: []string{vocab.Public}}, nil
}

// ActivityFor is the ActivityStreams form of a public event: the outbox is made of these.
func (s *Converter) ActivityFor(ctx context.Context, h *Handles, e eventstore.Event) (*vocab.Activity, error) {
	if !slices.Contains(ActivityTypes, e.Type) {
		return nil, iri.ErrNotFound // not public, or no ActivityStreams form
	}
	actor, err := h.iri(ctx, e.ActorID)
	if err != nil {
		return nil, err
	}
	at := e.At
	act := &vocab.Activity{ID: s.iri.Activity(e.Position.ID, ""), Actor: actor, Published: &at, To: []string{vocab.Public}}
	if e.Type != antrag.AntragVerborgen.Name() {
		// What was said in and about an Antrag a moderator hid is no longer shown, in the
		// outboxes nor at the activities' ids: its Create carries its words.
		if hidden, err := s.antragHidden(ctx, e); err != nil || hidden {
			return nil, cmp.Or(err, ErrHidden)
		}
	}
	switch e.Type {
	case knoten.KnotenGeknuepft.Name():
		p, err := knoten.KnotenGeknuepft.Decode(e)
		if err != nil {
			return nil, err
		}
		if hidden, err := s.mapHidden(ctx, p.KnotenID); err != nil || hidden {
			return nil, cmp.Or(err, ErrHidden)
		}
		act.Type = "Create"
		act.Object = &vocab.Knoten{ID: s.iri.Knoten(p.KnotenID), Type: []string{"Place", "Knoten"}, Name: p.Title,
			Content: html.EscapeString(p.Description), Latitude: vocab.Degrees(p.Lat), Longitude: vocab.Degrees(p.Lon),
			KnotenType: p.Type, H3: p.H3, AttributedTo: actor, Published: e.At, Ortsweberei: s.iri.Group()}
	case knoten.FadenGesponnen.Name():
		p, err := knoten.FadenGesponnen.Decode(e)
		if err != nil {
			return nil, err
		}
		if hidden, err := s.mapHidden(ctx, p.FadenID); err != nil || hidden {
			return nil, cmp.Or(err, ErrHidden)
		}
		act.Type = "Create"
		act.Object = &vocab.Faden{ID: s.iri.Faden(p.FadenID), Type: "Faden", AttributedTo: actor, Knoten: s.iri.Knoten(p.KnotenID),
			FadenType: p.Type, Twisted: p.IsTwisted, ExpiresAt: p.ExpiresAt, Published: e.At}
	case knoten.FadenVerzwirnt.Name():
		p, err := knoten.FadenVerzwirnt.Decode(e)
		if err != nil {
			return nil, err
		}
		if hidden, err := s.mapHidden(ctx, p.FadenID); err != nil || hidden {
			return nil, cmp.Or(err, ErrHidden)
		}
		act.Type = "Update"
		act.Object = map[string]any{"id": s.iri.Faden(p.FadenID), "type": "Faden", "knoten": s.iri.Knoten(p.KnotenID), "twisted": true}
	case knoten.FadenEntzwirnt.Name():
		p, err := knoten.FadenEntzwirnt.Decode(e)
		if err != nil {
			return nil, err
		}
		if hidden, err := s.mapHidden(ctx, p.FadenID); err != nil || hidden {
			return nil, cmp.Or(err, ErrHidden)
		}
		act.Type = "Update"
		act.Object = map[string]any{"id": s.iri.Faden(p.FadenID), "type": "Faden", "knoten": s.iri.Knoten(p.KnotenID), "twisted": false, "expiresAt": p.ExpiresAt}
	case knoten.FadenAbgelaufen.Name():
		p, err := knoten.FadenAbgelaufen.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Delete", s.iri.Faden(p.FadenID)
	case knoten.KnotenAufgeloest.Name():
		p, err := knoten.KnotenAufgeloest.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Delete", s.iri.Knoten(p.KnotenID)
	case account.GarnrolleAngelegt.Name(), account.GarnrolleVerifiziert.Name(), account.GarnrollePositioniert.Name(), account.GarnrolleUmbenannt.Name():
		act.Type = "Update"
		if e.Type == account.GarnrolleAngelegt.Name() {
			act.Type = "Create"
		}
		iri, err := h.iri(ctx, e.SubjectID)
		if err != nil {
			return nil, err
		}
		act.Object = iri
	case ortsweberei.Festgelegt.Name():
		act.Type, act.Actor, act.Object = "Update", s.iri.Group(), s.iri.Group()
	case antrag.AntragGestellt.Name():
		p, err := antrag.AntragGestellt.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Actor = "Create", s.iri.AntragActor(p.AntragID)
		q := &vocab.Antrag{ID: s.iri.Antrag(p.AntragID), Type: []string{"Question", "Antrag"}, AttributedTo: s.iri.AntragActor(p.AntragID),
			Applicant: actor, Title: p.Title, Content: questionContent(p.Title, "", antrag.RenderMarkdown(p.DetailsMD)), Source: &vocab.Source{Content: p.DetailsMD, MediaType: "text/markdown"},
			Published: e.At, To: []string{vocab.Public}, EndTime: p.DecisionDeadline, Ortsweberei: s.iri.Group(), Status: antrag.Offen,
			DecisionDeadline: p.DecisionDeadline, AmountCents: p.AmountCents}
		for _, c := range vocab.ChoiceOrder {
			q.OneOf = append(q.OneOf, vocab.PollOption{Type: "Note", Name: vocab.ChoiceNames[c], Replies: vocab.OptionReplies{Type: "Collection"}})
		}
		if p.KnotenID != nil {
			q.Knoten = s.iri.Knoten(*p.KnotenID)
		}
		act.Object = q
	case antrag.EinspruchErhoben.Name():
		p, err := antrag.EinspruchErhoben.Decode(e)
		if err != nil {
			return nil, err
		}
		if shown, err := s.einspruchShown(ctx, p.AntragID, p.AccountID); err != nil || !shown {
			return nil, cmp.Or(err, ErrHidden) // its reason is no longer public
		}
		obj, err := s.EinspruchObject(ctx, p.AntragID, antrag.Einspruch{AccountID: p.AccountID, Reason: p.Reason, CreatedAt: e.At})
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Create", obj
	case antrag.AntragVerborgen.Name():
		act = s.AntragDelete(e)
	case antrag.EinspruchVerborgen.Name():
		act, _, err = s.EinspruchDelete(ctx, e)
		if err != nil {
			return nil, err
		}
	case antrag.AntragFristVerlaengert.Name(), antrag.AntragZurAbstimmung.Name(), antrag.AntragAngenommen.Name(),
		antrag.AntragAbgelehnt.Name(), antrag.AntragZurueckgezogen.Name():
		// A withdrawn Antrag is an Update too, not a Delete: it stays (its Question is served,
		// closed, with status zurueckgezogen, and its actor can still be followed), and a
		// Delete would make Mastodon drop the post and expect a Tombstone. Delivery sends the
		// same Update with the Question embedded (deliverEvents).
		act.Type, act.Actor = "Update", s.iri.AntragActor(e.SubjectID)
		act.Object = s.iri.Antrag(e.SubjectID)
	case abstimmung.AbstimmungEroeffnet.Name(), abstimmung.AbstimmungGeschlossen.Name():
		v, err := s.svc.Abstimmungen.Get(ctx, e.SubjectID)
		if err != nil {
			return nil, err
		}
		act.Type, act.Actor, act.Object = "Update", s.iri.AntragActor(v.SubjectID), s.iri.Antrag(v.SubjectID)
	case abstimmung.StimmeAbgegeben.Name(), abstimmung.StimmeGeaendert.Name():
		obj, err := s.StimmeObject(ctx, e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Create", obj
	case delegation.DelegationAngefragt.Name():
		d, err := s.svc.Delegations.Get(ctx, e.SubjectID)
		if err != nil {
			return nil, err
		}
		obj, err := s.DelegationObject(ctx, d)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Create", obj
	case delegation.DelegationWirksam.Name(), delegation.DelegationWiderrufen.Name():
		act.Type, act.Object = "Update", s.iri.Delegation(e.SubjectID)
	case delegation.DelegationAbgelehnt.Name(), delegation.DelegationBeendet.Name(), delegation.DelegationAbgelaufen.Name():
		act.Type, act.Object = "Delete", s.iri.Delegation(e.SubjectID)
	case stream.StreamGestartet.Name(), stream.StreamBeendet.Name():
		// The Ortsweberei's post about a livestream, as it was made, and its end.
		return s.streamActivity(ctx, e, false)
	default:
		return nil, iri.ErrNotFound // not public, or no ActivityStreams form
	}
	return act, nil
}

// AbstimmungObject is an Abstimmung: its window and, once closed, its outcome.
func (s *Converter) AbstimmungObject(v abstimmung.View) *vocab.Abstimmung {
	obj := &vocab.Abstimmung{Context: vocab.Context, ID: s.iri.Of("/ap/abstimmungen/" + v.ID.String()), Type: "Abstimmung",
		Antrag: s.iri.Antrag(v.SubjectID), OpensAt: v.OpensAt, ClosesAt: v.ClosesAt}
	if v.Closed() {
		obj.Closed, obj.Outcome = v.ClosedAt, v.Result
	}
	return obj
}

// FadenObject is a Faden as its public events tell it (one history: the log is the record of
// a Faden, the table only what the map needs now): spun, then twisted or untwisted. An expired
// Faden is iri.ErrGone.
func (s *Converter) FadenObject(ctx context.Context, id uuid.UUID) (*vocab.Faden, error) {
	const page = 100
	var evs []eventstore.Event // newest first
	for before := (eventstore.Position{}); ; {
		batch, err := s.svc.Events.PublicBefore(ctx, eventstore.Scope{Subjects: []uuid.UUID{id}}, before, page)
		if err != nil {
			return nil, err
		}
		for _, e := range batch {
			switch e.Type {
			case knoten.FadenGesponnen.Name(), knoten.FadenVerzwirnt.Name(), knoten.FadenEntzwirnt.Name(), knoten.FadenAbgelaufen.Name():
				evs = append(evs, e)
			}
		}
		if len(batch) < page {
			break
		}
		before = batch[len(batch)-1].Position
	}
	if len(evs) == 0 || !knoten.FadenGesponnen.Is(evs[len(evs)-1]) {
		// The log keeps events for 30 days once a snapshot holds them (docs/SNAPSHOTS.md,
		// "Retention"): a Faden spun earlier — a twisted one lives on — is told from the map's
		// table instead, as it stands now.
		return s.fadenFromTable(ctx, id)
	}
	spun := evs[len(evs)-1]
	p, err := knoten.FadenGesponnen.Decode(spun)
	if err != nil {
		return nil, err
	}
	author, err := s.Handles().iri(ctx, spun.ActorID)
	if err != nil {
		return nil, err
	}
	f := &vocab.Faden{Context: vocab.Context, ID: s.iri.Faden(id), Type: "Faden", AttributedTo: author, Knoten: s.iri.Knoten(p.KnotenID),
		FadenType: p.Type, Twisted: p.IsTwisted, ExpiresAt: p.ExpiresAt, Published: spun.At, To: []string{vocab.Public}}
	switch latest := evs[0]; latest.Type {
	case knoten.FadenAbgelaufen.Name():
		return nil, iri.ErrGone
	case knoten.FadenVerzwirnt.Name():
		f.Twisted, f.ExpiresAt = true, nil
	case knoten.FadenEntzwirnt.Name():
		u, err := knoten.FadenEntzwirnt.Decode(latest)
		if err != nil {
			return nil, err
		}
		f.Twisted, f.ExpiresAt = false, &u.ExpiresAt
	}
	// Reads apply the rules at the instant of the read: a Faden past its time is gone even
	// before the sweep records it.
	if !f.Twisted && f.ExpiresAt != nil && !s.clock.Now().Before(*f.ExpiresAt) {
		return nil, iri.ErrGone
	}
	return f, nil
}

// fadenFromTable is a Faden still on the map, from the knoten table: for a Faden whose
// FadenGesponnen event the retention removed. One that is no longer on the map is not found
// (its events, which told it was gone, may be gone too).
func (s *Converter) fadenFromTable(ctx context.Context, id uuid.UUID) (*vocab.Faden, error) {
	if s.svc.Knoten == nil {
		return nil, iri.ErrNotFound
	}
	_, fs, err := s.svc.Knoten.Current(ctx, nil, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, iri.ErrNotFound
	}
	f := fs[0]
	author, err := s.Handles().iri(ctx, f.AccountID)
	if err != nil {
		return nil, err
	}
	return &vocab.Faden{Context: vocab.Context, ID: s.iri.Faden(id), Type: "Faden", AttributedTo: author, Knoten: s.iri.Knoten(f.KnotenID),
		FadenType: f.Type, Twisted: f.Twisted, ExpiresAt: f.ExpiresAt, Published: f.CreatedAt, To: []string{vocab.Public}}, nil
}

// AnnounceFor is the Ortsweberei's Announce of a new Antrag, id <event>/announce: what its
// followers see in their timelines.
func (s *Converter) AnnounceFor(e eventstore.Event) (*vocab.Activity, error) {
	if !antrag.AntragGestellt.Is(e) {
		return nil, iri.ErrNotFound
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, "/announce"), Type: "Announce",
		Actor: s.iri.Group(), Object: s.iri.Antrag(e.SubjectID), To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.GroupPath)},
		Published: &at}, nil
}

// QuestionUpdateFor is the Update(Question) sent after an event that changed an Antrag, id
// <event>/update: the Antrag's actor sends the Question as it now stands.
func (s *Converter) QuestionUpdateFor(ctx context.Context, e eventstore.Event) (*vocab.Activity, error) {
	if antrag.AntragGestellt.Is(e) {
		return nil, iri.ErrNotFound // a new Antrag is created and announced, not updated
	}
	id, err := s.AntragOf(ctx, e)
	if err != nil {
		return nil, err
	}
	if id == uuid.Nil {
		return nil, iri.ErrNotFound
	}
	a, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	q, err := s.AntragObject(ctx, a)
	if err != nil {
		return nil, err
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, "/update"), Type: "Update",
		Actor: s.iri.AntragActor(id), Object: q, To: q.To, Cc: q.Cc, Published: &at}, nil
}

// DelegationUpdateFor is the Update(Question) of Antrag id sent after a delegation change moved
// its count, id <event>/update/<Antrag>: the Question as it now stands.
func (s *Converter) DelegationUpdateFor(ctx context.Context, e eventstore.Event, id uuid.UUID) (*vocab.Activity, error) {
	if _, ok, err := s.svc.Delegations.MoveOf(ctx, e); err != nil {
		return nil, err
	} else if !ok {
		return nil, iri.ErrNotFound
	}
	a, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.AbstimmungID == nil {
		return nil, iri.ErrNotFound // no count to move
	}
	q, err := s.AntragObject(ctx, a)
	if err != nil {
		return nil, err
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, "/update/"+id.String()), Type: "Update",
		Actor: s.iri.AntragActor(id), Object: q, To: q.To, Cc: q.Cc, Published: &at}, nil
}

// baseActor fills what every local actor has.
func (s *Converter) baseActor(ctx context.Context, path string, typ any, username, name string) (*vocab.Actor, error) {
	k, err := s.keys.Get(ctx, path)
	if err != nil {
		return nil, err
	}
	id := s.iri.Of(path)
	return &vocab.Actor{
		Context: vocab.Context, ID: id, Type: typ, PreferredUsername: username, Name: name,
		Inbox: id + "/inbox", Outbox: id + "/outbox", Followers: id + "/followers", Following: id + "/following",
		Endpoints:    &vocab.Endpoints{SharedInbox: s.iri.Of(iri.SharedInbox)},
		PublicKey:    &vocab.PublicKey{ID: id + "#main-key", Owner: id, PublicKeyPem: k.PublicPEM()},
		Discoverable: true, Indexable: true,
	}, nil
}

// InstanceActor is the instance's Application actor, which signs our own requests.
func (s *Converter) InstanceActor(ctx context.Context, _ *http.Request) (*vocab.Actor, error) {
	a, err := s.baseActor(ctx, iri.InstancePath, "Application", "instance", "Weltgewebe "+s.iri.Host())
	if err != nil {
		return nil, err
	}
	a.Summary = "The instance actor of this Ortsweberei; it signs the instance's own requests."
	a.Discoverable, a.Indexable = false, false
	return a, nil
}

// SnapshotKeyFragment names the snapshot key among the Group actor's assertionMethod
// (snapshot.KeyID: "<actor id>#snapshot-key").
const SnapshotKeyFragment = "#snapshot-key"

// GroupActor is the Ortsweberei's Group.
func (s *Converter) GroupActor(ctx context.Context, _ *http.Request) (*vocab.Actor, error) {
	o, err := s.svc.Ortsweberei.Get(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.baseActor(ctx, iri.GroupPath, []string{"Group", "Ortsweberei"}, "ortsweberei", o.Name)
	if err != nil {
		return nil, err
	}
	a.Summary = "Die Ortsweberei " + o.Name + ": ihre Anträge, Einsprüche und öffentlichen Abstimmungen."
	a.URL = s.iri.Of("/")
	if s.svc.SnapshotKeys != nil {
		// The key that signs the Ortsweberei's snapshots (docs/SNAPSHOTS.md): a snapshot's
		// "instance" is this actor, its proof's verificationMethod this key's id.
		pub, err := s.svc.SnapshotKeys.Public(ctx)
		if err != nil {
			return nil, err
		}
		a.AssertionMethod = []vocab.Multikey{{ID: a.ID + SnapshotKeyFragment, Type: "Multikey", Controller: a.ID,
			PublicKeyMultibase: proof.EncodeMultikey(pub)}}
	}
	return a, nil
}

// UserActor is a resident's Person, with the key that signs their Stimmen.
func (s *Converter) UserActor(ctx context.Context, handle string) (*vocab.Actor, error) {
	acc, err := s.svc.Accounts.GetByHandle(ctx, handle)
	if err != nil {
		return nil, err
	}
	return s.personFor(ctx, acc)
}

func (s *Converter) personFor(ctx context.Context, acc account.Account) (*vocab.Actor, error) {
	path := iri.UserPath(acc.Handle)
	a, err := s.baseActor(ctx, path, []string{"Person", "Garnrolle"}, acc.Handle, acc.Name)
	if err != nil {
		return nil, err
	}
	k, err := s.keys.Get(ctx, path)
	if err != nil {
		return nil, err
	}
	a.AssertionMethod = []vocab.Multikey{{
		ID: a.ID + "#ed25519-key", Type: "Multikey", Controller: a.ID,
		PublicKeyMultibase: proof.EncodeMultikey(k.Ed.Public().(ed25519.PublicKey)),
	}}
	verified := acc.Resident() && acc.Verified()
	a.Verified = &verified
	a.Ortsweberei = s.iri.Group()
	a.URL = s.iri.Of("/garnrollen/" + acc.Handle)
	published := acc.CreatedAt
	a.Published = &published
	return a, nil
}

// AntragActor is an Antrag's own Service actor, which Fediverse users follow to follow it.
func (s *Converter) AntragActor(ctx context.Context, id uuid.UUID) (*vocab.Actor, error) {
	an, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	name := antragActorName(an.Title)
	if an.HiddenAt != nil {
		name = "Antrag (verborgen)" // the title is no longer public
	}
	a, err := s.baseActor(ctx, iri.AntragActorPath(id), "Service", "antrag-"+id.String(), name)
	if err != nil {
		return nil, err
	}
	a.Summary = "Folge diesem Antrag, um seine Einsprüche, den Beginn der Abstimmung und das Ergebnis zu sehen."
	a.Ortsweberei = s.iri.Group()
	a.URL = s.iri.Of("/antraege/" + id.String())
	return a, nil
}

// antragActorName is the display name of an Antrag's actor: "Antrag «title»". A name of the
// form "Word: …" is read as a link with the scheme "word" by GoToSocial's ActivityStreams
// library, which shows it lower-cased ("antrag: …"); a space before any colon keeps the name
// a name, whatever the title holds.
func antragActorName(title string) string { return "Antrag «" + title + "»" }

// The events about an Antrag, and about its Abstimmung.
var (
	AntragTypes = []string{antrag.AntragGestellt.Name(), antrag.EinspruchErhoben.Name(), antrag.AntragFristVerlaengert.Name(),
		antrag.AntragZurAbstimmung.Name(), antrag.AntragAngenommen.Name(), antrag.AntragAbgelehnt.Name(),
		antrag.AntragZurueckgezogen.Name(), antrag.AntragVerborgen.Name(), antrag.EinspruchVerborgen.Name()}
	AbstimmungTypes = []string{abstimmung.AbstimmungEroeffnet.Name(), abstimmung.AbstimmungGeschlossen.Name(),
		abstimmung.StimmeAbgegeben.Name(), abstimmung.StimmeGeaendert.Name()}
)

// AntragOf names the Antrag an event is about, if any.
func (s *Converter) AntragOf(ctx context.Context, e eventstore.Event) (uuid.UUID, error) {
	switch {
	case slices.Contains(AntragTypes, e.Type):
		return e.SubjectID, nil
	case slices.Contains(AbstimmungTypes, e.Type):
		a, err := s.svc.Abstimmungen.Find(ctx, e.SubjectID)
		if err != nil {
			return uuid.Nil, err
		}
		return a.SubjectID, nil
	}
	return uuid.Nil, nil
}

// mapHidden: a Knoten or Faden a moderator hid (or the word filter holds) is left out of the
// outboxes and its activities' ids answer 410, as an Antrag's do: their Create carries its
// words and its place.
func (s *Converter) mapHidden(ctx context.Context, id uuid.UUID) (bool, error) {
	if s.svc.Knoten == nil {
		return false, nil
	}
	h, err := s.svc.Knoten.Hidden(ctx, []uuid.UUID{id})
	return h[id], err
}

// ErrHidden: the object is hidden by moderation; its id answers 410 with a Tombstone, as a
// deleted post does on Mastodon.
var ErrHidden = fmt.Errorf("%w: hidden by moderation", iri.ErrGone)

// Tombstone is what an id of ours answers while what it named is hidden (or gone): Mastodon
// and GoToSocial take a 410 with a Tombstone as "deleted".
func (s *Converter) Tombstone(id, formerType string) *vocab.Tombstone {
	return &vocab.Tombstone{Context: vocab.ActivityStreams, ID: id, Type: "Tombstone", FormerType: formerType}
}

// AntragDelete is the Delete a hidden Antrag's followers get (event AntragVerborgen): from
// the Antrag's actor, the author of its Question, as Mastodon accepts a Delete only from a
// post's own account; the object a Tombstone of the Question. Mastodon deletes the post (and
// the Ortsweberei's boost of it); it cannot undelete, so showing the Antrag again sends
// nothing (docs/FEDERATION.md).
func (s *Converter) AntragDelete(e eventstore.Event) *vocab.Activity {
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, ""), Type: "Delete",
		Actor: s.iri.AntragActor(e.SubjectID), Object: &vocab.Tombstone{ID: s.iri.Antrag(e.SubjectID), Type: "Tombstone", FormerType: "Question"},
		To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.GroupPath), s.iri.FollowersOf(iri.AntragActorPath(e.SubjectID))},
		Published: &at}
}

// antragHidden reports whether the event is about an Antrag that is hidden now.
func (s *Converter) antragHidden(ctx context.Context, e eventstore.Event) (bool, error) {
	var id uuid.UUID
	switch {
	case slices.Contains(AntragTypes, e.Type), slices.Contains(AbstimmungTypes, e.Type):
		var err error
		if id, err = s.AntragOf(ctx, e); err != nil || id == uuid.Nil {
			return false, iri.NotFoundOr(err)
		}
	default:
		return false, nil
	}
	a, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		return false, iri.NotFoundOr(err)
	}
	return a.HiddenAt != nil, nil
}

// EinspruchDelete is the Delete of an Einspruch a moderator hid (event EinspruchVerborgen),
// from its author, as Mastodon takes a Delete of a post only from its account, and the path of
// that author's actor, which signs it. The Einspruch still counts; only its reason is gone.
func (s *Converter) EinspruchDelete(ctx context.Context, e eventstore.Event) (*vocab.Activity, string, error) {
	p, err := antrag.EinspruchVerborgen.Decode(e)
	if err != nil {
		return nil, "", err
	}
	author, err := s.Handles().iri(ctx, p.AccountID)
	if err != nil {
		return nil, "", err
	}
	path, _ := s.iri.Local(author)
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, ""), Type: "Delete", Actor: author,
		Object: &vocab.Tombstone{ID: s.iri.Einspruch(p.AntragID, p.AccountID), Type: "Tombstone", FormerType: "Note"},
		To:     []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.GroupPath), s.iri.FollowersOf(iri.AntragActorPath(p.AntragID)),
			s.iri.FollowersOf(path)}, Published: &at}, path, nil
}

// einspruchShown reports whether an Einspruch is public now: antrag's Get leaves hidden ones
// out (and held ones, never public).
func (s *Converter) einspruchShown(ctx context.Context, antragID, accountID uuid.UUID) (bool, error) {
	a, err := s.svc.Antraege.Get(ctx, antragID)
	if err != nil {
		return false, iri.NotFoundOr(err)
	}
	return slices.ContainsFunc(a.Einsprueche, func(x antrag.Einspruch) bool { return x.AccountID == accountID }), nil
}
