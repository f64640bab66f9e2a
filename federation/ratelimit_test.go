package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// A remote server that delivers more than its share is answered 429 rate_limited with
// Retry-After, as Mastodon answers, and retries later; it is counted by the host of the key
// that signed, so another server's deliveries go on, and an unsigned flood that names the
// first server costs that server nothing.
func TestInboxLimitPerRemoteHost(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", RateLimits: &httpapi.RateLimits{Rules: []httpapi.Rule{
		{Class: httpapi.ClassInbox, Scope: httpapi.PerHost, Burst: 3, Every: time.Hour},
	}}})
	noisy, quiet := mastopeer.Start(t, "127.0.0.61"), mastopeer.Start(t, "127.0.0.62")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	n := 0
	like := func(p *mastopeer.Peer) []byte {
		n++
		b, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": fmt.Sprintf("%s/likes/%d", p.ActorID(), n), "type": "Like", "actor": p.ActorID(), "object": inst.URL + "/ap/ortsweberei"})
		return b
	}
	inbox := inst.URL + "/ap/inbox"
	// Unsigned requests naming the noisy server are refused before they count.
	for range 5 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, inbox, strings.NewReader(string(like(noisy))))
		req.Header.Set("Content-Type", "application/activity+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unsigned delivery: %d, want 401", res.StatusCode)
		}
	}
	for i := range 3 {
		if a, err := noisy.DeliverAnswer(ctx, inbox, like(noisy), mastopeer.SignOptions{}); err != nil || a.Status != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %s %v", i+1, a.Status, a.Body, err)
		}
	}
	a, err := noisy.DeliverAnswer(ctx, inbox, like(noisy), mastopeer.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if secs, _ := strconv.Atoi(a.Header.Get("Retry-After")); a.Status != http.StatusTooManyRequests || !strings.Contains(string(a.Body), `"rate_limited"`) || secs < 3500 {
		t.Errorf("fourth delivery: %d %s Retry-After %q; want 429 rate_limited, about an hour", a.Status, a.Body, a.Header.Get("Retry-After"))
	}
	if a, err := quiet.DeliverAnswer(ctx, inbox, like(quiet), mastopeer.SignOptions{}); err != nil || a.Status != http.StatusAccepted {
		t.Errorf("another server's delivery: %d %s %v", a.Status, a.Body, err)
	}
}
