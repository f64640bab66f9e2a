package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// federationRows fingerprints what the inbox could have stored. River's own periodic sweeps
// (queued once a leader is elected, a few seconds into a test) are not the inbox's doing.
func federationRows(inst *instancetest.Instance) map[string]int {
	out := map[string]int{}
	for _, table := range []string{"ap_inbox", "ap_actors", "ap_followers", "antrag_kommentare", "antrag_fremdstimmen",
		"remote_antraege", "remote_stimmen", "events"} {
		out[table] = inst.Count("SELECT count(*) FROM " + table)
	}
	out["river_job"] = inst.Count(`SELECT count(*) FROM river_job WHERE kind <> 'sweep'`)
	return out
}

// waitInboxIdle waits until the inbox has processed everything it took: what processing writes
// is written.
func waitInboxIdle(t *testing.T, inst *instancetest.Instance) {
	t.Helper()
	waitFor(t, "the inbox to process what it took", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE processed_at IS NULL AND failed_at IS NULL AND body IS NOT NULL`) == 0
	})
}

// Every way a request can be wrong is refused with a 4xx, and nothing is stored.
func TestInboxRefusesAndStoresNothing(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	var a struct{ ID string }
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201).JSON(t, &a)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"

	n := 0
	activity := func() []byte {
		n++
		b, _ := json.Marshal(map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": peer.ActorID() + "/statuses/" + string(rune('a'+n)) + "/activity",
			"type": "Create", "actor": peer.ActorID(),
			"object": map[string]any{"id": peer.ActorID() + "/statuses/" + string(rune('a'+n)), "type": "Note", "attributedTo": peer.ActorID(),
				"inReplyTo": inst.URL + "/ap/antraege/" + a.ID, "content": "<p>Hallo</p>", "published": time.Now().UTC().Format(time.RFC3339),
				"to": []string{mastopeer.Public}},
		})
		return b
	}
	// A good one first, so the peer's actor is known and a replay has something to replay.
	good := activity()
	if code, body, err := peer.Deliver(ctx, inbox, good, mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
		t.Fatalf("a correct delivery: %d %s %v", code, body, err)
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	cases := []struct {
		name   string
		body   []byte
		opt    mastopeer.SignOptions
		status int
	}{
		{"tampered body", activity(), mastopeer.SignOptions{Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "Hallo", "Hallö", 1)) }}, 401},
		{"wrong key", activity(), mastopeer.SignOptions{Key: otherKey}, 401},
		{"stale date", activity(), mastopeer.SignOptions{Date: time.Now().Add(-2 * time.Hour)}, 401},
		{"date from the future", activity(), mastopeer.SignOptions{Date: time.Now().Add(2 * time.Hour)}, 401},
		{"no digest", activity(), mastopeer.SignOptions{OmitDigest: true}, 401},
		{"date not signed", activity(), mastopeer.SignOptions{Headers: []string{"(request-target)", "host", "digest"}}, 401},
		{"replayed activity id", good, mastopeer.SignOptions{}, 202}, // acknowledged, nothing stored
		{"oversized body", append(activity()[:0:0], []byte(`{"id":"`+peer.ActorID()+`/x","type":"Create","actor":"`+peer.ActorID()+`","pad":"`+strings.Repeat("x", 300<<10)+`"}`)...), mastopeer.SignOptions{}, 413},
		{"not JSON", []byte("hello"), mastopeer.SignOptions{}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			waitInboxIdle(t, inst) // what the good delivery's processing writes is written
			before := federationRows(inst)
			code, body, err := peer.Deliver(ctx, inbox, c.body, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			// The inbox stores what it takes before it answers, and nothing is processed
			// that was not stored: the answer is the moment to look.
			if after := federationRows(inst); !maps.Equal(before, after) {
				t.Fatalf("a refused request stored something: %v → %v", before, after)
			}
		})
	}

	// An admin blocks the peer's domain: refused, nothing stored; and what it sent before is gone.
	admin := inst.Admin()
	admin.Post("/api/admin/federation/blocks", map[string]string{"domain": "127.0.0.9"}).Expect(t, 200)
	before := federationRows(inst)
	code, body, err := peer.Deliver(ctx, inbox, activity(), mastopeer.SignOptions{})
	if err != nil || code != http.StatusForbidden {
		t.Fatalf("blocked domain: %d %s %v", code, body, err)
	}
	if after := federationRows(inst); !maps.Equal(before, after) {
		t.Fatalf("a blocked domain's request stored something: %v → %v", before, after)
	}
	if n := inst.Count(`SELECT count(*) FROM antrag_kommentare`); n != 0 {
		t.Errorf("the blocked domain's earlier comment is still shown (%d)", n)
	}
	jana.Post("/api/admin/federation/blocks", map[string]string{"domain": "x.example"}).Expect(t, http.StatusForbidden)
}

// A valid signature proves who signed, not who the activity claims to be from: an activity
// whose actor is not the key's owner is refused and nothing is stored, whether the claimed
// actor is another account on the signer's server or an account elsewhere.
func TestInboxRefusesActorOtherThanSigner(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	var a struct{ ID string }
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201).JSON(t, &a)
	peer := mastopeer.Start(t, "127.0.0.9")
	other := mastopeer.Start(t, "127.0.0.10")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"

	// Bob is a real account on alice's server, with a key of his own.
	bob := peer.BaseURL() + "/users/bob"
	bobKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&bobKey.PublicKey)
	peer.PutDocument("/users/bob", map[string]any{"@context": []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
		"id": bob, "type": "Person", "preferredUsername": "bob", "inbox": bob + "/inbox", "outbox": bob + "/outbox",
		"publicKey": map[string]any{"id": bob + "#main-key", "owner": bob,
			"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}})

	reply := func(actor, n string) []byte {
		b, _ := json.Marshal(map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": actor + "/statuses/" + n + "/activity", "type": "Create", "actor": actor,
			"object": map[string]any{"id": actor + "/statuses/" + n, "type": "Note", "attributedTo": actor,
				"inReplyTo": inst.URL + "/ap/antraege/" + a.ID, "content": "<p>Ich bin es wirklich</p>", "published": time.Now().UTC().Format(time.RFC3339),
				"to": []string{mastopeer.Public}},
		})
		return b
	}
	// Alice's own reply goes through, so her key is known before the forgeries arrive.
	if code, body, err := peer.Deliver(ctx, inbox, reply(peer.ActorID(), "1"), mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
		t.Fatalf("alice's own reply: %d %s %v", code, body, err)
	}
	waitFor(t, "alice's reply", patience, func() bool { return inst.Count(`SELECT count(*) FROM antrag_kommentare`) == 1 })

	for _, c := range []struct{ name, actor string }{
		{"same host", bob},
		{"other host", other.ActorID()},
	} {
		t.Run(c.name, func(t *testing.T) {
			waitInboxIdle(t, inst)
			before := federationRows(inst)
			// Signed correctly, with alice's key: the signature verifies, the claim does not.
			code, body, err := peer.Deliver(ctx, inbox, reply(c.actor, "2"), mastopeer.SignOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusUnauthorized && code != http.StatusForbidden {
				t.Fatalf("alice posting as %s: %d %s", c.actor, code, body)
			}
			if after := federationRows(inst); !maps.Equal(before, after) {
				t.Fatalf("a forged activity stored something: %v → %v", before, after)
			}
		})
	}
	var view struct {
		Comments []struct{ Author string } `json:"comments"`
	}
	inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &view)
	if len(view.Comments) != 1 || view.Comments[0].Author != peer.ActorID() {
		t.Fatalf("comments: %+v", view.Comments)
	}
	// The same activities, signed by their own actors, are taken: the refusals above were
	// about who signed.
	if code, body, err := peer.Deliver(ctx, inbox, reply(bob, "3"), mastopeer.SignOptions{KeyID: bob + "#main-key", Key: bobKey}); err != nil || code != http.StatusAccepted {
		t.Fatalf("bob's own reply: %d %s %v", code, body, err)
	}
	if code, body, err := other.Deliver(ctx, inbox, reply(other.ActorID(), "3"), mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
		t.Fatalf("the other server's alice: %d %s %v", code, body, err)
	}
	waitFor(t, "the two genuine replies", patience, func() bool { return inst.Count(`SELECT count(*) FROM antrag_kommentare`) == 3 })
}

// Blocking a domain leaves nothing of it visible: its replies, its poll votes, its follows.
func TestBlockRemovesWhatTheDomainSent(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	a := fileAntrag(t, jana, map[string]string{"title": "Bank"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience
	peer.FollowAccepted(t, ctx, a.Fediverse.Follow, wait)
	for _, obj := range []map[string]any{
		{"id": peer.ActorID() + "/statuses/1", "type": "Note", "attributedTo": peer.ActorID(), "inReplyTo": a.Fediverse.ID,
			"content": "<p>Gern!</p>", "published": time.Now().UTC().Format(time.RFC3339), "to": []string{mastopeer.Public}},
		{"id": peer.ActorID() + "#votes/1", "type": "Note", "attributedTo": peer.ActorID(), "inReplyTo": a.Fediverse.ID, "name": "Nein"},
	} {
		if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": obj["id"].(string) + "/activity", "type": "Create", "actor": peer.ActorID(), "object": obj}); err != nil {
			t.Fatal(err)
		}
	}
	var view struct {
		Comments     []struct{ Author string } `json:"comments"`
		ForeignVotes map[string]int            `json:"foreign_votes"`
	}
	waitFor(t, "the reply and the vote to be shown", wait, func() bool {
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &view)
		return len(view.Comments) == 1 && view.ForeignVotes["no"] == 1
	})

	inst.Admin().Post("/api/admin/federation/blocks", map[string]string{"domain": "127.0.0.9"}).Expect(t, http.StatusOK)
	view.Comments, view.ForeignVotes = nil, nil
	inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &view)
	if len(view.Comments) != 0 || len(view.ForeignVotes) != 0 {
		t.Fatalf("after the block the domain's reply and vote are still shown: %+v", view)
	}
	if n := inst.Count(`SELECT count(*) FROM ap_followers`); n != 0 {
		t.Errorf("the blocked domain still follows the Antrag (%d)", n)
	}
	if n := inst.Count(`SELECT count(*) FROM ap_actors`); n != 0 {
		t.Errorf("the blocked domain's actors are still kept (%d)", n)
	}
	if n := inst.Count(`SELECT count(*) FROM ap_inbox WHERE body IS NOT NULL`); n != 0 {
		t.Errorf("the blocked domain's activities are still kept (%d)", n)
	}
}

// An admin may name the domain to block as a domain, a URL on it or a handle on it: the host is
// what gets blocked (not "https" for a URL). Anything that names no host is refused.
func TestBlockTakesDomainURLOrHandle(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	admin := inst.Admin()
	for _, c := range []struct{ in, blocked string }{
		{"https://x.example/", "x.example"},
		{"https://Social.Y.example:8443/@anna/1234", "social.y.example"},
		{"@anna@z.example", "z.example"},
		{"bob@w.example", "w.example"},
		{"acct:carl@v.example", "v.example"},
		{" u.example. ", "u.example"},
		{"t.example:8080", "t.example"},
		{"127.0.0.9", "127.0.0.9"},
	} {
		var out struct{ Blocks []string }
		admin.Post("/api/admin/federation/blocks", map[string]string{"domain": c.in}).Expect(t, http.StatusOK).JSON(t, &out)
		if !slices.Contains(out.Blocks, c.blocked) {
			t.Errorf("blocking %q: the list is %q, want %q in it", c.in, out.Blocks, c.blocked)
		}
	}
	var out struct{ Blocks []string }
	admin.Get("/api/admin/federation/blocks").Expect(t, http.StatusOK).JSON(t, &out)
	want := []string{"127.0.0.9", "social.y.example", "t.example", "u.example", "v.example", "w.example", "x.example", "z.example"}
	if !slices.Equal(out.Blocks, want) {
		t.Fatalf("blocked: %q, want %q", out.Blocks, want)
	}
	before := federationRows(inst)
	for _, in := range []string{"", "https", "https://", "ftp://x.example/", "x.example/pfad", "@anna", "anna@", "exa mple.org", "-x.example", "x..example", "<script>.example"} {
		if res := admin.Post("/api/admin/federation/blocks", map[string]string{"domain": in}); res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "invalid_domain" {
			t.Errorf("blocking %q: %d %s, want 422 invalid_domain", in, res.Status, res.Body)
		}
	}
	if after := federationRows(inst); !maps.Equal(before, after) {
		t.Errorf("a refused block wrote something: %v → %v", before, after)
	}
	// Unblocking takes the same forms.
	admin.Do("DELETE", "/api/admin/federation/blocks/X.example.", nil).Expect(t, http.StatusOK).JSON(t, &out)
	if slices.Contains(out.Blocks, "x.example") {
		t.Errorf("x.example is still blocked: %q", out.Blocks)
	}
}
