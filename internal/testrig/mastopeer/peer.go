// Package mastopeer is a small, real Mastodon stand-in for federation tests.
//
// A test starts a Peer on a loopback address; it serves one local actor
// (alice), WebFinger, NodeInfo and two inboxes over plain HTTP, and it speaks
// to the server under test the way a Mastodon 4.x instance does: it resolves
// handles through WebFinger and insists on the WebFinger round trip, it signs
// its fetches and deliveries with draft-cavage HTTP Signatures, and it refuses
// incoming deliveries that Mastodon would refuse, recording why.
//
// The signature code here is written from Mastodon's documentation and its
// verification code, using only the standard library, and deliberately shares
// nothing with the project's own signing package: a bug copied into both sides
// of a test cannot be found by that test.
//
// Where Mastodon is lenient in a way that would hide mistakes (it answers 202
// to a delivery whose actor differs from the signer and drops it later), the
// peer is stricter and says so with a 401 and a recorded reason, because a test
// must see the failure. Each such place is marked in the code.
package mastopeer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mastodon's time limits for signed requests, from SignedRequest (formerly
// SignatureVerification) in app/lib/signed_request.rb: a signature without an
// explicit expiry lives DefaultSignatureLifetime after its Date or (created),
// never longer than ExpirationWindowLimit, and both ends get ClockSkewMargin of
// slack. For the usual Date-only signature that means a request is refused once
// its Date is more than 1h05m old or more than 1h in the future, so a delivery
// retried later must be signed again, not replayed.
const (
	ExpirationWindowLimit    = 12 * time.Hour
	ClockSkewMargin          = time.Hour
	DefaultSignatureLifetime = 5 * time.Minute
)

const (
	// ASContext is the ActivityStreams context Mastodon requires in every
	// document it accepts (JsonLdHelper#supported_context?).
	ASContext = "https://www.w3.org/ns/activitystreams"
	// Public is the magic collection that makes a post public.
	Public = "https://www.w3.org/ns/activitystreams#Public"

	activityJSON = "application/activity+json"
	// mastodonAccept is the Accept header Mastodon sends when it fetches an
	// ActivityPub document (JsonLdHelper#build_request).
	mastodonAccept = "application/activity+json, application/ld+json"
	maxBody        = 1 << 20 // Mastodon's body_with_limit
	username       = "alice"
	userAgent      = "http.rb/5.2.0 (Mastodon/4.5.0; +%s/)"
)

// actorTypes are the types Mastodon accepts as actors
// (ActivityPub::FetchRemoteActorService::SUPPORTED_TYPES).
var actorTypes = []string{"Application", "Group", "Organization", "Person", "Service"}

// Rejection is one incoming request the peer refused, with the reason a
// Mastodon instance would give (its texts where Mastodon has one).
type Rejection struct {
	Time   time.Time
	Method string
	Path   string
	KeyID  string
	Status int
	Reason string
	Body   []byte
}

// Fetch is one GET of a document of the peer. Signed fetches are verified (the
// result is recorded, never enforced) so tests can assert that the server
// under test signs its fetches, which Mastodon in authorized-fetch mode and
// GoToSocial always require.
type Fetch struct {
	Time     time.Time
	Path     string
	Accept   string
	KeyID    string
	Signed   bool
	Verified bool
	Reason   string
}

// FollowStatus is where a Follow sent by the peer stands.
type FollowStatus string

// The states of a Follow sent by the peer.
const (
	FollowUnknown  FollowStatus = ""
	FollowPending  FollowStatus = "pending"
	FollowAccepted FollowStatus = "accepted"
	FollowRejected FollowStatus = "rejected"
	FollowUndone   FollowStatus = "undone"
)

type outFollow struct {
	id       string
	target   string
	inbox    string
	activity map[string]any
	status   FollowStatus
	answer   map[string]any
}

type follower struct {
	followID    string
	inbox       string
	sharedInbox string
}

// Peer is a running Mastodon stand-in with one local actor, alice.
type Peer struct {
	host string // host:port, as it appears in ids and WebFinger handles
	base string // http://host:port
	key  *rsa.PrivateKey
	pem  string

	client *http.Client
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	changed    chan struct{}
	clock      func() time.Time
	received   []map[string]any
	rejections []Rejection
	fetches    []Fetch
	follows    []*outFollow
	followers  map[string]follower
	documents  map[string]map[string]any // path -> document
	accounts   map[string]string         // lower-case preferredUsername -> actor id, for WebFinger
	verified   map[string]bool           // actor ids whose WebFinger round trip passed
	cursor     map[string]int
	rejCursor  int
	deliveries []error
	seq        int
	failing    map[string][]int // path -> the statuses its next GETs are answered with
	inst       InstanceKey      // the instance actor (report.go)
	reports    []TakenReport    // the Flags taken (report.go)
}

// Start starts a peer listening on host (a loopback address such as
// "127.0.0.9") on a free port and stops it when the test ends. Different
// peers on different loopback addresses look like different instances, which
// is what the host checks of the signature code need.
func Start(t testing.TB, host string) *Peer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("mastopeer: generate key: %v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("mastopeer: listen on %s: %v", host, err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("mastopeer: marshal public key: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{
		host:      ln.Addr().String(),
		key:       key,
		pem:       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		ctx:       ctx,
		cancel:    cancel,
		changed:   make(chan struct{}),
		clock:     time.Now,
		followers: map[string]follower{},
		documents: map[string]map[string]any{},
		accounts:  map[string]string{},
		verified:  map[string]bool{},
		cursor:    map[string]int{},
		failing:   map[string][]int{},
	}
	p.base = "http://" + p.host
	p.accounts[username] = p.ActorID()
	// Mastodon follows at most three redirects and never goes through a
	// proxy for these tests' loopback addresses.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	p.client = &http.Client{
		Transport: tr,
		// A safety net, not Mastodon's pace: the server under test may be slow on a busy
		// machine, and a test must not fail for that.
		Timeout: time.Minute,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	t.Cleanup(func() {
		p.cancel()
		p.wg.Wait()
		sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		p.srv.Shutdown(sctx)
	})
	return p
}

// Host is host:port of the peer, the domain part of its handles.
func (p *Peer) Host() string { return p.host }

// BaseURL is http://host:port.
func (p *Peer) BaseURL() string { return p.base }

// ActorID is alice's id.
func (p *Peer) ActorID() string { return p.base + "/users/" + username }

// KeyID is the keyId alice signs with, Mastodon style (actor#main-key).
func (p *Peer) KeyID() string { return p.ActorID() + "#main-key" }

// InboxURL is alice's personal inbox.
func (p *Peer) InboxURL() string { return p.ActorID() + "/inbox" }

// SharedInboxURL is the instance's shared inbox (endpoints.sharedInbox).
func (p *Peer) SharedInboxURL() string { return p.base + "/inbox" }

// Handle is alice@host:port, the form a Mastodon user types to find her.
func (p *Peer) Handle() string { return username + "@" + p.host }

// PrivateKey is alice's key, for tests that need to forge requests with it.
func (p *Peer) PrivateKey() *rsa.PrivateKey { return p.key }

// PublicKeyPEM is alice's public key as served in her actor document.
func (p *Peer) PublicKeyPEM() string { return p.pem }

// SetClock replaces the clock the peer checks incoming signature dates
// against, so a test can play a receiver whose clock is off.
func (p *Peer) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clock = now
}

func (p *Peer) now() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clock()
}

// PutDocument serves doc as application/activity+json at path (which must
// start with "/"). An actor document whose preferredUsername is not taken yet
// becomes resolvable through the peer's WebFinger too, so a test can stage
// extra actors, GoToSocial-style key stubs or a Question to vote on; an actor
// claiming a taken name stays unresolvable, which is how a test stages an
// impostor that fails the WebFinger round trip.
func (p *Peer) PutDocument(path string, doc map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.documents[path] = cloneMap(doc)
	if isActor(doc) && hostOf(idOf(doc)) == strings.ToLower(p.host) {
		name, _ := doc["preferredUsername"].(string)
		if _, taken := p.accounts[strings.ToLower(name)]; name != "" && !taken {
			p.accounts[strings.ToLower(name)] = idOf(doc)
		}
	}
}

func (p *Peer) actorDocument() map[string]any {
	actor := p.ActorID()
	return map[string]any{
		"@context": []any{
			ASContext,
			"https://w3id.org/security/v1",
			map[string]any{
				"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
				"toot":                      "http://joinmastodon.org/ns#",
				"featured":                  map[string]any{"@id": "toot:featured", "@type": "@id"},
				"featuredTags":              map[string]any{"@id": "toot:featuredTags", "@type": "@id"},
				"alsoKnownAs":               map[string]any{"@id": "as:alsoKnownAs", "@type": "@id"},
				"movedTo":                   map[string]any{"@id": "as:movedTo", "@type": "@id"},
				"schema":                    "http://schema.org#",
				"PropertyValue":             "schema:PropertyValue",
				"value":                     "schema:value",
				"discoverable":              "toot:discoverable",
				"suspended":                 "toot:suspended",
				"memorial":                  "toot:memorial",
				"indexable":                 "toot:indexable",
				"focalPoint":                map[string]any{"@container": "@list", "@id": "toot:focalPoint"},
			},
		},
		"id":                        actor,
		"type":                      "Person",
		"following":                 actor + "/following",
		"followers":                 actor + "/followers",
		"inbox":                     actor + "/inbox",
		"outbox":                    actor + "/outbox",
		"featured":                  actor + "/collections/featured",
		"featuredTags":              actor + "/collections/tags",
		"preferredUsername":         username,
		"name":                      "Alice",
		"summary":                   "<p>Test account of a Mastodon stand-in.</p>",
		"url":                       p.base + "/@" + username,
		"manuallyApprovesFollowers": false,
		"discoverable":              true,
		"indexable":                 false,
		"memorial":                  false,
		"published":                 "2024-01-01T00:00:00Z",
		"publicKey": map[string]any{
			"id":           p.KeyID(),
			"owner":        actor,
			"publicKeyPem": p.pem,
		},
		"tag":        []any{},
		"attachment": []any{},
		"endpoints":  map[string]any{"sharedInbox": p.SharedInboxURL()},
	}
}

// FailNext answers the next GETs of path with statuses, one each, in order, and then serves
// path as before: a server restarting or overloaded for a moment, as every real one is
// sometimes. A 503 or 429 carries Retry-After, as Mastodon's do.
func (p *Peer) FailNext(path string, statuses ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing[path] = append(p.failing[path], statuses...)
}

// failNow takes the status the next GET of path is to fail with, if any.
func (p *Peer) failNow(path string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.failing[path]
	if len(st) == 0 {
		return 0, false
	}
	p.failing[path] = st[1:]
	return st[0], true
}

func (p *Peer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	actorPath := "/users/" + username
	if r.Method == http.MethodGet {
		if status, ok := p.failNow(r.URL.Path); ok {
			if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == actorPath+"/inbox" || r.URL.Path == "/inbox"):
		p.serveInbox(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case r.URL.Path == "/.well-known/webfinger":
		p.serveWebfinger(w, r)
	case r.URL.Path == "/.well-known/nodeinfo":
		writeJSON(w, "application/json", map[string]any{"links": []any{map[string]any{
			"rel":  "http://nodeinfo.diaspora.software/ns/schema/2.0",
			"href": p.base + "/nodeinfo/2.0",
		}}})
	case r.URL.Path == "/nodeinfo/2.0":
		writeJSON(w, "application/json", map[string]any{
			"version":           "2.0",
			"software":          map[string]any{"name": "mastodon", "version": "4.5.0"},
			"protocols":         []any{"activitypub"},
			"services":          map[string]any{"outbound": []any{}, "inbound": []any{}},
			"usage":             map[string]any{"users": map[string]any{"total": 1}},
			"openRegistrations": false,
			"metadata":          map[string]any{},
		})
	case r.URL.Path == "/@"+username:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Alice</title><a href=%q>Alice</a>\n", p.ActorID())
	default:
		p.serveDocument(w, r)
	}
}

func (p *Peer) serveDocument(w http.ResponseWriter, r *http.Request) {
	actor := p.ActorID()
	actorPath := "/users/" + username
	var doc map[string]any
	switch r.URL.Path {
	case actorPath:
		doc = p.actorDocument()
	case "/actor":
		doc = p.instanceActorDocument()
	case actorPath + "/outbox", actorPath + "/following", actorPath + "/collections/featured", actorPath + "/collections/tags":
		doc = map[string]any{"@context": ASContext, "id": p.base + r.URL.Path, "type": "OrderedCollection", "totalItems": 0, "orderedItems": []any{}}
	case actorPath + "/followers":
		doc = map[string]any{"@context": ASContext, "id": actor + "/followers", "type": "OrderedCollection", "totalItems": len(p.Followers())}
	default:
		p.mu.Lock()
		d, ok := p.documents[r.URL.Path]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		doc = d
	}
	// Mastodon answers JSON to these types and HTML otherwise; a fetcher
	// that forgets the Accept header gets nothing it can parse.
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, "application/activity+json") && !strings.Contains(accept, "application/ld+json") && !strings.Contains(accept, "application/json") {
		http.Error(w, "not acceptable: ask for application/activity+json", http.StatusNotAcceptable)
		return
	}
	p.recordFetch(r)
	writeJSON(w, activityJSON+"; charset=utf-8", doc)
}

// recordFetch verifies a signed GET for the record. It fetches the signer's
// key unsigned: two peers verifying each other's signed key fetches with
// signed fetches would call each other forever.
func (p *Peer) recordFetch(r *http.Request) {
	f := Fetch{Time: time.Now(), Path: r.URL.RequestURI(), Accept: r.Header.Get("Accept")}
	if r.Header.Get("Signature") != "" {
		f.Signed = true
		v, err := p.verify(r.Context(), r, nil, false)
		if v != nil {
			f.KeyID = v.keyID
		}
		if err != nil {
			f.Reason = err.reason
		} else {
			f.Verified = true
		}
	}
	p.mu.Lock()
	p.fetches = append(p.fetches, f)
	p.mu.Unlock()
}

func (p *Peer) serveWebfinger(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Query().Get("resource")
	var actor, name string
	if strings.HasPrefix(resource, "http://") || strings.HasPrefix(resource, "https://") {
		p.mu.Lock()
		for n, id := range p.accounts {
			if id == resource {
				actor, name = id, n
			}
		}
		p.mu.Unlock()
	} else {
		user, domain, ok := strings.Cut(strings.TrimPrefix(resource, "acct:"), "@")
		if ok && strings.EqualFold(domain, p.host) {
			p.mu.Lock()
			actor = p.accounts[strings.ToLower(user)]
			p.mu.Unlock()
			name = user
		}
	}
	if actor == "" {
		http.NotFound(w, r)
		return
	}
	// Mastodon answers with the canonical spelling of the username.
	if doc := p.lookupActorDoc(actor); doc != nil {
		if n, _ := doc["preferredUsername"].(string); n != "" {
			name = n
		}
	}
	profile := p.base + "/@" + name
	writeJSON(w, "application/jrd+json; charset=utf-8", map[string]any{
		"subject": "acct:" + name + "@" + p.host,
		"aliases": []any{profile, actor},
		"links": []any{
			map[string]any{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": profile},
			map[string]any{"rel": "self", "type": activityJSON, "href": actor},
			map[string]any{"rel": "http://ostatus.org/schema/1.0/subscribe", "template": p.base + "/authorize_interaction?uri={uri}"},
		},
	})
}

func (p *Peer) lookupActorDoc(id string) map[string]any {
	if id == p.ActorID() {
		return p.actorDocument()
	}
	if id == p.InstanceActorID() {
		return p.instanceActorDocument()
	}
	u, err := url.Parse(id)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.documents[u.Path]
}

func (p *Peer) serveInbox(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		p.reject(w, r, "", http.StatusBadRequest, "Error reading body: "+err.Error(), nil)
		return
	}
	if len(body) > maxBody {
		p.reject(w, r, "", http.StatusRequestEntityTooLarge, "Payload larger than 1 MiB", nil)
		return
	}
	v, verr := p.verify(r.Context(), r, body, true)
	if verr != nil {
		keyID := ""
		if v != nil {
			keyID = v.keyID
		}
		p.reject(w, r, keyID, verr.status, verr.reason, body)
		return
	}
	p.handleActivity(v.activity, v.owner)
	w.WriteHeader(http.StatusAccepted)
}

func (p *Peer) reject(w http.ResponseWriter, r *http.Request, keyID string, status int, reason string, body []byte) {
	p.mu.Lock()
	p.rejections = append(p.rejections, Rejection{
		Time: time.Now(), Method: r.Method, Path: r.URL.Path, KeyID: keyID,
		Status: status, Reason: reason, Body: body,
	})
	p.notifyLocked()
	p.mu.Unlock()
	// Mastodon renders the reason as {"error": "..."}.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": reason})
}

// handleActivity records an accepted activity and plays an unlocked Mastodon
// account: it accepts every Follow of alice at once and keeps the follower
// list the way Mastodon's Follow, Undo, Accept and Reject handlers do.
func (p *Peer) handleActivity(act, owner map[string]any) {
	actor := idOf(act["actor"])
	p.mu.Lock()
	p.received = append(p.received, cloneMap(act))
	var accept map[string]any
	var acceptInbox string
	switch {
	case hasType(act, "Follow") && idOf(act["object"]) == p.ActorID():
		inbox, _ := owner["inbox"].(string)
		shared := ""
		if ep, ok := owner["endpoints"].(map[string]any); ok {
			shared, _ = ep["sharedInbox"].(string)
		}
		p.followers[actor] = follower{followID: idOf(act), inbox: inbox, sharedInbox: shared}
		p.seq++
		accept = map[string]any{
			"@context": ASContext,
			"id":       p.ActorID() + "#accepts/follows/" + strconv.Itoa(p.seq),
			"type":     "Accept",
			"actor":    p.ActorID(),
			"object": map[string]any{
				"id":     idOf(act),
				"type":   "Follow",
				"actor":  actor,
				"object": p.ActorID(),
			},
		}
		acceptInbox = inbox
	case hasType(act, "Undo"):
		inner, _ := act["object"].(map[string]any)
		f, ok := p.followers[actor]
		switch {
		case inner != nil && hasType(inner, "Follow") && idOf(inner["actor"]) == actor && idOf(inner["object"]) == p.ActorID():
			delete(p.followers, actor)
		case ok && idOf(act["object"]) == f.followID:
			delete(p.followers, actor)
		}
	case hasType(act, "Flag"):
		p.takeFlagLocked(act)
	case hasType(act, "Accept") || hasType(act, "Reject"):
		if f := p.matchFollowLocked(act); f != nil {
			if hasType(act, "Accept") {
				f.status = FollowAccepted
			} else {
				f.status = FollowRejected
			}
			f.answer = cloneMap(act)
		}
	}
	p.notifyLocked()
	p.mu.Unlock()
	if accept != nil {
		p.deliverAsync(acceptInbox, accept)
	}
}

// matchFollowLocked finds our Follow an Accept or Reject answers. Like
// Mastodon it matches by the Follow's id first and, for an embedded Follow with
// an unknown id, by the pair (alice, accepting actor); either way the answer
// must come from the actor alice asked to follow.
func (p *Peer) matchFollowLocked(act map[string]any) *outFollow {
	actor := idOf(act["actor"])
	objID := idOf(act["object"])
	for _, f := range p.follows {
		if f.id == objID && f.target == actor {
			return f
		}
	}
	inner, _ := act["object"].(map[string]any)
	if inner == nil || !hasType(inner, "Follow") || idOf(inner["actor"]) != p.ActorID() || idOf(inner["object"]) != actor {
		return nil
	}
	for i := len(p.follows) - 1; i >= 0; i-- {
		if f := p.follows[i]; f.target == actor && f.status == FollowPending {
			return f
		}
	}
	return nil
}

func (p *Peer) deliverAsync(inbox string, act map[string]any) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.Send(p.ctx, inbox, act); err != nil {
			p.mu.Lock()
			p.deliveries = append(p.deliveries, err)
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
}

func (p *Peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Received returns copies of all activities the peer accepted, in order.
func (p *Peer) Received() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]map[string]any, len(p.received))
	for i, a := range p.received {
		out[i] = cloneMap(a)
	}
	return out
}

// Rejections returns all refused requests, in order.
func (p *Peer) Rejections() []Rejection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Rejection(nil), p.rejections...)
}

// Fetches returns the GETs of the peer's documents, in order.
func (p *Peer) Fetches() []Fetch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Fetch(nil), p.fetches...)
}

// DeliveryErrors returns errors of the peer's own background deliveries
// (the Accepts it sends for incoming Follows).
func (p *Peer) DeliveryErrors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.deliveries...)
}

// Followers returns the ids of the actors following alice.
func (p *Peer) Followers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.followers))
	for id := range p.followers {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// FollowStatus says where a Follow sent by Follow stands.
func (p *Peer) FollowStatus(followID string) FollowStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.follows {
		if f.id == followID {
			return f.status
		}
	}
	return FollowUnknown
}

// WaitFor waits for the next accepted activity of type typ that an earlier
// WaitFor has not returned yet, so successive calls walk through successive
// activities of one type. It fails the test after timeout, listing what did
// arrive and what was refused, which is usually the whole diagnosis.
func (p *Peer) WaitFor(t testing.TB, typ string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := p.cursor[typ]; i < len(p.received); i++ {
			if hasType(p.received[i], typ) {
				p.cursor[typ] = i + 1
				a := cloneMap(p.received[i])
				p.mu.Unlock()
				return a
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("mastopeer %s: no %s within %v; %s", p.host, typ, timeout, p.summary())
			return nil
		}
	}
}

// WaitRejection waits for the next refused request that an earlier
// WaitRejection has not returned, for tests that expect the server under test
// to send something Mastodon refuses.
func (p *Peer) WaitRejection(t testing.TB, timeout time.Duration) Rejection {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		if p.rejCursor < len(p.rejections) {
			r := p.rejections[p.rejCursor]
			p.rejCursor++
			p.mu.Unlock()
			return r
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("mastopeer %s: no rejection within %v; %s", p.host, timeout, p.summary())
			return Rejection{}
		}
	}
}

// FollowAccepted follows target (as Follow does) and waits until the Follow is accepted
// (as WaitAccepted does), failing the test otherwise.
func (p *Peer) FollowAccepted(t testing.TB, ctx context.Context, target string, timeout time.Duration) {
	t.Helper()
	follow, err := p.Follow(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	p.WaitAccepted(t, follow, timeout)
}

// WaitAccepted waits until the Follow followID has been accepted and returns
// the Accept. It fails the test if the Follow was rejected or nothing came.
func (p *Peer) WaitAccepted(t testing.TB, followID string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for _, f := range p.follows {
			if f.id != followID {
				continue
			}
			switch f.status {
			case FollowAccepted:
				a := cloneMap(f.answer)
				p.mu.Unlock()
				return a
			case FollowRejected:
				p.mu.Unlock()
				t.Fatalf("mastopeer %s: follow %s was rejected", p.host, followID)
				return nil
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("mastopeer %s: follow %s not accepted within %v; %s", p.host, followID, timeout, p.summary())
			return nil
		}
	}
}

func (p *Peer) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var types []string
	for _, a := range p.received {
		types = append(types, fmt.Sprint(a["type"]))
	}
	var reasons []string
	for _, r := range p.rejections {
		reasons = append(reasons, fmt.Sprintf("%d %s %s: %s", r.Status, r.Method, r.Path, r.Reason))
	}
	var derrs []string
	for _, e := range p.deliveries {
		derrs = append(derrs, e.Error())
	}
	return fmt.Sprintf("received %v; rejected %q; delivery errors %q", types, reasons, derrs)
}

// Follow resolves actorURL the way Mastodon resolves an account before
// following it (fetch plus WebFinger round trip), then delivers a Follow from
// alice to the actor's own inbox: Mastodon never sends Follows to a shared
// inbox. The returned id is the Follow's id, Mastodon style (a UUID URL).
func (p *Peer) Follow(ctx context.Context, actorURL string) (string, error) {
	actor, err := p.Lookup(ctx, actorURL)
	if err != nil {
		return "", err
	}
	inbox, _ := actor["inbox"].(string)
	if inbox == "" {
		return "", fmt.Errorf("actor %s has no inbox", actorURL)
	}
	target := idOf(actor)
	id := p.base + "/" + newUUID()
	act := map[string]any{
		"@context": ASContext,
		"id":       id,
		"type":     "Follow",
		"actor":    p.ActorID(),
		"object":   target,
	}
	p.mu.Lock()
	p.follows = append(p.follows, &outFollow{id: id, target: target, inbox: inbox, activity: cloneMap(act), status: FollowPending})
	p.mu.Unlock()
	if err := p.Send(ctx, inbox, act); err != nil {
		return id, err
	}
	return id, nil
}

// Unfollow sends Undo{Follow} for alice's latest Follow of actorURL, with the
// Follow embedded as Mastodon's UndoFollowSerializer does.
func (p *Peer) Unfollow(ctx context.Context, actorURL string) error {
	p.mu.Lock()
	var f *outFollow
	for i := len(p.follows) - 1; i >= 0; i-- {
		if p.follows[i].target == actorURL && p.follows[i].status != FollowUndone {
			f = p.follows[i]
			break
		}
	}
	if f == nil {
		p.mu.Unlock()
		return fmt.Errorf("alice does not follow %s", actorURL)
	}
	p.seq++
	inner := cloneMap(f.activity)
	delete(inner, "@context")
	act := map[string]any{
		"@context": ASContext,
		"id":       p.ActorID() + "#follows/" + strconv.Itoa(p.seq) + "/undo",
		"type":     "Undo",
		"actor":    p.ActorID(),
		"object":   inner,
	}
	inbox := f.inbox
	p.mu.Unlock()
	if err := p.Send(ctx, inbox, act); err != nil {
		return err
	}
	p.mu.Lock()
	f.status = FollowUndone
	p.notifyLocked()
	p.mu.Unlock()
	return nil
}

// Publish posts object (a Note or Question; missing fields are filled in
// Mastodon style) as a public status of alice: it is served at its id and
// Create{object} goes to every follower, once per shared inbox, as Mastodon
// delivers public posts.
func (p *Peer) Publish(ctx context.Context, object map[string]any) (map[string]any, error) {
	p.mu.Lock()
	p.seq++
	n := strconv.Itoa(p.seq)
	p.mu.Unlock()
	obj := cloneMap(object)
	id := p.ActorID() + "/statuses/" + n
	now := time.Now().UTC().Format(time.RFC3339)
	defaults := map[string]any{
		"id":           id,
		"type":         "Note",
		"attributedTo": p.ActorID(),
		"published":    now,
		"url":          p.base + "/@" + username + "/" + n,
		"to":           []any{Public},
		"cc":           []any{p.ActorID() + "/followers"},
		"sensitive":    false,
		"tag":          []any{},
		"attachment":   []any{},
	}
	for k, v := range defaults {
		if _, ok := obj[k]; !ok {
			obj[k] = v
		}
	}
	delete(obj, "@context")
	id = idOf(obj)
	doc := cloneMap(obj)
	doc["@context"] = []any{ASContext, map[string]any{"sensitive": "as:sensitive", "toot": "http://joinmastodon.org/ns#", "votersCount": "toot:votersCount"}}
	if u, err := url.Parse(id); err == nil && strings.EqualFold(u.Host, p.host) {
		p.PutDocument(u.Path, doc)
	}
	act := map[string]any{
		"@context":  doc["@context"],
		"id":        id + "/activity",
		"type":      "Create",
		"actor":     p.ActorID(),
		"published": obj["published"],
		"to":        obj["to"],
		"cc":        obj["cc"],
		"object":    obj,
	}
	p.mu.Lock()
	seen := map[string]bool{}
	var inboxes []string
	for _, f := range p.followers {
		inbox := f.sharedInbox
		if inbox == "" {
			inbox = f.inbox
		}
		if inbox != "" && !seen[inbox] {
			seen[inbox] = true
			inboxes = append(inboxes, inbox)
		}
	}
	p.mu.Unlock()
	sort.Strings(inboxes)
	var errs []error
	for _, inbox := range inboxes {
		if err := p.Send(ctx, inbox, act); err != nil {
			errs = append(errs, err)
		}
	}
	return act, errors.Join(errs...)
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	json.NewEncoder(w).Encode(v)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// idOf is Mastodon's value_or_id: a string, or the id of an object.
func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["id"].(string)
		return s
	}
	return ""
}

// hasType reports whether doc's type is typ or, as JSON-LD allows, an array
// containing typ.
func hasType(doc map[string]any, typ string) bool {
	switch t := doc["type"].(type) {
	case string:
		return t == typ
	case []any:
		for _, x := range t {
			if x == typ {
				return true
			}
		}
	}
	return false
}

func isActor(doc map[string]any) bool {
	for _, t := range actorTypes {
		if hasType(doc, t) {
			return true
		}
	}
	return false
}

// supportedContext is Mastodon's supported_context?: the ActivityStreams
// context, alone or in an array. Documents without it are ignored there.
func supportedContext(doc map[string]any) bool {
	switch c := doc["@context"].(type) {
	case string:
		return c == ASContext
	case []any:
		for _, x := range c {
			if x == ASContext {
				return true
			}
		}
	}
	return false
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return cloneValue(m).(map[string]any)
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
