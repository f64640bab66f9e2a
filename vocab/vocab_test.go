package vocab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/piprate/json-gold/ld"

	"github.com/weltgewebe/weltgewebe/internal/testrig/jsonld"
)

// The expected IRIs of every key and type are jsonld's tables, written independently of
// contexts.go and weltgewebe.jsonld.
const (
	nsAS  = jsonld.NSAS
	nsSec = jsonld.NSSec
	nsWG  = jsonld.NSWG
	nsXSD = jsonld.NSXSD
	nsLDP = jsonld.NSLDP
	nsDC  = jsonld.NSDC
)

// emittedTypes are the Go types whose JSON we send; every JSON key of theirs must be in
// jsonld.Terms and appear in some sample, so a new field cannot slip out unmapped.
var emittedTypes = []any{
	Actor{}, PublicKey{}, Multikey{}, Endpoints{}, Activity{}, PollOption{}, OptionReplies{}, Source{},
	Antrag{}, Abstimmung{}, Einspruch{}, Stimme{}, Delegation{}, Proof{}, Knoten{}, Faden{},
	OrderedCollection{}, OrderedCollectionPage{}, Snapshot{},
}

func ptr[T any](v T) *T { return &v }

type sample struct {
	name string
	doc  any
}

func samples(t *testing.T) []sample {
	const (
		host   = "https://weltgewebe.example"
		bernd  = host + "/users/bernd"
		jana   = host + "/users/jana"
		group  = host + "/ortswebereien/lindenau"
		antrag = host + "/antraege/7f3c2a"
		agent  = antrag + "/actor"
		pem    = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n"
	)
	at := func(s string) Time { return date(s) }
	key := func(actor string) *PublicKey {
		return &PublicKey{ID: actor + "#main-key", Owner: actor, PublicKeyPem: pem}
	}
	multikey := func(actor string) []Multikey {
		return []Multikey{{ID: actor + "#ed25519-key", Type: "Multikey", Controller: actor, PublicKeyMultibase: "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}}
	}
	proof := func(actor, created string) *Proof {
		return &Proof{Type: "DataIntegrityProof", Cryptosuite: "eddsa-jcs-2022", VerificationMethod: actor + "#ed25519-key",
			ProofPurpose: "assertionMethod", Created: created,
			ProofValue: "z4oey5q2M3XKaxup3tmzN4DRFTLVqpLMweBrSxMY2xHX5XTYVQeVbY8nQAVHMrXFkXJpmEcqdoDwLWxaqA3Q1geV6"}
	}
	options := func(yes, no, abstain int) []PollOption {
		opts := make([]PollOption, 0, 3)
		for i, c := range ChoiceOrder {
			opts = append(opts, PollOption{Type: "Note", Name: ChoiceNames[c], Replies: OptionReplies{Type: "Collection", TotalItems: []int{yes, no, abstain}[i]}})
		}
		return opts
	}
	delegation := Delegation{
		ID: host + "/delegationen/d91", Type: "Delegation", Delegator: jana, Delegate: bernd,
		EffectiveAt: at("2026-10-01T00:00:00Z"), EndedAt: ptr(at("2026-12-31T00:00:00Z")), Published: at("2026-09-30T21:13:00Z"),
		To: []string{group}, Proof: proof(jana, "2026-09-30T21:13:00Z"),
	}
	openAntrag := Antrag{
		ID: antrag, Type: []string{"Question", "Antrag"}, AttributedTo: agent, Applicant: bernd,
		Title: "Neue Bank am Brunnen", Content: "<p>Die alte Bank ist morsch.</p>",
		Source: &Source{Content: "Die alte Bank ist morsch.", MediaType: "text/markdown"}, URL: host + "/antraege/7f3c2a",
		Published: at("2026-11-16T10:00:00Z"), To: []string{Public}, Cc: []string{group + "/followers"},
		OneOf: options(0, 0, 0), VotersCount: 0, EndTime: at("2026-11-30T18:00:00Z"),
		Ortsweberei: group, Status: "voting", DecisionDeadline: at("2026-11-30T18:00:00Z"), Extended: false,
		AmountCents: ptr(int64(45000)), Knoten: host + "/knoten/brunnen", Abstimmung: host + "/abstimmungen/7f3c2a",
		OpensAt: ptr(at("2026-11-23T18:00:00Z")), ClosesAt: ptr(at("2026-11-30T18:00:00Z")),
	}
	closedAntrag := openAntrag
	closedAntrag.Status, closedAntrag.Outcome, closedAntrag.Extended = "decided", "accepted", true
	closedAntrag.Updated, closedAntrag.Closed = ptr(at("2026-11-30T18:00:05Z")), ptr(at("2026-11-30T18:00:00Z"))
	closedAntrag.OneOf, closedAntrag.VotersCount = options(31, 6, 3), 40
	closedAntrag.YesWeight, closedAntrag.NoWeight, closedAntrag.AbstainWeight = ptr(33), ptr(6), ptr(3)
	closedAntrag.Delegations = []Delegation{delegation}
	einspruch := Einspruch{
		ID: host + "/einsprueche/e12", Type: []string{"Note", "Einspruch"}, AttributedTo: jana, InReplyTo: antrag, Antrag: antrag,
		Content: "<p>Der Brunnen wird nächstes Jahr versetzt.</p>", Reason: "Der Brunnen wird nächstes Jahr versetzt.",
		Published: at("2026-11-18T08:30:00Z"), To: []string{Public}, Cc: []string{agent},
	}
	stimme := Stimme{
		ID: host + "/stimmen/41d2", Type: []string{"Note", "Stimme"}, AttributedTo: jana, InReplyTo: antrag, Antrag: antrag,
		Abstimmung: host + "/abstimmungen/7f3c2a", Name: ChoiceNames["no"], Choice: "no", Published: at("2026-11-23T19:02:11Z"),
		To: []string{agent}, Proof: proof(jana, "2026-11-23T19:02:11Z"),
	}
	knoten := Knoten{
		ID: host + "/knoten/brunnen", Type: []string{"Place", "Knoten"}, Name: "Brunnen am Lindenauer Markt",
		Content: "<p>Treffpunkt, Trinkwasser im Sommer.</p>", Latitude: 51, Longitude: 12.3456, KnotenType: "ort",
		H3: "891f1d48177ffff", AttributedTo: bernd, Published: at("2026-11-01T12:00:00Z"), Permanent: true, Ortsweberei: group,
		To: []string{Public},
	}
	faden := Faden{
		ID: host + "/faeden/f7", Type: "Faden", AttributedTo: jana, Knoten: knoten.ID, FadenType: "interesse", Twisted: true,
		ExpiresAt: ptr(at("2026-12-01T00:00:00Z")), Published: at("2026-11-02T09:00:00Z"), To: []string{Public},
	}
	follow := Activity{ID: host + "/activities/follow/8d2e61", Type: "Follow", Actor: group, Object: "https://mastodon.example/users/anna"}
	withContext := func(v any) any {
		reflect.ValueOf(v).Elem().FieldByName("Context").Set(reflect.ValueOf(any(Context)))
		return reflect.ValueOf(v).Elem().Interface()
	}
	raw := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	activity := func(typ, id string, object any) *Activity {
		return &Activity{ID: host + "/activities/" + id, Type: typ, Actor: agent, Object: object,
			To: []string{Public}, Cc: []string{group + "/followers"}, Published: ptr(at("2026-11-16T10:00:01Z"))}
	}
	withTarget := activity("Create", "create/faden/f7", faden)
	withTarget.Actor, withTarget.Target = jana, knoten.ID

	const h1, h2, h3 = "5b0c6a1f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
		"aa00bb11cc22dd33ee44ff5566778899aa00bb11cc22dd33ee44ff5566778899"
	return []sample{
		{"Snapshot", withContext(&Snapshot{
			ID: host + "/ap/snapshots/" + h1, Type: "Snapshot", AttributedTo: group, URL: host + "/snapshots/" + h1 + ".json.gz",
			MediaType: "application/gzip", SnapshotHash: h1, SnapshotKind: "incremental", AsOf: at("2026-11-16T06:00:00.000123Z"),
			PreviousSnapshot: h2, BaseSnapshot: h3, DetachedSignature: host + "/snapshots/" + h1 + ".sig",
			SignatureValue: "63UCJbQv9RI+pw5xgoXwIPCDkYreNUsabGTlTZskh/FB4OINR3+YzvsARMkhP/ps08wPOuafSK9jhHxHKkU7Cw==",
			Published:      at("2026-11-16T06:00:01Z"), To: []string{Public},
		})},
		{"Person", withContext(&Actor{
			ID: bernd, Type: "Person", PreferredUsername: "bernd", Name: "Bernd Schulz", Summary: "<p>Bänke, Brunnen, Bäume.</p>",
			URL: host + "/@bernd", Inbox: bernd + "/inbox", Outbox: bernd + "/outbox", Followers: bernd + "/followers",
			Following: bernd + "/following", Endpoints: &Endpoints{SharedInbox: host + "/inbox"}, PublicKey: key(bernd),
			AssertionMethod: multikey(bernd), Discoverable: true, Published: ptr(at("2026-03-01T00:00:00Z")),
			Ortsweberei: group, Verified: ptr(true),
		})},
		{"Group", withContext(&Actor{
			ID: group, Type: []string{"Group", "Ortsweberei"}, PreferredUsername: "lindenau", Name: "Ortsweberei Lindenau",
			Summary: "<p>Leipzig-Lindenau</p>", Inbox: group + "/inbox", Outbox: group + "/outbox", Followers: group + "/followers",
			Following: group + "/following", Endpoints: &Endpoints{SharedInbox: host + "/inbox"}, PublicKey: key(group),
			AssertionMethod: multikey(group), ManuallyApprovesFollowers: false, Discoverable: true, Indexable: true,
		})},
		{"Service", withContext(&Actor{
			ID: agent, Type: "Service", PreferredUsername: "antrag-7f3c2a", Name: "Antrag «Neue Bank am Brunnen»",
			Inbox: agent + "/inbox", Outbox: agent + "/outbox", Followers: agent + "/followers",
			Endpoints: &Endpoints{SharedInbox: host + "/inbox"}, PublicKey: key(agent), AssertionMethod: multikey(agent),
			Ortsweberei: group,
		})},
		{"Application", withContext(&Actor{
			ID: host + "/actor", Type: "Application", PreferredUsername: host[len("https://"):], Inbox: host + "/actor/inbox",
			Outbox: host + "/actor/outbox", Followers: host + "/actor/followers", PublicKey: key(host + "/actor"),
			ManuallyApprovesFollowers: true,
		})},
		{"Create Antrag", withContext(activity("Create", "create/antrag/7f3c2a", openAntrag))},
		{"Update Antrag", withContext(activity("Update", "update/antrag/7f3c2a/3", closedAntrag))},
		{"Delete", withContext(activity("Delete", "delete/einspruch/e12", map[string]any{"id": einspruch.ID, "type": "Tombstone"}))},
		{"Announce", withContext(activity("Announce", "announce/7f3c2a", antrag))},
		{"Follow", withContext(&follow)},
		{"Accept", withContext(&Activity{ID: bernd + "#accepts/1", Type: "Accept", Actor: bernd, Object: follow, To: []string{group}})},
		{"Reject", withContext(&Activity{ID: bernd + "#rejects/1", Type: "Reject", Actor: bernd, Object: follow.ID, To: []string{group}})},
		{"Undo", withContext(&Activity{ID: group + "#undo/1", Type: "Undo", Actor: group, Object: follow, To: []string{"https://mastodon.example/users/anna"}})},
		{"Create Stimme", withContext(activity("Create", "create/stimme/41d2", stimme))},
		{"Create StimmeNote", withContext(&Activity{ID: host + "/activities/41d2/note", Type: "Create", Actor: jana,
			Object: StimmeNote{ID: stimme.ID + "/note", Type: "Note", AttributedTo: jana,
				Content: `<p>Stimme zum Antrag <a href="` + host + `/antraege/7f3c2a">«Neue Bank am Brunnen»</a>: <strong>Nein</strong></p>`,
				URL:     host + "/antraege/7f3c2a", Stimme: stimme.ID, Published: at("2026-11-23T19:02:11Z"), To: []string{Public}, Cc: []string{jana + "/followers"}},
			To: []string{Public}, Cc: []string{jana + "/followers"}, Published: ptr(at("2026-11-23T19:02:11Z"))})},
		{"Update StreamNote", withContext(&Activity{ID: host + "/activities/77", Type: "Update", Actor: group,
			Object: StreamNote{ID: host + "/streams/0193", Type: "Note", AttributedTo: group,
				Content: `<p><strong>Beendet:</strong> «Webrat live»</p>`, URL: host + "/streams/0193",
				Published: at("2026-11-23T19:00:00Z"), Updated: ptr(at("2026-11-23T21:00:00Z")), To: []string{Public}, Cc: []string{group + "/followers"}},
			To: []string{Public}, Cc: []string{group + "/followers"}, Published: ptr(at("2026-11-23T21:00:00Z"))})},
		{"Create Faden with target", withContext(withTarget)},
		{"Antrag open", withContext(&openAntrag)},
		{"Antrag closed", withContext(&closedAntrag)},
		{"Abstimmung open", withContext(&Abstimmung{ID: host + "/abstimmungen/7f3c2a", Type: "Abstimmung", Antrag: antrag,
			OpensAt: at("2026-11-23T18:00:00Z"), ClosesAt: at("2026-11-30T18:00:00Z")})},
		{"Abstimmung closed", withContext(&Abstimmung{ID: host + "/abstimmungen/7f3c2a", Type: "Abstimmung", Antrag: antrag,
			OpensAt: at("2026-11-23T18:00:00Z"), ClosesAt: at("2026-11-30T18:00:00Z"), Closed: ptr(at("2026-11-30T18:00:00Z")), Outcome: "angenommen"})},
		{"Einspruch", withContext(&einspruch)},
		{"Stimme", withContext(&stimme)},
		{"Delegation", withContext(&delegation)},
		{"Knoten", withContext(&knoten)},
		{"Faden", withContext(&faden)},
		{"OrderedCollection", withContext(&OrderedCollection{ID: group + "/outbox", Type: "OrderedCollection", TotalItems: ptr(2),
			First: group + "/outbox?page=1", Last: group + "/outbox?page=1"})},
		{"OrderedCollectionPage", withContext(&OrderedCollectionPage{ID: group + "/outbox?page=1", Type: "OrderedCollectionPage",
			PartOf: group + "/outbox", Next: group + "/outbox?page=2", Prev: group + "/outbox?page=0",
			OrderedItems: []json.RawMessage{raw(activity("Create", "create/knoten/brunnen", knoten)), raw(host + "/activities/announce/7f3c2a")}})},
	}
}

// expand runs a JSON-LD 1.1 expansion the strict way, with our contexts only.
func expand(doc any) ([]any, error) { return jsonld.Expand(doc, jsonld.Loader(KnownContext)) }

func TestEmittedDocumentsExpand(t *testing.T) {
	used := map[string]bool{}
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			b, err := json.Marshal(s.doc)
			if err != nil {
				t.Fatal(err)
			}
			var compact, input map[string]any
			if err := json.Unmarshal(b, &compact); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &input); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(compact["@context"], []any{ActivityStreams, SecurityV1, DataIntegrityV2, MultikeyV1, ContextURL}) {
				t.Fatalf("@context is %v", compact["@context"])
			}
			out, err := expand(input)
			if err != nil {
				t.Fatalf("expansion failed: %v\n%s", err, b)
			}
			if len(out) != 1 {
				t.Fatalf("expanded to %d nodes, want 1", len(out))
			}
			c := &jsonld.Checker{Errorf: t.Errorf, Used: used}
			c.Node(s.name, compact, out[0])
			if t.Failed() {
				e, _ := json.MarshalIndent(out, "", "  ")
				t.Logf("compact:\n%s\nexpanded:\n%s", b, e)
			}
		})
	}

	// Every key of every emitted type is mapped and exercised by a sample.
	for _, v := range emittedTypes {
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = rt.Field(i).Name
			}
			switch name {
			case "-", "@context", "id", "type":
				continue
			}
			if _, ok := jsonld.Terms[name]; !ok {
				t.Errorf("%s.%s: JSON key %q has no expected IRI in jsonld.Terms", rt.Name(), rt.Field(i).Name, name)
			} else if !used[name] {
				t.Errorf("%s.%s: JSON key %q appears in no sample", rt.Name(), rt.Field(i).Name, name)
			}
		}
	}
	for name := range jsonld.Terms {
		if !used[name] {
			t.Errorf("jsonld.Terms has %q, which no sample emits", name)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// An unmapped key must fail the check above, not pass as "_:key": the check is only worth
// something if it catches the mistake it is there for.
func TestExpansionCheckCatchesUnmappedKeys(t *testing.T) {
	doc := map[string]any{"@context": Context, "id": "https://a.example/1", "type": "Note", "colour": "blue", "choice": "yes"}
	out, err := expand(doc)
	if err != nil {
		t.Fatalf("expansion failed: %v", err)
	}
	if _, ok := out[0].(map[string]any)["_:colour"]; !ok {
		t.Fatalf("unknown keys no longer become blank-node properties: %v", out)
	}
	var complaints []string
	c := &jsonld.Checker{Errorf: func(f string, args ...any) { complaints = append(complaints, fmt.Sprintf(f, args...)) }}
	c.Node("doc", doc, out[0])
	if len(complaints) != 2 || !strings.Contains(strings.Join(complaints, "\n"), `key "colour" has no expected IRI`) {
		t.Errorf("complaints: %q", complaints)
	}
}

func TestDegreesJSON(t *testing.T) {
	for _, c := range []struct {
		d    Degrees
		want string
	}{
		{51, "51.0"},
		{12.3456, "12.3456"},
		{-0.5, "-0.5"},
		{-12, "-12.0"},
		{0, "0.0"},
		{180, "180.0"},
		{-179.999999, "-179.999999"},
		{51.339695, "51.339695"},
	} {
		b, err := json.Marshal(c.d)
		if err != nil || string(b) != c.want {
			t.Errorf("%v: %s %v, want %s", float64(c.d), b, err, c.want)
		}
		var back Degrees
		if err := json.Unmarshal(b, &back); err != nil || back != c.d {
			t.Errorf("%s reads back as %v %v", b, back, err)
		}
	}
	b, err := json.Marshal(Knoten{Latitude: 51, Longitude: -0.1275})
	if err != nil || !bytes.Contains(b, []byte(`"latitude":51.0,"longitude":-0.1275`)) {
		t.Errorf("%s %v", b, err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if b, err := json.Marshal(Degrees(bad)); err == nil {
			t.Errorf("%v marshalled as %s", bad, b)
		}
	}
}

func TestContextDocumentIsValidJSONLD(t *testing.T) {
	doc := ContextDocument()
	if dups := duplicateKeys(doc); len(dups) > 0 {
		t.Errorf("weltgewebe.jsonld defines %v more than once (the last silently wins)", dups)
	}
	var parsed map[string]any
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed) != 1 {
		t.Errorf("top-level keys %v, want only @context", sortedKeys(parsed))
	}
	terms, ok := parsed["@context"].(map[string]any)
	if !ok {
		t.Fatalf("@context is %T", parsed["@context"])
	}
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = jsonld.Loader(KnownContext)
	opts.ProcessingMode = ld.JsonLd_1_1
	alone, err := ld.NewContext(nil, opts).Parse(parsed["@context"])
	if err != nil {
		t.Fatalf("our context alone: %v", err)
	}
	for _, term := range sortedKeys(terms) {
		iri, err := alone.ExpandIri(term, false, true, nil, nil)
		if err != nil || !strings.HasPrefix(iri, "http") || !strings.ContainsAny(iri, "#/") {
			t.Errorf("term %q expands to %q (%v)", term, iri, err)
		}
		if def, ok := terms[term].(map[string]any); ok && strings.HasPrefix(iri, nsWG) && iri != nsWG+term {
			t.Errorf("wg term %q maps to %s (%v): a wg term's IRI is its name", term, iri, def)
		}
	}
	// In the order we use it, after the contexts it builds on; a protected term redefined
	// differently would fail here.
	if _, err := ld.NewContext(nil, opts).Parse(Context); err != nil {
		t.Fatalf("vocab.Context: %v", err)
	}
	// And in front of them, where the protected security terms come last.
	reversed := []any{ContextURL, MultikeyV1, DataIntegrityV2, SecurityV1, ActivityStreams}
	if _, err := ld.NewContext(nil, opts).Parse(reversed); err != nil {
		t.Fatalf("contexts in reverse order: %v", err)
	}
}

// duplicateKeys reports keys that occur twice in one JSON object anywhere in b.
func duplicateKeys(b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // next string token is a key
	}
	var stack []*frame
	var dups []string
	for {
		tok, err := dec.Token()
		if err != nil {
			return dups
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, expect: v == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		default:
			if top != nil && top.object {
				if top.expect {
					if s, ok := v.(string); ok {
						if top.keys[s] {
							dups = append(dups, s)
						}
						top.keys[s] = true
					}
					top.expect = false
				} else {
					top.expect = true
				}
			}
		}
	}
}

func TestDocumentLoaderServesOnlyBuiltInContexts(t *testing.T) {
	loader := jsonld.Loader(KnownContext)
	for _, u := range []string{
		ActivityStreams, "http://www.w3.org/ns/activitystreams", ActivityStreams + ".jsonld", "http://www.w3.org/ns/activitystreams.jsonld",
		SecurityV1, "http://w3id.org/security/v1", DataIntegrityV2, MultikeyV1, ContextURL, "http://weltgewebe.org/ns/v1",
	} {
		rd, err := loader.LoadDocument(u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		doc, ok := rd.Document.(map[string]any)
		if !ok || doc["@context"] == nil {
			t.Errorf("%s: %v", u, rd.Document)
		}
	}
	for _, u := range []string{
		"https://w3id.org/security/v2", "https://w3id.org/security/data-integrity/v1", "https://www.w3.org/ns/did/v1",
		"http://joinmastodon.org/ns", "https://example.org/context.jsonld", ActivityStreams + "#", "", "file:///etc/passwd",
	} {
		if _, err := loader.LoadDocument(u); !errors.Is(err, jsonld.ErrUnknownContext) {
			t.Errorf("%s: %v, want jsonld.ErrUnknownContext", u, err)
		}
	}
	// A document that names an unknown context fails to expand instead of going online: a
	// request through Go's default transport (what json-gold's own loader uses) fails the test.
	// (No test of this package runs in parallel, so the swap is seen by this one only.)
	var fetched []string
	defaultTransport := http.DefaultTransport
	http.DefaultTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fetched = append(fetched, r.URL.String())
		return nil, errors.New("no network in this test")
	})
	_, err := expand(map[string]any{"@context": "https://example.org/context.jsonld", "name": "x"})
	http.DefaultTransport = defaultTransport
	if !errors.Is(err, jsonld.ErrUnknownContext) || len(fetched) > 0 {
		t.Errorf("unknown context: %v; fetched %v", err, fetched)
	}
	// json-gold may change what it is given; every load is a fresh copy.
	rd, _ := loader.LoadDocument(ActivityStreams)
	rd.Document.(map[string]any)["@context"].(map[string]any)["Note"] = "changed"
	rd, _ = loader.LoadDocument(ActivityStreams)
	if rd.Document.(map[string]any)["@context"].(map[string]any)["Note"] != "as:Note" {
		t.Error("a change to a loaded document reached the next load")
	}
}

// The generated ActivityStreams context has the definitions the published one has; spot
// checks of each table and of the special cases.
func TestActivityStreamsContext(t *testing.T) {
	rd, err := jsonld.Loader(KnownContext).LoadDocument(ActivityStreams)
	if err != nil {
		t.Fatal(err)
	}
	c := rd.Document.(map[string]any)["@context"].(map[string]any)
	for term, want := range map[string]any{
		"@vocab": "_:", "id": "@id", "type": "@type", "as": nsAS, "xsd": nsXSD, "ldp": nsLDP,
		"vcard":        "http://www.w3.org/2006/vcard/ns#",
		"Note":         "as:Note",
		"IsFollowedBy": "as:IsFollowedBy",
		"Public":       map[string]any{"@id": "as:Public", "@type": "@id"},
		"inbox":        map[string]any{"@id": "ldp:inbox", "@type": "@id"},
		"actor":        map[string]any{"@id": "as:actor", "@type": "@id"},
		"alsoKnownAs":  map[string]any{"@id": "as:alsoKnownAs", "@type": "@id"},
		"orderedItems": map[string]any{"@id": "as:items", "@type": "@id", "@container": "@list"},
		"contentMap":   map[string]any{"@id": "as:content", "@container": "@language"},
		"closed":       map[string]any{"@id": "as:closed", "@type": "xsd:dateTime"},
		"deleted":      map[string]any{"@id": "as:deleted", "@type": "xsd:dateTime"},
		"radius":       map[string]any{"@id": "as:radius", "@type": "xsd:float"},
		"startIndex":   map[string]any{"@id": "as:startIndex", "@type": "xsd:nonNegativeInteger"},
		"duration":     map[string]any{"@id": "as:duration", "@type": "xsd:duration"},
		"hreflang":     "as:hreflang",
		"source":       "as:source",
	} {
		if !reflect.DeepEqual(c[term], want) {
			t.Errorf("%s: %v, want %v", term, c[term], want)
		}
	}
	// The published context has 58 class terms and 83 properties besides its prefixes.
	classes, props := 0, 0
	for term := range c {
		switch {
		case strings.HasPrefix(term, "@"), term == "id", term == "type", term == "Public":
		case c[term] == nil:
		case term[0] >= 'A' && term[0] <= 'Z':
			classes++
		case strings.HasSuffix(fmt.Sprint(c[term]), "#"):
		default:
			props++
		}
	}
	if classes != 58 || props != 83 {
		t.Errorf("%d classes and %d properties", classes, props)
	}
}

// Mastodon's RsaSignature2017 is computed over the security/v1 reading of created and
// creator (Dublin Core); a copy that put them in sec: would make every such check fail.
func TestSecurityV1Terms(t *testing.T) {
	doc := map[string]any{
		"@context":  []any{ActivityStreams, SecurityV1},
		"id":        "https://a.example/users/x",
		"publicKey": map[string]any{"id": "https://a.example/users/x#main-key", "owner": "https://a.example/users/x", "publicKeyPem": "pem"},
		"signature": map[string]any{"type": "RsaSignature2017", "creator": "https://a.example/users/x#main-key",
			"created": "2026-11-20T09:14:04Z", "signatureValue": "c2ln", "nonce": "n"},
	}
	out, err := expand(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	for _, iri := range []string{nsSec + "publicKey", nsSec + "owner", nsSec + "publicKeyPem", nsSec + "signature", nsSec + "signatureValue",
		nsSec + "nonce", nsDC + "creator", nsDC + "created"} {
		if !bytes.Contains(b, []byte(`"`+iri+`"`)) {
			t.Errorf("no %s in %s", iri, b)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
