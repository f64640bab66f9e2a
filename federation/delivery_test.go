package federation_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/httpsig"
	"github.com/weltgewebe/weltgewebe/federation/mastopeer"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
)

// fakeServer is an inbox host whose answers the test decides.
type fakeServer struct {
	URL    string
	mu     sync.Mutex
	hits   []time.Time
	answer func(n int, r *http.Request) (int, http.Header)
}

func startFake(t *testing.T, host string, answer func(n int, r *http.Request) (int, http.Header)) *fakeServer {
	f := &fakeServer{answer: answer}
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := len(f.hits)
		f.hits = append(f.hits, time.Now())
		f.mu.Unlock()
		status, hdr := f.answer(n, r)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.URL = "http://" + ln.Addr().String()
	return f
}

func (f *fakeServer) Hits() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.hits...)
}

// follow registers n followers of the Ortsweberei whose inboxes are on the fake server.
func follow(t *testing.T, inst *instancetest.Instance, f *fakeServer, n int) {
	t.Helper()
	for i := range n {
		actor := fmt.Sprintf("%s/users/f%d", f.URL, i)
		_, err := inst.Pool.Exec(context.Background(), `
INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1, $2, 'Person', $3, now());
`, actor, strings.TrimPrefix(f.URL, "http://"), actor+"/inbox")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $2, now())`,
			actor, actor+"#follow"); err != nil {
			t.Fatal(err)
		}
	}
}

// A 429 with Retry-After is honoured: the delivery comes again after the time asked for.
func TestDeliveryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	fake := startFake(t, "127.0.0.11", func(n int, r *http.Request) (int, http.Header) {
		if n == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}
		}
		return http.StatusAccepted, nil
	})
	follow(t, inst, fake, 1)
	jana := inst.VerifiedResident("Jana", lat, lon)
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201)
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.Hits()) < 3 { // Create, Announce, and the one refused the first time again
		if time.Now().After(deadline) {
			t.Fatalf("hits: %v", fake.Hits())
		}
		time.Sleep(50 * time.Millisecond)
	}
	hits := fake.Hits()
	if len(hits) != 3 || hits[1].Sub(hits[0]) > time.Second || hits[2].Sub(hits[0]) < 2*time.Second-50*time.Millisecond {
		t.Fatalf("want the refused delivery again 2 s later, the other one at once: %v", hits)
	}
}

// A host that keeps failing is paused, not hammered: after eight failures in a row its
// deliveries wait.
func TestFailingHostIsPaused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	fake := startFake(t, "127.0.0.12", func(int, *http.Request) (int, http.Header) { return http.StatusInternalServerError, nil })
	follow(t, inst, fake, 12)
	jana := inst.VerifiedResident("Jana", lat, lon)
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201)
	host := strings.TrimPrefix(fake.URL, "http://")
	waitFor(t, "the host to be paused", 20*time.Second, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_hosts WHERE host = $1 AND paused_until > now()`, host) == 1
	})
	time.Sleep(300 * time.Millisecond) // requests already under way may land
	before := len(fake.Hits())
	time.Sleep(2 * time.Second)
	if after := len(fake.Hits()); after != before {
		t.Fatalf("a paused host got %d more requests", after-before)
	}
	if n := inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND state IN ('available', 'scheduled', 'retryable')`); n == 0 {
		t.Fatal("the paused deliveries are not kept for later")
	}
}

// With authorized fetch, objects answer signed requests only; actor documents stay open.
func TestAuthorizedFetch(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", AuthorizedFetch: true})
	jana := inst.VerifiedResident("Jana", lat, lon)
	var a struct {
		Fediverse struct{ ID string } `json:"fediverse"`
	}
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201).JSON(t, &a)
	if code, _, _ := getJSON(t, a.Fediverse.ID, "application/activity+json"); code != http.StatusUnauthorized {
		t.Fatalf("unsigned fetch of an object: %d, want 401", code)
	}
	if code, _, _ := getJSON(t, inst.URL+"/ap/ortsweberei", "application/activity+json"); code != http.StatusOK {
		t.Fatalf("unsigned fetch of an actor: %d, want 200", code)
	}
	// Signed by a Fediverse account whose key we can fetch: served.
	peer := mastopeer.Start(t, "127.0.0.9")
	req, _ := http.NewRequest("GET", a.Fediverse.ID, nil)
	req.Header.Set("Accept", "application/activity+json")
	if err := httpsig.Sign(req, nil, peer.KeyID(), peer.PrivateKey(), time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("signed fetch of an object: %d", res.StatusCode)
	}
}

// Outgoing requests refuse loopback and private addresses unless dev mode or the allow-list
// opens them.
func TestNoDevRefusesLoopbackNeighbours(t *testing.T) {
	t.Parallel()
	prod := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", NoDev: true})
	other := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2"})
	admin := prod.Admin()
	res := admin.Post("/api/admin/federation/neighbours", map[string]string{"target": other.URL}).Expect(t, http.StatusUnprocessableEntity)
	if res.ErrorCode() != "federation_failed" || !strings.Contains(string(res.Body), "not allowed") {
		t.Fatalf("federating with a loopback neighbour without --dev: %s", res.Body)
	}
	allowed := instancetest.Start(t, instancetest.Options{Host: "127.0.0.3", NoDev: true, AllowHosts: []string{strings.TrimPrefix(other.URL, "http://")}})
	allowed.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": other.URL}).Expect(t, http.StatusAccepted)
}
