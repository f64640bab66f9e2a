package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/mastopeer"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
)

// federationRows fingerprints what the inbox could have stored.
func federationRows(inst *instancetest.Instance) map[string]int {
	out := map[string]int{}
	for _, table := range []string{"ap_inbox", "ap_actors", "ap_followers", "antrag_kommentare", "antrag_fremdstimmen", "remote_antraege", "events", "river_job"} {
		out[table] = inst.Count("SELECT count(*) FROM " + table)
	}
	return out
}

// Every way a request can be wrong is refused with a 4xx, and nothing is stored.
func TestInboxRefusesAndStoresNothing(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	var a struct{ ID string }
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201).JSON(t, &a)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"

	n := 0
	activity := func() []byte {
		n++
		b, _ := json.Marshal(map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": peer.ActorID() + "/statuses/" + string(rune('a'+n)) + "/activity",
			"type": "Create", "actor": peer.ActorID(),
			"object": map[string]any{"id": peer.ActorID() + "/statuses/" + string(rune('a'+n)), "type": "Note", "attributedTo": peer.ActorID(),
				"inReplyTo": inst.URL + "/ap/antraege/" + a.ID, "content": "<p>Hallo</p>", "published": time.Now().UTC().Format(time.RFC3339)},
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
		{"replayed activity id", good, mastopeer.SignOptions{}, 409},
		{"oversized body", append(activity()[:0:0], []byte(`{"id":"`+peer.ActorID()+`/x","type":"Create","actor":"`+peer.ActorID()+`","pad":"`+strings.Repeat("x", 300<<10)+`"}`)...), mastopeer.SignOptions{}, 413},
		{"not JSON", []byte("hello"), mastopeer.SignOptions{}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			time.Sleep(200 * time.Millisecond) // let the good delivery's processing settle
			before := federationRows(inst)
			code, body, err := peer.Deliver(ctx, inbox, c.body, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			time.Sleep(100 * time.Millisecond)
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
