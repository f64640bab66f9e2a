package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/actors"
	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// handledTypes are the activity types process acts on; the inbox keeps nothing else.
var handledTypes = []string{"Follow", "Undo", "Accept", "Create", "Update", "Announce", "Delete", "Flag"}

func handled(types vocab.Types) bool {
	for _, t := range handledTypes {
		if types.Has(t) {
			return true
		}
	}
	return false
}

// received is an activity as the inbox took it (its signature checked, its actor the
// sender), with the time it arrived on the instance clock: no time an object claims is
// believed beyond it.
type received struct {
	vocab.Incoming
	at time.Time
}

// process handles an activity the inbox took at the time at. A failure that trying again
// cannot mend (a fetch the SSRF guard refused, a blocked domain, an origin that answers
// with another document) ends the activity for good; any other error is retried.
func (s *Service) process(ctx context.Context, raw []byte, at time.Time) error {
	h, err := vocab.DecodeHead(raw)
	if err != nil {
		return nil // nothing to retry
	}
	blocked, err := s.blocks.BlockedNow(ctx, iri.HostOf(h.Actor.ID))
	if err != nil {
		return err // not a block: the activity is tried again
	}
	if blocked {
		return nil // blocked after it arrived: drop
	}
	if h.Type.Has("Flag") {
		// A Flag names several objects, which no other activity here may: its own decoding.
		return s.onFlag(ctx, raw, at)
	}
	a, err := vocab.DecodeActivity(raw)
	if err != nil {
		return nil
	}
	act := received{a, at}
	err = s.dispatch(ctx, act)
	if err != nil && fetch.Final(err) {
		s.log.Info("federation: activity dropped: what it needs cannot be had", "activity", act.ID, "err", err)
		return nil
	}
	return err
}

func (s *Service) dispatch(ctx context.Context, act received) error {
	switch {
	case act.Type.Has("Follow"):
		return s.onFollow(ctx, act)
	case act.Type.Has("Undo"):
		return s.onUndo(ctx, act)
	case act.Type.Has("Accept"):
		return s.onAccept(ctx, act)
	case act.Type.Has("Create"), act.Type.Has("Update"):
		return s.onCreateOrUpdate(ctx, act)
	case act.Type.Has("Announce"):
		return s.onAnnounce(ctx, act)
	case act.Type.Has("Delete"):
		return s.onDelete(ctx, act)
	}
	return nil // everything else is not for us
}

// onFollow accepts every follow of a local actor. A neighbouring Ortsweberei that follows us is
// followed back, so the two see each other's Anträge.
func (s *Service) onFollow(ctx context.Context, act received) error {
	path, key, err := s.actors.PathFor(ctx, act.Object.ID)
	if errors.Is(err, iri.ErrNotFound) || key == "instance" {
		return nil
	}
	if err != nil {
		return err // whether the actor exists could not be found out: try again
	}
	follower, err := s.actors.Remote(ctx, act.Actor.ID, false)
	if err != nil {
		return err
	}
	// The follower, its event, the Accept and (for a neighbour) our follow back commit
	// together: a follow is never recorded without its answer on the way.
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		if err := s.actors.AddFollowerTx(ctx, tx, path, key, follower, act.ID); err != nil {
			return err
		}
		accept := vocab.Activity{Context: vocab.Context, ID: s.iri.Of(path) + "#accepts/" + uuid.NewString(), Type: "Accept",
			Actor: s.iri.Of(path), Object: json.RawMessage(act.Raw), To: []string{follower.IRI}}
		if err := s.delivery.EnqueueTx(ctx, tx, path, follower.Inbox, accept); err != nil {
			return err
		}
		if key == "ortsweberei" && follower.IsOrtsweberei() {
			return s.actors.FollowTx(ctx, tx, follower)
		}
		return nil
	})
}

func (s *Service) onUndo(ctx context.Context, act received) error {
	if !iri.SameOrigin(act.Object.ID, act.Actor.ID) {
		return nil // an actor undoes only what its own server did
	}
	inner, err := s.fetch.FromOrigin(ctx, act.Actor.ID, act.Object)
	if fetch.MayPass(err) {
		return err // it could not be seen just now: try again
	}
	if err != nil {
		return nil // a Follow we cannot see was none of ours to undo
	}
	undone, err := vocab.DecodeActivity(inner)
	if err != nil || !undone.Type.Has("Follow") || undone.Actor.ID != act.Actor.ID {
		return nil
	}
	_, key, err := s.actors.PathFor(ctx, undone.Object.ID)
	if errors.Is(err, iri.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.actors.RemoveFollower(ctx, key, undone.Object.ID, act.Actor.ID)
}

// onAccept marks our follow accepted (only by the followed actor: actors.Accept).
func (s *Service) onAccept(ctx context.Context, act received) error {
	return s.actors.Accept(ctx, act.Actor.ID, act.Object.ID)
}

// onAnnounce takes an Antrag a neighbour announces. The announcing Group only points at it:
// what the Antrag says is taken from its origin (fetch.FromOrigin), which need not be the Group's.
func (s *Service) onAnnounce(ctx context.Context, act received) error {
	if ok, err := s.actors.FollowsNeighbour(ctx, act.Actor.ID); !ok {
		return err
	}
	body, err := s.fetch.FromOrigin(ctx, act.Actor.ID, act.Object)
	if err != nil {
		return err
	}
	obj, err := vocab.DecodeObject(body)
	if err != nil || !obj.Type.Has("Antrag") {
		return nil
	}
	return s.storeRemoteAntrag(ctx, obj, act.at, sentAt(act))
}

// onDelete removes what the actor stored here under the deleted object's id: a reply shown as
// a comment, a poll vote shown beside the count, a neighbour resident's Stimme (the count we
// make drops it), a neighbour resident's Einspruch (its origin's moderators hid it),
// or marks a neighbour's Antrag withdrawn. Only the author's own server can
// delete: the object must be on the actor's host, and only rows from that actor go.
func (s *Service) onDelete(ctx context.Context, act received) error {
	object, actor := act.Object.ID, act.Actor.ID
	if !iri.SameOrigin(object, actor) {
		return nil
	}
	neighbours, err := s.isNeighbourAntragDelete(ctx, object, actor)
	if err != nil {
		return err
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		if err := s.svc.Antraege.RemoveCommentTx(ctx, tx, object, actor); err != nil {
			return err
		}
		if err := s.svc.Antraege.DeleteForeignVoteTx(ctx, tx, object, actor); err != nil {
			return err
		}
		if err := s.svc.Nachbarn.RemoveStimmeTx(ctx, tx, object, actor); err != nil {
			return err
		}
		if err := s.svc.Nachbarn.DeleteEinspruchTx(ctx, tx, object, actor); err != nil {
			return err
		}
		if neighbours {
			// A moderator of a neighbour hid its Antrag: the Delete is kept as a tombstone,
			// so that a retried Create or Update sent before it, arriving after it, does not
			// bring the words back (nachbarn.DeleteAntragTx).
			return s.svc.Nachbarn.DeleteAntragTx(ctx, tx, object, actor, convert.ClaimedTime(act.Published, act.at))
		}
		return s.svc.Nachbarn.WithdrawTx(ctx, tx, object, actor)
	})
}

// isNeighbourAntragDelete reports whether a Delete is a neighbouring Ortsweberei's of one of
// its Anträge, sent by the Antrag's own actor: the object is an Antrag's Question
// (/ap/antraege/{id}), the actor its actor (/ap/antraege/{id}/actor), on the server of an
// Ortsweberei we follow. Only that is kept as a tombstone also while we do not have the
// Antrag (its Create may come later); any other Delete of the actor's host touches only rows
// we have.
func (s *Service) isNeighbourAntragDelete(ctx context.Context, object, actor string) (bool, error) {
	p, ok := strings.CutPrefix(object, "https://"+iri.HostOf(object)+"/ap/antraege/")
	if !ok {
		p, ok = strings.CutPrefix(object, "http://"+iri.HostOf(object)+"/ap/antraege/")
	}
	if _, err := uuid.Parse(p); !ok || err != nil || actor != object+"/actor" {
		return false, nil
	}
	groups, err := s.actors.Neighbours(ctx)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		if iri.SameOrigin(g, actor) {
			return true, nil
		}
	}
	return false, nil
}

// onCreateOrUpdate handles objects: Anträge of neighbours, their Einsprüche and Stimmen, and
// replies or poll votes from the Fediverse on our own Anträge.
func (s *Service) onCreateOrUpdate(ctx context.Context, act received) error {
	if !iri.SameOrigin(act.Object.ID, act.Actor.ID) {
		// An actor creates and changes only objects of its own server: nothing to fetch.
		s.log.Info("federation: object of another server refused", "activity", act.ID, "actor", act.Actor.ID, "object", act.Object.ID)
		return nil
	}
	body, err := s.fetch.FromOrigin(ctx, act.Actor.ID, act.Object)
	if err != nil {
		return err
	}
	obj, err := vocab.DecodeObject(body)
	if err != nil {
		return nil
	}
	if obj.AttributedTo.ID != act.Actor.ID {
		return nil // and only its own
	}
	switch {
	case obj.Type.Has("Antrag"):
		return s.storeRemoteAntrag(ctx, obj, act.at, sentAt(act))
	case obj.Type.Has("Stimme"):
		return s.storeRemoteStimme(ctx, obj, body, act.at)
	case obj.Type.Has("Einspruch"):
		return s.storeRemoteEinspruch(ctx, obj, act.at)
	case obj.Type.Has("Note"):
		return s.onReply(ctx, act, obj)
	case obj.Type.Has("Snapshot"):
		return s.onSnapshot(ctx, act, body)
	}
	return nil
}

// onSnapshot queues the mirroring of a snapshot a neighbouring Ortsweberei announces of
// itself. onCreateOrUpdate has made sure the object is on the sender's host and attributed to
// it; here the sender must be a neighbour we follow, and the files must be on its host too
// (convert.SnapshotFromAS). The download and every check of the file run in the mirror's own
// job, never here.
func (s *Service) onSnapshot(ctx context.Context, act received, body []byte) error {
	if s.mirror == nil || !s.mirror.Enabled() {
		return nil
	}
	if ok, err := s.actors.FollowsNeighbour(ctx, act.Actor.ID); !ok {
		if err == nil {
			s.log.Info("federation: snapshot announcement from an actor we do not follow as a neighbour refused", "actor", act.Actor.ID, "activity", act.ID)
		}
		return err
	}
	note, err := convert.SnapshotFromAS(act.Actor.ID, body)
	if err != nil {
		s.log.Info("federation: snapshot announcement refused", "actor", act.Actor.ID, "activity", act.ID, "err", err)
		return nil
	}
	return s.mirror.Enqueue(ctx, note)
}

// onReply records a Fediverse reply to one of our Anträge as a public comment, or a poll vote
// (a Note naming an option, without content) as a vote that is counted beside the Antrag and
// never in it: only verified residents of this Ortsweberei vote here.
//
// A comment is shown to everyone, so only a reply its author made public is one: addressed to
// as:Public in to or cc (Mastodon's "public" and "unlisted"). A followers-only or direct reply
// was meant for some people only and is not stored at all; an Update that makes a comment
// non-public removes it. A poll vote is addressed to the Question's author alone (that is how
// Mastodon and GoToSocial send them) and is kept whatever its addressing, since only the
// number of votes per option is ever shown.
func (s *Service) onReply(ctx context.Context, act received, obj vocab.IncomingObject) error {
	p, ok := s.iri.Local(obj.InReplyTo.ID)
	if !ok || !strings.HasPrefix(p, "/ap/antraege/") {
		return nil
	}
	id, err := uuid.Parse(strings.TrimPrefix(p, "/ap/antraege/"))
	if err != nil {
		return nil
	}
	_, err = s.svc.Antraege.Get(ctx, id)
	if err != nil {
		if errors.Is(iri.NotFoundOr(err), iri.ErrNotFound) {
			return nil
		}
		return err // whether it exists could not be found out: try again
	}
	author, err := s.actors.Remote(ctx, obj.AttributedTo.ID, false)
	if err != nil {
		return err
	}
	published := convert.ClaimedTime(obj.Published, act.at)
	if choice, isVote := convert.PollChoice(obj.Name); isVote && strings.TrimSpace(obj.Content) == "" {
		// The vote cast last counts, whatever order the votes arrive in (a retry can bring an
		// older one after a newer); of two cast in the same second, the one that came later.
		// The poll's end is antrag's to know (ErrPollClosed): GoToSocial lets its users vote on
		// a remote poll after its end until it sees it closed.
		err := s.svc.Antraege.RecordForeignVote(ctx, antrag.Fremdstimme{AntragID: id, Voter: author.IRI, Choice: choice,
			CastAt: castAt(act, obj), Object: obj.ID})
		if errors.Is(err, antrag.ErrPollClosed) || errors.Is(err, antrag.ErrNotFound) {
			return nil
		}
		return err
	}
	if !convert.AddressedPublicly(act.Incoming, obj) {
		return s.svc.Antraege.RemoveComment(ctx, obj.ID, author.IRI)
	}
	content := convert.Sanitizer.Sanitize(obj.Content)
	if strings.TrimSpace(content) == "" {
		return nil
	}
	err = s.svc.Antraege.AddComment(ctx, antrag.Kommentar{AntragID: id, IRI: obj.ID, Author: author.IRI,
		AuthorName: convert.DisplayName(author.Name, author.Username, author.Host), ContentHTML: content, Published: published})
	if errors.Is(err, antrag.ErrNotFound) {
		return nil // gone meanwhile
	}
	return err
}

// Neighbours' Anträge, Einsprüche and Stimmen.

// sentAt is when the origin sent the object of a Create, Update or Announce: the activity's
// published (no later than it arrived) when the object came embedded in it, and when it
// arrived when it was fetched from its id (fetch.FromOrigin), since that is the origin's
// state then. Compared with the published of the origin's Delete of the Antrag
// (nachbarn.DeleteAntragTx), it tells a retried delivery of a state from before a moderator
// hid the Antrag from the origin's first Update after it was shown again: our origin queues
// an Update with the time it builds it, and builds none while the Antrag is hidden
// (publish.deliverEvents), so every Update after the re-show was sent after the Delete, and
// every Create or Update from before it was sent before.
func sentAt(act received) time.Time {
	if !act.Object.Embedded() {
		return act.at
	}
	return convert.ClaimedTime(act.Published, act.at)
}

// storeRemoteAntrag keeps a neighbour's Antrag as its origin sent it (the caller made sure of
// that: fetch.FromOrigin, or a fetch by its id), received at the time at. Everything it names is on
// its own host: its Ortsweberei, which must be a Group we follow, its actor and its applicant.
// Once stored, only the same actor changes it, and only with a state at least as new; an
// updated (or published) time after at is taken as at, so that no state claims to be newer
// than the origin's next one.
//
// sent is when the origin sent this state (stored as nachbarn.Antrag.Sent): a state sent no
// later than the origin's Delete of the Antrag is not taken (sentAt).
func (s *Service) storeRemoteAntrag(ctx context.Context, obj vocab.IncomingObject, at, sent time.Time) error {
	if obj.Ortsweberei == "" || !iri.SameOrigin(obj.Ortsweberei, obj.ID) ||
		!iri.SameOrigin(obj.AttributedTo.ID, obj.ID) || (obj.Applicant.ID != "" && !iri.SameOrigin(obj.Applicant.ID, obj.ID)) {
		return nil // only the Anträge of neighbours we follow, each all of its own server
	}
	if ok, err := s.actors.FollowsNeighbour(ctx, obj.Ortsweberei); !ok {
		return err
	}
	applicantName := ""
	if obj.Applicant.ID != "" {
		a, err := s.actors.Remote(ctx, obj.Applicant.ID, false)
		if fetch.MayPass(err) {
			return err // not stored without the name while the name could come on a retry
		}
		if err == nil {
			applicantName = a.Name
		}
	}
	a := convert.AntragFromAS(obj, at)
	a.ApplicantName, a.Sent = applicantName, sent
	err := s.svc.Nachbarn.StoreAntrag(ctx, a)
	if errors.Is(err, nachbarn.ErrStale) {
		return nil // we have a newer state already
	}
	if err != nil {
		return fmt.Errorf("federation: store remote Antrag: %w", err)
	}
	for _, d := range obj.Delegations {
		err := s.storeRemoteDelegation(ctx, obj.ID, d)
		if fetch.MayPass(err) {
			// The retry stores the same state again (source_updated is not newer than itself)
			// and its delegations with it.
			return err
		}
		if err != nil {
			s.log.Info("federation: delegation of a remote count not taken", "antrag", obj.ID, "err", err)
		}
	}
	return nil
}

// storeRemoteStimme has a neighbour resident's Stimme counted once its proof checks out: signed
// by the voter's own key. Whether it counts is nachbarn's (CountStimme: a verified resident of
// the Antrag's Ortsweberei, in the window, the latest of each voter); what is believed of it
// is decided here.
func (s *Service) storeRemoteStimme(ctx context.Context, obj vocab.IncomingObject, body []byte, at time.Time) error {
	if !iri.SameOrigin(obj.Antrag.ID, obj.ID) {
		return nil // only the Antrag's own residents vote on it, from its server: nothing to fetch
	}
	if ok, err := s.knownRemoteAntrag(ctx, obj.Antrag.ID); !ok {
		return err // not an Antrag we keep, or (err) one we could not find out about just now
	}
	voter, err := s.actors.CheckProof(ctx, body, obj.AttributedTo.ID)
	if fetch.MayPass(err) {
		return err // the voter's key could not be had just now: not a bad proof
	}
	if err != nil {
		s.log.Warn("federation: Stimme refused", "object", obj.ID, "err", err)
		return nil
	}
	choice, ok := vocab.NameChoices[obj.Name]
	if obj.Choice != "" {
		choice, ok = obj.Choice, obj.Choice == "yes" || obj.Choice == "no" || obj.Choice == "abstain"
	}
	if !ok || obj.Published == nil {
		return nil
	}
	// When a Stimme was cast decides whether it counts, and which of a voter's counts: a time
	// after it reached us is believed only as far as the servers' clocks may differ (as for
	// signatures), and then taken as the time it arrived.
	if obj.Published.After(at.Add(s.maxSkew)) {
		s.log.Info("federation: Stimme from the future refused", "object", obj.ID, "published", *obj.Published, "received", at)
		return nil
	}
	st := nachbarn.Stimme{Antrag: obj.Antrag.ID, Voter: person(voter), Choice: choice,
		CastAt: convert.ClaimedTime(obj.Published, at), Object: obj.ID}
	// A Stimme can overtake the Update that opened the vote (deliveries are independent), so a
	// window not known yet, or one the Stimme is outside of, is fetched once more from the
	// origin before refusing.
	for refetched := false; ; refetched = true {
		err := s.svc.Nachbarn.CountStimme(ctx, st)
		switch {
		case err == nil, errors.Is(err, nachbarn.ErrStale):
			return nil
		case errors.Is(err, nachbarn.ErrNotResident):
			s.log.Info("federation: Stimme by someone not a resident of the Antrag's Ortsweberei refused", "object", obj.ID, "voter", voter.IRI)
			return nil // only the Antrag's own verified residents vote
		case errors.Is(err, nachbarn.ErrOutsideWindow), errors.Is(err, nachbarn.ErrUnknownAntrag):
			if refetched {
				s.log.Info("federation: Stimme outside its Abstimmung's window refused", "object", obj.ID, "published", st.CastAt)
				return nil
			}
			if ok, err := s.refetchAntrag(ctx, obj.Antrag.ID); !ok {
				return err
			}
		default:
			return err
		}
	}
}

// person is a remote actor as nachbarn judges them: by what their document, fetched from its
// own server, says.
func person(a *actors.Remote) nachbarn.Person {
	return nachbarn.Person{IRI: a.IRI, Name: a.Name, Ortsweberei: a.Ortsweberei, Verified: a.Verified}
}

// storeRemoteEinspruch keeps an objection to a neighbour's Antrag by one of that Ortsweberei's
// verified residents (the same rule as for Stimmen; an Einspruch carries no proof, so it is
// taken only from its author's own server, which the inbox's signature check and
// onCreateOrUpdate's origin check make sure of).
func (s *Service) storeRemoteEinspruch(ctx context.Context, obj vocab.IncomingObject, at time.Time) error {
	if !iri.SameOrigin(obj.Antrag.ID, obj.ID) {
		return nil // as for Stimmen
	}
	if ok, err := s.knownRemoteAntrag(ctx, obj.Antrag.ID); !ok {
		return err
	}
	author, err := s.actors.Remote(ctx, obj.AttributedTo.ID, false)
	if err != nil {
		return err
	}
	err = s.svc.Nachbarn.AddEinspruch(ctx, nachbarn.Einspruch{Antrag: obj.Antrag.ID, Author: person(author), Reason: obj.Reason,
		CreatedAt: convert.ClaimedTime(obj.Published, at)})
	switch {
	case errors.Is(err, nachbarn.ErrNotResident):
		s.log.Info("federation: Einspruch by someone not a resident of the Antrag's Ortsweberei refused", "object", obj.ID, "author", author.IRI)
		return nil
	case errors.Is(err, nachbarn.ErrUnknownAntrag):
		return nil // forgotten meanwhile (its domain blocked)
	}
	return err
}

// knownRemoteAntrag reports whether we keep a neighbour's Antrag, fetching it when an
// Einspruch or a Stimme arrives before it (deliveries are independent jobs and can overtake
// each other). When that cannot be found out just now (our database, or the origin, does not
// answer), it returns why, and the Einspruch or Stimme is tried again rather than dropped.
func (s *Service) knownRemoteAntrag(ctx context.Context, antragIRI string) (bool, error) {
	_, err := s.svc.Nachbarn.Find(ctx, antragIRI)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, nachbarn.ErrUnknownAntrag):
		return false, err
	}
	return s.refetchAntrag(ctx, antragIRI)
}

// refetchAntrag fetches a neighbour's Antrag from its origin and stores it, and reports
// whether we keep it now.
func (s *Service) refetchAntrag(ctx context.Context, antragIRI string) (bool, error) {
	body, err := s.fetch.Object(ctx, antragIRI)
	if fetch.MayPass(err) {
		return false, err
	}
	if err != nil {
		return false, nil
	}
	obj, err := vocab.DecodeObject(body)
	if err != nil || !obj.Type.Has("Antrag") {
		return false, nil
	}
	now := s.clock.Now()
	if err := s.storeRemoteAntrag(ctx, obj, now, now); err != nil { // fetched from its id: as it stands now
		return false, err
	}
	_, err = s.svc.Nachbarn.Find(ctx, antragIRI)
	if errors.Is(err, nachbarn.ErrUnknownAntrag) {
		return false, nil
	}
	return err == nil, err
}

// storeRemoteDelegation keeps a delegation a remote close counted with, once the delegator's
// proof checks out: a delegation of the Antrag's own server (its id, delegator and delegate
// on the Antrag's host) by a verified resident of its Ortsweberei, as for Stimmen.
func (s *Service) storeRemoteDelegation(ctx context.Context, antragIRI string, raw json.RawMessage) error {
	d, err := vocab.DecodeObject(raw)
	if err != nil {
		return err
	}
	if !iri.SameOrigin(d.ID, antragIRI) || !iri.SameOrigin(d.Delegator.ID, antragIRI) || !iri.SameOrigin(d.Delegate.ID, antragIRI) {
		return errors.New("federation: a delegation of another server")
	}
	delegator, err := s.actors.CheckProof(ctx, raw, d.Delegator.ID)
	if err != nil {
		return err
	}
	err = s.svc.Nachbarn.StoreDelegation(ctx, nachbarn.Delegation{Antrag: antragIRI, Delegator: person(delegator),
		Delegate: d.Delegate.ID, Object: d.ID})
	if errors.Is(err, nachbarn.ErrNotResident) {
		return errors.New("federation: a delegation by someone not a verified resident of the Antrag's Ortsweberei")
	}
	return err
}
