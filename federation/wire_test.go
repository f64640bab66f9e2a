package federation_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

var update = flag.Bool("update", false, "rewrite federation/testdata/wire/*.json from what the instances serve and send")

// The wire golden: every id, path, field and shape our instances put on the wire, compared
// with federation/testdata/wire. Two federated Ortswebereien and a Mastodon follower of the
// first go through a small scenario (Antrag, Einspruch, the Abstimmung opened by the dev
// clock, Stimmen, a delegation, the close); then every ActivityPub route is fetched, and what
// the follower was delivered is recorded. What differs from run to run (UUIDs, event ids,
// hosts and ports, times, keys, proof values) is replaced by placeholders numbered in order of
// first appearance, so a changed IRI, a renamed field or a lost member fails the test. Proofs
// are verified with the key their actor publishes before their values are blanked.
//
// Regenerate with `go test ./federation/ -run TestWireGolden -update` only in a commit that
// means to change the wire, and say so in it.
func TestWireGolden(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.31", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.32", Name: "Plagwitz"})
	peer := mastopeer.Start(t, "127.0.0.33")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience

	federate(t, a, b, wait)
	jana := a.VerifiedResident("Jana Weber", lat, lon)
	ben := a.VerifiedResident("Ben Zwirn", lat, lon)
	cem := a.VerifiedResident("Cem Faden", lat, lon)
	peer.FollowAccepted(t, ctx, a.URL+"/ap/ortsweberei", wait)
	waitDelivered(t, a)

	var k struct {
		ID    string `json:"id"`
		Faden struct {
			ID string `json:"id"`
		} `json:"faden"`
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Trinkbrunnen", "description": "Am <Markt>", "lat": 51.0, "lon": lon}).Expect(t, 201).JSON(t, &k)
	var garn struct {
		ID string `json:"id"`
	}
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}).Expect(t, 201).JSON(t, &garn)
	ben.Post("/api/faeden/"+garn.ID+"/twist", nil).Expect(t, 200)
	waitDelivered(t, a)
	an := fileAntrag(t, jana, map[string]any{"title": "Trinkbrunnen am Markt", "details_md": "Wasser **für alle**.",
		"amount_cents": 45000, "knoten_id": k.ID})
	waitDelivered(t, a)
	peer.FollowAccepted(t, ctx, an.Fediverse.Follow, wait)
	waitDelivered(t, a)
	ben.Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	waitDelivered(t, a)
	// In two steps, so that the log's order is the same in every run: the first Faden expires
	// (its sweep), then the extended deadline passes and the Abstimmung opens (the Antrag's).
	// Both due in one step, the two sweeps' events came in either order.
	advance("8d", a, b)
	waitDelivered(t, a)
	advance("6d", a, b) // the extended deadline passes: the Abstimmung opens
	waitDelivered(t, a)
	abst := abstimmungOf(t, jana, an.ID)
	// The Stimmen are cast an hour into the vote: each spins a Faden that expires a week later,
	// an hour after the close, so the close and those expiries are taken in two steps below
	// (due in one, their sweeps' events came in either order).
	advance("1h", a, b)
	jana.Post("/api/abstimmungen/"+abst+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	waitDelivered(t, a)
	ben.Post("/api/abstimmungen/"+abst+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)
	waitDelivered(t, a)
	// A delegation that takes effect while the Abstimmung is open moves its count.
	var d struct {
		ID string `json:"id"`
	}
	cem.Post("/api/delegationen", map[string]string{"to_account_id": ben.ID}).Expect(t, 201).JSON(t, &d)
	waitDelivered(t, a)
	advance("1d", a, b)
	waitDelivered(t, a)
	advance("143h", a, b) // it closes: a week after it opened, before the Stimmen's Fäden expire
	waitDelivered(t, a)
	advance("2h", a, b) // the Stimmen's Fäden expire
	waitDelivered(t, a)
	remoteID := remoteAntrag(t, b, wait)
	waitFor(t, "the neighbour to count both Stimmen and see the close", wait, func() bool {
		var v struct{ Votes []remoteVote }
		b.Client().Get("/api/antraege/"+remoteID).Expect(t, 200).JSON(t, &v)
		return len(v.Votes) == 2 && b.Count(`SELECT count(*) FROM ap_inbox WHERE processed_at IS NULL AND failed_at IS NULL`) == 0
	})
	waitDelivered(t, b)
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Fatalf("the follower refused our requests: %+v", rej)
	}

	n := newNormaliser(map[string]string{a.URL: "a.example", b.URL: "b.example", peer.BaseURL(): "peer.example"})
	verified := 0
	served := []wireDoc{}
	get := func(inst *instancetest.Instance, path, accept string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", inst.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		verified += verifyProofs(t, ctx, path, body)
		served = append(served, wireDoc{Request: n.text("GET " + inst.URL + path), Status: res.StatusCode,
			ContentType: res.Header.Get("Content-Type"), Body: n.json(body)})
		return body
	}
	const ap = "application/activity+json"
	walk := func(inst *instancetest.Instance, actor string) {
		t.Helper()
		get(inst, actor, ap)
		get(inst, actor+"/followers", ap)
		get(inst, actor+"/following", ap)
		get(inst, actor+"/outbox", ap)
		for next := actor + "/outbox?page=true"; next != ""; {
			var page struct {
				Next         string           `json:"next"`
				OrderedItems []map[string]any `json:"orderedItems"`
			}
			if err := json.Unmarshal(get(inst, next, ap), &page); err != nil {
				t.Fatal(err)
			}
			for _, it := range page.OrderedItems {
				if id, _ := it["id"].(string); strings.HasPrefix(id, inst.URL) {
					get(inst, strings.TrimPrefix(id, inst.URL), ap)
				}
			}
			next = strings.TrimPrefix(page.Next, inst.URL)
		}
	}
	for _, inst := range []*instancetest.Instance{a, b} {
		host := strings.TrimPrefix(inst.URL, "http://")
		get(inst, "/.well-known/webfinger?resource=acct:ortsweberei@"+host, "")
		get(inst, "/.well-known/webfinger?resource=acct:instance@"+host, "")
		get(inst, "/.well-known/nodeinfo", "")
		get(inst, "/.well-known/host-meta", "")
		get(inst, "/nodeinfo/2.1", "")
		walk(inst, "/ap/instance")
		walk(inst, "/ap/ortsweberei")
	}
	host := strings.TrimPrefix(a.URL, "http://")
	get(a, "/.well-known/webfinger?resource=acct:jana.weber@"+host, "")
	get(a, "/.well-known/webfinger?resource=acct:antrag-"+an.ID+"@"+host, "")
	walk(a, "/ap/users/jana.weber")
	walk(a, "/ap/users/ben.zwirn")
	walk(a, "/ap/antraege/"+an.ID+"/actor")
	get(a, "/ap/antraege/"+an.ID, ap)
	get(a, "/ap/antraege/"+an.ID+"/einsprueche/"+ben.ID, ap)
	get(a, "/ap/abstimmungen/"+abst, ap)
	get(a, "/ap/delegationen/"+d.ID, ap)
	get(a, "/ap/knoten/"+k.ID, ap)
	get(a, "/ap/faeden/"+k.Faden.ID, ap) // expired
	get(a, "/ap/faeden/"+garn.ID, ap)
	get(a, "/ns/v1", "")
	for _, id := range eventIDs(t, a, `type IN ('StimmeAbgegeben', 'StimmeGeaendert')`) {
		get(a, fmt.Sprintf("/ap/stimmen/%d", id), ap)
		get(a, fmt.Sprintf("/ap/stimmen/%d/note", id), ap)
		get(a, fmt.Sprintf("/ap/activities/%d/note", id), ap)
		get(a, fmt.Sprintf("/ap/activities/%d/update", id), ap)
	}
	for _, id := range eventIDs(t, a, `type = 'DelegationWirksam'`) {
		get(a, fmt.Sprintf("/ap/activities/%d/update/%s", id, an.ID), ap)
	}
	for _, id := range eventIDs(t, a, `type = 'AntragGestellt'`) {
		get(a, fmt.Sprintf("/ap/activities/%d/announce", id), ap)
	}
	get(a, "/ap/antraege/00000000-0000-0000-0000-000000000000", ap)
	get(a, "/ap/activities/999999999", ap)
	get(a, "/api/antraege", "")
	get(a, "/api/antraege/"+an.ID, "")
	get(b, "/api/antraege", "")
	get(b, "/api/antraege/"+remoteID, "")
	if verified < 3 {
		t.Errorf("only %d proofs verified: the golden would blank unverified ones", verified)
	}

	// What the follower was delivered, in an order that does not depend on which delivery
	// job ran first: sorted by the document with every varying value masked.
	var delivered []json.RawMessage
	for _, act := range peer.Received() {
		body, _ := json.Marshal(act)
		verified += verifyProofs(t, ctx, "delivered", body)
		delivered = append(delivered, body)
	}
	sort.SliceStable(delivered, func(i, j int) bool { return masked(delivered[i]) < masked(delivered[j]) })
	var deliveredOut []json.RawMessage
	for _, body := range delivered {
		deliveredOut = append(deliveredOut, n.json(body))
	}

	compareGolden(t, "served.json", served)
	compareGolden(t, "delivered.json", deliveredOut)
}

// wireDoc is one answer the instances gave.
type wireDoc struct {
	Request     string          `json:"request"`
	Status      int             `json:"status"`
	ContentType string          `json:"content_type"`
	Body        json.RawMessage `json:"body"`
}

// verifyProofs checks every Data Integrity proof in body (the document's own, and those of
// embedded objects) with the key its verification method's actor publishes, and returns how
// many it checked.
func verifyProofs(t *testing.T, ctx context.Context, where string, body []byte) int {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return 0
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["proof"]; ok {
				doc, _ := json.Marshal(x)
				if _, err := proof.Verify(ctx, doc, resolveEd25519); err != nil {
					t.Errorf("%s: proof of %v does not verify: %v", where, x["id"], err)
				}
				n++
			}
			for _, m := range x {
				walk(m)
			}
		case []any:
			for _, m := range x {
				walk(m)
			}
		}
	}
	walk(v)
	return n
}

// resolveEd25519 fetches the actor of a verification method and takes the key it publishes
// under that id.
func resolveEd25519(ctx context.Context, vm string) (ed25519.PublicKey, string, error) {
	actor, _, _ := strings.Cut(vm, "#")
	req, _ := http.NewRequestWithContext(ctx, "GET", actor, nil)
	req.Header.Set("Accept", "application/activity+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	var doc struct {
		ID              string `json:"id"`
		AssertionMethod []struct {
			ID                 string `json:"id"`
			PublicKeyMultibase string `json:"publicKeyMultibase"`
		} `json:"assertionMethod"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		return nil, "", err
	}
	for _, m := range doc.AssertionMethod {
		if m.ID == vm {
			k, err := proof.DecodeMultikey(m.PublicKeyMultibase)
			return k, doc.ID, err
		}
	}
	return nil, "", errors.New("no assertion method " + vm)
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	// An event id is numbered per instance: two instances' logs count alike.
	eventRE = regexp.MustCompile(`(https://[a-z.]+)?/ap/(activities|stimmen)/([0-9]+)`)
	timeRE  = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})`)
	// Values that are random per run: keys and signatures.
	secretRE = regexp.MustCompile(`"(proofValue|publicKeyPem|publicKeyMultibase)": "[^"]*"`)
	cursorRE = regexp.MustCompile(`([?&](?:max_id|min_id|before|after|page)=)([0-9][0-9.:_-]*)`)
)

// masked is a document with everything that varies between runs replaced by one placeholder
// per kind: a sort key that does not depend on the run.
func masked(body []byte) string {
	s := uuidRE.ReplaceAllString(string(body), "<uuid>")
	s = eventRE.ReplaceAllString(s, "$1/ap/$2/<event>")
	s = timeRE.ReplaceAllString(s, "<time>")
	s = cursorRE.ReplaceAllString(s, "${1}<cursor>")
	return s
}

// normaliser replaces what varies between runs with placeholders numbered by first
// appearance over everything it has seen, so that equal ids stay equal and different ones
// different.
type normaliser struct {
	hosts   *strings.Replacer
	uuids   map[string]string
	events  map[string]string
	cursors map[string]string
}

func newNormaliser(bases map[string]string) *normaliser {
	var pairs []string
	// Longest first, so that a base URL is replaced before its host.
	keys := make([]string, 0, len(bases))
	for k := range bases {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		u, _ := url.Parse(k)
		pairs = append(pairs, k, "https://"+bases[k], u.Host, bases[k], strings.ReplaceAll(k, "/", `\/`), `https:\/\/`+bases[k])
	}
	return &normaliser{hosts: strings.NewReplacer(pairs...), uuids: map[string]string{}, events: map[string]string{}, cursors: map[string]string{}}
}

func number(m map[string]string, kind, v string) string {
	if p, ok := m[v]; ok {
		return p
	}
	p := "<" + kind + "-" + strconv.Itoa(len(m)+1) + ">"
	m[v] = p
	return p
}

func (n *normaliser) text(s string) string {
	s = n.hosts.Replace(s)
	s = uuidRE.ReplaceAllStringFunc(s, func(u string) string { return number(n.uuids, "uuid", u) })
	s = eventRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := eventRE.FindStringSubmatch(m)
		return sub[1] + "/ap/" + sub[2] + "/" + number(n.events, "event", sub[1]+" "+sub[3])
	})
	s = cursorRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := cursorRE.FindStringSubmatch(m)
		if sub[2] == "true" {
			return m
		}
		return sub[1] + number(n.cursors, "cursor", sub[2])
	})
	s = timeRE.ReplaceAllString(s, "<time>")
	s = secretRE.ReplaceAllString(s, `"$1": "<$1>"`)
	return s
}

// json normalises a JSON document, keeping its members' order, indented; a body that is not
// JSON is kept as a string.
func (n *normaliser) json(body []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		s, _ := json.Marshal(n.text(string(body)))
		return s
	}
	return json.RawMessage(n.text(buf.String()))
}

// compareGolden compares v, as indented JSON, with testdata/wire/name, or writes it there
// with -update.
func compareGolden(t *testing.T, name string, v any) {
	t.Helper()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got := out.Bytes()
	path := filepath.Join("testdata", "wire", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the wire golden from line %d:\n got: %s\nwant: %s\n(if the change is meant, regenerate with -update and say so in the commit)", path, i+1, g, w)
			}
		}
	}
}
