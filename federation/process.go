package federation

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/microcosm-cc/bluemonday"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// handledTypes are the activity types process acts on; the inbox keeps nothing else.
var handledTypes = []string{"Follow", "Undo", "Accept", "Create", "Update", "Announce", "Delete"}

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
	a, err := vocab.DecodeActivity(raw)
	if err != nil {
		return nil // nothing to retry
	}
	act := received{a, at}
	blocked, err := s.blockedNow(ctx, hostOf(act.Actor.ID))
	if err != nil {
		return err // not a block: the activity is tried again
	}
	if blocked {
		return nil // blocked after it arrived: drop
	}
	err = s.dispatch(ctx, act)
	if err != nil && final(err) {
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
	path, key, err := s.actorPathFor(ctx, act.Object.ID)
	if errors.Is(err, errNotFound) || key == "instance" {
		return nil
	}
	if err != nil {
		return err // whether the actor exists could not be found out: try again
	}
	follower, err := s.remoteActor(ctx, act.Actor.ID, false)
	if err != nil {
		return err
	}
	// The follower, its event, the Accept and (for a neighbour) our follow back commit
	// together: a follow is never recorded without its answer on the way.
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`
INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (local, follower) DO UPDATE SET follow_id = excluded.follow_id`, key, follower.IRI, act.ID, s.wall.Now())
		if err := eventstore.Append(tx, s.clock.Now(), FolgerHinzugefuegt.New(eventstore.Header{},
			FolgerV1{Local: s.iri(path), Follower: follower.IRI})); err != nil {
			return err
		}
		accept := vocab.Activity{Context: vocab.Context, ID: s.iri(path) + "#accepts/" + uuid.NewString(), Type: "Accept",
			Actor: s.iri(path), Object: json.RawMessage(act.Raw), To: []string{follower.IRI}}
		if err := s.enqueueTx(ctx, riverTx{tx}, path, follower.Inbox, accept); err != nil {
			return err
		}
		if key == "ortsweberei" && follower.IsOrtsweberei() {
			return s.followTx(ctx, tx, follower)
		}
		return nil
	})
}

func (s *Service) onUndo(ctx context.Context, act received) error {
	if !sameOrigin(act.Object.ID, act.Actor.ID) {
		return nil // an actor undoes only what its own server did
	}
	inner, err := s.fromOrigin(ctx, act, act.Object)
	if mayPass(err) {
		return err // it could not be seen just now: try again
	}
	if err != nil {
		return nil // a Follow we cannot see was none of ours to undo
	}
	undone, err := vocab.DecodeActivity(inner)
	if err != nil || !undone.Type.Has("Follow") || undone.Actor.ID != act.Actor.ID {
		return nil
	}
	_, key, err := s.actorPathFor(ctx, undone.Object.ID)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM ap_followers WHERE local = $1 AND follower = $2`, key, act.Actor.ID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return eventstore.Append(tx, s.clock.Now(), FolgerEntfernt.New(eventstore.Header{},
			FolgerV1{Local: undone.Object.ID, Follower: act.Actor.ID}))
	})
}

// onAccept marks our follow accepted. Only the followed actor accepts: the follow is looked up
// by the accepting actor and our Follow's id together, so an Accept from one server cannot
// accept a follow we sent to another.
func (s *Service) onAccept(ctx context.Context, act received) error {
	_, err := s.pool.Exec(ctx, `UPDATE ap_following SET accepted = true WHERE remote = $1 AND follow_id = $2`, act.Actor.ID, act.Object.ID)
	return err
}

// onAnnounce takes an Antrag a neighbour announces. The announcing Group only points at it:
// what the Antrag says is taken from its origin (fromOrigin), which need not be the Group's.
func (s *Service) onAnnounce(ctx context.Context, act received) error {
	if ok, err := s.followsNeighbour(ctx, act.Actor.ID); !ok {
		return err
	}
	body, err := s.fromOrigin(ctx, act, act.Object)
	if err != nil {
		return err
	}
	obj, err := vocab.DecodeObject(body)
	if err != nil || !obj.Type.Has("Antrag") {
		return nil
	}
	return s.storeRemoteAntrag(ctx, obj, act.at)
}

// onDelete removes what the actor stored here under the deleted object's id: a reply shown as
// a comment, a poll vote shown beside the count, a neighbour resident's Stimme (the count we
// make drops it), or marks a neighbour's Antrag withdrawn. Only the author's own server can
// delete: the object must be on the actor's host, and only rows from that actor go.
func (s *Service) onDelete(ctx context.Context, act received) error {
	iri, actor := act.Object.ID, act.Actor.ID
	if !sameOrigin(iri, actor) {
		return nil
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`DELETE FROM antrag_kommentare WHERE iri = $1 AND author = $2`, iri, actor)
		tx.Defer(`DELETE FROM antrag_fremdstimmen WHERE object = $1 AND voter = $2`, iri, actor)
		tx.Defer(`DELETE FROM remote_stimmen WHERE object = $1 AND voter = $2`, iri, actor)
		_, err := tx.Exec(ctx, `UPDATE remote_antraege SET status = 'zurueckgezogen', updated_at = $3 WHERE iri = $1 AND actor = $2`,
			iri, actor, s.wall.Now())
		return err
	})
}

// onCreateOrUpdate handles objects: Anträge of neighbours, their Einsprüche and Stimmen, and
// replies or poll votes from the Fediverse on our own Anträge.
func (s *Service) onCreateOrUpdate(ctx context.Context, act received) error {
	if !sameOrigin(act.Object.ID, act.Actor.ID) {
		return nil // an actor creates and changes only objects of its own server: nothing to fetch
	}
	body, err := s.fromOrigin(ctx, act, act.Object)
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
		return s.storeRemoteAntrag(ctx, obj, act.at)
	case obj.Type.Has("Stimme"):
		return s.storeRemoteStimme(ctx, obj, body, act.at)
	case obj.Type.Has("Einspruch"):
		return s.storeRemoteEinspruch(ctx, obj, act.at)
	case obj.Type.Has("Note"):
		return s.onReply(ctx, act, obj)
	}
	return nil
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
	p, ok := s.local(obj.InReplyTo.ID)
	if !ok || !strings.HasPrefix(p, "/ap/antraege/") {
		return nil
	}
	id, err := uuid.Parse(strings.TrimPrefix(p, "/ap/antraege/"))
	if err != nil {
		return nil
	}
	a, err := s.svc.Antraege.Get(ctx, id)
	if err != nil {
		if errors.Is(notFoundOr(err), errNotFound) {
			return nil
		}
		return err // whether it exists could not be found out: try again
	}
	author, err := s.remoteActor(ctx, obj.AttributedTo.ID, false)
	if err != nil {
		return err
	}
	published := claimedTime(obj.Published, act.at)
	if choice, isVote := pollChoice(obj.Name); isVote && strings.TrimSpace(obj.Content) == "" {
		// The vote cast last counts, whatever order the votes arrive in (a retry can bring an
		// older one after a newer); of two cast in the same second, the one that came later.
		cast := castAt(act, obj)
		open, err := s.pollOpenAt(ctx, a, cast)
		if err != nil || !open {
			return err
		}
		_, err = s.pool.Exec(ctx, `
INSERT INTO antrag_fremdstimmen (antrag_id, voter, choice, at, object) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (antrag_id, voter) DO UPDATE SET choice = excluded.choice, at = excluded.at, object = excluded.object
WHERE antrag_fremdstimmen.at <= excluded.at`,
			id, author.IRI, choice, cast, obj.ID)
		return err
	}
	if !addressedPublicly(act, obj) {
		_, err := s.pool.Exec(ctx, `DELETE FROM antrag_kommentare WHERE iri = $1 AND author = $2`, obj.ID, author.IRI)
		return err
	}
	content := sanitizer.Sanitize(obj.Content)
	if strings.TrimSpace(content) == "" {
		return nil
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`
INSERT INTO antrag_kommentare (iri, antrag_id, author, author_name, content_html, published) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (iri) DO UPDATE SET content_html = excluded.content_html
WHERE antrag_kommentare.author = excluded.author`, obj.ID, id, author.IRI, displayName(author), content, published)
		return eventstore.Append(tx, s.clock.Now(), antrag.KommentarEmpfangen.New(eventstore.Header{Subject: id},
			antrag.KommentarV1{AntragID: id, IRI: obj.ID, Author: author.IRI}))
	})
}

// addressedPublicly reports whether a reply is addressed to as:Public, in to or cc. The
// object's own addressing decides; only an object that has none is judged by its activity's.
func addressedPublicly(act received, obj vocab.IncomingObject) bool {
	if len(obj.To) > 0 || len(obj.Cc) > 0 {
		return obj.To.HasPublic() || obj.Cc.HasPublic()
	}
	return act.To.HasPublic() || act.Cc.HasPublic()
}

// sanitizer keeps the formatting Fediverse posts use and drops everything active.
var sanitizer = bluemonday.UGCPolicy()

func displayName(a *remoteActor) string {
	name := a.Name
	if name == "" {
		name = a.Username
	}
	return name + " (@" + a.Username + "@" + a.Host + ")"
}

// Neighbours' Anträge, Einsprüche and Stimmen.

// followsNeighbour reports whether the Group is a neighbour we follow. When the database cannot
// say, it returns why: the activity is tried again, not dropped as if from a stranger.
func (s *Service) followsNeighbour(ctx context.Context, group string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM ap_following WHERE remote = $1)`, group).Scan(&ok); err != nil {
		return false, fmt.Errorf("federation: whether we follow %s: %w", group, err)
	}
	return ok, nil
}

// storeRemoteAntrag keeps a neighbour's Antrag as its origin sent it (the caller made sure of
// that: fromOrigin, or a fetch by its id), received at the time at. Everything it names is on
// its own host: its Ortsweberei, which must be a Group we follow, its actor and its applicant.
// Once stored, only the same actor changes it, and only with a state at least as new; an
// updated (or published) time after at is taken as at, so that no state claims to be newer
// than the origin's next one.
func (s *Service) storeRemoteAntrag(ctx context.Context, obj vocab.IncomingObject, at time.Time) error {
	if obj.Ortsweberei == "" || !sameOrigin(obj.Ortsweberei, obj.ID) ||
		!sameOrigin(obj.AttributedTo.ID, obj.ID) || (obj.Applicant.ID != "" && !sameOrigin(obj.Applicant.ID, obj.ID)) {
		return nil // only the Anträge of neighbours we follow, each all of its own server
	}
	if ok, err := s.followsNeighbour(ctx, obj.Ortsweberei); !ok {
		return err
	}
	applicantName := ""
	if obj.Applicant.ID != "" {
		a, err := s.remoteActor(ctx, obj.Applicant.ID, false)
		if mayPass(err) {
			return err // not stored without the name while the name could come on a retry
		}
		if err == nil {
			applicantName = a.Name
		}
	}
	published := claimedTime(obj.Published, at)
	deadline := published
	if obj.DecisionDeadline != nil {
		deadline = *obj.DecisionDeadline
	}
	var yes, no, abstain *int
	if obj.YesWeight != nil {
		yes, no, abstain = obj.YesWeight, obj.NoWeight, obj.AbstainWeight
	}
	var closedAt *time.Time
	if obj.Closed.Is() {
		closedAt = obj.Closed.At
	}
	sourceUpdated := published
	if obj.Updated != nil {
		sourceUpdated = claimedTime(obj.Updated, at)
	}
	// The title was the Question's name until it became a content warning on GoToSocial.
	title := obj.Title
	if title == "" {
		title = obj.Name
	}
	// The Question's content opens with the title and, once decided, the outcome
	// (questionContent): the details are what follows them.
	details := strings.TrimPrefix(obj.Content, questionTitleHTML(title))
	details = sanitizer.Sanitize(strings.TrimPrefix(details, outcomeHTML(obj.Status, obj.YesWeight, obj.NoWeight, obj.AbstainWeight)))
	tag, err := s.pool.Exec(ctx, `
INSERT INTO remote_antraege (id, iri, origin, ortsweberei, actor, applicant, applicant_name, title, details_html, amount_cents,
    status, opened_at, decision_deadline, extended, opens_at, closes_at, closed_at, outcome, origin_yes, origin_no, origin_abstain,
    source_updated, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, nullif($18, ''), $19, $20, $21, $22, $23)
ON CONFLICT (iri) DO UPDATE SET title = excluded.title, details_html = excluded.details_html, amount_cents = excluded.amount_cents,
    status = excluded.status, decision_deadline = excluded.decision_deadline, extended = excluded.extended,
    opens_at = excluded.opens_at, closes_at = excluded.closes_at, closed_at = excluded.closed_at, outcome = excluded.outcome,
    origin_yes = excluded.origin_yes, origin_no = excluded.origin_no, origin_abstain = excluded.origin_abstain,
    applicant_name = excluded.applicant_name, source_updated = excluded.source_updated, updated_at = excluded.updated_at
WHERE remote_antraege.actor = excluded.actor AND remote_antraege.source_updated <= excluded.source_updated`,
		uuid.New(), obj.ID, hostOf(obj.ID), obj.Ortsweberei, obj.AttributedTo.ID, obj.Applicant.ID, applicantName, title,
		details, obj.AmountCents, obj.Status, published, deadline, obj.Extended, obj.OpensAt, obj.ClosesAt,
		closedAt, obj.Outcome, yes, no, abstain, sourceUpdated, s.wall.Now())
	if err != nil {
		return fmt.Errorf("federation: store remote Antrag: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // we have a newer state already
	}
	for _, d := range obj.Delegations {
		err := s.storeRemoteDelegation(ctx, obj.ID, obj.Ortsweberei, d)
		if mayPass(err) {
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

// storeRemoteStimme keeps a neighbour resident's Stimme once its proof checks out: signed by
// the voter's own key, the voter a verified resident of the Antrag's Ortsweberei. The latest
// Stimme of each voter counts.
func (s *Service) storeRemoteStimme(ctx context.Context, obj vocab.IncomingObject, body []byte, at time.Time) error {
	if !sameOrigin(obj.Antrag.ID, obj.ID) {
		return nil // only the Antrag's own residents vote on it, from its server: nothing to fetch
	}
	antragIRI, ortsweberei, ok, err := s.knownRemoteAntrag(ctx, obj.Antrag.ID)
	if !ok {
		return err // not an Antrag we keep, or (err) one we could not find out about just now
	}
	voter, err := s.checkProof(ctx, body, obj.AttributedTo.ID)
	if mayPass(err) {
		return err // the voter's key could not be had just now: not a bad proof
	}
	if err != nil {
		s.log.Warn("federation: Stimme refused", "object", obj.ID, "err", err)
		return nil
	}
	if !residentOf(voter, ortsweberei) {
		s.log.Info("federation: Stimme by someone not a resident of the Antrag's Ortsweberei refused", "object", obj.ID, "voter", voter.IRI)
		return nil // only the Antrag's own verified residents vote
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
	if obj.Published.After(at.Add(s.cfg.MaxSkew)) {
		s.log.Info("federation: Stimme from the future refused", "object", obj.ID, "published", *obj.Published, "received", at)
		return nil
	}
	cast := claimedTime(obj.Published, at)
	in, err := s.inVotingWindow(ctx, antragIRI, cast)
	if err != nil {
		return err
	}
	if !in {
		s.log.Info("federation: Stimme outside its Abstimmung's window refused", "object", obj.ID, "published", cast)
		return nil
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tag, err := tx.Exec(ctx, `
INSERT INTO remote_stimmen (antrag, voter, voter_name, choice, cast_at, object) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (antrag, voter) DO UPDATE SET choice = excluded.choice, cast_at = excluded.cast_at, object = excluded.object,
    voter_name = excluded.voter_name
WHERE remote_stimmen.cast_at < excluded.cast_at`, antragIRI, voter.IRI, voter.Name, choice, cast, obj.ID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return eventstore.Append(tx, s.clock.Now(), nachbarn.FernstimmeEmpfangen.New(eventstore.Header{},
			nachbarn.FernstimmeV1{Antrag: antragIRI, Voter: voter.IRI, Choice: choice, Object: obj.ID}))
	})
}

// inVotingWindow reports whether a Stimme cast at t falls in the remote Abstimmung's window as
// the origin announced it: from opensAt, before closesAt (the origin's own rule). A Stimme
// can overtake the Update that opened the vote (deliveries are independent), so a window not
// known yet, or one t is outside of, is fetched once more from the origin before refusing.
//
// When that cannot be found out just now (our database, or the origin, does not answer), it
// returns why: the Stimme is tried again, not refused.
func (s *Service) inVotingWindow(ctx context.Context, antragIRI string, t time.Time) (bool, error) {
	for refetched := false; ; refetched = true {
		var opens, closes *time.Time
		err := s.pool.QueryRow(ctx, `SELECT opens_at, closes_at FROM remote_antraege WHERE iri = $1`, antragIRI).Scan(&opens, &closes)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("federation: voting window of %s: %w", antragIRI, err)
		}
		if opens != nil && closes != nil && !t.Before(*opens) && t.Before(*closes) {
			return true, nil
		}
		if refetched {
			return false, nil
		}
		body, err := s.fetchObject(ctx, antragIRI)
		if mayPass(err) {
			return false, err
		}
		if err != nil {
			return false, nil
		}
		obj, err := vocab.DecodeObject(body)
		if err != nil || !obj.Type.Has("Antrag") {
			return false, nil
		}
		if err := s.storeRemoteAntrag(ctx, obj, s.clock.Now()); err != nil {
			return false, err
		}
	}
}

// residentOf reports whether a remote actor speaks as a verified resident of the Ortsweberei
// whose Group is ortsweberei. The actor document's own claims (ortsweberei, verified) are only
// believable from the Ortsweberei's own server: anyone can publish an actor that names some
// Group and says verified, so the actor must also live on the Group's host.
func residentOf(a *remoteActor, ortsweberei string) bool {
	return a.Verified && a.Ortsweberei == ortsweberei && normalHost(a.Host) == normalHost(hostOf(ortsweberei))
}

// storeRemoteEinspruch keeps an objection to a neighbour's Antrag by one of that Ortsweberei's
// verified residents (the same rule as for Stimmen; an Einspruch carries no proof, so it is
// taken only from its author's own server, which the inbox's signature check and
// onCreateOrUpdate's origin check make sure of).
func (s *Service) storeRemoteEinspruch(ctx context.Context, obj vocab.IncomingObject, at time.Time) error {
	if !sameOrigin(obj.Antrag.ID, obj.ID) {
		return nil // as for Stimmen
	}
	_, ortsweberei, ok, err := s.knownRemoteAntrag(ctx, obj.Antrag.ID)
	if !ok {
		return err
	}
	author, err := s.remoteActor(ctx, obj.AttributedTo.ID, false)
	if err != nil {
		return err
	}
	if !residentOf(author, ortsweberei) {
		s.log.Info("federation: Einspruch by someone not a resident of the Antrag's Ortsweberei refused", "object", obj.ID, "author", author.IRI)
		return nil
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO remote_einsprueche (antrag, author, author_name, reason, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`, obj.Antrag.ID, author.IRI, author.Name, obj.Reason, claimedTime(obj.Published, at))
	return err
}

// knownRemoteAntrag finds a neighbour's Antrag, fetching it when an Einspruch or a Stimme
// arrives before it (deliveries are independent jobs and can overtake each other). When that
// cannot be found out just now (our database, or the origin, does not answer), it returns why,
// and the Einspruch or Stimme is tried again rather than dropped.
func (s *Service) knownRemoteAntrag(ctx context.Context, iri string) (string, string, bool, error) {
	stored := func() (string, string, bool, error) {
		var ortsweberei string
		err := s.pool.QueryRow(ctx, `SELECT ortsweberei FROM remote_antraege WHERE iri = $1`, iri).Scan(&ortsweberei)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return "", "", false, nil
		case err != nil:
			return "", "", false, fmt.Errorf("federation: remote Antrag %s: %w", iri, err)
		}
		return iri, ortsweberei, true, nil
	}
	if iri, ortsweberei, ok, err := stored(); ok || err != nil {
		return iri, ortsweberei, ok, err
	}
	body, err := s.fetchObject(ctx, iri)
	if mayPass(err) {
		return "", "", false, err
	}
	if err != nil {
		return "", "", false, nil
	}
	obj, err := vocab.DecodeObject(body)
	if err != nil || !obj.Type.Has("Antrag") {
		return "", "", false, nil
	}
	if err := s.storeRemoteAntrag(ctx, obj, s.clock.Now()); err != nil {
		return "", "", false, err
	}
	return stored()
}

// storeRemoteDelegation keeps a delegation a remote close counted with, once the delegator's
// proof checks out: a delegation of the Antrag's own server (its id, delegator and delegate
// on the Antrag's host) by a verified resident of its Ortsweberei, as for Stimmen.
func (s *Service) storeRemoteDelegation(ctx context.Context, antragIRI, ortsweberei string, raw json.RawMessage) error {
	d, err := vocab.DecodeObject(raw)
	if err != nil {
		return err
	}
	if !sameOrigin(d.ID, antragIRI) || !sameOrigin(d.Delegator.ID, antragIRI) || !sameOrigin(d.Delegate.ID, antragIRI) {
		return errors.New("federation: a delegation of another server")
	}
	delegator, err := s.checkProof(ctx, raw, d.Delegator.ID)
	if err != nil {
		return err
	}
	if !residentOf(delegator, ortsweberei) {
		return errors.New("federation: a delegation by someone not a verified resident of the Antrag's Ortsweberei")
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO remote_delegationen (antrag, delegator, delegate, object) VALUES ($1, $2, $3, $4)
ON CONFLICT (antrag, delegator) DO UPDATE SET delegate = excluded.delegate, object = excluded.object`,
		antragIRI, d.Delegator.ID, d.Delegate.ID, d.ID)
	return err
}

// checkProof verifies an object's integrity proof and that its key belongs to author; it returns
// the author as fetched.
func (s *Service) checkProof(ctx context.Context, body []byte, author string) (*remoteActor, error) {
	var who *remoteActor
	resolve := func(ctx context.Context, vm string) (ed25519.PublicKey, string, error) {
		actorIRI, _, _ := strings.Cut(vm, "#")
		if actorIRI != author {
			return nil, "", errors.New("federation: the proof is not by the object's author")
		}
		for _, refresh := range []bool{false, true} {
			a, err := s.remoteActor(ctx, actorIRI, refresh)
			if err != nil {
				return nil, "", err
			}
			for _, k := range a.Multikeys {
				if k.ID == vm && k.Controller == a.IRI {
					pub, err := proof.DecodeMultikey(k.PublicKeyMultibase)
					if err != nil {
						return nil, "", err
					}
					who = a
					return pub, a.IRI, nil
				}
			}
		}
		return nil, "", fmt.Errorf("federation: %s publishes no key %s", actorIRI, vm)
	}
	res, err := proof.Verify(ctx, body, resolve)
	if err != nil {
		return nil, err
	}
	if res.Controller != author || who == nil {
		return nil, errors.New("federation: the proof's controller is not the author")
	}
	return who, nil
}

// fromOrigin returns the object an activity refers to, as the object's own server has it.
// It is the one place that decides whether an object is believable from the activity's
// sender: only an object's origin may say what it is. A copy embedded by an actor of the
// object's own host is taken as sent (that server signed the delivery); a copy embedded by
// anyone else is not read at all, and the object is fetched from its id, as one that was only
// named is (fetchObject).
func (s *Service) fromOrigin(ctx context.Context, act received, ref vocab.Ref) ([]byte, error) {
	if ref.ID == "" {
		return nil, errNotFound
	}
	if ref.Embedded() && sameOrigin(ref.ID, act.Actor.ID) {
		// ref.ID may have come from an "href": the copy must carry the id itself.
		if id, err := vocab.DecodeID(ref.Object); err != nil || id != ref.ID {
			return nil, fmt.Errorf("%w: an embedded object without its id %s", errWrongOrigin, ref.ID)
		}
		return ref.Object, nil
	}
	return s.fetchObject(ctx, ref.ID)
}

// fetchObject fetches an object from its origin by its id. The document must be the one asked
// for: its id is iri exactly, and it came from iri's host (fetch refuses a redirect elsewhere).
func (s *Service) fetchObject(ctx context.Context, iri string) ([]byte, error) {
	body, err := s.fetch(ctx, iri)
	if err != nil {
		return nil, err
	}
	id, err := vocab.DecodeID(body)
	if errors.Is(err, vocab.ErrNotText) {
		return nil, fmt.Errorf("federation: object %s: %w", iri, err)
	}
	if err != nil || id != iri {
		return nil, fmt.Errorf("%w: %s answered with the document %q", errWrongOrigin, iri, id)
	}
	return body, nil
}

// sameOrigin reports whether two IRIs are on the same server (host and port).
func sameOrigin(a, b string) bool {
	h := hostOf(a)
	return h != "" && h == hostOf(b)
}

// claimedTime is a time an object claims for itself (published, updated), believed no later
// than at, when the object reached us: a time after that would let the object pass for newer
// than what its origin sends next. Without a claim, at is the time.
func claimedTime(t *time.Time, at time.Time) time.Time {
	if t == nil || t.After(at) {
		return at
	}
	return *t
}
