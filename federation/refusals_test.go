package federation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// capturedRequest is a delivery as it reached the server it was meant for.
type capturedRequest struct {
	method, path, host string
	header             http.Header
	body               []byte
}

// startCapture runs a server on host that takes every request with 202 and keeps it.
func startCapture(t *testing.T, host string) (string, func() []capturedRequest) {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []capturedRequest
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, capturedRequest{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), func() []capturedRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]capturedRequest(nil), got...)
	}
}

// errorCode reads the code of an error answer ({"error": {"code", "message"}}).
func errorCode(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error answer with a code and a message: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

// A signature is made for one server. Plagwitz's real delivery to a server that follows it,
// captured there and replayed to Lindenau with the Host it was signed for, is refused with
// 401 and stores nothing; so is a signed GET made for another server, with authorized fetch.
func TestSignedRequestsForAnotherHostAreRefused(t *testing.T) {
	t.Parallel()
	l := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau", AuthorizedFetch: true})
	p := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	captureURL, captured := startCapture(t, "127.0.0.15")
	// Someone on the capturing server follows Plagwitz; that server's shared inbox is at
	// /ap/inbox, as a neighbouring Ortsweberei's is, so the path is one Lindenau serves too.
	follower := captureURL + "/users/mallory"
	if _, err := p.Pool.Exec(context.Background(), `
INSERT INTO ap_actors (iri, host, type, inbox, shared_inbox, fetched_at) VALUES ($1, $2, 'Person', $1 || '/inbox', $3, now())`,
		follower, strings.TrimPrefix(captureURL, "http://"), captureURL+"/ap/inbox"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pool.Exec(context.Background(), `
INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $1 || '#follow', now())`, follower); err != nil {
		t.Fatal(err)
	}
	fileAntrag(t, p.VerifiedResident("Jana", lat, lon), map[string]string{"title": "Bücherschrank"})
	// The Ortsweberei's Announce (a Create from the Antrag's actor is not sent to a follower of
	// the Ortsweberei, whose server would drop it).
	waitFor(t, "Plagwitz's delivery to the capturing server", patience, func() bool { return len(captured()) >= 1 })

	t.Run("a delivery", func(t *testing.T) {
		for _, c := range captured() {
			if c.method != http.MethodPost || !strings.Contains(c.header.Get("Signature"), "host") {
				t.Fatalf("not a signed delivery: %+v", c)
			}
			before := federationRows(l)
			req, _ := http.NewRequest(c.method, l.URL+c.path, bytes.NewReader(c.body))
			req.Header = c.header.Clone()
			req.Host = c.host // as it was signed: the capturing server's
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a delivery replayed from %s: %d %s", c.host, res.StatusCode, body)
			}
			if code, _ := errorCode(t, body); code != "wrong_host" {
				t.Errorf("refused as %q, want wrong_host", code)
			}
			if after := federationRows(l); !maps.Equal(before, after) {
				t.Fatalf("a replayed delivery stored something: %v → %v", before, after)
			}
		}
	})

	// Authorized fetch: a GET signed for another server is no signed GET for us.
	t.Run("a signed GET", func(t *testing.T) {
		peer := mastopeer.Start(t, "127.0.0.9")
		jana := l.VerifiedResident("Jana", lat, lon)
		an := fileAntrag(t, jana, map[string]string{"title": "Bank"})
		get := func(host string) (int, []byte) {
			t.Helper()
			req, _ := http.NewRequest("GET", an.Fediverse.ID, nil)
			req.Header.Set("Accept", "application/activity+json")
			req.Host = host
			if err := httpsig.Sign(req, nil, peer.KeyID(), peer.PrivateKey(), time.Now()); err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		if code, body := get(strings.TrimPrefix(l.URL, "http://")); code != http.StatusOK {
			t.Fatalf("a GET signed for Lindenau: %d %s", code, body)
		}
		code, body := get(strings.TrimPrefix(p.URL, "http://"))
		if code != http.StatusUnauthorized {
			t.Fatalf("a GET signed for Plagwitz, sent to Lindenau: %d %s", code, body)
		}
		if c, _ := errorCode(t, body); c != "wrong_host" {
			t.Errorf("refused as %q, want wrong_host", c)
		}
	})
}

// An inbox that cannot get the signing key says so with a code and a fixed message: not
// what our fetch ran into (a refused connection, where a redirect led), which would let a
// sender probe our network through us. A refused connection is "not now" (503), a fetch the
// guard refuses a refusal (401).
func TestInboxErrorsTellNothingOfOurFetches(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	peer := mastopeer.Start(t, "127.0.0.9")
	// A server that sends every request on to a private address.
	redirector := startFake(t, "127.0.0.16", func(int, *http.Request) (int, http.Header) {
		return http.StatusFound, http.Header{"Location": {"http://10.255.255.1:8080/internal/admin"}}
	})
	closed, err := net.Listen("tcp", "127.0.0.17:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "http://" + closed.Addr().String() // nothing listens here once it is closed
	closed.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	// A key server that does not answer may be back in a moment: "not now" (503). One the SSRF
	// guard refuses, or that sends us to a private address, never will be: refused (401).
	for _, c := range []struct {
		actor  string
		status int
		code   string
	}{
		{nobody + "/users/x", http.StatusServiceUnavailable, "key_fetch_failed"},
		{redirector.URL + "/users/x", http.StatusUnauthorized, "key_unavailable"},
		{"http://10.255.255.1:8080/users/x", http.StatusUnauthorized, "key_unavailable"},
	} {
		actor := c.actor
		body, _ := json.Marshal(map[string]any{"@context": vocab.ActivityStreams, "id": actor + "/activities/1", "type": "Create", "actor": actor,
			"object": map[string]any{"id": actor + "/notes/1", "type": "Note", "attributedTo": actor, "content": "Hallo"}})
		before := federationRows(inst)
		code, res, err := peer.Deliver(ctx, inst.URL+"/ap/inbox", body, mastopeer.SignOptions{KeyID: actor + "#main-key", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if code != c.status {
			t.Fatalf("%s: %d %s, want %d", actor, code, res, c.status)
		}
		got, msg := errorCode(t, res)
		if got != c.code {
			t.Errorf("%s: answered %q, want %q", actor, got, c.code)
		}
		for _, leak := range []string{"refused", "10.255.255.1", "internal", "dial", "127.0.0.1", "redirect", "not allowed"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: the answer tells of our fetch (%q): %s", actor, leak, res)
			}
		}
		if after := federationRows(inst); !maps.Equal(before, after) {
			t.Fatalf("a refused request stored something: %v → %v", before, after)
		}
	}
}

// What the SSRF guard refuses is refused for good. An activity whose processing needs a
// fetch from a private address is done with, not retried: its job completes at the first
// attempt. A delivery to a follower whose inbox is at a private address is not retried
// either.
func TestGuardRefusalsAreFinal(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	// The peer is a neighbour we follow; what it announces is fetched from its origin.
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": mastopeer.ASContext, "id": peer.ActorID() + "/likes/1", "type": "Like",
		"actor": peer.ActorID(), "object": inst.URL + "/ap/ortsweberei"}); err != nil { // its actor is fetched and kept
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(ctx, `INSERT INTO ap_following (remote, follow_id, created_at, accepted) VALUES ($1, $2, now(), true)`,
		peer.ActorID(), inst.URL+"/ap/ortsweberei#follows/1"); err != nil {
		t.Fatal(err)
	}
	announce := peer.ActorID() + "/announces/1"
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": mastopeer.ASContext, "id": announce, "type": "Announce",
		"actor": peer.ActorID(), "object": "http://10.255.255.1/ap/antraege/x", "to": []string{mastopeer.Public}}); err != nil {
		t.Fatal(err)
	}
	expectSettledAtOnce(t, inst, announce)

	// A follower whose inbox is at a private address: the delivery job ends at once.
	for _, sql := range []string{
		`INSERT INTO ap_actors (iri, host, type, inbox, fetched_at)
VALUES ('http://10.255.255.1/users/x', '10.255.255.1', 'Person', 'http://10.255.255.1/users/x/inbox', now())`,
		`INSERT INTO ap_followers (local, follower, follow_id, created_at)
VALUES ('ortsweberei', 'http://10.255.255.1/users/x', 'http://10.255.255.1/follows/1', now())`,
	} {
		if _, err := inst.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	fileAntrag(t, inst.VerifiedResident("Jana", lat, lon), map[string]string{"title": "Bank"})
	waitFor(t, "the deliveries to the private address to end", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND args->>'host' = '10.255.255.1'`) > 0 &&
			inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND args->>'host' = '10.255.255.1' AND finalized_at IS NULL`) == 0
	})
	if n := inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND args->>'host' = '10.255.255.1'
AND NOT (state = 'completed' AND attempt = 1)`); n != 0 {
		t.Fatalf("%d deliveries to a private address were retried", n)
	}
}

// Text that is not text is refused, whoever sends it. A neighbour's Update of its own Antrag
// whose title holds U+0000 (which PostgreSQL cannot store: the job would fail at every retry),
// or whose details hold an unpaired surrogate or invalid UTF-8 (which would be kept as U+FFFD,
// not as sent), is answered 400 invalid_text and stores nothing; the same Update with text in
// it is taken. An actor whose document holds such a string is refused when it is fetched,
// for good: to check a signature (401 key_unavailable, and no second way of finding the key is
// tried) or to process an activity (dropped at the job's first attempt, not retried).
func TestTextThatIsNotTextIsRefused(t *testing.T) {
	t.Parallel()
	l := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	p := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	federate(t, l, p, patience)
	jana := p.VerifiedResident("Jana Weber", lat, lon)
	an := fileAntrag(t, jana, map[string]string{"title": "Bücherschrank", "details_md": "Am *Felsenkeller*."})
	remoteID := remoteAntrag(t, l, patience)
	waitDelivered(t, p)
	waitInboxIdle(t, l)
	path := "/ap/antraege/" + an.ID + "/actor"
	actor := p.URL + path
	k := keysOf(t, p, path)
	title := func() string {
		var view struct{ Title string }
		l.Client().Get("/api/antraege/"+remoteID).Expect(t, 200).JSON(t, &view)
		return view.Title
	}
	// update is Plagwitz's Update of its Antrag, as Plagwitz sends it, with the title's and
	// the details' markers replaced by the raw JSON given.
	n := 0
	update := func(titleJSON, contentJSON string) []byte {
		n++
		q := mustAP(t, an.Fediverse.ID)
		q["title"], q["content"] = "TITLE", "CONTENT"
		b, err := json.Marshal(map[string]any{"@context": vocab.Context, "id": fmt.Sprintf("%s/ap/activities/text-%d", p.URL, n),
			"type": "Update", "actor": actor, "object": q, "to": []string{vocab.Public}})
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte(`"TITLE"`), []byte(titleJSON), 1)
		return bytes.Replace(b, []byte(`"CONTENT"`), []byte(contentJSON), 1)
	}
	for _, c := range []struct{ name, title, content string }{
		{"U+0000 in the title", `"Bücher\u0000schrank"`, `"<p>Am Felsenkeller.</p>"`},
		{"an unpaired surrogate in the details", `"Bücherschrank"`, `"<p>Am \ud800 Felsenkeller.</p>"`},
		{"invalid UTF-8 in the details", `"Bücherschrank"`, "\"<p>Am \xff Felsenkeller.</p>\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := federationRows(l)
			code, body := postSignedBody(t, l.URL+"/ap/inbox", actor, k, update(c.title, c.content))
			if got, _ := errorCode(t, []byte(body)); code != http.StatusBadRequest || got != "invalid_text" {
				t.Fatalf("%d %s, want 400 invalid_text", code, body)
			}
			if after := federationRows(l); !maps.Equal(before, after) {
				t.Fatalf("a refused activity stored something: %v → %v", before, after)
			}
		})
	}
	if got := title(); got != "Bücherschrank" {
		t.Fatalf("Lindenau shows %q", got)
	}
	// The same Update with text in it is taken: the refusals were about the text.
	if code, body := postSignedBody(t, l.URL+"/ap/inbox", actor, k, update(`"Bücherschrank am Markt"`, `"<p>Am Felsenkeller.</p>"`)); code != http.StatusAccepted {
		t.Fatalf("the Update with text: %d %s", code, body)
	}
	waitFor(t, "the Update with text to be applied", patience, func() bool { return title() == "Bücherschrank am Markt" })

	// A Fediverse account, Bob, whose actor document names him with U+0000.
	peer := mastopeer.Start(t, "127.0.0.9")
	bob := peer.BaseURL() + "/users/bob"
	bobKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&bobKey.PublicKey)
	bobDoc := func(name string) map[string]any {
		return map[string]any{"@context": []any{mastopeer.ASContext, "https://w3id.org/security/v1"},
			"id": bob, "type": "Person", "preferredUsername": "bob", "name": name, "inbox": bob + "/inbox", "outbox": bob + "/outbox",
			"publicKey": map[string]any{"id": bob + "#main-key", "owner": bob,
				"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}
	}
	fetchesOfBob := func() int {
		n := 0
		for _, f := range peer.Fetches() {
			if f.Path == "/users/bob" {
				n++
			}
		}
		return n
	}
	a := fileAntrag(t, l.VerifiedResident("Ada", lat, lon), map[string]string{"title": "Trinkbrunnen"})
	// Its delivery to Plagwitz is queued by then: a job appearing later is none of Bob's doing.
	waitDelivered(t, l)
	replyTo := func(n string) []byte {
		b, _ := json.Marshal(map[string]any{"@context": mastopeer.ASContext, "id": bob + "/statuses/" + n + "/activity", "type": "Create", "actor": bob,
			"object": map[string]any{"id": bob + "/statuses/" + n, "type": "Note", "attributedTo": bob, "inReplyTo": a.Fediverse.ID,
				"content": "<p>Gern!</p>", "to": []string{mastopeer.Public}}})
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	// To check his signature, his key is looked up through his actor: refused at once.
	peer.PutDocument("/users/bob", bobDoc("Bob\x00"))
	before := federationRows(l)
	code, body, err := peer.Deliver(ctx, l.URL+"/ap/inbox", replyTo("1"), mastopeer.SignOptions{KeyID: bob + "#main-key", Key: bobKey})
	if got, _ := errorCode(t, body); err != nil || code != http.StatusUnauthorized || got != "key_unavailable" {
		t.Fatalf("a delivery signed with the key of an actor whose name is not text: %d %s %v", code, body, err)
	}
	if after := federationRows(l); !maps.Equal(before, after) {
		t.Fatalf("the refused actor left something: %v → %v", before, after)
	}
	if n := fetchesOfBob(); n != 1 {
		t.Fatalf("Bob's actor was fetched %d times; once is enough to refuse it", n)
	}

	// With his name as text, his reply is taken. Then his document changes back; when the
	// stored copy is stale, processing his next reply fetches it again, and drops the reply
	// at once instead of failing its job again and again.
	peer.PutDocument("/users/bob", bobDoc("Bob"))
	if code, body, err := peer.Deliver(ctx, l.URL+"/ap/inbox", replyTo("2"), mastopeer.SignOptions{KeyID: bob + "#main-key", Key: bobKey}); err != nil || code != http.StatusAccepted {
		t.Fatalf("Bob's reply: %d %s %v", code, body, err)
	}
	waitFor(t, "Bob's reply to be shown", patience, func() bool {
		return l.Count(`SELECT count(*) FROM antrag_kommentare WHERE author = $1`, bob) == 1
	})
	peer.PutDocument("/users/bob", bobDoc("Bob\x00"))
	if _, err := l.Pool.Exec(ctx, `UPDATE ap_actors SET fetched_at = now() - interval '2 days' WHERE iri = $1`, bob); err != nil {
		t.Fatal(err)
	}
	third := bob + "/statuses/3/activity"
	if code, body, err := peer.Deliver(ctx, l.URL+"/ap/inbox", replyTo("3"), mastopeer.SignOptions{KeyID: bob + "#main-key", Key: bobKey}); err != nil || code != http.StatusAccepted {
		t.Fatalf("Bob's next reply: %d %s %v", code, body, err)
	}
	expectSettledAtOnce(t, l, third)
	if n := l.Count(`SELECT count(*) FROM antrag_kommentare WHERE author = $1`, bob); n != 1 {
		t.Fatalf("%d replies of Bob shown, want the first one only", n)
	}
	if n := l.Count(`SELECT count(*) FROM ap_actors WHERE iri = $1 AND name = 'Bob'`, bob); n != 1 {
		t.Fatal("Bob's stored actor changed")
	}
}

// expectSettledAtOnce waits until the inbox has settled the activity and checks that it did so
// as a final failure: the activity is marked processed, not kept for a retry, and the job that
// processed it completed at its first attempt without an error.
func expectSettledAtOnce(t *testing.T, inst *instancetest.Instance, activity string) {
	t.Helper()
	waitFor(t, "the activity to be processed or to fail", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND (processed_at IS NOT NULL OR failed_at IS NOT NULL)`, activity) == 1
	})
	if n := inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL AND failed_at IS NULL`, activity); n != 1 {
		t.Fatalf("%s is kept for a retry, not settled", activity)
	}
	waitFor(t, "its job to end", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_inbox' AND args->'activity_ids' ? $1 AND finalized_at IS NOT NULL`, activity) == 1
	})
	if n := inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_inbox' AND args->'activity_ids' ? $1
AND state = 'completed' AND attempt = 1 AND coalesce(array_length(errors, 1), 0) = 0`, activity); n != 1 {
		t.Fatalf("the job of %s did not complete at its first attempt", activity)
	}
}
