package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// A signature that fails with the cached key has the key fetched again (that is how a key
// rotation reaches us), but anyone can send bad signatures naming someone's key: a key is
// refetched at most once a minute, however many bad signatures name it.
func TestBadSignaturesRefetchAKeyOncePerMinute(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	var offset atomic.Int64
	federation.SetKeyRefetchClock(inst.Federation, func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	actorFetches := func() int {
		n := 0
		for _, f := range peer.Fetches() {
			if f.Path == "/users/alice" {
				n++
			}
		}
		return n
	}
	n := 0
	activity := func() []byte {
		n++
		b, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": peer.ActorID() + "#likes/" + string(rune('a'+n)), "type": "Like", "actor": peer.ActorID(), "object": inst.URL + "/ap/ortsweberei"})
		return b
	}
	deliver := func(opt mastopeer.SignOptions, want int) {
		t.Helper()
		code, body, err := peer.Deliver(ctx, inst.URL+"/ap/inbox", activity(), opt)
		if err != nil || code != want {
			t.Fatalf("status %d (%v) %s, want %d", code, err, body, want)
		}
	}
	deliver(mastopeer.SignOptions{}, http.StatusAccepted) // alice's key is fetched once and cached
	if got := actorFetches(); got != 1 {
		t.Fatalf("the first delivery fetched alice %d times", got)
	}
	forged, _ := rsa.GenerateKey(rand.Reader, 2048)
	for range 6 {
		deliver(mastopeer.SignOptions{Key: forged}, http.StatusUnauthorized)
	}
	if got := actorFetches(); got != 2 {
		t.Fatalf("six bad signatures in a minute: %d fetches of alice, want 1 refetch", got-1)
	}
	deliver(mastopeer.SignOptions{}, http.StatusAccepted) // the real alice is not locked out

	offset.Store(int64(61 * time.Second))
	for range 3 {
		deliver(mastopeer.SignOptions{Key: forged}, http.StatusUnauthorized)
	}
	if got := actorFetches(); got != 3 {
		t.Fatalf("a minute later: %d fetches of alice in all, want one more refetch", got)
	}
}
