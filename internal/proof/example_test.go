package proof_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// Verify proves who signed; the caller still has to check that the signer is the author.
func ExampleVerify() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	const anna = "https://a.example/users/anna"

	vote := []byte(`{"@context":"https://www.w3.org/ns/activitystreams",` +
		`"type":"Note","attributedTo":"https://a.example/users/anna",` +
		`"inReplyTo":"https://a.example/abstimmungen/7","name":"Ja"}`)
	signed, err := proof.Sign(vote, key, anna+"#ed25519-key", time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}

	// In the inbox: the resolver stands for fetching the actor and finding the key in
	// its assertionMethod.
	published := proof.EncodeMultikey(key.Public().(ed25519.PublicKey))
	resolve := func(_ context.Context, vm string) (ed25519.PublicKey, string, error) {
		if vm != anna+"#ed25519-key" {
			return nil, "", errors.New("unknown key")
		}
		pub, err := proof.DecodeMultikey(published)
		return pub, anna, err
	}
	res, err := proof.Verify(context.Background(), signed, resolve)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	var obj struct {
		AttributedTo string `json:"attributedTo"`
	}
	if err := json.Unmarshal(signed, &obj); err != nil {
		panic(err)
	}
	if res.Controller != obj.AttributedTo {
		fmt.Println("refused: signed by", res.Controller, "not by the author")
		return
	}
	fmt.Println("vote by", res.Controller, "signed at", res.Created.Format(time.RFC3339))
	// Output: vote by https://a.example/users/anna signed at 2025-03-01T10:00:00Z
}
