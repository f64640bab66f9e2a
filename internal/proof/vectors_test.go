package proof

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"
)

// The published vectors are the only evidence that we interoperate rather than merely
// agree with ourselves: a round trip passes even if Sign and Verify share a mistake.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readText(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimRight(string(readTestdata(t, name)), "\n")
}

// secretKeyFromMultibase reads a secretKeyMultibase as the W3C examples publish it:
// base58btc of the multicodec ed25519-priv (0x8026) and the 32-byte seed.
func secretKeyFromMultibase(t *testing.T, s string) ed25519.PrivateKey {
	t.Helper()
	if !strings.HasPrefix(s, "z") {
		t.Fatalf("secret key %q: not base58btc", s)
	}
	raw, err := base58.Decode(s[1:])
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 34 || raw[0] != 0x80 || raw[1] != 0x26 {
		t.Fatalf("secret key %q: not ed25519-priv", s)
	}
	return ed25519.NewKeyFromSeed(raw[2:])
}

// didKeyResolver resolves did:key verification methods, which carry the key in the URL.
// The W3C vectors use one.
func didKeyResolver(_ context.Context, vm string) (ed25519.PublicKey, string, error) {
	did, fragment, ok := strings.Cut(vm, "#")
	mk, isKey := strings.CutPrefix(did, "did:key:")
	if !ok || !isKey || fragment != mk {
		return nil, "", fmt.Errorf("not a did:key verification method: %q", vm)
	}
	key, err := DecodeMultikey(mk)
	return key, did, err
}

// canonicalJSON is for comparing documents regardless of member order and whitespace.
func canonicalJSON(t *testing.T, doc []byte) string {
	t.Helper()
	m, err := parseObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := canonical(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

func TestW3CEddsaJcs2022Vectors(t *testing.T) {
	const dir = "w3c-eddsa-jcs-2022/"
	var kp struct {
		PublicKeyMultibase string `json:"publicKeyMultibase"`
		SecretKeyMultibase string `json:"secretKeyMultibase"`
	}
	if err := json.Unmarshal(readTestdata(t, dir+"keypair.json"), &kp); err != nil {
		t.Fatal(err)
	}
	priv := secretKeyFromMultibase(t, kp.SecretKeyMultibase)
	if got := EncodeMultikey(priv.Public().(ed25519.PublicKey)); got != kp.PublicKeyMultibase {
		t.Fatalf("public key of the example secret key = %s, want %s", got, kp.PublicKeyMultibase)
	}

	unsigned := readTestdata(t, dir+"unsigned.json")
	var options proofObject
	if err := json.Unmarshal(readTestdata(t, dir+"proof-options.json"), &options); err != nil {
		t.Fatal(err)
	}
	created, err := time.Parse(time.RFC3339, options.Created)
	if err != nil {
		t.Fatal(err)
	}

	// Step by step, with the same internals Sign and Verify use.
	members, err := parseObject(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	canonDoc, err := canonical(members)
	if err != nil {
		t.Fatal(err)
	}
	if want := readText(t, dir+"canonical-document.txt"); string(canonDoc) != want {
		t.Errorf("canonical document:\n got %s\nwant %s", canonDoc, want)
	}
	docHash := sha256.Sum256(canonDoc)
	if got, want := hex.EncodeToString(docHash[:]), readText(t, dir+"document-hash.hex"); got != want {
		t.Errorf("document hash = %s, want %s", got, want)
	}

	// The proof configuration as Sign builds it: from the options, with the document's
	// @context copied in (Create Proof, step 2).
	config := proofObject{
		Context:            members["@context"],
		Type:               proofType,
		Cryptosuite:        cryptosuite,
		VerificationMethod: options.VerificationMethod,
		ProofPurpose:       proofPurpose,
		Created:            created.UTC().Format(time.RFC3339),
	}
	canonConfig, err := canonical(config)
	if err != nil {
		t.Fatal(err)
	}
	if want := readText(t, dir+"canonical-proof-config.txt"); string(canonConfig) != want {
		t.Errorf("canonical proof configuration:\n got %s\nwant %s", canonConfig, want)
	}
	if c, err := canonical(options); err != nil || !bytes.Equal(c, canonConfig) {
		t.Errorf("proof configuration built by Sign differs from the spec's options document (%v)", err)
	}
	configHash := sha256.Sum256(canonConfig)
	if got, want := hex.EncodeToString(configHash[:]), readText(t, dir+"proof-config-hash.hex"); got != want {
		t.Errorf("proof configuration hash = %s, want %s", got, want)
	}

	data, err := hashData(config, docHash)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(data), readText(t, dir+"hash-data.hex"); got != want {
		t.Errorf("hash data = %s, want %s", got, want)
	}
	sig := ed25519.Sign(priv, data)
	if got, want := hex.EncodeToString(sig), readText(t, dir+"signature.hex"); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
	proofValue := readText(t, dir+"proof-value.txt")
	if got := "z" + base58.Encode(sig); got != proofValue {
		t.Errorf("proofValue = %s, want %s", got, proofValue)
	}

	// End to end through the public API.
	signed, err := Sign(unsigned, priv, options.VerificationMethod, created)
	if err != nil {
		t.Fatal(err)
	}
	want := readTestdata(t, dir+"signed.json")
	if got, want := canonicalJSON(t, signed), canonicalJSON(t, want); got != want {
		t.Errorf("Sign:\n got %s\nwant %s", got, want)
	}

	for name, doc := range map[string][]byte{"spec's signed credential": want, "our signed credential": signed} {
		res, err := Verify(context.Background(), doc, didKeyResolver)
		if err != nil {
			t.Errorf("Verify(%s): %v", name, err)
			continue
		}
		wantRes := Result{
			VerificationMethod: options.VerificationMethod,
			Controller:         "did:key:" + kp.PublicKeyMultibase,
			Created:            created,
		}
		if res != wantRes {
			t.Errorf("Verify(%s) = %+v, want %+v", name, res, wantRes)
		}
	}

	// The vector must also fail when it should, or the checks above prove little.
	tampered := bytes.Replace(want, []byte("The School of Examples"), []byte("The School of Exemples"), 1)
	if _, err := Verify(context.Background(), tampered, didKeyResolver); !errors.Is(err, ErrSignatureInvalid) {
		t.Errorf("Verify(tampered spec vector) = %v, want ErrSignatureInvalid", err)
	}
}

// actorResolver is a resolver as FEP-521a has it, over one already-fetched actor: the key
// must be a Multikey listed in the actor's assertionMethod, and the controller is the one
// stated there, checked against the actor's id.
func actorResolver(t *testing.T, actorJSON []byte) KeyResolver {
	t.Helper()
	var actor struct {
		ID              string `json:"id"`
		AssertionMethod []struct {
			ID                 string `json:"id"`
			Type               string `json:"type"`
			Controller         string `json:"controller"`
			PublicKeyMultibase string `json:"publicKeyMultibase"`
		} `json:"assertionMethod"`
	}
	if err := json.Unmarshal(actorJSON, &actor); err != nil {
		t.Fatal(err)
	}
	return func(_ context.Context, vm string) (ed25519.PublicKey, string, error) {
		for _, m := range actor.AssertionMethod {
			if m.ID != vm {
				continue
			}
			if m.Type != "Multikey" || m.Controller != actor.ID {
				return nil, "", fmt.Errorf("%s is not a Multikey controlled by %s", vm, actor.ID)
			}
			key, err := DecodeMultikey(m.PublicKeyMultibase)
			return key, m.Controller, err
		}
		return nil, "", fmt.Errorf("%s is not in the assertionMethod of %s", vm, actor.ID)
	}
}

func TestFEP8b32Vectors(t *testing.T) {
	const dir = "fep-8b32/"
	priv := secretKeyFromMultibase(t, "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq")
	const vm = "https://server.example/users/alice#ed25519-key"
	created := time.Date(2023, 2, 24, 23, 36, 38, 0, time.UTC)

	signed, err := Sign(readTestdata(t, dir+"document.json"), priv, vm, created)
	if err != nil {
		t.Fatal(err)
	}
	want := readTestdata(t, dir+"signed.json")
	if got, want := canonicalJSON(t, signed), canonicalJSON(t, want); got != want {
		t.Errorf("Sign:\n got %s\nwant %s", got, want)
	}

	resolve := actorResolver(t, readTestdata(t, dir+"actor.json"))
	res, err := Verify(context.Background(), want, resolve)
	if err != nil {
		t.Fatalf("Verify(FEP signed document): %v", err)
	}
	wantRes := Result{VerificationMethod: vm, Controller: "https://server.example/users/alice", Created: created}
	if res != wantRes {
		t.Errorf("Verify = %+v, want %+v", res, wantRes)
	}

	// The numbers are where JCS implementations differ most; changing one digit must
	// break the proof.
	tampered := bytes.Replace(want, []byte("25.273962"), []byte("25.273963"), 1)
	if _, err := Verify(context.Background(), tampered, resolve); !errors.Is(err, ErrSignatureInvalid) {
		t.Errorf("Verify(changed latitude) = %v, want ErrSignatureInvalid", err)
	}
}
