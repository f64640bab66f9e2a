package federation_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

const lat, lon = 51.3362, 12.3363

func getJSON(t *testing.T, url, accept string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m, res.Header
}

// Discovery the way Mastodon does it: WebFinger, the actor (unsigned), the round trip back.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau webt"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	host := strings.TrimPrefix(inst.URL, "http://")

	var o struct {
		Fediverse struct{ Actor, Handle string } `json:"fediverse"`
	}
	inst.Client().Get("/api/ortsweberei").Expect(t, 200).JSON(t, &o)
	if o.Fediverse.Handle != "ortsweberei@"+host || o.Fediverse.Actor != inst.URL+"/ap/ortsweberei" {
		t.Fatalf("GET /api/ortsweberei fediverse: %+v", o.Fediverse)
	}

	for _, c := range []struct{ acct, actor, typ string }{
		{"ortsweberei@" + host, inst.URL + "/ap/ortsweberei", "Group"},
		{"jana.weber@" + host, inst.URL + "/ap/users/jana.weber", "Person"},
		{"instance@" + host, inst.URL + "/ap/instance", "Application"},
	} {
		code, jrd, hdr := getJSON(t, inst.URL+"/.well-known/webfinger?resource=acct:"+c.acct, "")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/jrd+json") || jrd["subject"] != "acct:"+c.acct {
			t.Fatalf("webfinger %s: %d %v", c.acct, code, jrd)
		}
		self := ""
		for _, l := range jrd["links"].([]any) {
			if m := l.(map[string]any); m["rel"] == "self" {
				self = m["href"].(string)
			}
		}
		if self != c.actor {
			t.Fatalf("webfinger %s: self %q, want %q", c.acct, self, c.actor)
		}
		code, actor, hdr := getJSON(t, self, "application/activity+json")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/activity+json") {
			t.Fatalf("actor %s: %d %s", self, code, hdr.Get("Content-Type"))
		}
		types, _ := json.Marshal(actor["type"])
		if actor["id"] != c.actor || !strings.Contains(string(types), c.typ) {
			t.Fatalf("actor %s: id %v type %s", self, actor["id"], types)
		}
		key := actor["publicKey"].(map[string]any)
		if key["owner"] != c.actor || !strings.Contains(key["publicKeyPem"].(string), "BEGIN PUBLIC KEY") || key["id"] != c.actor+"#main-key" {
			t.Fatalf("actor %s publicKey: %v", self, key)
		}
		// Mastodon's round trip: preferredUsername@host resolves to the same actor.
		code, back, _ := getJSON(t, inst.URL+"/.well-known/webfinger?resource=acct:"+actor["preferredUsername"].(string)+"@"+host, "")
		if code != 200 || back["subject"] != "acct:"+c.acct {
			t.Fatalf("round trip for %s: %d %v", c.acct, code, back)
		}
	}

	// The resident publishes an Ed25519 key for object proofs (FEP-521a).
	_, person, _ := getJSON(t, inst.URL+"/ap/users/jana.weber", "application/activity+json")
	am := person["assertionMethod"].([]any)[0].(map[string]any)
	if am["type"] != "Multikey" || !strings.HasPrefix(am["publicKeyMultibase"].(string), "z6Mk") || person["verified"] != true {
		t.Fatalf("assertionMethod / verified: %v %v", am, person["verified"])
	}

	// An Antrag can be followed on its own: its id and the actor to follow.
	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen"})
	if a.Fediverse.ID != inst.URL+"/ap/antraege/"+a.ID || a.Fediverse.Follow != inst.URL+"/ap/antraege/"+a.ID+"/actor" {
		t.Fatalf("Antrag fediverse: %+v", a.Fediverse)
	}
	code, q, _ := getJSON(t, a.Fediverse.ID, "application/activity+json")
	types, _ := json.Marshal(q["type"])
	if code != 200 || !strings.Contains(string(types), "Question") || len(q["oneOf"].([]any)) != 3 {
		t.Fatalf("the Antrag as a Question: %d %v", code, q)
	}
	code, svc, _ := getJSON(t, a.Fediverse.Follow, "application/activity+json")
	if code != 200 || svc["type"] != "Service" {
		t.Fatalf("Antrag actor: %d %v", code, svc)
	}
	code, _, _ = getJSON(t, inst.URL+"/.well-known/webfinger?resource=acct:"+svc["preferredUsername"].(string)+"@"+host, "")
	if code != 200 {
		t.Fatalf("the Antrag actor is found by WebFinger: %d", code)
	}

	// NodeInfo 2.0 and 2.1, host-meta, our context.
	_, links, _ := getJSON(t, inst.URL+"/.well-known/nodeinfo", "")
	if len(links["links"].([]any)) != 2 {
		t.Fatalf("nodeinfo links: %v", links)
	}
	for _, v := range []string{"2.0", "2.1"} {
		code, ni, _ := getJSON(t, inst.URL+"/nodeinfo/"+v, "")
		sw := ni["software"].(map[string]any)
		if code != 200 || ni["version"] != v || sw["name"] != "weltgewebe" || ni["usage"].(map[string]any)["users"].(map[string]any)["total"].(float64) != 1 {
			t.Fatalf("nodeinfo %s: %d %v", v, code, ni)
		}
	}
	res, err := http.Get(inst.URL + "/.well-known/host-meta")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("host-meta: %v %v", res, err)
	}
	res.Body.Close()
	code, ctxDoc, _ := getJSON(t, inst.URL+"/ns/v1", "")
	if code != 200 || ctxDoc["@context"] == nil {
		t.Fatalf("context document: %d", code)
	}

	// A Mastodon-like peer can look the Ortsweberei up, with its own checks.
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := peer.Lookup(ctx, "ortsweberei@"+host); err != nil {
		t.Fatalf("Mastodon-style lookup: %v", err)
	}
}

// NodeInfo counts residents, and only residents: users.total are the accounts with a home,
// activeMonth and activeHalfyear those of them that wrote anything in the last 30 and 180
// days. An admin's doings make no one active, so active never exceeds total.
func TestNodeInfoCountsResidents(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	usage := func() map[string]float64 {
		t.Helper()
		code, ni, _ := getJSON(t, inst.URL+"/nodeinfo/2.1", "")
		if code != 200 {
			t.Fatalf("nodeinfo: %d %v", code, ni)
		}
		u := map[string]float64{}
		for k, v := range ni["usage"].(map[string]any)["users"].(map[string]any) {
			u[k] = v.(float64)
		}
		return u
	}
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	inst.VerifiedResident("Ben Zwirn", lat, lon)
	if got, want := usage(), map[string]float64{"total": 2, "activeMonth": 2, "activeHalfyear": 2}; !maps.Equal(got, want) {
		t.Fatalf("two new residents: %v, want %v", got, want)
	}
	inst.Advance("31d")
	// Jana places a Knoten; an admin verifies a third resident (the admin writes, the new
	// resident registered a moment ago).
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank", "lat": lat, "lon": lon}).Expect(t, 201)
	inst.VerifiedResident("Cem Faden", lat, lon)
	inst.Admin().Post("/api/admin/federation/blocks", map[string]string{"domain": "spam.example"}).Expect(t, 200)
	if got, want := usage(), map[string]float64{"total": 3, "activeMonth": 2, "activeHalfyear": 3}; !maps.Equal(got, want) {
		t.Fatalf("a month later: %v, want %v", got, want)
	}
	inst.Advance("181d")
	if got, want := usage(), map[string]float64{"total": 3, "activeMonth": 0, "activeHalfyear": 0}; !maps.Equal(got, want) {
		t.Fatalf("half a year later: %v, want %v", got, want)
	}
}

// The names the instance's own actors answer to are not given to residents: a resident named
// "Ortsweberei" gets ortsweberei.2, and both she and the Ortsweberei are found by WebFinger.
func TestReservedHandles(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	host := strings.TrimPrefix(inst.URL, "http://")
	for _, c := range []struct{ name, handle, group string }{
		{"Ortsweberei", "ortsweberei.2", "/ap/ortsweberei"},
		{"Instance", "instance.2", "/ap/instance"},
	} {
		var me struct{ Handle string }
		inst.Resident(c.name, lat, lon).Get("/api/me").Expect(t, 200).JSON(t, &me)
		if me.Handle != c.handle {
			t.Errorf("%q got the handle %q, want %q", c.name, me.Handle, c.handle)
		}
		for acct, actor := range map[string]string{c.handle: "/ap/users/" + c.handle, strings.Split(c.group, "/")[2]: c.group} {
			code, jrd, _ := getJSON(t, inst.URL+"/.well-known/webfinger?resource=acct:"+acct+"@"+host, "")
			self := ""
			links, _ := jrd["links"].([]any)
			for _, l := range links {
				if m := l.(map[string]any); m["rel"] == "self" {
					self, _ = m["href"].(string)
				}
			}
			if code != 200 || self != inst.URL+actor {
				t.Errorf("webfinger %s: %d self %q, want %s", acct, code, self, inst.URL+actor)
			}
		}
		_, person, _ := getJSON(t, inst.URL+"/ap/users/"+c.handle, "application/activity+json")
		if person["name"] != c.name || person["preferredUsername"] != c.handle {
			t.Errorf("the resident's actor: %v", person)
		}
	}
}
