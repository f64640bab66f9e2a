package convert

import (
	"strings"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// AddressedPublicly reports whether a reply is addressed to as:Public, in to or cc. The
// object's own addressing decides; only an object that has none is judged by its activity's.
func AddressedPublicly(act vocab.Incoming, obj vocab.IncomingObject) bool {
	if len(obj.To) > 0 || len(obj.Cc) > 0 {
		return obj.To.HasPublic() || obj.Cc.HasPublic()
	}
	return act.To.HasPublic() || act.Cc.HasPublic()
}

// Sanitizer keeps the formatting Fediverse posts use and drops everything active.
var Sanitizer = bluemonday.UGCPolicy()

// DisplayName is how a Fediverse author is named beside what we show of them: "Name (@user@host)".
func DisplayName(name, username, host string) string {
	if name == "" {
		name = username
	}
	return name + " (@" + username + "@" + host + ")"
}

// PollChoice is the choice a poll vote names. GoToSocial matches option names regardless of
// case (gtsmodel.Poll.GetChoice), and lower-cases some on the way (anyOf names that read as
// IRIs): so do we.
func PollChoice(name string) (string, bool) {
	name = strings.TrimSpace(name)
	for n, choice := range vocab.NameChoices {
		if strings.EqualFold(n, name) {
			return choice, true
		}
	}
	return "", false
}

// ClaimedTime is a time an object claims for itself (published, updated), believed no later
// than at, when the object reached us: a time after that would let the object pass for newer
// than what its origin sends next. Without a claim, at is the time.
func ClaimedTime(t *time.Time, at time.Time) time.Time {
	if t == nil || t.After(at) {
		return at
	}
	return *t
}

// AntragFromAS is a neighbour's Antrag as its Question says it, received at the time at: an
// updated (or published) time after at is taken as at, so that no state claims to be newer
// than the origin's next one. The applicant's name is not in the Question (the caller fetches
// the applicant).
func AntragFromAS(obj vocab.IncomingObject, at time.Time) nachbarn.Antrag {
	published := ClaimedTime(obj.Published, at)
	a := nachbarn.Antrag{IRI: obj.ID, Ortsweberei: obj.Ortsweberei, Actor: obj.AttributedTo.ID, ApplicantIRI: obj.Applicant.ID,
		AmountCents: obj.AmountCents, Status: obj.Status, OpenedAt: published, DecisionDeadline: published, Extended: obj.Extended,
		OpensAt: obj.OpensAt, ClosesAt: obj.ClosesAt, Outcome: obj.Outcome, Updated: published}
	if obj.DecisionDeadline != nil {
		a.DecisionDeadline = *obj.DecisionDeadline
	}
	if obj.YesWeight != nil {
		a.OriginYes, a.OriginNo, a.OriginAbstain = obj.YesWeight, obj.NoWeight, obj.AbstainWeight
	}
	if obj.Closed.Is() {
		a.ClosedAt = obj.Closed.At
	}
	if obj.Updated != nil {
		a.Updated = ClaimedTime(obj.Updated, at)
	}
	// The title was the Question's name until it became a content warning on GoToSocial.
	a.Title = obj.Title
	if a.Title == "" {
		a.Title = obj.Name
	}
	// The Question's content opens with the title and, once decided, the outcome
	// (questionContent): the details are what follows them.
	details := strings.TrimPrefix(obj.Content, QuestionTitleHTML(a.Title))
	a.DetailsHTML = Sanitizer.Sanitize(strings.TrimPrefix(details, OutcomeHTML(obj.Status, obj.YesWeight, obj.NoWeight, obj.AbstainWeight)))
	return a
}
