// Package gtspeer is a test peer that behaves like GoToSocial v0.19 where that matters to
// Weltgewebe: how it publishes and resolves keys, how it signs, which requests it refuses and
// which activities it takes and silently drops, how it votes in polls and how it shows a
// Question. It is written from GoToSocial's source (docs/FEDERATION.md and the research notes
// name the files), shares nothing with our own signing code, and copies nothing.
//
// A test starts a Peer on a loopback address. It serves one local account (vera) over https
// only, with a certificate of a test CA (internal/testrig/testca), as GoToSocial looks
// accounts up over https only:
//
//   - GET /users/vera/main-key answers, unsigned, a cut-down actor whose publicKey holds
//     the key's owner (no top-level owner);
//   - the actor, its statuses and collections answer signed GETs only (401 otherwise);
//   - POST /users/vera/inbox verifies the signature as GoToSocial does (the key document is
//     fetched, the owner fetched and WebFingered over https, the same key required) and
//     answers 401 for a missing or bad signature, 500 when the key or its owner cannot be
//     fetched, 202 for everything else, also for what it then drops.
//
// What a test observes: the activities received (and those dropped, with GoToSocial's
// reason), the requests refused, and how a status would be shown to vera (Status: content
// warning, edited, poll options and counts).
package gtspeer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
)

const (
	// ASContext is the ActivityStreams context.
	ASContext = "https://www.w3.org/ns/activitystreams"
	// Public is the magic collection that makes a post public.
	Public = "https://www.w3.org/ns/activitystreams#Public"

	// GoToSocial's Accept for ActivityPub GETs (internal/transport/dereference.go).
	apAccept = `application/ld+json; profile="https://www.w3.org/ns/activitystreams",application/activity+json`
	// GoToSocial's Content-Type for deliveries (internal/transport/deliver.go).
	postContentType = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
	activityJSON    = "application/activity+json"
	maxBody         = 1 << 20
	username        = "vera"
	userAgent       = "gotosocial/0.19.2 (+%s)"
)

// errUnsigned is GoToSocial's text for a request without a usable signature
// (internal/federation/authenticate.go).
const errUnsigned = "http request wasn't signed or http signature was invalid"

// Received is one activity the inbox answered 202, dropped or not.
type Received struct {
	Time     time.Time
	Signer   string // the actor whose key signed the delivery
	Activity map[string]any
}

// Drop is an activity answered 202 and then not acted on, with why (GoToSocial logs these
// and tells the sender nothing).
type Drop struct {
	ActivityID string
	Type       string
	Reason     string
}

// Rejection is a request the peer refused, with GoToSocial's status.
type Rejection struct {
	Time   time.Time
	Method string
	Path   string
	KeyID  string
	Status int
	Reason string
}

// Fetch is a GET of one of vera's documents, authenticated or not.
type Fetch struct {
	Path   string
	KeyID  string
	Status int
	Reason string
}

// account is a remote account the peer knows: dereferenced, WebFingered, its key checked.
type account struct {
	uri, username, inbox, sharedInbox string
	displayName                       string // as GoToSocial shows it (see displayName)
	keyID                             string
	key                               *rsa.PublicKey
}

// deliveryInbox is GoToSocial's InboxesForIRI: the shared inbox when it is on the account's
// own domain, else the account's inbox.
func (a *account) deliveryInbox() string {
	if a.sharedInbox != "" && hostOf(a.sharedInbox) == hostOf(a.uri) {
		return a.sharedInbox
	}
	return a.inbox
}

// FollowState is where a Follow sent by vera stands.
type FollowState string

// The states of a Follow sent by vera. A Follow of a remote account is always pending until
// an Accept arrives, locked or not (internal/processing/account/follow.go).
const (
	FollowUnknown  FollowState = ""
	FollowPending  FollowState = "pending"
	FollowAccepted FollowState = "accepted"
	FollowRejected FollowState = "rejected"
	FollowUndone   FollowState = "undone"
)

type outFollow struct {
	id, target, inbox string
	activity          map[string]any
	state             FollowState
}

// Peer is a running GoToSocial stand-in with one local account, vera.
type Peer struct {
	host string // host:port
	base string // https://host:port
	key  *rsa.PrivateKey
	pem  string

	client *http.Client
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	changed    chan struct{}
	received   []Received
	drops      []Drop
	rejections []Rejection
	fetches    []Fetch
	accounts   map[string]*account // by actor URI
	byKeyID    map[string]*account // by the actor's publicKey.id, as GoToSocial looks keys up
	follows    []*outFollow
	followers  map[string]string  // actor URI → inbox, of those following vera
	statuses   map[string]*status // by URI: the remote statuses vera can see
	served     map[string]any     // path → vera's own statuses, served to signed GETs
	seen       map[string]bool    // activity ids handled (GoToSocial remembers 2048)
	cursor     map[string]int     // WaitFor's position per type
	dropCursor int
	rejCursor  int
	sendErrs   []error
	sent       []sentActivity // every activity vera sent, for Redeliver
	// derefs are the accounts being dereferenced right now, for GoToSocial's handshake.
	derefs map[string]int
	// keyStubDown makes /main-key answer 503, as a key server that is away for a moment.
	keyStubDown bool
	inst        mastopeer.InstanceKey // the instance account (report.go)
}

// Start starts a peer on host (a loopback address, e.g. "127.0.0.21") on a free port, serving
// https with a certificate of ca (testca.Shared when nil) and trusting ca only. It stops when
// the test ends.
func Start(t testing.TB, host string, ca *testca.CA) *Peer {
	t.Helper()
	if ca == nil {
		ca = testca.Shared(t)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("gtspeer: key: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("gtspeer: key: %v", err)
	}
	ln, err := ca.Listen(host)
	if err != nil {
		t.Fatalf("gtspeer: listen on %s: %v", host, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{
		host: ln.Addr().String(), key: key,
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		ctx: ctx, cancel: cancel, changed: make(chan struct{}),
		accounts: map[string]*account{}, byKeyID: map[string]*account{}, followers: map[string]string{},
		statuses: map[string]*status{}, served: map[string]any{}, seen: map[string]bool{}, cursor: map[string]int{}, derefs: map[string]int{},
	}
	p.base = "https://" + p.host
	p.client = &http.Client{
		Transport: ca.Transport(),
		// A safety net, not GoToSocial's 30 s: the server under test may be slow on a busy
		// machine.
		Timeout: time.Minute,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
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

// SetKeyStubDown makes vera's key document (/main-key) answer 503 while down is true, so a
// test can show that a receiver that knows vera's key does not need it.
func (p *Peer) SetKeyStubDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keyStubDown = down
}

func (p *Peer) isKeyStubDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keyStubDown
}

// Host is host:port, the domain of vera's handle.
func (p *Peer) Host() string { return p.host }

// BaseURL is https://host:port.
func (p *Peer) BaseURL() string { return p.base }

// ActorID is vera's actor URI.
func (p *Peer) ActorID() string { return p.base + "/users/" + username }

// KeyID is vera's keyId, GoToSocial style: no fragment, a document of its own.
func (p *Peer) KeyID() string { return p.ActorID() + "/main-key" }

// InboxURL is vera's inbox; GoToSocial advertises no shared inbox.
func (p *Peer) InboxURL() string { return p.ActorID() + "/inbox" }

// Handle is vera@host:port.
func (p *Peer) Handle() string { return username + "@" + p.host }

// PrivateKey is vera's key, for tests that forge requests with it.
func (p *Peer) PrivateKey() *rsa.PrivateKey { return p.key }

func (p *Peer) keyStub() map[string]any {
	return map[string]any{"id": p.KeyID(), "owner": p.ActorID(), "publicKeyPem": p.pem}
}

// minimalActor is AccountToASMinimal: what /main-key serves. Its id is the actor's, and the
// owner sits inside publicKey.
func (p *Peer) minimalActor() map[string]any {
	return map[string]any{
		"@context":          []any{ASContext, "https://w3id.org/security/v1"},
		"id":                p.ActorID(),
		"type":              "Person",
		"preferredUsername": username,
		"publicKey":         p.keyStub(),
	}
}

// actorDocument is AccountToAS, as far as it matters: no endpoints.sharedInbox.
func (p *Peer) actorDocument() map[string]any {
	a := p.minimalActor()
	id := p.ActorID()
	for k, v := range map[string]any{
		"inbox": id + "/inbox", "outbox": id + "/outbox", "followers": id + "/followers",
		"following": id + "/following", "featured": id + "/collections/featured",
		"url": p.base + "/@" + username, "name": "Vera", "summary": "<p>A GoToSocial stand-in.</p>",
		"manuallyApprovesFollowers": false, "discoverable": true, "published": "2024-01-01T00:00:00Z",
	} {
		a[k] = v
	}
	return a
}

func (p *Peer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	actorPath := "/users/" + username
	switch {
	case r.Method == http.MethodPost && r.URL.Path == actorPath+"/inbox":
		p.serveInbox(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case r.URL.Path == "/.well-known/webfinger":
		p.serveWebfinger(w, r)
	case r.URL.Path == actorPath+"/main-key" && p.isKeyStubDown():
		http.Error(w, "key server away for a moment", http.StatusServiceUnavailable)
	case r.URL.Path == p.instancePath()+"/main-key":
		writeJSON(w, activityJSON, p.instanceMinimal())
	case r.URL.Path == actorPath+"/main-key":
		// Unsigned is fine: a key must be fetchable by whoever verifies a signature.
		w.Header().Set("Cache-Control", "public, max-age=604800")
		writeJSON(w, activityJSON, p.minimalActor())
	default:
		p.serveSigned(w, r)
	}
}

// serveSigned serves vera's actor, collections and statuses to signed requests only: GoToSocial
// has no setting that turns authorized fetch off.
func (p *Peer) serveSigned(w http.ResponseWriter, r *http.Request) {
	actorPath := "/users/" + username
	var doc any
	switch path := r.URL.Path; path {
	case actorPath:
		doc = p.actorDocument()
	case p.instancePath():
		doc = p.instanceActor()
	case actorPath + "/outbox", actorPath + "/following", actorPath + "/followers", actorPath + "/collections/featured":
		doc = map[string]any{"@context": ASContext, "id": p.base + path, "type": "OrderedCollection", "totalItems": 0}
	default:
		p.mu.Lock()
		doc = p.served[path]
		p.mu.Unlock()
	}
	if doc == nil {
		http.NotFound(w, r)
		return
	}
	keyID, aerr := p.authenticateGET(r)
	p.mu.Lock()
	f := Fetch{Path: r.URL.Path, KeyID: keyID, Status: http.StatusOK}
	if aerr != nil {
		f.Status, f.Reason = aerr.status, aerr.reason
	}
	p.fetches = append(p.fetches, f)
	p.notifyLocked()
	p.mu.Unlock()
	if aerr != nil {
		http.Error(w, aerr.reason, aerr.status)
		return
	}
	writeJSON(w, activityJSON, doc)
}

func (p *Peer) authenticateGET(r *http.Request) (string, *authErr) {
	_, keyID, aerr := p.authenticate(r.Context(), r)
	return keyID, aerr
}

// serveWebfinger answers as internal/processing/fedi/wellknown.go does.
func (p *Peer) serveWebfinger(w http.ResponseWriter, r *http.Request) {
	res := r.URL.Query().Get("resource")
	if res != p.ActorID() && !strings.EqualFold(res, "acct:"+p.Handle()) {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, "application/jrd+json", map[string]any{
		"subject": "acct:" + username + "@" + p.host,
		"aliases": []any{p.ActorID(), p.base + "/@" + username},
		"links": []any{
			map[string]any{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": p.base + "/@" + username},
			map[string]any{"rel": "self", "type": activityJSON, "href": p.ActorID()},
		},
	})
}

func (p *Peer) serveInbox(w http.ResponseWriter, r *http.Request) {
	// GoToSocial answers 406 to a delivery that is not ActivityStreams
	// (internal/api/util/mime.go): application/json is not enough.
	if !asContentType(r.Header.Get("Content-Type")) {
		p.reject(w, r, "", http.StatusNotAcceptable, "content type "+r.Header.Get("Content-Type")+" is not ActivityStreams")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		p.reject(w, r, "", http.StatusBadRequest, "body unreadable or too large")
		return
	}
	signer, keyID, aerr := p.authenticate(r.Context(), r)
	if aerr != nil {
		p.reject(w, r, keyID, aerr.status, aerr.reason)
		return
	}
	var act map[string]any
	if err := json.Unmarshal(body, &act); err != nil || act["type"] == nil || act["actor"] == nil {
		p.reject(w, r, keyID, http.StatusBadRequest, "body is not an activity")
		return
	}
	if mastopeer.HasType(act, "Flag") {
		if status, reason := p.checkFlag(signer, act); status != 0 {
			p.reject(w, r, keyID, status, reason)
			return
		}
	}
	p.mu.Lock()
	p.received = append(p.received, Received{Time: time.Now(), Signer: signer.uri, Activity: mastopeer.CloneMap(act)})
	p.notifyLocked()
	p.mu.Unlock()
	// Processing is asynchronous in GoToSocial; here it runs before the answer so that a test
	// waiting for the answer sees its effect. What is dropped is still answered 202.
	p.handle(r.Context(), signer, act)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"Accepted"}`)
}

func (p *Peer) reject(w http.ResponseWriter, r *http.Request, keyID string, status int, reason string) {
	p.mu.Lock()
	p.rejections = append(p.rejections, Rejection{Time: time.Now(), Method: r.Method, Path: r.URL.Path, KeyID: keyID, Status: status, Reason: reason})
	p.notifyLocked()
	p.mu.Unlock()
	http.Error(w, reason, status)
}

func (p *Peer) drop(act map[string]any, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drops = append(p.drops, Drop{ActivityID: idOf(act), Type: typeOf(act), Reason: reason})
	p.notifyLocked()
}

func (p *Peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// waitLocked waits until cond (called with p.mu held) returns true, or fails the test after
// timeout with what the peer saw.
func (p *Peer) wait(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		if cond() {
			p.mu.Unlock()
			return
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("gtspeer %s: %s not within %v; %s", p.host, what, timeout, p.summary())
		}
	}
}

func (p *Peer) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var got, rej, drops, errs []string
	for _, r := range p.received {
		got = append(got, typeOf(r.Activity))
	}
	for _, r := range p.rejections {
		rej = append(rej, fmt.Sprintf("%d %s %s (key %s): %s", r.Status, r.Method, r.Path, r.KeyID, r.Reason))
	}
	for _, d := range p.drops {
		drops = append(drops, d.Type+" "+d.ActivityID+": "+d.Reason)
	}
	for _, e := range p.sendErrs {
		errs = append(errs, e.Error())
	}
	return fmt.Sprintf("received %v; refused %q; dropped %q; send errors %q", got, rej, drops, errs)
}

// Received returns the activities the inbox answered 202, in order.
func (p *Peer) Received() []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Received, len(p.received))
	for i, r := range p.received {
		out[i] = r
		out[i].Activity = mastopeer.CloneMap(r.Activity)
	}
	return out
}

// Drops returns the activities answered 202 and then dropped, in order.
func (p *Peer) Drops() []Drop {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.drops)
}

// Rejections returns the refused requests, in order.
func (p *Peer) Rejections() []Rejection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.rejections)
}

// Fetches returns the GETs of vera's signed-only documents, in order.
func (p *Peer) Fetches() []Fetch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.fetches)
}

// SendErrors are the errors of the peer's own background deliveries (Accepts of Follows).
func (p *Peer) SendErrors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sendErrs)
}

// Followers are the actors following vera.
func (p *Peer) Followers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for a := range p.followers {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// WaitFor waits for the next received activity of type typ an earlier WaitFor has not
// returned, and returns it.
func (p *Peer) WaitFor(t testing.TB, typ string, timeout time.Duration) map[string]any {
	t.Helper()
	var got map[string]any
	p.wait(t, "a "+typ, timeout, func() bool {
		for i := p.cursor[typ]; i < len(p.received); i++ {
			if mastopeer.HasType(p.received[i].Activity, typ) {
				p.cursor[typ] = i + 1
				got = mastopeer.CloneMap(p.received[i].Activity)
				return true
			}
		}
		return false
	})
	return got
}

// WaitDrop waits for the next dropped activity an earlier WaitDrop has not returned.
func (p *Peer) WaitDrop(t testing.TB, timeout time.Duration) Drop {
	t.Helper()
	var d Drop
	p.wait(t, "a dropped activity", timeout, func() bool {
		if p.dropCursor < len(p.drops) {
			d = p.drops[p.dropCursor]
			p.dropCursor++
			return true
		}
		return false
	})
	return d
}

// WaitRejection waits for the next refused request an earlier WaitRejection has not returned.
func (p *Peer) WaitRejection(t testing.TB, timeout time.Duration) Rejection {
	t.Helper()
	var rej Rejection
	p.wait(t, "a refused request", timeout, func() bool {
		if p.rejCursor < len(p.rejections) {
			rej = p.rejections[p.rejCursor]
			p.rejCursor++
			return true
		}
		return false
	})
	return rej
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	json.NewEncoder(w).Encode(v)
}

// asContentType is GoToSocial's ASContentType: activity+json, or ld+json with the
// ActivityStreams profile; a charset only if it is utf-8.
func asContentType(ct string) bool {
	parts := strings.Split(ct, ";")
	media := strings.ToLower(strings.TrimSpace(parts[0]))
	profile := false
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		v = strings.Trim(v, `"`)
		switch strings.ToLower(k) {
		case "charset":
			if !strings.EqualFold(v, "utf-8") {
				return false
			}
		case "profile":
			profile = v == ASContext
		}
	}
	return media == activityJSON || media == "application/ld+json" && profile
}

func hostOf(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	return strings.ToLower(rest)
}

func idOf(v any) string { return mastopeer.IDOf(v) }

func typeOf(doc map[string]any) string {
	switch t := doc["type"].(type) {
	case string:
		return t
	case []any:
		var s []string
		for _, x := range t {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, ",")
	}
	return ""
}
