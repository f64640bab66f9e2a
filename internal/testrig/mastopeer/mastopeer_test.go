package mastopeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// patience bounds every wait for a peer to receive or refuse something: a safety net for a
// busy machine, not a pace the test depends on.
const patience = time.Minute

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	t.Cleanup(cancel)
	return ctx
}

func noTrouble(t *testing.T, peers ...*Peer) {
	t.Helper()
	for _, p := range peers {
		for _, r := range p.Rejections() {
			t.Errorf("%s refused %s %s: %s", p.Host(), r.Method, r.Path, r.Reason)
		}
		for _, e := range p.DeliveryErrors() {
			t.Errorf("%s delivery: %v", p.Host(), e)
		}
	}
}

// Two instances on different loopback addresses befriend each other and talk
// both ways; every request on the way is signed and verified, every actor is
// resolved with the WebFinger round trip.
func TestFollowAndDeliverBothWays(t *testing.T) {
	a := Start(t, "127.0.0.9")
	b := Start(t, "127.0.0.10")
	ctx := testCtx(t)

	for _, handle := range []string{b.Handle(), "@" + b.Handle(), "acct:" + b.Handle(), b.ActorID()} {
		actor, err := a.Lookup(ctx, handle)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", handle, err)
		}
		if idOf(actor) != b.ActorID() {
			t.Fatalf("Lookup(%s) = %s, want %s", handle, idOf(actor), b.ActorID())
		}
	}

	ab, err := a.Follow(ctx, b.ActorID())
	if err != nil {
		t.Fatal(err)
	}
	accept := a.WaitAccepted(t, ab, patience)
	if idOf(accept["object"]) != ab || idOf(accept["actor"]) != b.ActorID() {
		t.Fatalf("Accept does not answer %s: %v", ab, accept)
	}
	ba, err := b.Follow(ctx, a.ActorID())
	if err != nil {
		t.Fatal(err)
	}
	b.WaitAccepted(t, ba, patience)
	if got := a.Followers(); !slices.Equal(got, []string{b.ActorID()}) {
		t.Fatalf("followers of a = %v", got)
	}
	if got := b.Followers(); !slices.Equal(got, []string{a.ActorID()}) {
		t.Fatalf("followers of b = %v", got)
	}

	if _, err := a.Publish(ctx, map[string]any{"content": "<p>Hallo von A</p>"}); err != nil {
		t.Fatal(err)
	}
	create := b.WaitFor(t, "Create", patience)
	obj, _ := create["object"].(map[string]any)
	if obj["content"] != "<p>Hallo von A</p>" || idOf(obj["attributedTo"]) != a.ActorID() {
		t.Fatalf("b got %v", create)
	}
	if _, err := b.Publish(ctx, map[string]any{"content": "<p>Hallo von B</p>", "inReplyTo": idOf(obj)}); err != nil {
		t.Fatal(err)
	}
	reply := a.WaitFor(t, "Create", patience)
	robj, _ := reply["object"].(map[string]any)
	if robj["content"] != "<p>Hallo von B</p>" || robj["inReplyTo"] != idOf(obj) {
		t.Fatalf("a got %v", reply)
	}
	// The published note can be fetched at its id, as a reply's parent is.
	if _, err := b.getJSON(ctx, idOf(obj), true); err != nil {
		t.Fatalf("fetch published note: %v", err)
	}

	if err := a.Unfollow(ctx, b.ActorID()); err != nil {
		t.Fatal(err)
	}
	undo := b.WaitFor(t, "Undo", patience)
	if inner, _ := undo["object"].(map[string]any); idOf(inner) != ab {
		t.Fatalf("Undo does not embed the Follow %s: %v", ab, undo)
	}
	if got := b.Followers(); len(got) != 0 {
		t.Fatalf("b still has followers %v", got)
	}
	if s := a.FollowStatus(ab); s != FollowUndone {
		t.Fatalf("follow status %q", s)
	}

	signed := false
	for _, f := range b.Fetches() {
		if f.Path == "/users/alice" && f.Signed {
			if !f.Verified {
				t.Errorf("b could not verify a signed fetch: %s", f.Reason)
			}
			signed = true
		}
	}
	if !signed {
		t.Error("a never fetched b's actor with a signed GET")
	}
	noTrouble(t, a, b)
}

func createNote(actor, text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"@context": ASContext,
		"id":       actor + "/statuses/1/activity",
		"type":     "Create",
		"actor":    actor,
		"to":       []any{Public},
		"object": map[string]any{
			"id":           actor + "/statuses/1",
			"type":         "Note",
			"attributedTo": actor,
			"to":           []any{Public},
			"content":      "<p>" + text + "</p>",
		},
	})
	return b
}

func newKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Each way of getting a delivery wrong is refused with 401 and Mastodon's
// words, and nothing of it reaches Received.
func TestInboxRejections(t *testing.T) {
	a := Start(t, "127.0.0.9")
	b := Start(t, "127.0.0.10")
	c := Start(t, "127.0.0.11")
	ctx := testCtx(t)

	// carol lives on c, but her key document lives on a, and both point at
	// each other: ownership is consistent, only the hosts differ.
	carolKey, carolPEM := newKey(t)
	carolID := c.BaseURL() + "/users/carol"
	carolKeyID := a.BaseURL() + "/keys/carol"
	c.PutDocument("/users/carol", map[string]any{
		"@context": []any{ASContext, "https://w3id.org/security/v1"},
		"id":       carolID, "type": "Person", "preferredUsername": "carol",
		"inbox":     carolID + "/inbox",
		"publicKey": map[string]any{"id": carolKeyID, "owner": carolID, "publicKeyPem": carolPEM},
	})
	a.PutDocument("/keys/carol", map[string]any{
		"@context": []any{ASContext, "https://w3id.org/security/v1"},
		"id":       carolKeyID, "owner": carolID, "publicKeyPem": carolPEM,
	})

	hello := createNote(a.ActorID(), "Hallo")
	cases := []struct {
		name string
		body []byte
		opt  SignOptions
		want string
	}{
		{"tampered body", hello, SignOptions{Tamper: func(b []byte) []byte { return bytes.Replace(b, []byte("Hallo"), []byte("Hallö"), 1) }},
			"Invalid Digest value. Computed SHA-256 digest: "},
		{"stale date", hello, SignOptions{Date: time.Now().Add(-2 * time.Hour)},
			"Signed request date outside acceptable time window"},
		{"date 66 minutes old", hello, SignOptions{Date: time.Now().Add(-66 * time.Minute)},
			"Signed request date outside acceptable time window"},
		{"date from the future", hello, SignOptions{Date: time.Now().Add(61 * time.Minute)},
			"Signed request date outside acceptable time window"},
		{"missing digest", hello, SignOptions{OmitDigest: true},
			"Mastodon requires the Digest header to be signed when doing a POST request"},
		{"request-target not signed", hello, SignOptions{Headers: []string{"host", "date", "digest", "content-type"}},
			"mastopeer requires (request-target), host, date, digest to be signed; missing: (request-target)"},
		{"unsupported algorithm", hello, SignOptions{Algorithm: "rsa-sha512"},
			"Unsupported signature algorithm (only rsa-sha256 and hs2019 are supported)"},
		{"key owned by a different actor", createNote(c.ActorID(), "Ich bin C"), SignOptions{},
			"Key " + a.KeyID() + " is owned by " + a.ActorID() + ", which does not match activity actor " + c.ActorID()},
		{"someone else's keyId", createNote(c.ActorID(), "Ich bin C"), SignOptions{KeyID: c.KeyID()},
			"Verification failed for alice@" + c.Host() + " " + c.ActorID() + " " + c.KeyID()},
		{"key on another host than its actor", createNote(carolID, "Ich bin Carol"), SignOptions{KeyID: carolKeyID, Key: carolKey},
			"Key host " + a.Host() + " does not match actor host " + c.Host()},
		{"key that does not exist", hello, SignOptions{KeyID: a.BaseURL() + "/keys/none"},
			"Unable to fetch key JSON at " + a.BaseURL() + "/keys/none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := a.Deliver(ctx, b.InboxURL(), tc.body, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d, body %s", status, body)
			}
			rej := b.WaitRejection(t, patience)
			if !strings.Contains(rej.Reason, tc.want) {
				t.Fatalf("reason %q, want it to contain %q", rej.Reason, tc.want)
			}
			var answer map[string]string
			if json.Unmarshal(body, &answer) != nil || answer["error"] != rej.Reason {
				t.Fatalf("answer %s does not carry the reason", body)
			}
		})
	}

	resp, err := http.Post(b.SharedInboxURL(), activityJSON, bytes.NewReader(hello))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rej := b.WaitRejection(t, patience); resp.StatusCode != 401 || rej.Reason != "Request not signed" {
		t.Fatalf("unsigned POST: %d %q", resp.StatusCode, rej.Reason)
	}
	if got := b.Received(); len(got) != 0 {
		t.Fatalf("refused requests reached Received: %v", got)
	}

	// The same delivery, signed properly, goes through.
	status, body, err := a.Deliver(ctx, b.SharedInboxURL(), hello, SignOptions{})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("good delivery: %d %s %v", status, body, err)
	}
	b.WaitFor(t, "Create", patience)
}

// GoToSocial signs with hs2019 and a keyId without fragment whose URL serves
// only a stub of the actor; the full actor is fetched from the stub's id.
func TestGoToSocialStyleKey(t *testing.T) {
	a := Start(t, "127.0.0.9")
	b := Start(t, "127.0.0.10")
	g := Start(t, "127.0.0.12")
	ctx := testCtx(t)

	key, keyPEM := newKey(t)
	bob := g.BaseURL() + "/users/bob"
	pub := map[string]any{"id": bob + "/main-key", "owner": bob, "publicKeyPem": keyPEM}
	g.PutDocument("/users/bob", map[string]any{
		"@context": []any{"https://w3id.org/security/v1", ASContext},
		"id":       bob, "type": "Person", "preferredUsername": "bob",
		"inbox": bob + "/inbox", "outbox": bob + "/outbox",
		"publicKey": pub,
	})
	g.PutDocument("/users/bob/main-key", map[string]any{
		"@context": []any{"https://w3id.org/security/v1", ASContext},
		"id":       bob, "type": "Person", "preferredUsername": "bob",
		"publicKey": pub,
	})
	status, body, err := a.Deliver(ctx, b.InboxURL(), createNote(bob, "Grüße von GoToSocial"), SignOptions{
		KeyID: bob + "/main-key", Key: key, Algorithm: "hs2019",
		Headers: []string{"(request-target)", "host", "date", "digest"},
	})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("%d %s %v", status, body, err)
	}
	if got := b.WaitFor(t, "Create", patience); idOf(got["actor"]) != bob {
		t.Fatalf("got %v", got)
	}
	noTrouble(t, a, b, g)
}

func TestLookupRefusesImpostors(t *testing.T) {
	a := Start(t, "127.0.0.9")
	c := Start(t, "127.0.0.11")
	ctx := testCtx(t)

	// mallory calls herself alice, but alice@c is someone else.
	mallory := c.BaseURL() + "/users/mallory"
	c.PutDocument("/users/mallory", map[string]any{
		"@context": ASContext, "id": mallory, "type": "Person", "preferredUsername": "alice", "inbox": mallory + "/inbox",
	})
	if _, err := a.Lookup(ctx, mallory); err == nil || !strings.Contains(err.Error(), "does not loop back to "+mallory) {
		t.Fatalf("impostor: %v", err)
	}
	// An actor nobody can WebFinger.
	ghost := c.BaseURL() + "/users/ghost"
	c.PutDocument("/users/ghost", map[string]any{
		"@context": ASContext, "id": ghost, "type": "Person", "preferredUsername": "ghost", "inbox": ghost + "/inbox",
	})
	// Registering the ghost under its name would make it resolvable; take it
	// out again to play a server without WebFinger.
	c.mu.Lock()
	delete(c.accounts, "ghost")
	c.mu.Unlock()
	if _, err := a.Lookup(ctx, ghost); err == nil || !strings.Contains(err.Error(), "Webfinger error when resolving ghost@") {
		t.Fatalf("no webfinger: %v", err)
	}
	// No preferredUsername.
	anon := c.BaseURL() + "/users/anon"
	c.PutDocument("/users/anon", map[string]any{"@context": ASContext, "id": anon, "type": "Person", "inbox": anon + "/inbox"})
	if _, err := a.Lookup(ctx, anon); err == nil || !strings.Contains(err.Error(), "has no 'preferredUsername'") {
		t.Fatalf("anonymous: %v", err)
	}
	// Served at one URL, claiming to be another that does not exist.
	c.PutDocument("/users/elsewhere", map[string]any{
		"@context": ASContext, "id": c.BaseURL() + "/users/nowhere", "type": "Person", "preferredUsername": "nowhere",
	})
	if _, err := a.Lookup(ctx, c.BaseURL()+"/users/elsewhere"); err == nil || !strings.Contains(err.Error(), "Error fetching actor JSON at "+c.BaseURL()+"/users/nowhere") {
		t.Fatalf("wrong id: %v", err)
	}
	// Not an actor at all, and no ActivityStreams context.
	c.PutDocument("/notes/1", map[string]any{"@context": ASContext, "id": c.BaseURL() + "/notes/1", "type": "Note"})
	if _, err := a.Lookup(ctx, c.BaseURL()+"/notes/1"); err == nil || !strings.Contains(err.Error(), "Unexpected object type for actor") {
		t.Fatalf("note as actor: %v", err)
	}
	c.PutDocument("/users/nocontext", map[string]any{"id": c.BaseURL() + "/users/nocontext", "type": "Person", "preferredUsername": "nocontext"})
	if _, err := a.Lookup(ctx, c.BaseURL()+"/users/nocontext"); err == nil || !strings.Contains(err.Error(), "Unsupported JSON-LD context") {
		t.Fatalf("no context: %v", err)
	}
	if _, err := a.Lookup(ctx, "nobody@"+c.Host()); err == nil {
		t.Fatal("unknown handle resolved")
	}
}

// The window is Mastodon's, not the "12 hours" of its documentation: without
// an (expires) parameter a signature lives five minutes plus an hour of skew.
func TestWithinWindowMatchesMastodon(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	cases := []struct {
		name             string
		created, expires *time.Time
		want             bool
	}{
		{"now", at(0), nil, true},
		{"64 minutes old", at(-64 * time.Minute), nil, true},
		{"66 minutes old", at(-66 * time.Minute), nil, false},
		{"59 minutes ahead", at(59 * time.Minute), nil, true},
		{"61 minutes ahead", at(61 * time.Minute), nil, false},
		{"11h old, expires after 12h", at(-11 * time.Hour), at(time.Hour), true},
		{"12h30 old, expires after 12h", at(-12*time.Hour - 30*time.Minute), at(-30 * time.Minute), true},
		{"13h30 old, asks for 24h", at(-13*time.Hour - 30*time.Minute), at(10 * time.Hour), false},
		{"expired 61 minutes ago", at(-2 * time.Hour), at(-61 * time.Minute), false},
		{"no date at all", nil, nil, true},
	}
	for _, tc := range cases {
		if got := WithinWindow(now, tc.created, tc.expires); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseSignature(t *testing.T) {
	got, err := parseSignature(`Signature keyId="https://a.example/u#main-key" , algorithm=hs2019,headers="(request-target) host date",signature="ab\"c=="`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"keyId": "https://a.example/u#main-key", "algorithm": "hs2019", "headers": "(request-target) host date", "signature": `ab"c==`}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{``, `keyId`, `keyId="x`, `keyId="x" signature="y"`, `=x`} {
		if _, err := parseSignature(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

// The fixtures are ActivityStreams documents a Mastodon-rule peer would take
// (context, type, https ids on the example hosts) and each is described in
// the README.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("../../../federation/testdata/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	readme, err := os.ReadFile("../../../federation/testdata/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, "../../../federation/testdata/"))
		if strings.HasPrefix(rel, "wire/") {
			continue // our own wire golden (federation/wire_test.go), not activities of other servers
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Contains(readme, []byte(rel)) {
			t.Errorf("%s is not described in testdata/README.md", rel)
		}
		if !supportedContext(doc) {
			t.Errorf("%s: @context lacks %s", rel, ASContext)
		}
		if doc["type"] == nil {
			t.Errorf("%s: no type", rel)
		}
		host := "mastodon.example"
		if strings.HasPrefix(rel, "gotosocial/") {
			host = "gts.example"
		}
		if id := idOf(doc); id != "" && !strings.HasPrefix(id, "https://"+host+"/") {
			t.Errorf("%s: id %s is not on https://%s", rel, id, host)
		}
		if actor := idOf(doc["actor"]); actor != "" && !strings.HasPrefix(actor, "https://"+host+"/") {
			t.Errorf("%s: actor %s is not on https://%s", rel, actor, host)
		}
	}
}
