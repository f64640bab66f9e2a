package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
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

// waitDelivered waits until everything in the log so far that federates has been queued for
// delivery and every delivery job has finished: nothing of it is on its way any more. A test
// that asserts something was not delivered asserts it after this, not after a pause.
func waitDelivered(t *testing.T, inst *instancetest.Instance) {
	t.Helper()
	var last eventstore.Position
	err := inst.Pool.QueryRow(context.Background(), `SELECT tx, id FROM events WHERE type = ANY($1) ORDER BY tx DESC, id DESC LIMIT 1`,
		federation.DeliveredTypes()).Scan(&last.Tx, &last.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		t.Fatal(err)
	default:
		// The follower queues a batch's deliveries in the transaction that saves its cursor.
		waitFor(t, "the delivery follower to pass event "+last.String(), patience, func() bool {
			return inst.Count(`SELECT count(*) FROM event_cursors WHERE consumer = $1 AND (tx, id) >= ($2, $3)`,
				federation.DeliveryConsumer, last.Tx, last.ID) == 1
		})
	}
	waitDeliveryJobs(t, inst)
}

// waitDeliveryJobs waits until no delivery job waits, runs or is due to be retried: each one
// has made all its requests (a job ends only when its requests have).
func waitDeliveryJobs(t *testing.T, inst *instancetest.Instance) {
	t.Helper()
	waitFor(t, "every delivery job to finish", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND finalized_at IS NULL`) == 0
	})
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
	// Announce of the Antrag and Update of the Question (the Creates of the Antrag and of the
	// Einspruch are for neighbours and for followers of their actors, which these are not);
	// once every delivery job has made its requests, a second copy would be among them.
	waitDelivered(t, inst)
	perActivity, perType := map[string]int{}, map[string]int{}
	for _, r := range fake.Requests() {
		if r.Path != "/inbox" {
			t.Errorf("%s %s went to %s, not the shared inbox", r.Type, r.ActivityID, r.Path)
		}
		if perActivity[r.ActivityID]++; perActivity[r.ActivityID] == 1 {
			perType[r.Type]++
		}
	}
	if perType["Create"] != 0 || perType["Announce"] != 1 || perType["Update"] < 1 {
		t.Errorf("activities by type: %v", perType)
	}
	for id, n := range perActivity {
		if n != 1 {
			t.Errorf("%s arrived %d times for 3 followers sharing an inbox", id, n)
		}
	}
}

// A 429 with Retry-After is honoured: the refused delivery is put off for exactly the time
// asked for, without using an attempt, while the other delivery to the host goes through; and
// when that time has come, it is made. The test reads the schedule River keeps, and makes the
// hour pass by handing the job out again, rather than watch the clock.
func TestDeliveryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	fake := startFake(t, "127.0.0.11", func(n int, r *http.Request) (int, http.Header) {
		if n == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}}
		}
		return http.StatusAccepted, nil
	})
	follow(t, inst, fake, 1)
	// A neighbouring Ortsweberei on the same server, so that a new Antrag is two activities
	// there: the Announce for the follower, the Create for the neighbour.
	if _, err := inst.Pool.Exec(context.Background(), `
INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1 || '/ap/ortsweberei', $2, 'Group Ortsweberei', $1 || '/ap/inbox', now());
`, fake.URL, strings.TrimPrefix(fake.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(context.Background(), `INSERT INTO ap_followers (local, follower, follow_id, created_at)
VALUES ('ortsweberei', $1 || '/ap/ortsweberei', $1 || '/ap/ortsweberei#follow', now())`, fake.URL); err != nil {
		t.Fatal(err)
	}
	jana := inst.VerifiedResident("Jana", lat, lon)
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201)

	// Create and Announce, a job each: the first request is refused, the other one is taken.
	jobs := func(state string) int {
		return inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND state = $1`, state)
	}
	waitFor(t, "one delivery put off and the other made", patience, func() bool {
		return jobs("scheduled") == 1 && jobs("completed") == 1
	})
	seen := time.Now()
	hits, reqs := fake.Hits(), fake.Requests()
	if len(hits) != 2 || reqs[0].ActivityID == reqs[1].ActivityID {
		t.Fatalf("want the two activities once each: %+v", reqs)
	}
	var job struct {
		ID          int64
		ScheduledAt time.Time
		Attempt     int
		Snoozes     int
	}
	if err := inst.Pool.QueryRow(context.Background(), `
SELECT id, scheduled_at, attempt, coalesce((metadata->>'snoozes')::int, 0) FROM river_job
WHERE kind = 'federation_deliver' AND state = 'scheduled'`).Scan(&job.ID, &job.ScheduledAt, &job.Attempt, &job.Snoozes); err != nil {
		t.Fatal(err)
	}
	// Put off until an hour after the refusal: not before the 429 came plus the hour (a
	// millisecond for the database's rounding), not after it was seen plus the hour.
	if job.ScheduledAt.Before(hits[0].Add(time.Hour-time.Millisecond)) || job.ScheduledAt.After(seen.Add(time.Hour)) {
		t.Fatalf("the refused delivery is due at %s; want an hour after the refusal at %s", job.ScheduledAt, hits[0])
	}
	if job.Attempt != 0 || job.Snoozes != 1 {
		t.Fatalf("the wait used an attempt: attempt %d, snoozes %d", job.Attempt, job.Snoozes)
	}

	// The hour has passed: the same delivery is made, on its first counted attempt.
	if _, err := inst.Jobs.Client().JobRetry(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused delivery to be made", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'completed'`, job.ID) == 1
	})
	if reqs = fake.Requests(); len(reqs) != 3 || reqs[2].ActivityID != reqs[0].ActivityID {
		t.Fatalf("want the refused activity again, and nothing else: %+v", reqs)
	}
	if n := inst.Count(`SELECT attempt FROM river_job WHERE id = $1`, job.ID); n != 1 {
		t.Fatalf("the delivery was made at attempt %d, want 1", n)
	}
}

// A host that keeps failing is paused, not hammered: after eight failures in a row its
// deliveries wait, without using attempts, and send nothing. Rather than watch the host for a
// while, the test hands every waiting delivery out again while the pause lasts and checks that
// each of them ran, went back to waiting until the pause ends, and sent nothing.
func TestFailingHostIsPaused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	fake := startFake(t, "127.0.0.12", func(int, *http.Request) (int, http.Header) { return http.StatusInternalServerError, nil })
	follow(t, inst, fake, 12)
	jana := inst.VerifiedResident("Jana", lat, lon)
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201)
	ctx := context.Background()
	host := strings.TrimPrefix(fake.URL, "http://")
	waitFor(t, "the host to be paused", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_hosts WHERE host = $1 AND paused_until > now()`, host) == 1
	})
	var pause float64
	if err := inst.Pool.QueryRow(ctx, `SELECT extract(epoch FROM paused_until - updated_at) FROM ap_hosts WHERE host = $1`, host).Scan(&pause); err != nil {
		t.Fatal(err)
	}
	if pause < 60 {
		t.Fatalf("paused for %.1f s, want a minute at least", pause)
	}
	// However slowly this test runs, the pause outlasts it; and it ends later than any pause
	// the host could have got (12 hours at most), so a delivery due at its end has run again.
	var until time.Time
	if err := inst.Pool.QueryRow(ctx, `UPDATE ap_hosts SET paused_until = now() + interval '1 day' WHERE host = $1 RETURNING paused_until`, host).Scan(&until); err != nil {
		t.Fatal(err)
	}
	// Requests under way when the pause came may still land: each job waits for its own
	// before it ends. Once none runs, every request from then on would be a paused one.
	waitFor(t, "the running deliveries to end", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND state = 'running'`) == 0
	})
	before := len(fake.Hits())
	type jobState struct {
		ID      int64
		Attempt int
	}
	rows, _ := inst.Pool.Query(ctx, `SELECT id, attempt FROM river_job WHERE kind = 'federation_deliver' AND finalized_at IS NULL ORDER BY id`)
	waiting, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobState])
	if err != nil {
		t.Fatal(err)
	}
	if len(waiting) == 0 {
		t.Fatal("the paused deliveries are not kept for later")
	}
	for _, j := range waiting {
		if _, err := inst.Jobs.Client().JobRetry(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range waiting {
		waitFor(t, fmt.Sprintf("delivery job %d to run and wait for the pause's end", j.ID), patience, func() bool {
			return inst.Count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'scheduled' AND scheduled_at >= $2`,
				j.ID, until.Add(-time.Millisecond)) == 1
		})
		if n := inst.Count(`SELECT attempt FROM river_job WHERE id = $1`, j.ID); n != j.Attempt {
			t.Errorf("delivery job %d: attempt %d after waiting for the pause, was %d", j.ID, n, j.Attempt)
		}
	}
	if after := len(fake.Hits()); after != before {
		t.Fatalf("a paused host got %d more requests", after-before)
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
