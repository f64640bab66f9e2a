package gtspeer

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// Option is one option of a poll as vera sees it.
type Option struct {
	Name  string
	Count int
}

// Poll is a status's poll as GoToSocial keeps it (ExtractPoll).
type Poll struct {
	// ID is the peer's own id of its copy; a new one whenever the poll is replaced.
	ID          string
	Options     []Option
	Multiple    bool // anyOf
	HideCounts  bool // an option without replies.totalItems
	VotersCount int
	EndTime     *time.Time
	Closed      *time.Time // only a dateTime counts; closed: true is ignored
	// Voted are the options vera chose in this poll; empty after the poll was replaced.
	Voted []int
}

// Status is how a remote status would be shown to vera.
type Status struct {
	URI            string
	AttributedTo   string
	Content        string // sanitised HTML
	ContentWarning string // summary, else name
	Published      time.Time
	Edited         bool // updated ≥ published, even on the first fetch
	Boosted        bool // it arrived through an Announce
	Poll           *Poll
}

type status struct {
	Status
	raw map[string]any
}

func cloneStatus(s *status) Status {
	out := s.Status
	if s.Poll != nil {
		p := *s.Poll
		p.Options = slices.Clone(p.Options)
		p.Voted = slices.Clone(p.Voted)
		out.Poll = &p
	}
	return out
}

// Status returns how the status uri would be shown to vera, if she has it.
func (p *Peer) Status(uri string) (Status, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.statuses[uri]
	if !ok {
		return Status{}, false
	}
	return cloneStatus(s), true
}

// WaitStatus waits until vera has the status uri and cond holds for it (cond nil: any).
func (p *Peer) WaitStatus(t testing.TB, uri string, timeout time.Duration, cond func(Status) bool) Status {
	t.Helper()
	var got Status
	p.wait(t, "status "+uri, timeout, func() bool {
		s, ok := p.statuses[uri]
		if !ok {
			return false
		}
		got = cloneStatus(s)
		return cond == nil || cond(got)
	})
	return got
}

// handle acts on an authenticated activity as GoToSocial's federating database does, dropping
// (and recording) what it would drop.
func (p *Peer) handle(ctx context.Context, signer *account, act map[string]any) {
	id := idOf(act)
	if id == "" {
		p.drop(act, "activity without id: transient, ignored")
		return
	}
	p.mu.Lock()
	seen := p.seen[id]
	p.seen[id] = true
	p.mu.Unlock()
	if seen {
		p.drop(act, "activity already handled")
		return
	}
	switch {
	case mastopeer.HasType(act, "Accept"), mastopeer.HasType(act, "Reject"):
		p.handleAnswer(signer, act)
	case mastopeer.HasType(act, "Follow"):
		p.handleFollow(signer, act)
	case mastopeer.HasType(act, "Undo"):
		inner, _ := act["object"].(map[string]any)
		if inner != nil && mastopeer.HasType(inner, "Follow") && idOf(inner["actor"]) == signer.uri {
			p.mu.Lock()
			delete(p.followers, signer.uri)
			p.notifyLocked()
			p.mu.Unlock()
		}
	case mastopeer.HasType(act, "Announce"):
		p.handleAnnounce(ctx, signer, act)
	case mastopeer.HasType(act, "Create"):
		p.handleCreate(ctx, signer, act)
	case mastopeer.HasType(act, "Update"):
		p.handleUpdate(ctx, signer, act)
	case mastopeer.HasType(act, "Delete"):
		p.mu.Lock()
		if s, ok := p.statuses[idOf(act["object"])]; ok && s.AttributedTo == signer.uri {
			delete(p.statuses, s.URI)
			p.notifyLocked()
		}
		p.mu.Unlock()
	case mastopeer.HasType(act, "Flag"):
		// Taken (checkFlag refused what GoToSocial refuses): Received holds it, with its signer.
	default:
		p.drop(act, "activity type not handled")
	}
}

// handleAnswer is federatingdb Accept (and Reject): the actor must be the signer, and the
// Follow is embedded (follower vera, followee the signer) or named by its id.
func (p *Peer) handleAnswer(signer *account, act map[string]any) {
	if idOf(act["actor"]) != signer.uri {
		p.drop(act, "Accept/Reject actor is not the signer")
		return
	}
	state := FollowAccepted
	if mastopeer.HasType(act, "Reject") {
		state = FollowRejected
	}
	objID := idOf(act["object"])
	inner, _ := act["object"].(map[string]any)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.follows {
		if f.state != FollowPending || f.target != signer.uri {
			continue
		}
		if f.id == objID || inner != nil && mastopeer.HasType(inner, "Follow") && idOf(inner["actor"]) == p.ActorID() && idOf(inner["object"]) == signer.uri {
			f.state = state
			p.notifyLocked()
			return
		}
	}
	p.drops = append(p.drops, Drop{ActivityID: idOf(act), Type: typeOf(act), Reason: "no pending follow request it answers"})
	p.notifyLocked()
}

// handleFollow plays an unlocked account: a Follow of vera is accepted at once, the Follow
// embedded in the Accept.
func (p *Peer) handleFollow(signer *account, act map[string]any) {
	if idOf(act["object"]) != p.ActorID() || idOf(act["actor"]) != signer.uri {
		p.drop(act, "Follow of someone else, or not by the signer")
		return
	}
	p.mu.Lock()
	p.followers[signer.uri] = signer.deliveryInbox()
	p.notifyLocked()
	p.mu.Unlock()
	inner := mastopeer.CloneMap(act)
	delete(inner, "@context")
	accept := map[string]any{"@context": ASContext, "id": p.ActorID() + "/accept/" + newULID(), "type": "Accept",
		"actor": p.ActorID(), "to": signer.uri, "object": inner}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.send(p.ctx, signer.deliveryInbox(), accept); err != nil {
			p.mu.Lock()
			p.sendErrs = append(p.sendErrs, err)
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
}

// handleAnnounce is federatingdb Announce: the signer must be the announcer, and the
// announced object is fetched from its origin by id, whatever was embedded.
func (p *Peer) handleAnnounce(ctx context.Context, signer *account, act map[string]any) {
	if idOf(act["actor"]) != signer.uri {
		p.drop(act, "Announce actor is not the signer")
		return
	}
	uri := idOf(act["object"])
	doc, err := p.get(ctx, uri)
	if err != nil {
		p.drop(act, "announced status could not be dereferenced: "+err.Error())
		return
	}
	if idOf(doc) != uri {
		p.drop(act, "announced status has another id")
		return
	}
	if reason := p.store(doc, true); reason != "" {
		p.drop(act, reason)
	}
}

// handleCreate is createPollOptionables / createStatusable.
func (p *Peer) handleCreate(ctx context.Context, signer *account, act map[string]any) {
	obj, _ := act["object"].(map[string]any)
	if obj == nil {
		// Only the object's IRI: GoToSocial dereferences it.
		doc, err := p.get(ctx, idOf(act["object"]))
		if err != nil {
			p.drop(act, "object could not be dereferenced: "+err.Error())
			return
		}
		obj = doc
	}
	if isVote(obj) {
		p.handleVote(signer, act, obj)
		return
	}
	// StatusableOK: from an account vera does not follow, and not mentioning her, a status is
	// not relevant (even with the spam filter off).
	if !p.isFollowing(signer.uri) && !p.mentions(obj) {
		p.drop(act, "status not relevant: vera does not follow "+signer.uri+" and is not mentioned")
		return
	}
	if idOf(obj["attributedTo"]) != signer.uri {
		// Forwarded: the embedded copy is ignored, the status fetched from its origin.
		doc, err := p.get(ctx, idOf(obj))
		if err != nil {
			p.drop(act, "forwarded status could not be dereferenced: "+err.Error())
			return
		}
		obj = doc
	}
	if reason := p.store(obj, false); reason != "" {
		p.drop(act, reason)
	}
}

// handleVote: a vote on a poll vera does not own (she owns none here) is dropped, answered 202.
func (p *Peer) handleVote(signer *account, act, note map[string]any) {
	target := idOf(note["inReplyTo"])
	p.mu.Lock()
	_, known := p.statuses[target]
	p.mu.Unlock()
	reason := "receiving account does not own poll " + target
	if !known {
		reason = "vote on unknown status " + target
	}
	p.drop(act, reason)
}

// handleUpdate is updateStatusable: an unknown status is taken as a Create; an Update not by
// the status's author is forwarded and refetched.
func (p *Peer) handleUpdate(ctx context.Context, signer *account, act map[string]any) {
	obj, _ := act["object"].(map[string]any)
	if obj == nil || obj["attributedTo"] == nil {
		p.drop(act, "Update of something that is not a status")
		return
	}
	p.mu.Lock()
	_, known := p.statuses[idOf(obj)]
	p.mu.Unlock()
	if !known {
		p.handleCreate(ctx, signer, act)
		return
	}
	if idOf(obj["attributedTo"]) != signer.uri {
		doc, err := p.get(ctx, idOf(obj))
		if err != nil {
			p.drop(act, "forwarded status could not be dereferenced: "+err.Error())
			return
		}
		obj = doc
	}
	if reason := p.store(obj, false); reason != "" {
		p.drop(act, reason)
	}
}

// store takes a status (Note, Question, …) as ASStatusToStatus and handleStatusPoll do, or
// says why it is malformed.
func (p *Peer) store(obj map[string]any, boosted bool) string {
	uri := idOf(obj)
	if uri == "" || obj["to"] == nil && obj["cc"] == nil {
		return "malformed status: no id, or no to/cc"
	}
	s := Status{URI: uri, AttributedTo: idOf(obj["attributedTo"]), Boosted: boosted}
	s.Content, _ = obj["content"].(string)
	s.Content = sanitize(s.Content)
	if sum, _ := obj["summary"].(string); sum != "" {
		s.ContentWarning = sanitize(sum)
	} else if name, _ := obj["name"].(string); name != "" {
		s.ContentWarning = stripHTML(name)
	}
	s.Published = time.Now()
	if pub, ok := parseTime(obj["published"]); ok {
		s.Published = *pub
	}
	if up, ok := parseTime(obj["updated"]); ok {
		if up.Before(s.Published) {
			return "malformed status: updated before published"
		}
		s.Edited = true
	}
	poll, err := extractPoll(obj)
	if err != "" {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.statuses[uri]
	if old != nil {
		s.Boosted = s.Boosted || old.Boosted
	}
	switch {
	case poll == nil:
	case old == nil || old.Poll == nil || pollChanged(old.Poll, poll):
		// A new poll, or one whose endTime or options changed: GoToSocial deletes the old
		// poll with all its votes and makes a new one, with a new id.
		poll.ID = newULID()
		if old != nil && old.Poll != nil {
			s.Edited = true
		}
	default:
		// Counts, votersCount or closed changed: updated in place.
		poll.ID, poll.Voted = old.Poll.ID, old.Poll.Voted
	}
	s.Poll = poll
	p.statuses[uri] = &status{Status: s, raw: mastopeer.CloneMap(obj)}
	p.notifyLocked()
	return ""
}

func pollChanged(old, cur *Poll) bool {
	if !timeEqual(old.EndTime, cur.EndTime) || len(old.Options) != len(cur.Options) {
		return true
	}
	for i := range old.Options {
		if old.Options[i].Name != cur.Options[i].Name {
			return true
		}
	}
	return false
}

// extractPoll is ExtractPoll: oneOf, else anyOf; each option a Note with a name and no
// content; counts from an embedded replies Collection, hidden when missing.
func extractPoll(obj map[string]any) (*Poll, string) {
	if !mastopeer.HasType(obj, "Question") {
		return nil, ""
	}
	poll := &Poll{}
	opts, _ := obj["oneOf"].([]any)
	if len(opts) == 0 {
		opts, _ = obj["anyOf"].([]any)
		poll.Multiple = true
	}
	if len(opts) == 0 {
		return nil, "malformed poll: no options"
	}
	for _, o := range opts {
		m, _ := o.(map[string]any)
		name, _ := m["name"].(string)
		if m == nil || name == "" || m["content"] != nil {
			return nil, "malformed poll option"
		}
		if !poll.Multiple || !looksLikeIRI(name) {
			// oneOf names are normalised back to text; anyOf names that go-fed read as IRIs
			// are not (NormalizeIncomingPollOptions), so "Ja: dafür" becomes "ja: dafür".
			name = stripHTML(name)
		} else {
			name = iriString(name)
		}
		opt := Option{Name: name}
		if rep, ok := m["replies"].(map[string]any); ok {
			n, _ := rep["totalItems"].(float64)
			opt.Count = int(n)
		} else {
			poll.HideCounts = true
		}
		poll.Options = append(poll.Options, opt)
	}
	if n, ok := obj["votersCount"].(float64); ok {
		poll.VotersCount = int(n)
	}
	poll.EndTime, _ = parseTime(obj["endTime"])
	poll.Closed, _ = parseTime(obj["closed"])
	if poll.EndTime == nil && poll.Closed != nil {
		poll.EndTime = poll.Closed
	}
	return poll, ""
}

// isVote is what GoToSocial takes as a poll vote: a Note with a name, no content, and one
// inReplyTo.
func isVote(obj map[string]any) bool {
	_, hasName := obj["name"].(string)
	return mastopeer.HasType(obj, "Note") && hasName && obj["content"] == nil && idOf(obj["inReplyTo"]) != ""
}

func (p *Peer) isFollowing(actor string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.follows {
		if f.target == actor && f.state == FollowAccepted {
			return true
		}
	}
	return false
}

func (p *Peer) mentions(obj map[string]any) bool {
	tags, _ := obj["tag"].([]any)
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok && mastopeer.HasType(m, "Mention") && idOf(m["href"]) == p.ActorID() {
			return true
		}
	}
	return false
}

// Follow resolves target (an actor URL or user@host) and sends vera's Follow to its inbox, as
// FollowToAS shapes it: id /users/vera/follow/<ULID>, to the target, no cc. It returns the
// Follow's id; the Follow stays pending until an Accept arrives.
func (p *Peer) Follow(ctx context.Context, target string) (string, error) {
	acc, err := p.lookup(ctx, target)
	if err != nil {
		return "", fmt.Errorf("gtspeer: look up %s: %w", target, err)
	}
	id := p.ActorID() + "/follow/" + newULID()
	act := map[string]any{"@context": ASContext, "id": id, "type": "Follow", "actor": p.ActorID(), "object": acc.uri, "to": acc.uri}
	p.mu.Lock()
	p.follows = append(p.follows, &outFollow{id: id, target: acc.uri, inbox: acc.deliveryInbox(), activity: mastopeer.CloneMap(act), state: FollowPending})
	p.mu.Unlock()
	return id, p.send(ctx, acc.deliveryInbox(), act)
}

// FollowState says where vera's Follow followID stands.
func (p *Peer) FollowState(followID string) FollowState {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.follows {
		if f.id == followID {
			return f.state
		}
	}
	return FollowUnknown
}

// FollowAccepted has vera follow target and waits until the Follow is accepted, as
// mastopeer's FollowAccepted does; it fails the test otherwise.
func (p *Peer) FollowAccepted(t testing.TB, ctx context.Context, target string, timeout time.Duration) {
	t.Helper()
	follow, err := p.Follow(ctx, target)
	if err != nil {
		t.Fatalf("vera follows %s: %v", target, err)
	}
	p.WaitAccepted(t, follow, timeout)
}

// WaitAccepted waits until the Follow followID is accepted; a rejection fails the test.
func (p *Peer) WaitAccepted(t testing.TB, followID string, timeout time.Duration) {
	t.Helper()
	p.wait(t, "Accept of "+followID, timeout, func() bool {
		for _, f := range p.follows {
			if f.id == followID {
				if f.state == FollowRejected {
					t.Fatalf("gtspeer: follow %s rejected", followID)
				}
				return f.state == FollowAccepted
			}
		}
		return false
	})
}

// Unfollow sends Undo{Follow} for vera's latest Follow of target, as UndoFollow does: the
// Follow embedded in full, and the Undo's id the fallback https://host/<ULID>.
func (p *Peer) Unfollow(ctx context.Context, target string) error {
	p.mu.Lock()
	var f *outFollow
	for i := len(p.follows) - 1; i >= 0; i-- {
		if p.follows[i].target == target && p.follows[i].state != FollowUndone {
			f = p.follows[i]
			break
		}
	}
	p.mu.Unlock()
	if f == nil {
		return fmt.Errorf("gtspeer: vera does not follow %s", target)
	}
	inner := mastopeer.CloneMap(f.activity)
	delete(inner, "@context")
	act := map[string]any{"@context": ASContext, "id": p.base + "/" + newULID(), "type": "Undo", "actor": p.ActorID(), "to": target, "object": inner}
	if err := p.send(ctx, f.inbox, act); err != nil {
		return err
	}
	p.mu.Lock()
	f.state = FollowUndone
	p.notifyLocked()
	p.mu.Unlock()
	return nil
}

// Vote votes in the poll of status uri for the options at choices, as PollVoteToASCreates
// does: one Create per choice, id {voter}/activity#vote{i}/{question}, its Note id
// {voter}#{pollID}/votes/{option}, with the option's name as vera's copy has it, addressed
// to the Question's author alone and sent to that author's inbox (its shared inbox when on
// its domain). Vera cannot change a vote: a second one in the same poll is refused, unless
// the poll was replaced meanwhile.
func (p *Peer) Vote(ctx context.Context, uri string, choices ...int) error {
	p.mu.Lock()
	s, ok := p.statuses[uri]
	var poll Poll
	if ok && s.Poll != nil {
		poll = *s.Poll
	}
	p.mu.Unlock()
	switch {
	case !ok || s.Poll == nil:
		return fmt.Errorf("gtspeer: vera has no poll %s", uri)
	case len(poll.Voted) > 0:
		return fmt.Errorf("gtspeer: you have already voted in poll %s", uri)
	case poll.Closed != nil && !poll.Closed.After(time.Now()):
		return fmt.Errorf("gtspeer: poll %s is closed", uri)
	case len(choices) == 0 || !poll.Multiple && len(choices) > 1:
		return fmt.Errorf("gtspeer: %d choices in a poll with multiple=%v", len(choices), poll.Multiple)
	}
	author, err := p.account(ctx, s.AttributedTo)
	if err != nil {
		return fmt.Errorf("gtspeer: poll author %s: %w", s.AttributedTo, err)
	}
	for i, c := range choices {
		if c < 0 || c >= len(poll.Options) {
			return fmt.Errorf("gtspeer: no option %d", c)
		}
		note := map[string]any{"type": "Note", "id": p.ActorID() + "#" + poll.ID + "/votes/" + strconv.Itoa(c),
			"name": poll.Options[c].Name, "attributedTo": p.ActorID(), "inReplyTo": uri, "to": author.uri}
		act := map[string]any{"@context": ASContext, "type": "Create",
			"id":    p.ActorID() + "/activity#vote" + strconv.Itoa(i) + "/" + uri,
			"actor": p.ActorID(), "published": time.Now().UTC().Format(time.RFC3339), "to": author.uri, "object": note}
		if err := p.send(ctx, author.deliveryInbox(), act); err != nil {
			return err
		}
	}
	p.mu.Lock()
	if cur := p.statuses[uri]; cur != nil && cur.Poll != nil && cur.Poll.ID == poll.ID {
		cur.Poll.Voted = slices.Clone(choices)
		p.notifyLocked()
	}
	p.mu.Unlock()
	return nil
}

// Reply posts a public reply of vera to status uri (text is HTML) and delivers it to the
// author's inbox, as GoToSocial delivers to the account replied to: Public in to, vera's
// followers and the author in cc, the author mentioned. It returns the reply's URI, served to
// signed GETs.
func (p *Peer) Reply(ctx context.Context, uri, text string) (string, error) {
	p.mu.Lock()
	s, ok := p.statuses[uri]
	p.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("gtspeer: vera does not have %s", uri)
	}
	author, err := p.account(ctx, s.AttributedTo)
	if err != nil {
		return "", err
	}
	id := newULID()
	noteURI := p.ActorID() + "/statuses/" + id
	now := time.Now().UTC().Format(time.RFC3339)
	note := map[string]any{"type": "Note", "id": noteURI, "url": p.base + "/@" + username + "/statuses/" + id,
		"attributedTo": p.ActorID(), "inReplyTo": uri, "content": text, "published": now,
		"to": []any{Public}, "cc": []any{p.ActorID() + "/followers", author.uri},
		"tag":       []any{map[string]any{"type": "Mention", "href": author.uri, "name": "@" + author.username + "@" + hostOf(author.uri)}},
		"sensitive": false}
	doc := mastopeer.CloneMap(note)
	doc["@context"] = ASContext
	p.mu.Lock()
	p.served["/users/"+username+"/statuses/"+id] = doc
	p.mu.Unlock()
	act := map[string]any{"@context": ASContext, "id": noteURI + "/activity", "type": "Create", "actor": p.ActorID(),
		"published": now, "to": note["to"], "cc": note["cc"], "object": note}
	return noteURI, p.send(ctx, author.deliveryInbox(), act)
}

// Send delivers any activity signed as vera to inbox and fails on any answer but 2xx.
func (p *Peer) Send(ctx context.Context, inbox string, act map[string]any) error {
	return p.send(ctx, inbox, act)
}

func parseTime(v any) (*time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, false
	}
	return &t, true
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// stripHTML is what NormalizeIncomingName does to a name: tags removed, entities read.
func stripHTML(s string) string { return html.UnescapeString(tagRE.ReplaceAllString(s, "")) }

var unsafeRE = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>|\s+on[a-z]+="[^"]*"`)

// sanitize stands for GoToSocial's sanitiser; the tests here care about what is shown, not
// about the sanitiser itself.
func sanitize(s string) string { return unsafeRE.ReplaceAllString(s, "") }

// iriString is how an anyOf option name that go-fed parsed as an IRI comes back out: the
// scheme lower-cased, the rest re-escaped (url.URL.String).
func iriString(s string) string {
	scheme, rest, _ := strings.Cut(s, ":")
	return strings.ToLower(scheme) + ":" + strings.ReplaceAll(rest, " ", "%20")
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID makes an id shaped like GoToSocial's ULIDs: 26 characters of Crockford base32,
// time first.
func newULID() string {
	var b [26]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	var r [16]byte
	rand.Read(r[:])
	for i := 10; i < 26; i++ {
		b[i] = crockford[r[i-10]&31]
	}
	return string(b[:])
}
