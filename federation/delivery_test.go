package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	reqs   []fakeRequest
	answer func(n int, r *http.Request) (int, http.Header)
}

// fakeRequest is one request the fake server got.
type fakeRequest struct {
	Path       string
	ActivityID string
	Type       string
}

func startFake(t *testing.T, host string, answer func(n int, r *http.Request) (int, http.Header)) *fakeServer {
	f := &fakeServer{answer: answer}
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var act struct{ ID, Type string }
		_ = json.Unmarshal(body, &act)
		f.mu.Lock()
		n := len(f.hits)
		f.hits = append(f.hits, time.Now())
		f.reqs = append(f.reqs, fakeRequest{Path: r.URL.Path, ActivityID: act.ID, Type: act.Type})
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

func (f *fakeServer) Requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

// follow registers n followers of the Ortsweberei whose inboxes are on the fake server.
func follow(t *testing.T, inst *instancetest.Instance, f *fakeServer, n int) {
	t.Helper()
	followWith(t, inst, f, n, "")
}

// followWith is follow for followers that publish sharedInbox (a path on the fake server) as
// their server's shared inbox, or none for "".
func followWith(t *testing.T, inst *instancetest.Instance, f *fakeServer, n int, sharedInbox string) {
	t.Helper()
	var shared *string
	if sharedInbox != "" {
		s := f.URL + sharedInbox
		shared = &s
	}
	for i := range n {
		actor := fmt.Sprintf("%s/users/f%d", f.URL, i)
		_, err := inst.Pool.Exec(context.Background(), `
INSERT INTO ap_actors (iri, host, type, inbox, shared_inbox, fetched_at) VALUES ($1, $2, 'Person', $3, $4, now());
`, actor, strings.TrimPrefix(f.URL, "http://"), actor+"/inbox", shared)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $2, now())`,
			actor, actor+"#follow"); err != nil {
			t.Fatal(err)
		}
	}
}

// Followers on one server that share an inbox get each activity once, at the shared inbox,
// however many of them there are: that is what a shared inbox is for.
func TestOneDeliveryPerSharedInbox(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	fake := startFake(t, "127.0.0.13", func(int, *http.Request) (int, http.Header) { return http.StatusAccepted, nil })
	followWith(t, inst, fake, 3, "/inbox")
	jana := inst.VerifiedResident("Jana", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	var a struct{ ID string }
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201).JSON(t, &a)
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber zwei"}).Expect(t, 201)
	// Create and Announce of the Antrag, Create of the Einspruch, Update of the Question.
	waitFor(t, "four activities", 20*time.Second, func() bool { return len(fake.Requests()) >= 4 })
	time.Sleep(1500 * time.Millisecond) // a second copy would have arrived by now
	perActivity, perType := map[string]int{}, map[string]int{}
	for _, r := range fake.Requests() {
		if r.Path != "/inbox" {
			t.Errorf("%s %s went to %s, not the shared inbox", r.Type, r.ActivityID, r.Path)
		}
		if perActivity[r.ActivityID]++; perActivity[r.ActivityID] == 1 {
			perType[r.Type]++
		}
	}
	if perType["Create"] != 2 || perType["Announce"] != 1 || perType["Update"] < 1 {
		t.Errorf("activities by type: %v", perType)
	}
	for id, n := range perActivity {
		if n != 1 {
			t.Errorf("%s arrived %d times for 3 followers sharing an inbox", id, n)
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
