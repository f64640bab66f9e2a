package proof

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// streamCase is a document as Sign takes it and what SignHash/VerifyHash get instead: the
// hash of its canonical form and its @context.
func streamInputs(t *testing.T, doc []byte) ([sha256.Size]byte, json.RawMessage) {
	t.Helper()
	members, err := parseObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	delete(members, "proof")
	c, err := canonical(members)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(c), members["@context"]
}

func proofMember(t *testing.T, doc []byte) json.RawMessage {
	t.Helper()
	members, err := parseObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	return members["proof"]
}

// TestSignHashMatchesSign: the streaming functions are Sign and Verify fed differently, on
// documents with an array @context, a string @context, and none.
func TestSignHashMatchesSign(t *testing.T) {
	key := testKey(t, 1)
	created := time.Date(2025, 3, 1, 11, 0, 5, 0, time.UTC)
	docs := map[string]string{
		"vote":           vote,
		"string context": `{"@context":"https://w3id.org/security/data-integrity/v2","as_of":"x","n":1.50,"s":"\u003c&>"}`,
		"no context":     `{"id":"https://a.example/x","name":"Ä"}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			signed, err := Sign([]byte(doc), key, annaVM, created)
			if err != nil {
				t.Fatal(err)
			}
			hash, ctxJSON := streamInputs(t, []byte(doc))

			// Sign's proof verifies through VerifyHash …
			res, err := VerifyHash(context.Background(), hash, ctxJSON, proofMember(t, signed), annaResolver(t).resolve)
			if err != nil {
				t.Fatalf("VerifyHash(Sign's proof): %v", err)
			}
			if res.Controller != anna || res.VerificationMethod != annaVM || !res.Created.Equal(created) {
				t.Errorf("VerifyHash result %+v", res)
			}

			// … and SignHash's proof is the same proof, canonically written.
			p, err := SignHash(hash, ctxJSON, key, annaVM, created)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(p), canonicalJSON(t, proofMember(t, signed)); got != want {
				t.Errorf("SignHash proof\n got %s\nwant %s", got, want)
			}
			withProof := appendMember([]byte(doc), "proof", p, false)
			if _, err := Verify(context.Background(), withProof, annaResolver(t).resolve); err != nil {
				t.Errorf("Verify(document with SignHash's proof): %v", err)
			}

			// A different document hash is a different document.
			other := hash
			other[0] ^= 1
			if _, err := VerifyHash(context.Background(), other, ctxJSON, p, annaResolver(t).resolve); !errors.Is(err, ErrSignatureInvalid) {
				t.Errorf("VerifyHash(other hash) = %v, want ErrSignatureInvalid", err)
			}
		})
	}
}

func TestVerifyHashRejects(t *testing.T) {
	key := testKey(t, 1)
	created := time.Date(2025, 3, 1, 11, 0, 5, 0, time.UTC)
	ctxJSON := json.RawMessage(`"https://w3id.org/security/data-integrity/v2"`)
	var hash [sha256.Size]byte
	good, err := SignHash(hash, ctxJSON, key, annaVM, created)
	if err != nil {
		t.Fatal(err)
	}
	r := annaResolver(t)
	cases := []struct {
		name    string
		proof   []byte
		context json.RawMessage
		want    error
	}{
		{"no proof", nil, ctxJSON, ErrNoProof},
		{"null proof", []byte("null"), ctxJSON, ErrNoProof},
		{"proof set", append(append([]byte("["), good...), ']'), ctxJSON, ErrProofSet},
		{"string proof", []byte(`"z"`), ctxJSON, ErrMalformedProof},
		{"broken JSON", good[:len(good)-1], ctxJSON, ErrMalformedProof},
		{"duplicate member", bytes.Replace(good, []byte(`{`), []byte(`{"type":"X",`), 1), ctxJSON, ErrMalformedProof},
		{"other context", good, json.RawMessage(`"https://www.w3.org/ns/activitystreams"`), ErrContextMismatch},
		{"wrong purpose", bytes.Replace(good, []byte(`"assertionMethod"`), []byte(`"authentication"`), 1), ctxJSON, ErrProofPurpose},
		{"other key", func() []byte {
			p, _ := SignHash(hash, ctxJSON, testKey(t, 2), annaVM, created)
			return p
		}(), ctxJSON, ErrSignatureInvalid},
	}
	for _, c := range cases {
		if _, err := VerifyHash(context.Background(), hash, c.context, c.proof, r.resolve); !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyHash = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := VerifyHash(context.Background(), hash, ctxJSON, good, r.resolve); err != nil {
		t.Errorf("the unchanged proof: %v", err)
	}
}

// docHashOf is documentHash for tests that build proofs by hand.
func docHashOf(t *testing.T, members map[string]json.RawMessage) [sha256.Size]byte {
	t.Helper()
	h, err := documentHash(members)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
