package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// stageActor puts a Mastodon-shaped actor with a key of its own on the peer, at /users/name.
func stageActor(t *testing.T, peer *mastopeer.Peer, name string) (string, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	iri := peer.BaseURL() + "/users/" + name
	peer.PutDocument("/users/"+name, map[string]any{"@context": []any{mastopeer.ASContext, "https://w3id.org/security/v1"},
		"id": iri, "type": "Person", "preferredUsername": name, "name": name, "inbox": iri + "/inbox", "outbox": iri + "/outbox",
		"publicKey": map[string]any{"id": iri + "#main-key", "owner": iri,
			"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}})
	return iri, key
}

// publicReply is actor's public reply n to the Antrag whose Question is question.
func publicReply(actor, question, n string) (string, []byte) {
	id := actor + "/statuses/" + n + "/activity"
	b, _ := json.Marshal(map[string]any{"@context": mastopeer.ASContext, "id": id, "type": "Create", "actor": actor,
		"object": map[string]any{"id": actor + "/statuses/" + n, "type": "Note", "attributedTo": actor, "inReplyTo": question,
			"content": "<p>Gern, Nummer " + n + "!</p>", "to": []string{mastopeer.Public}}})
	return id, b
}

// expectPutOff checks an answer that tells the sender to try again later: 503 with a
// Retry-After of whole seconds and the code given.
func expectPutOff(t *testing.T, what string, a mastopeer.Answer, code string) {
	t.Helper()
	if a.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s: %d %s, want 503 %s", what, a.Status, a.Body, code)
	}
	if got, _ := errorCode(t, a.Body); got != code {
		t.Fatalf("%s: 503 %q, want %q", what, got, code)
	}
	if secs, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || secs <= 0 {
		t.Fatalf("%s: Retry-After %q, want whole seconds", what, a.Header.Get("Retry-After"))
	}
}

// A sender's key server that fails for a moment (a restart, an overload) does not make us
// refuse its activity: the inbox answers 503 with Retry-After, so that the sender (Mastodon,
// GoToSocial, another Weltgewebe) keeps it and tries again, which then goes through and is
// processed. Only a key server that says the key is gone, or that the SSRF guard refuses
// (TestInboxErrorsTellNothingOfOurFetches), is a refusal: 401, which a sender takes as final.
func TestKeyServerHiccupIsPutOffNotRefused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	a := fileAntrag(t, inst.VerifiedResident("Jana", lat, lon), map[string]string{"title": "Bank am Teich"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"

	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusTooManyRequests, http.StatusRequestTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			name := fmt.Sprintf("u%d", status)
			actor, key := stageActor(t, peer, name)
			id, body := publicReply(actor, a.Fediverse.ID, "1")
			sign := mastopeer.SignOptions{KeyID: actor + "#main-key", Key: key}
			peer.FailNext("/users/"+name, status)
			before := federationRows(inst)
			ans, err := peer.DeliverAnswer(ctx, inbox, body, sign)
			if err != nil {
				t.Fatal(err)
			}
			expectPutOff(t, "a delivery while its key server answers "+strconv.Itoa(status), ans, "key_fetch_failed")
			if after := federationRows(inst); !maps.Equal(before, after) {
				t.Fatalf("a put-off delivery stored something: %v → %v", before, after)
			}
			// The sender's retry, once its server answers again.
			if ans, err = peer.DeliverAnswer(ctx, inbox, body, sign); err != nil || ans.Status != http.StatusAccepted {
				t.Fatalf("the retry: %d %s %v", ans.Status, ans.Body, err)
			}
			waitFor(t, "the retried reply to be shown", patience, func() bool {
				return inst.Count(`SELECT count(*) FROM antrag_kommentare WHERE author = $1`, actor) == 1 &&
					inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, id) == 1
			})
		})
	}
	// A key document larger than we take would be as large on the next try: refused.
	t.Run("too large", func(t *testing.T) {
		actor, key := stageActor(t, peer, "huge")
		_, body := publicReply(actor, a.Fediverse.ID, "1")
		doc := mustAP(t, actor)
		doc["summary"] = strings.Repeat("Weltgewebe ", 100_000) // 1.1 MB, more than the 1 MiB we read
		peer.PutDocument("/users/huge", doc)
		ans, err := peer.DeliverAnswer(ctx, inbox, body, mastopeer.SignOptions{KeyID: actor + "#main-key", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := errorCode(t, ans.Body); ans.Status != http.StatusUnauthorized || got != "key_unavailable" {
			t.Fatalf("a delivery whose key document is too large: %d %s, want 401 key_unavailable", ans.Status, ans.Body)
		}
	})
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			name := fmt.Sprintf("u%d", status)
			actor, key := stageActor(t, peer, name)
			_, body := publicReply(actor, a.Fediverse.ID, "1")
			peer.FailNext("/users/"+name, status)
			ans, err := peer.DeliverAnswer(ctx, inbox, body, mastopeer.SignOptions{KeyID: actor + "#main-key", Key: key})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := errorCode(t, ans.Body); ans.Status != http.StatusUnauthorized || got != "key_unavailable" {
				t.Fatalf("a delivery whose key server says %d: %d %s, want 401 key_unavailable", status, ans.Status, ans.Body)
			}
		})
	}
}

// When our database is slow, not down, and the request's deadline runs out while the sender's
// stored actor is being read, the sender is told "not now" (503 request_timeout), not that its
// key could not be had (401, which it would take as final): the key fetch that would follow on
// the expired deadline says nothing about the sender's server.
func TestOurTimeoutIsNotTheSendersFault(t *testing.T) {
	t.Parallel()
	// The instance's own deadline (10 s), which the locked table below makes the request meet.
	// The resident and her Antrag come through a second process of the same Ortsweberei with
	// the tests' generous one: hashing her password on a busy machine must not meet it.
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", RequestTimeout: 10 * time.Second})
	setup := instancetest.Start(t, instancetest.Options{ReplicaOf: inst})
	a := fileAntrag(t, setup.VerifiedResident("Jana", lat, lon), map[string]string{"title": "Bank am Teich"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"
	// Alice's reply first: to check it, her actor is fetched with our instance key, which is
	// then at hand, so that what follows needs the database for the sender's actor only.
	if err := peer.Send(ctx, inbox, map[string]any{"@context": mastopeer.ASContext, "id": peer.ActorID() + "/likes/1", "type": "Like",
		"actor": peer.ActorID(), "object": a.Fediverse.ID}); err != nil {
		t.Fatal(err)
	}
	waitInboxIdle(t, inst)

	bob, key := stageActor(t, peer, "bob")
	id, body := publicReply(bob, a.Fediverse.ID, "1")
	sign := mastopeer.SignOptions{KeyID: bob + "#main-key", Key: key}
	before := federationRows(inst)
	// Another transaction holds the actors' table: reading Bob's stored actor waits until the
	// request's deadline (the instance's 10 s) ends it.
	tx, err := inst.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE ap_actors IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ans, err := peer.DeliverAnswer(ctx, inbox, body, sign)
	if rerr := tx.Rollback(ctx); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	expectPutOff(t, "a delivery while our database is too slow", ans, "request_timeout")
	if after := federationRows(inst); !maps.Equal(before, after) {
		t.Fatalf("a put-off delivery stored something: %v → %v", before, after)
	}
	if ans, err = peer.DeliverAnswer(ctx, inbox, body, sign); err != nil || ans.Status != http.StatusAccepted {
		t.Fatalf("the retry: %d %s %v", ans.Status, ans.Body, err)
	}
	waitFor(t, "the retried reply to be shown", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM antrag_kommentare WHERE author = $1`, bob) == 1 &&
			inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, id) == 1
	})
}

// An activity we took (202) is not dropped because a question processing asks of our database
// fails: whether its domain is blocked, whether its Group is a neighbour we follow. The failed
// attempt keeps the activity for a retry, which takes it once the database answers again.
// The failure is a real one of PostgreSQL: the table asked is away (renamed) for a moment.
func TestFailedLookupWhileProcessingIsRetried(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, table string
		neighbour   bool
	}{
		{"blocklist", "ap_domain_blocks", false},
		{"neighbours we follow", "ap_following", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
			a := fileAntrag(t, inst.VerifiedResident("Jana", lat, lon), map[string]string{"title": "Bank am Teich"})
			peer := mastopeer.Start(t, "127.0.0.9")
			ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
			defer cancel()
			inbox := inst.URL + "/ap/inbox"
			// A first activity: the peer's actor and key are known and the blocklist is read.
			if err := peer.Send(ctx, inbox, map[string]any{"@context": mastopeer.ASContext, "id": peer.ActorID() + "/likes/1", "type": "Like",
				"actor": peer.ActorID(), "object": a.Fediverse.ID}); err != nil {
				t.Fatal(err)
			}
			waitInboxIdle(t, inst)
			id, body := publicReply(peer.ActorID(), a.Fediverse.ID, "1")
			shown := func() bool {
				return inst.Count(`SELECT count(*) FROM antrag_kommentare WHERE author = $1`, peer.ActorID()) == 1
			}
			if c.neighbour {
				// The peer is a neighbour we follow; what it announces is fetched from its origin.
				if _, err := inst.Pool.Exec(ctx, `INSERT INTO ap_following (remote, follow_id, created_at, accepted) VALUES ($1, $2, now(), true)`,
					peer.ActorID(), inst.URL+"/ap/ortsweberei#follows/1"); err != nil {
					t.Fatal(err)
				}
				note := peer.ActorID() + "/statuses/n"
				peer.PutDocument("/users/alice/statuses/n", map[string]any{"@context": mastopeer.ASContext, "id": note, "type": "Note",
					"attributedTo": peer.ActorID(), "content": "<p>Hallo</p>", "to": []string{mastopeer.Public}})
				id = peer.ActorID() + "/announces/1"
				body, _ = json.Marshal(map[string]any{"@context": mastopeer.ASContext, "id": id, "type": "Announce",
					"actor": peer.ActorID(), "object": note, "to": []string{mastopeer.Public}})
				fetched := func() bool {
					for _, f := range peer.Fetches() {
						if f.Path == "/users/alice/statuses/n" {
							return true
						}
					}
					return false
				}
				shown = fetched // what it announced was looked at, not dropped unseen
			}
			if _, err := inst.Pool.Exec(ctx, `ALTER TABLE `+c.table+` RENAME TO away`); err != nil {
				t.Fatal(err)
			}
			if code, res, err := peer.Deliver(ctx, inbox, body, mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
				t.Fatalf("the delivery: %d %s %v", code, res, err)
			}
			waitFor(t, "the first attempt to end", patience, func() bool {
				return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND (processed_at IS NOT NULL OR failed_at IS NOT NULL)`, id) == 1
			})
			if inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NULL AND failed_at IS NOT NULL`, id) != 1 {
				t.Fatalf("the activity was marked done although the lookup in %s failed", c.table)
			}
			if _, err := inst.Pool.Exec(ctx, `ALTER TABLE away RENAME TO `+c.table); err != nil {
				t.Fatal(err)
			}
			// River's backoff would retry it within seconds; the test need not wait for that.
			if _, err := inst.Pool.Exec(ctx, `UPDATE river_job SET scheduled_at = now()
WHERE kind = 'federation_inbox' AND args->'activity_ids' ? $1 AND state = 'retryable'`, id); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the retry to process the activity", patience, func() bool {
				return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, id) == 1
			})
			if !shown() {
				t.Fatal("the retry processed the activity and left no trace of it")
			}
		})
	}
}

// A statement of ours that fails while the sender's key is looked up (here: the actors' table is
// away for a moment) is our failure, answered 500 and logged, which a sender retries; not a
// refusal of the sender's key (401, final).
func TestOurDatabaseErrorIsNotTheSendersFault(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	a := fileAntrag(t, inst.VerifiedResident("Jana", lat, lon), map[string]string{"title": "Bank am Teich"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"
	id, body := publicReply(peer.ActorID(), a.Fediverse.ID, "1")
	if _, err := inst.Pool.Exec(ctx, `ALTER TABLE ap_actors RENAME TO away`); err != nil {
		t.Fatal(err)
	}
	code, res, err := peer.Deliver(ctx, inbox, body, mastopeer.SignOptions{})
	if _, rerr := inst.Pool.Exec(ctx, `ALTER TABLE away RENAME TO ap_actors`); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := errorCode(t, res); code != http.StatusInternalServerError || got != "internal" {
		t.Fatalf("a delivery while our lookup of the key fails: %d %s, want 500 internal", code, res)
	}
	if code, res, err := peer.Deliver(ctx, inbox, body, mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
		t.Fatalf("the retry: %d %s %v", code, res, err)
	}
	waitFor(t, "the retried reply to be processed", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, id) == 1
	})
}
