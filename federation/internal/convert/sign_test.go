package convert

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// A signed object goes out as our Go type, embedded in an activity, and must still verify:
// nothing the proof covers (its own @context included) may be lost in decoding and re-encoding.
func TestSignedObjectSurvivesOurTypes(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().UTC().Truncate(time.Microsecond)
	obj := &vocab.Stimme{Context: vocab.Context, ID: "http://x/ap/stimmen/1", Type: []string{"Note", "Stimme"}, AttributedTo: "http://x/ap/users/a",
		InReplyTo: "http://x/ap/antraege/1", Antrag: "http://x/ap/antraege/1", Abstimmung: "http://x/ap/abstimmungen/1", Name: "Ja", Choice: "yes",
		Published: now, To: []string{vocab.Public}}
	doc, _ := json.Marshal(obj)
	signed, err := proof.Sign(doc, priv, "http://x/ap/users/a#k", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(signed, obj); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(obj)
	res := func(ctx context.Context, vm string) (ed25519.PublicKey, string, error) {
		return priv.Public().(ed25519.PublicKey), "http://x/ap/users/a", nil
	}
	if _, err := proof.Verify(context.Background(), signed, res); err != nil {
		t.Fatalf("signed: %v", err)
	}
	if _, err := proof.Verify(context.Background(), again, res); err != nil {
		t.Fatalf("again: %v", err)
	}
}
