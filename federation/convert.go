package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Every conversion between our objects and ActivityStreams happens in this file.

// handles resolves account ids to their actor IRIs, remembering what it looked up.
type handles struct {
	s     *Service
	cache map[uuid.UUID]string
}

func (s *Service) handles() *handles { return &handles{s: s, cache: map[uuid.UUID]string{}} }

func (h *handles) iri(ctx context.Context, id uuid.UUID) (string, error) {
	if id == uuid.Nil {
		return h.s.GroupIRI(), nil // the instance's own doings speak as the Ortsweberei
	}
	if iri, ok := h.cache[id]; ok {
		return iri, nil
	}
	acc, err := h.s.svc.Accounts.Get(ctx, id)
	if err != nil {
		return "", err
	}
	iri := h.s.UserIRI(acc.Handle)
	h.cache[id] = iri
	return iri, nil
}

func (s *Service) followersOf(actorPath string) string { return s.iri(actorPath + "/followers") }

// antragObject is the Antrag as a Question, as it stands now: with the live (or, once closed,
// the final) weighted count as Mastodon's poll option totals.
func (s *Service) antragObject(ctx context.Context, a antrag.Antrag) (*vocab.Antrag, error) {
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
	h := s.handles()
	applicant, err := h.iri(ctx, a.ApplicantID)
	if err != nil {
		return nil, err
	}
	q := &vocab.Antrag{
		Context: vocab.Context, ID: s.AntragIRI(a.ID), Type: []string{"Question", "Antrag"},
		AttributedTo: s.AntragActorIRI(a.ID), Applicant: applicant, Title: a.Title,
		Source: &vocab.Source{Content: a.DetailsMD, MediaType: "text/markdown"},
		URL:    s.iri("/antraege/" + a.ID.String()), Published: a.OpenedAt,
		To: []string{vocab.Public}, Cc: []string{s.followersOf(groupPath), s.followersOf(antragActorPath(a.ID))},
		EndTime: a.DecisionDeadline, Ortsweberei: s.GroupIRI(), Status: a.Status,
		DecisionDeadline: a.DecisionDeadline, Extended: a.Extended, AmountCents: a.AmountCents,
	}
	if a.KnotenID != nil {
		q.Knoten = s.knotenIRI(*a.KnotenID)
	}
	counts := map[string]int{}
	if vote != nil {
		v := *vote
		q.Abstimmung = s.iri("/ap/abstimmungen/" + v.ID.String())
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
	q.Content = questionContent(a.Title, outcomeHTML(q.Status, q.YesWeight, q.NoWeight, q.AbstainWeight), antrag.RenderMarkdown(a.DetailsMD))
	q.Updated = antragChangedAt(a, vote)
	return q, nil
}

// antragChangedAt is when the Antrag last changed what its followers are shown (its deadline,
// its status and end time when the vote opened, its close and outcome), at the time of the
// event that changed it; nil while it is as it was filed. Mastodon and GoToSocial mark a post
// "edited" as soon as it has an updated later than (GoToSocial: not before) its published,
// so a count that moves must not touch it. Neighbours keep the state with the newest updated
// (storeRemoteAntrag): two documents with the same updated differ only in the live count,
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
	return questionTitleHTML(title) + outcome + detailsHTML
}

// questionTitleHTML is the title as it opens the content. A neighbour strips it, and the
// outcome after it, again to keep the details (storeRemoteAntrag).
func questionTitleHTML(title string) string {
	return "<p><strong>" + html.EscapeString(title) + "</strong></p>\n"
}

// outcomeHTML says how an Antrag ended, for those who see only the post: a closed poll alone
// does not say whether the Antrag passed (an Enthaltung counts, and a delegate's Stimme
// weighs more than one). The counts are the weighted ones, as the poll shows them. Empty
// while the Antrag is undecided.
func outcomeHTML(status string, yes, no, abstain *int) string {
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
func (s *Service) countedDelegations(ctx context.Context, v abstimmung.View) ([]vocab.Delegation, error) {
	var out []vocab.Delegation
	// In the delegators' order, not the map's: the same closed Question must be the same
	// document at every fetch (a neighbour compares what it stored, and a reader diffs).
	for _, from := range slices.SortedFunc(maps.Keys(v.Count.Via), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
		via := v.Count.Via[from]
		var id uuid.UUID
		err := s.pool.QueryRow(ctx, `
SELECT id FROM delegationen
WHERE from_id = $1 AND to_id = $2 AND effective_at <= $3 AND state <> 'pending'
  AND (ended_at IS NULL OR ended_at > $3)
ORDER BY effective_at DESC LIMIT 1`, from, via, *v.ClosedAt).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("federation: delegation %s→%s at the close: %w", from, via, err)
		}
		d, err := s.svc.Delegations.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		obj, err := s.delegationObject(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, *obj)
	}
	return out, nil
}

// delegationObject is a delegation, signed by its delegator (created = when it was asked for,
// so the same delegation always has the same proof).
func (s *Service) delegationObject(ctx context.Context, d delegation.Delegation) (*vocab.Delegation, error) {
	h := s.handles()
	from, err := h.iri(ctx, d.FromID)
	if err != nil {
		return nil, err
	}
	to, err := h.iri(ctx, d.ToID)
	if err != nil {
		return nil, err
	}
	obj := &vocab.Delegation{Context: vocab.Context, ID: s.delegationIRI(d.ID), Type: "Delegation",
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

func (s *Service) stimmeOf(ctx context.Context, e eventstore.Event) (stimme, error) {
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
		return st, errNotFound
	}
	v, err := s.svc.Abstimmungen.Find(ctx, st.abstimmung)
	if err != nil {
		return st, err
	}
	st.antrag = v.SubjectID
	st.voterIRI, err = s.handles().iri(ctx, voter)
	return st, err
}

// stimmeObject is a cast or changed Stimme, from its event, signed by the voter.
func (s *Service) stimmeObject(ctx context.Context, e eventstore.Event) (*vocab.Stimme, error) {
	st, err := s.stimmeOf(ctx, e)
	if err != nil {
		return nil, err
	}
	obj := &vocab.Stimme{Context: vocab.Context, ID: s.stimmeIRI(e.Position.ID), Type: []string{"Note", "Stimme"},
		AttributedTo: st.voterIRI, InReplyTo: s.AntragIRI(st.antrag), Antrag: s.AntragIRI(st.antrag),
		Abstimmung: s.iri("/ap/abstimmungen/" + st.abstimmung.String()), Name: vocab.ChoiceNames[st.choice], Choice: st.choice,
		Published: e.At, To: []string{vocab.Public, s.AntragActorIRI(st.antrag)}}
	if err := s.sign(ctx, st.voterIRI, e.At, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// stimmeNoteObject is a Stimme as the voter's followers are shown it, id <Stimme>/note: a
// public post that names the choice and links to the Antrag and to the signed Stimme. It is
// not a reply: Mastodon keeps replies to accounts one does not follow out of the home feed.
// The Abstimmung is public and by name, so the post tells no more than the Antrag's page.
func (s *Service) stimmeNoteObject(ctx context.Context, e eventstore.Event) (*vocab.StimmeNote, error) {
	st, err := s.stimmeOf(ctx, e)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.Antraege.Get(ctx, st.antrag)
	if err != nil {
		return nil, err
	}
	page := s.iri("/antraege/" + st.antrag.String())
	lead := "Stimme zum Antrag"
	if st.changed {
		lead = "Geänderte Stimme zum Antrag"
	}
	path, _ := s.local(st.voterIRI)
	content := fmt.Sprintf("<p>%s <a href=\"%s\">«%s»</a>: <strong>%s</strong></p>\n<p><a href=\"%s\">Die signierte Stimme</a> in der öffentlichen Abstimmung.</p>",
		lead, html.EscapeString(page), html.EscapeString(a.Title), vocab.ChoiceNames[st.choice], html.EscapeString(s.stimmeIRI(e.Position.ID)))
	return &vocab.StimmeNote{Context: vocab.Context, ID: s.stimmeIRI(e.Position.ID) + "/note", Type: "Note",
		AttributedTo: st.voterIRI, Content: content, URL: page, Stimme: s.stimmeIRI(e.Position.ID), Published: e.At,
		To: []string{vocab.Public}, Cc: []string{s.followersOf(path)}}, nil
}

// stimmeNoteCreateFor is the Create of a Stimme's post, id <event>/note, sent by the voter to
// their followers.
func (s *Service) stimmeNoteCreateFor(ctx context.Context, e eventstore.Event) (*vocab.Activity, error) {
	note, err := s.stimmeNoteObject(ctx, e)
	if err != nil {
		return nil, err
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.activityIRI(e.Position.ID, "/note"), Type: "Create",
		Actor: note.AttributedTo, Object: note, To: note.To, Cc: note.Cc, Published: &at}, nil
}

// sign adds the author's integrity proof to obj (a pointer to a vocab type with a Proof field).
func (s *Service) sign(ctx context.Context, authorIRI string, created time.Time, obj any) error {
	path, ok := s.local(authorIRI)
	if !ok {
		return fmt.Errorf("federation: cannot sign for %s", authorIRI)
	}
	k, err := s.keys.get(ctx, path)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	signed, err := proof.Sign(doc, k.ed, authorIRI+"#ed25519-key", created)
	if err != nil {
		return err
	}
	return json.Unmarshal(signed, obj)
}

func (s *Service) einspruchObject(ctx context.Context, antragID uuid.UUID, e antrag.Einspruch) (*vocab.Einspruch, error) {
	author, err := s.handles().iri(ctx, e.AccountID)
	if err != nil {
		return nil, err
	}
	return &vocab.Einspruch{Context: vocab.Context, ID: s.einspruchIRI(antragID, e.AccountID), Type: []string{"Note", "Einspruch"},
		AttributedTo: author, InReplyTo: s.AntragIRI(antragID), Antrag: s.AntragIRI(antragID),
		Content: "<p>" + html.EscapeString(e.Reason) + "</p>", Reason: e.Reason, Published: e.CreatedAt,
		To: []string{vocab.Public}, Cc: []string{s.followersOf(antragActorPath(antragID))}}, nil
}

func (s *Service) knotenObject(ctx context.Context, k knoten.Knoten) (*vocab.Knoten, error) {
	creator, err := s.handles().iri(ctx, k.CreatedBy)
	if err != nil {
		return nil, err
	}
	return &vocab.Knoten{Context: vocab.Context, ID: s.knotenIRI(k.ID), Type: []string{"Place", "Knoten"},
		Name: k.Title, Content: html.EscapeString(k.Description), Latitude: vocab.Degrees(k.Point.Lat), Longitude: vocab.Degrees(k.Point.Lon),
		KnotenType: k.Type, H3: fmt.Sprintf("%x", k.Cell), AttributedTo: creator, Published: k.CreatedAt,
		Permanent: k.Permanent(), Ortsweberei: s.GroupIRI(), To: []string{vocab.Public}}, nil
}

// activityFor is the ActivityStreams form of a public event: the outbox is made of these.
func (s *Service) activityFor(ctx context.Context, h *handles, e eventstore.Event) (*vocab.Activity, error) {
	actor, err := h.iri(ctx, e.ActorID)
	if err != nil {
		return nil, err
	}
	at := e.At
	act := &vocab.Activity{ID: s.activityIRI(e.Position.ID, ""), Actor: actor, Published: &at, To: []string{vocab.Public}}
	switch e.Type {
	case knoten.KnotenGeknuepft.Name():
		p, err := knoten.KnotenGeknuepft.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type = "Create"
		act.Object = &vocab.Knoten{ID: s.knotenIRI(p.KnotenID), Type: []string{"Place", "Knoten"}, Name: p.Title,
			Content: html.EscapeString(p.Description), Latitude: vocab.Degrees(p.Lat), Longitude: vocab.Degrees(p.Lon),
			KnotenType: p.Type, H3: p.H3, AttributedTo: actor, Published: e.At, Ortsweberei: s.GroupIRI()}
	case knoten.FadenGesponnen.Name():
		p, err := knoten.FadenGesponnen.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type = "Create"
		act.Object = &vocab.Faden{ID: s.fadenIRI(p.FadenID), Type: "Faden", AttributedTo: actor, Knoten: s.knotenIRI(p.KnotenID),
			FadenType: p.Type, Twisted: p.IsTwisted, ExpiresAt: p.ExpiresAt, Published: e.At}
	case knoten.FadenVerzwirnt.Name():
		p, err := knoten.FadenVerzwirnt.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type = "Update"
		act.Object = map[string]any{"id": s.fadenIRI(p.FadenID), "type": "Faden", "knoten": s.knotenIRI(p.KnotenID), "twisted": true}
	case knoten.FadenEntzwirnt.Name():
		p, err := knoten.FadenEntzwirnt.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type = "Update"
		act.Object = map[string]any{"id": s.fadenIRI(p.FadenID), "type": "Faden", "knoten": s.knotenIRI(p.KnotenID), "twisted": false, "expiresAt": p.ExpiresAt}
	case knoten.FadenAbgelaufen.Name():
		p, err := knoten.FadenAbgelaufen.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Delete", s.fadenIRI(p.FadenID)
	case knoten.KnotenAufgeloest.Name():
		p, err := knoten.KnotenAufgeloest.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Delete", s.knotenIRI(p.KnotenID)
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
		act.Type, act.Actor, act.Object = "Update", s.GroupIRI(), s.GroupIRI()
	case antrag.AntragGestellt.Name():
		p, err := antrag.AntragGestellt.Decode(e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Actor = "Create", s.AntragActorIRI(p.AntragID)
		q := &vocab.Antrag{ID: s.AntragIRI(p.AntragID), Type: []string{"Question", "Antrag"}, AttributedTo: s.AntragActorIRI(p.AntragID),
			Applicant: actor, Title: p.Title, Content: questionContent(p.Title, "", antrag.RenderMarkdown(p.DetailsMD)), Source: &vocab.Source{Content: p.DetailsMD, MediaType: "text/markdown"},
			Published: e.At, To: []string{vocab.Public}, EndTime: p.DecisionDeadline, Ortsweberei: s.GroupIRI(), Status: antrag.Offen,
			DecisionDeadline: p.DecisionDeadline, AmountCents: p.AmountCents}
		for _, c := range vocab.ChoiceOrder {
			q.OneOf = append(q.OneOf, vocab.PollOption{Type: "Note", Name: vocab.ChoiceNames[c], Replies: vocab.OptionReplies{Type: "Collection"}})
		}
		if p.KnotenID != nil {
			q.Knoten = s.knotenIRI(*p.KnotenID)
		}
		act.Object = q
	case antrag.EinspruchErhoben.Name():
		p, err := antrag.EinspruchErhoben.Decode(e)
		if err != nil {
			return nil, err
		}
		obj, err := s.einspruchObject(ctx, p.AntragID, antrag.Einspruch{AccountID: p.AccountID, Reason: p.Reason, CreatedAt: e.At})
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Create", obj
	case antrag.AntragFristVerlaengert.Name(), antrag.AntragZurAbstimmung.Name(), antrag.AntragAngenommen.Name(),
		antrag.AntragAbgelehnt.Name(), antrag.AntragZurueckgezogen.Name():
		// A withdrawn Antrag is an Update too, not a Delete: it stays (its Question is served,
		// closed, with status zurueckgezogen, and its actor can still be followed), and a
		// Delete would make Mastodon drop the post and expect a Tombstone. Delivery sends the
		// same Update with the Question embedded (deliverEvents).
		act.Type, act.Actor = "Update", s.AntragActorIRI(e.SubjectID)
		act.Object = s.AntragIRI(e.SubjectID)
	case abstimmung.AbstimmungEroeffnet.Name(), abstimmung.AbstimmungGeschlossen.Name():
		v, err := s.svc.Abstimmungen.Get(ctx, e.SubjectID)
		if err != nil {
			return nil, err
		}
		act.Type, act.Actor, act.Object = "Update", s.AntragActorIRI(v.SubjectID), s.AntragIRI(v.SubjectID)
	case abstimmung.StimmeAbgegeben.Name(), abstimmung.StimmeGeaendert.Name():
		obj, err := s.stimmeObject(ctx, e)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Create", obj
	case delegation.DelegationAngefragt.Name():
		d, err := s.svc.Delegations.Get(ctx, e.SubjectID)
		if err != nil {
			return nil, err
		}
		obj, err := s.delegationObject(ctx, d)
		if err != nil {
			return nil, err
		}
		act.Type, act.Object = "Create", obj
	case delegation.DelegationWirksam.Name(), delegation.DelegationWiderrufen.Name():
		act.Type, act.Object = "Update", s.delegationIRI(e.SubjectID)
	case delegation.DelegationAbgelehnt.Name(), delegation.DelegationBeendet.Name(), delegation.DelegationAbgelaufen.Name():
		act.Type, act.Object = "Delete", s.delegationIRI(e.SubjectID)
	default:
		return nil, errNotFound // not public, or no ActivityStreams form
	}
	return act, nil
}

// abstimmungObject is an Abstimmung: its window and, once closed, its outcome.
func (s *Service) abstimmungObject(v abstimmung.View) *vocab.Abstimmung {
	obj := &vocab.Abstimmung{Context: vocab.Context, ID: s.iri("/ap/abstimmungen/" + v.ID.String()), Type: "Abstimmung",
		Antrag: s.AntragIRI(v.SubjectID), OpensAt: v.OpensAt, ClosesAt: v.ClosesAt}
	if v.Closed() {
		obj.Closed, obj.Outcome = v.ClosedAt, v.Result
	}
	return obj
}

// fadenObject is a Faden as its public events tell it (one history: the log is the record of
// a Faden, the table only what the map needs now): spun, then twisted or untwisted. An expired
// Faden is errGone.
func (s *Service) fadenObject(ctx context.Context, id uuid.UUID) (*vocab.Faden, error) {
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
		return nil, errNotFound
	}
	spun := evs[len(evs)-1]
	p, err := knoten.FadenGesponnen.Decode(spun)
	if err != nil {
		return nil, err
	}
	author, err := s.handles().iri(ctx, spun.ActorID)
	if err != nil {
		return nil, err
	}
	f := &vocab.Faden{Context: vocab.Context, ID: s.fadenIRI(id), Type: "Faden", AttributedTo: author, Knoten: s.knotenIRI(p.KnotenID),
		FadenType: p.Type, Twisted: p.IsTwisted, ExpiresAt: p.ExpiresAt, Published: spun.At, To: []string{vocab.Public}}
	switch latest := evs[0]; latest.Type {
	case knoten.FadenAbgelaufen.Name():
		return nil, errGone
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
		return nil, errGone
	}
	return f, nil
}

// announceFor is the Ortsweberei's Announce of a new Antrag, id <event>/announce: what its
// followers see in their timelines.
func (s *Service) announceFor(e eventstore.Event) (*vocab.Activity, error) {
	if !antrag.AntragGestellt.Is(e) {
		return nil, errNotFound
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.activityIRI(e.Position.ID, "/announce"), Type: "Announce",
		Actor: s.GroupIRI(), Object: s.AntragIRI(e.SubjectID), To: []string{vocab.Public}, Cc: []string{s.followersOf(groupPath)},
		Published: &at}, nil
}

// questionUpdateFor is the Update(Question) sent after an event that changed an Antrag, id
// <event>/update: the Antrag's actor sends the Question as it now stands.
func (s *Service) questionUpdateFor(ctx context.Context, e eventstore.Event) (*vocab.Activity, error) {
	if antrag.AntragGestellt.Is(e) {
		return nil, errNotFound // a new Antrag is created and announced, not updated
	}
	id, err := s.antragOf(ctx, e)
	if err != nil {
		return nil, err
	}
	if id == uuid.Nil {
		return nil, errNotFound
	}
	a, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	q, err := s.antragObject(ctx, a)
	if err != nil {
		return nil, err
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.activityIRI(e.Position.ID, "/update"), Type: "Update",
		Actor: s.AntragActorIRI(id), Object: q, To: q.To, Cc: q.Cc, Published: &at}, nil
}

// delegationUpdateFor is the Update(Question) of Antrag id sent after a delegation change moved
// its count, id <event>/update/<Antrag>: the Question as it now stands.
func (s *Service) delegationUpdateFor(ctx context.Context, e eventstore.Event, id uuid.UUID) (*vocab.Activity, error) {
	if _, ok, err := s.delegationMoveOf(ctx, e); err != nil {
		return nil, err
	} else if !ok {
		return nil, errNotFound
	}
	a, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.AbstimmungID == nil {
		return nil, errNotFound // no count to move
	}
	q, err := s.antragObject(ctx, a)
	if err != nil {
		return nil, err
	}
	at := e.At
	return &vocab.Activity{Context: vocab.Context, ID: s.activityIRI(e.Position.ID, "/update/"+id.String()), Type: "Update",
		Actor: s.AntragActorIRI(id), Object: q, To: q.To, Cc: q.Cc, Published: &at}, nil
}
