package proof

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"
)

const (
	anna   = "https://a.example/users/anna"
	annaVM = anna + "#ed25519-key"
)

// vote is a resident's answer to a question, the kind of object these proofs are for.
const vote = `{
  "@context": [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/data-integrity/v2"
  ],
  "id": "https://a.example/abstimmungen/7/stimmen/42",
  "type": "Note",
  "attributedTo": "https://a.example/users/anna",
  "inReplyTo": "https://a.example/abstimmungen/7",
  "name": "Ja",
  "to": ["https://www.w3.org/ns/activitystreams#Public"],
  "published": "2025-03-01T10:00:00Z"
}`

func testKey(t *testing.T, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// fixedResolver returns key and controller for one verification method and counts calls.
type fixedResolver struct {
	vm         string
	key        ed25519.PublicKey
	controller string
	calls      int
}

func (r *fixedResolver) resolve(_ context.Context, vm string) (ed25519.PublicKey, string, error) {
	r.calls++
	if vm != r.vm {
		return nil, "", fmt.Errorf("unknown key %s", vm)
	}
	return r.key, r.controller, nil
}

func annaResolver(t *testing.T) *fixedResolver {
	return &fixedResolver{vm: annaVM, key: testKey(t, 1).Public().(ed25519.PublicKey), controller: anna}
}

func signVote(t *testing.T) []byte {
	t.Helper()
	// A time with nanoseconds in another zone: the proof must still say UTC, whole seconds.
	created := time.Date(2025, 3, 1, 11, 0, 5, 999_000_000, time.FixedZone("CET", 3600))
	signed, err := Sign([]byte(vote), testKey(t, 1), annaVM, created)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestSignVerifyRoundTrip(t *testing.T) {
	signed := signVote(t)

	var got struct {
		Proof map[string]any `json:"proof"`
	}
	if err := json.Unmarshal(signed, &got); err != nil {
		t.Fatalf("Sign produced invalid JSON: %v\n%s", err, signed)
	}
	for k, want := range map[string]any{
		"type":               "DataIntegrityProof",
		"cryptosuite":        "eddsa-jcs-2022",
		"verificationMethod": annaVM,
		"proofPurpose":       "assertionMethod",
		"created":            "2025-03-01T10:00:05Z",
		"@context":           []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/data-integrity/v2"},
	} {
		if fmt.Sprint(got.Proof[k]) != fmt.Sprint(want) {
			t.Errorf("proof.%s = %v, want %v", k, got.Proof[k], want)
		}
	}
	if pv, _ := got.Proof["proofValue"].(string); !strings.HasPrefix(pv, "z") {
		t.Errorf("proofValue %q is not base58btc multibase", pv)
	}
	if len(got.Proof) != 7 {
		t.Errorf("proof has members %v, want exactly the seven above and proofValue", got.Proof)
	}

	r := annaResolver(t)
	res, err := Verify(context.Background(), signed, r.resolve)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, signed)
	}
	want := Result{VerificationMethod: annaVM, Controller: anna, Created: time.Date(2025, 3, 1, 10, 0, 5, 0, time.UTC)}
	if res != want {
		t.Errorf("Verify = %+v, want %+v", res, want)
	}
}

// TestSignKeepsDocument: everything but the added proof is the caller's bytes, untouched.
func TestSignKeepsDocument(t *testing.T) {
	signed := signVote(t)
	i := bytes.LastIndex(signed, []byte(`,"proof":`))
	if i < 0 {
		t.Fatalf("no proof member appended:\n%s", signed)
	}
	if want := strings.TrimSuffix(strings.TrimRight(vote, "\n "), "}"); string(signed[:i]) != strings.TrimRight(want, "\n ") {
		t.Errorf("document changed by Sign:\n%s", signed)
	}
}

func TestSignWithoutContext(t *testing.T) {
	for _, doc := range []string{`{}`, ` {"type":"Note","content":"x"} `} {
		signed, err := Sign([]byte(doc), testKey(t, 1), annaVM, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("Sign(%s): %v", doc, err)
		}
		if bytes.Contains(signed, []byte("@context")) {
			t.Errorf("Sign(%s) invented an @context: %s", doc, signed)
		}
		if _, err := Verify(context.Background(), signed, annaResolver(t).resolve); err != nil {
			t.Errorf("Verify(%s): %v", signed, err)
		}
	}
}

// edit applies f to the signed document as generic JSON. Fine for the test documents,
// which hold no numbers that float64 could round.
func edit(t *testing.T, doc []byte, f func(doc, proof map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	p, _ := m["proof"].(map[string]any)
	f(m, p)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyDetectsChanges(t *testing.T) {
	signed := signVote(t)
	otherCtx := []any{"https://www.w3.org/ns/activitystreams", "https://example.org/redefine-ja-as-nein"}
	for _, tc := range []struct {
		name string
		f    func(doc, proof map[string]any)
		want error
	}{
		{"vote changed", func(d, _ map[string]any) { d["name"] = "Nein" }, ErrSignatureInvalid},
		{"author changed", func(d, _ map[string]any) { d["attributedTo"] = "https://a.example/users/bert" }, ErrSignatureInvalid},
		{"member added", func(d, _ map[string]any) { d["summary"] = "extra" }, ErrSignatureInvalid},
		{"member removed", func(d, _ map[string]any) { delete(d, "to") }, ErrSignatureInvalid},
		{"array element changed", func(d, _ map[string]any) { d["to"] = []any{"https://a.example/followers"} }, ErrSignatureInvalid},
		{"value retyped", func(d, _ map[string]any) { d["name"] = []any{"Ja"} }, ErrSignatureInvalid},
		{"@context changed in document only", func(d, _ map[string]any) { d["@context"] = otherCtx }, ErrContextMismatch},
		{"@context extended in document only", func(d, _ map[string]any) {
			d["@context"] = append(d["@context"].([]any), map[string]any{"name": "https://example.org/other"})
		}, ErrContextMismatch},
		{"@context removed from document", func(d, _ map[string]any) { delete(d, "@context") }, ErrContextMismatch},
		{"@context changed in both", func(d, p map[string]any) { d["@context"] = otherCtx; p["@context"] = otherCtx }, ErrSignatureInvalid},
		{"@context removed from proof", func(_, p map[string]any) { delete(p, "@context") }, ErrSignatureInvalid},
		{"created changed", func(_, p map[string]any) { p["created"] = "2025-03-01T10:00:06Z" }, ErrSignatureInvalid},
		{"created removed", func(_, p map[string]any) { delete(p, "created") }, ErrSignatureInvalid},
		{"member added to proof", func(_, p map[string]any) { p["expires"] = "2099-01-01T00:00:00Z" }, ErrSignatureInvalid},
		// The resolver gives the same key for the other name, so only the signature can
		// tell that the proof was made naming annaVM.
		{"verificationMethod changed", func(_, p map[string]any) { p["verificationMethod"] = anna + "#other-key" }, ErrSignatureInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := edit(t, signed, tc.f)
			resolve := func(_ context.Context, vm string) (ed25519.PublicKey, string, error) {
				return testKey(t, 1).Public().(ed25519.PublicKey), anna, nil
			}
			if _, err := Verify(context.Background(), doc, resolve); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v\n%s", err, tc.want, doc)
			}
		})
	}

	// Re-encoding alone (member order, whitespace, escapes) is not a change.
	same := edit(t, signed, func(map[string]any, map[string]any) {})
	if _, err := Verify(context.Background(), same, annaResolver(t).resolve); err != nil {
		t.Errorf("Verify(re-encoded document) = %v", err)
	}
}

func TestVerifyProofValueTampered(t *testing.T) {
	signed := signVote(t)
	var m struct {
		Proof struct {
			ProofValue string `json:"proofValue"`
		} `json:"proof"`
	}
	if err := json.Unmarshal(signed, &m); err != nil {
		t.Fatal(err)
	}
	sig, err := base58.Decode(m.Proof.ProofValue[1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1
	doc := bytes.Replace(signed, []byte(m.Proof.ProofValue), []byte("z"+base58.Encode(sig)), 1)
	if _, err := Verify(context.Background(), doc, annaResolver(t).resolve); !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("Verify(flipped signature bit) = %v, want ErrSignatureInvalid", err)
	}
}

func TestVerifyWrongKey(t *testing.T) {
	signed := signVote(t)
	r := annaResolver(t)
	r.key = testKey(t, 2).Public().(ed25519.PublicKey)
	if _, err := Verify(context.Background(), signed, r.resolve); !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("Verify with another key = %v, want ErrSignatureInvalid", err)
	}
}

// TestVerifyReportsController: a proof by Bob's key on a vote attributed to Anna is valid
// as a proof; it is the controller in the result that lets the caller refuse it.
func TestVerifyReportsController(t *testing.T) {
	const bert = "https://b.example/users/bert"
	signed, err := Sign([]byte(vote), testKey(t, 2), bert+"#key", time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	r := &fixedResolver{vm: bert + "#key", key: testKey(t, 2).Public().(ed25519.PublicKey), controller: bert}
	res, err := Verify(context.Background(), signed, r.resolve)
	if err != nil {
		t.Fatal(err)
	}
	if res.Controller != bert {
		t.Errorf("Controller = %q, want %q", res.Controller, bert)
	}
}

func TestVerifyRejects(t *testing.T) {
	signed := signVote(t)
	proofOf := func(f func(p map[string]any)) []byte {
		return edit(t, signed, func(_, p map[string]any) { f(p) })
	}
	resolverErr := errors.New("actor gone")
	for _, tc := range []struct {
		name    string
		doc     []byte
		resolve KeyResolver // nil: annaResolver
		want    error
	}{
		{name: "no proof", doc: []byte(vote), want: ErrNoProof},
		{name: "null proof", doc: edit(t, signed, func(d, _ map[string]any) { d["proof"] = nil }), want: ErrNoProof},
		{name: "proof set", doc: edit(t, signed, func(d, p map[string]any) { d["proof"] = []any{p} }), want: ErrProofSet},
		{name: "proof is a string", doc: edit(t, signed, func(d, _ map[string]any) { d["proof"] = "z123" }), want: ErrMalformedProof},
		{name: "other proof type", doc: proofOf(func(p map[string]any) { p["type"] = "Ed25519Signature2020" }), want: ErrUnsupportedCryptosuite},
		{name: "other cryptosuite", doc: proofOf(func(p map[string]any) { p["cryptosuite"] = "eddsa-rdfc-2022" }), want: ErrUnsupportedCryptosuite},
		{name: "no cryptosuite", doc: proofOf(func(p map[string]any) { delete(p, "cryptosuite") }), want: ErrMalformedProof},
		{name: "other purpose", doc: proofOf(func(p map[string]any) { p["proofPurpose"] = "authentication" }), want: ErrProofPurpose},
		{name: "no verificationMethod", doc: proofOf(func(p map[string]any) { delete(p, "verificationMethod") }), want: ErrMalformedProof},
		{name: "verificationMethod not a string", doc: proofOf(func(p map[string]any) { p["verificationMethod"] = map[string]any{"id": annaVM} }), want: ErrMalformedProof},
		{name: "created not a date-time", doc: proofOf(func(p map[string]any) { p["created"] = "yesterday" }), want: ErrMalformedProof},
		{name: "no proofValue", doc: proofOf(func(p map[string]any) { delete(p, "proofValue") }), want: ErrMalformedProof},
		{name: "proofValue without multibase prefix", doc: proofOf(func(p map[string]any) { p["proofValue"] = p["proofValue"].(string)[1:] }), want: ErrProofValueEncoding},
		{name: "proofValue in base64", doc: proofOf(func(p map[string]any) { p["proofValue"] = "mAAAA" }), want: ErrProofValueEncoding},
		{name: "proofValue not base58", doc: proofOf(func(p map[string]any) { p["proofValue"] = "z0OIl" }), want: ErrProofValueEncoding},
		{name: "proofValue too short", doc: proofOf(func(p map[string]any) { p["proofValue"] = "z" + base58.Encode(make([]byte, 63)) }), want: ErrProofValueEncoding},
		{name: "resolver fails", doc: signed, resolve: func(context.Context, string) (ed25519.PublicKey, string, error) {
			return nil, "", resolverErr
		}, want: resolverErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := annaResolver(t)
			resolve := tc.resolve
			if resolve == nil {
				resolve = r.resolve
			}
			if _, err := Verify(context.Background(), tc.doc, resolve); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v\n%s", err, tc.want, tc.doc)
			}
			// Nothing that fails on its face may cost a fetch.
			if tc.resolve == nil && r.calls != 0 {
				t.Errorf("resolver called %d times for a proof that was refused before", r.calls)
			}
		})
	}
}

func TestVerifyResolverContract(t *testing.T) {
	signed := signVote(t)
	key := testKey(t, 1).Public().(ed25519.PublicKey)
	for name, resolve := range map[string]KeyResolver{
		"short key": func(context.Context, string) (ed25519.PublicKey, string, error) { return key[:31], anna, nil },
		"no controller": func(context.Context, string) (ed25519.PublicKey, string, error) {
			return key, "", nil
		},
		"nil": nil,
	} {
		if _, err := Verify(context.Background(), signed, resolve); err == nil {
			t.Errorf("%s: Verify succeeded", name)
		}
	}
}

func TestMalformedDocuments(t *testing.T) {
	signed := string(signVote(t))
	// dup repeats the first top-level member of the signed vote.
	dupTop := strings.Replace(signed, `"id":`, `"name":"Nein","id":`, 1)
	dupProof := strings.Replace(signed, `"cryptosuite":"eddsa-jcs-2022"`, `"cryptosuite":"eddsa-jcs-2022","cryptosuite":"other"`, 1)
	dupNested := strings.Replace(vote, `"type": "Note"`, `"type": "Note", "tag": {"name": "a", "name": "b"}`, 1)
	var many strings.Builder
	many.WriteString(`{"type":"Note"`)
	for i := range maxMembers {
		fmt.Fprintf(&many, `,"m%d":0`, i)
	}
	many.WriteString("}")

	for name, doc := range map[string]string{
		"empty":              "",
		"not JSON":           "not json",
		"array":              `[{"type":"Note"}]`,
		"string":             `"Ja"`,
		"null":               `null`,
		"two objects":        `{} {}`,
		"trailing comma":     `{"a":1,}`,
		"invalid UTF-8":      "{\"name\":\"J\xff\"}",
		"duplicate member":   dupTop,
		"duplicate in proof": dupProof,
		"duplicate nested":   dupNested,
		"too many members":   many.String(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Verify(context.Background(), []byte(doc), annaResolver(t).resolve); !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify = %v, want ErrMalformed", err)
			}
			if strings.Contains(doc, `"proof"`) {
				return
			}
			if _, err := Sign([]byte(doc), testKey(t, 1), annaVM, time.Unix(1, 0)); !errors.Is(err, ErrMalformed) {
				t.Errorf("Sign = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	key := testKey(t, 1)
	now := time.Unix(1, 0)
	if _, err := Sign(signVote(t), key, annaVM, now); !errors.Is(err, ErrAlreadySigned) {
		t.Errorf("Sign(signed) = %v, want ErrAlreadySigned", err)
	}
	if _, err := Sign([]byte(vote), key[:32], annaVM, now); err == nil {
		t.Error("Sign accepted a seed as private key")
	}
	if _, err := Sign([]byte(vote), key, "", now); err == nil {
		t.Error("Sign accepted an empty verificationMethod")
	}
	if _, err := Sign([]byte(vote), key, annaVM, time.Time{}); err == nil {
		t.Error("Sign accepted a zero time")
	}
}

// TestVerifyProofWithoutContext: proofs from software that leaves @context out of the
// proof (the Recommendation warns about it but allows it) verify, and then the document's
// @context is protected by the document hash.
func TestVerifyProofWithoutContext(t *testing.T) {
	members, err := parseObject([]byte(vote))
	if err != nil {
		t.Fatal(err)
	}
	p := proofObject{
		Type:               proofType,
		Cryptosuite:        cryptosuite,
		VerificationMethod: annaVM,
		ProofPurpose:       proofPurpose,
		Created:            "2025-03-01T10:00:00Z",
	}
	data, err := hashData(p, docHashOf(t, members))
	if err != nil {
		t.Fatal(err)
	}
	p.ProofValue = "z" + base58.Encode(ed25519.Sign(testKey(t, 1), data))
	pj, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	signed := appendMember([]byte(vote), "proof", pj, false)

	if _, err := Verify(context.Background(), signed, annaResolver(t).resolve); err != nil {
		t.Fatalf("Verify(proof without @context) = %v", err)
	}
	changed := edit(t, signed, func(d, _ map[string]any) { d["@context"] = "https://www.w3.org/ns/activitystreams" })
	if _, err := Verify(context.Background(), changed, annaResolver(t).resolve); !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("Verify(changed @context, proof without @context) = %v, want ErrSignatureInvalid", err)
	}
}

func TestVerifyReportsExpires(t *testing.T) {
	members, err := parseObject([]byte(vote))
	if err != nil {
		t.Fatal(err)
	}
	proof := map[string]any{
		"@context":           json.RawMessage(members["@context"]),
		"type":               proofType,
		"cryptosuite":        cryptosuite,
		"verificationMethod": annaVM,
		"proofPurpose":       proofPurpose,
		"created":            "2025-03-01T10:00:00Z",
		"expires":            "2025-04-01T10:00:00Z",
	}
	data, err := hashData(proof, docHashOf(t, members))
	if err != nil {
		t.Fatal(err)
	}
	proof["proofValue"] = "z" + base58.Encode(ed25519.Sign(testKey(t, 1), data))
	pj, err := json.Marshal(proof)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(context.Background(), appendMember([]byte(vote), "proof", pj, false), annaResolver(t).resolve)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC); !res.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", res.Expires, want)
	}
}
