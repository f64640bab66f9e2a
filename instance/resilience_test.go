package instance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// A request whose database work runs past its deadline is answered 503 request_timeout, and its
// statement ends at the server too, not left running there.
func TestRequestDeadlineCancelsItsStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Only the request under test goes to the process with the short deadline (a second
	// process of the same Ortsweberei: sessions live in the database). Everything else goes
	// to one with the default: on a busy machine hashing a password alone can take a second.
	inst := instancetest.Start(t, instancetest.Options{NoDev: true})
	short := instancetest.Start(t, instancetest.Options{NoDev: true, ReplicaOf: inst, RequestTimeout: time.Second})
	c := inst.VerifiedResident("Jana", 51.3362, 12.3363)
	var k struct{ ID string }
	c.Post("/api/knoten", `{"type":"idee","title":"Bank","lat":51.3338,"lon":12.3312}`).Expect(t, 201).JSON(t, &k)

	// Someone holds the Knoten: spinning a Faden onto it waits for the lock, longer than the
	// request may take.
	holder, err := inst.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM knoten WHERE id = $1 FOR UPDATE`, k.ID); err != nil {
		t.Fatal(err)
	}
	res := c.On(short).Post("/api/faeden", fmt.Sprintf(`{"to_knoten_id":%q,"type":"gespraech"}`, k.ID))
	if res.Status != http.StatusServiceUnavailable || res.ErrorCode() != "request_timeout" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a request past its deadline: %d %s (Retry-After %q), want 503 request_timeout", res.Status, res.Body, res.Header.Get("Retry-After"))
	}
	// The waiting statement is gone from the server while the lock is still held.
	instancetest.WaitFor(t, "end of the timed-out request's statement at the server", func() bool {
		var waiting int
		if err := holder.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting == 0
	})
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	c.Post("/api/faeden", fmt.Sprintf(`{"to_knoten_id":%q,"type":"gespraech"}`, k.ID)).Expect(t, 201)
	// The process whose statement was cancelled serves on. A cheap read, asked again only
	// while a busy machine makes even that run past the short deadline.
	instancetest.WaitFor(t, "an answer from the process whose statement was cancelled", func() bool {
		res := c.On(short).Get("/api/me")
		if res.Status != http.StatusOK && res.ErrorCode() != "request_timeout" {
			t.Fatalf("GET /api/me after the timeout: %d %s", res.Status, res.Body)
		}
		return res.Status == http.StatusOK
	})
}

// The database server goes away while the instance runs, and comes back. Meanwhile every API
// request is answered 503 database_unavailable with Retry-After, /readyz says not ready,
// /healthz and /livez alive, and the process stays up (it used to answer 500s and exit). Afterwards writes
// work, and the followers of the log go on: the live map shows a new Knoten to a client that
// was connected throughout, and a new Antrag is delivered to a follower.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wgoutage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the cluster may run as another user
		t.Fatal(err)
	}
	opts := pgcluster.Options{DataDir: filepath.Join(dir, "data"), Throwaway: true}
	cluster, err := pgcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Stopped after the instances (cleanups run last-registered first), whichever cluster
	// runs by then.
	t.Cleanup(func() { cluster.Stop() })
	admin, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err == nil {
		_, err = admin.Exec(ctx, `CREATE DATABASE weltgewebe`)
		admin.Close(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}

	// A follower's inbox on the Fediverse.
	var (
		inboxMu sync.Mutex
		inbox   []string
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	follower := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		inboxMu.Lock()
		inbox = append(inbox, string(b))
		inboxMu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})}
	go follower.Serve(ln)
	t.Cleanup(func() { follower.Close() })
	// A Fediverse follower of the Ortsweberei is sent the Group's Announce of a new Antrag.
	delivered := func(antragIRI string) func() bool {
		return func() bool {
			inboxMu.Lock()
			defer inboxMu.Unlock()
			return slices.ContainsFunc(inbox, func(b string) bool { return strings.Contains(b, `"Announce"`) && strings.Contains(b, antragIRI) })
		}
	}

	logs := &instancetest.LogCapture{}
	inst := instancetest.Start(t, instancetest.Options{DatabaseURL: cluster.URL("weltgewebe"), AllowHosts: []string{"127.0.0.1"}, Log: logs})
	base := inst.URL
	followerIRI := "http://" + ln.Addr().String() + "/users/f"
	if _, err := inst.Pool.Exec(ctx, `INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1, $2, 'Person', $3, now())`,
		followerIRI, ln.Addr().String(), followerIRI+"/inbox"); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(ctx, `INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $2, now())`,
		followerIRI, followerIRI+"#follow"); err != nil {
		t.Fatal(err)
	}
	jana := inst.VerifiedResident("Jana", 51.3362, 12.3363)
	const lat, lon = 51.3338, 12.3312
	var cells struct{ Cells []string }
	jana.Get("/api/map/cells?"+url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {"14"}}.Encode()).Expect(t, 200).JSON(t, &cells)
	watcher := instancetest.DialMap(t, base)
	watcher.Subscribe(cells.Cells)
	var antrag struct {
		ID        string
		Fediverse struct{ ID string } `json:"fediverse"`
	}
	jana.Post("/api/antraege", `{"title":"Bank am Kanal"}`).Expect(t, 201).JSON(t, &antrag)
	instancetest.WaitFor(t, "the first Antrag's delivery", delivered(antrag.Fediverse.ID))
	var handle string
	if err := inst.Pool.QueryRow(ctx, `SELECT handle FROM accounts WHERE name = 'Jana'`).Scan(&handle); err != nil {
		t.Fatal(err)
	}
	// Two Fediverse servers: one whose key the instance has seen (a Like, answered and not
	// kept), and one it meets for the first time during the outage.
	known, stranger := mastopeer.Start(t, "127.0.0.9"), mastopeer.Start(t, "127.0.0.10")
	deliverTo := func(inbox string, p *mastopeer.Peer, activity map[string]any) (int, http.Header, []byte) {
		t.Helper()
		body, _ := json.Marshal(activity)
		req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/activity+json")
		if err := httpsig.Sign(req, body, p.KeyID(), p.PrivateKey(), time.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}
	deliver := func(p *mastopeer.Peer, activity map[string]any) (int, http.Header, []byte) {
		t.Helper()
		return deliverTo(base+"/ap/inbox", p, activity)
	}
	reply := func(p *mastopeer.Peer) map[string]any {
		return map[string]any{"@context": mastopeer.ASContext, "id": p.ActorID() + "/statuses/1/activity", "type": "Create", "actor": p.ActorID(),
			"object": map[string]any{"id": p.ActorID() + "/statuses/1", "type": "Note", "attributedTo": p.ActorID(), "inReplyTo": antrag.Fediverse.ID,
				"content": "<p>Gern!</p>", "to": []string{mastopeer.Public}}}
	}
	if code, _, res := deliver(known, map[string]any{"@context": mastopeer.ASContext, "id": known.ActorID() + "/likes/1", "type": "Like",
		"actor": known.ActorID(), "object": antrag.Fediverse.ID}); code != http.StatusAccepted {
		t.Fatalf("a Like before the outage: %d %s", code, res)
	}
	// A second process on the same database, which has not read the list of blocked domains
	// yet when the outage begins.
	replica := instancetest.Start(t, instancetest.Options{ReplicaOf: inst}).URL

	cluster.Stop()
	// Every follower of the log meets the outage, and the instance goes on.
	for _, want := range []string{"event log: cannot read the head", "follower=mapfeed", "follower=chat", "federation: delivery follower stopped"} {
		for deadline := time.Now().Add(instancetest.Patience); !logs.Has(want); time.Sleep(20 * time.Millisecond) {
			select {
			case <-inst.Exited():
				t.Fatalf("the instance stopped during the outage: %v", inst.ServeErr())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no log line %q within %s of the outage:\n%s", want, instancetest.Patience, logs.String())
			}
		}
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/knoten", ""},
		{"GET", "/api/me", ""},
		{"POST", "/api/knoten", `{"type":"idee","title":"Im Dunkeln","lat":51.3338,"lon":12.3312}`},
		{"GET", "/api/antraege", ""},
	} {
		var body any
		if r.body != "" {
			body = r.body
		}
		res := jana.Do(r.method, r.path, body)
		if res.Status != http.StatusServiceUnavailable || res.ErrorCode() != "database_unavailable" || res.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s during the outage: %d %s (Retry-After %q), want 503 database_unavailable", r.method, r.path, res.Status, res.Body, res.Header.Get("Retry-After"))
		}
	}
	// ActivityPub answers the same: what is asked of the database, and deliveries, whether
	// the sender's key is known (the activity cannot be stored) or not (the key cannot be kept).
	// A 503 with Retry-After, not a 500 (a bug, to a sender) nor a 401 (a refusal for good).
	for _, path := range []string{"/ap/users/" + handle, strings.TrimPrefix(antrag.Fediverse.ID, base), "/ap/users/" + handle + "/outbox",
		"/.well-known/webfinger?resource=acct:" + handle + "@" + strings.TrimPrefix(base, "http://"), "/nodeinfo/2.1"} {
		res := jana.Get(path)
		if res.Status != http.StatusServiceUnavailable || res.ErrorCode() != "database_unavailable" || res.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s during the outage: %d %s (Retry-After %q), want 503 database_unavailable", path, res.Status, res.Body, res.Header.Get("Retry-After"))
		}
	}
	for _, d := range []struct {
		inbox string
		peer  *mastopeer.Peer
	}{{base + "/ap/inbox", known}, {base + "/ap/inbox", stranger}, {replica + "/ap/inbox", known}} {
		code, header, res := deliverTo(d.inbox, d.peer, reply(d.peer))
		if code != http.StatusServiceUnavailable || !strings.Contains(string(res), `"database_unavailable"`) || header.Get("Retry-After") == "" {
			t.Errorf("a delivery from %s to %s during the outage: %d %s (Retry-After %q), want 503 database_unavailable",
				d.peer.Host(), d.inbox, code, res, header.Get("Retry-After"))
		}
	}
	if res := jana.Get("/readyz"); res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), `"database":"unreachable"`) ||
		!strings.Contains(string(res.Body), `"status":"not_ready"`) {
		t.Errorf("/readyz during the outage: %d %s", res.Status, string(res.Body))
	}
	for _, alive := range []string{"/healthz", "/livez"} {
		if res := jana.Get(alive); res.Status != http.StatusOK {
			t.Errorf("%s during the outage: %d", alive, res.Status)
		}
	}
	select {
	case <-inst.Exited():
		t.Fatalf("the instance stopped during the outage: %v", inst.ServeErr())
	default:
	}

	cluster, err = pgcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	instancetest.WaitFor(t, "/readyz to say ready", func() bool { return jana.Get("/readyz").Status == http.StatusOK })
	var k struct{ ID string }
	jana.Post("/api/knoten", `{"type":"idee","title":"Nach dem Ausfall","lat":51.3338,"lon":12.3312}`).Expect(t, 201).JSON(t, &k)
	watcher.Until("the new Knoten on the map", func(m instancetest.MapMessage) bool { return m.Type == "delta" && m.Has(k.ID) })
	jana.Post("/api/antraege", `{"title":"Brunnen am Markt"}`).Expect(t, 201).JSON(t, &antrag)
	instancetest.WaitFor(t, "the second Antrag's delivery", delivered(antrag.Fediverse.ID))
	// The senders' retries are taken: the 503s kept nothing that would refuse them now.
	for _, p := range []*mastopeer.Peer{known, stranger} {
		if code, _, res := deliver(p, reply(p)); code != http.StatusAccepted {
			t.Errorf("a delivery from %s after the outage: %d %s", p.Host(), code, res)
		}
	}
	select {
	case <-inst.Exited():
		t.Fatalf("the instance stopped: %v", inst.ServeErr())
	default:
	}
}

// The embedded PostgreSQL dies under a running instance (kill -9 of the postmaster, as the
// OOM killer would): the instance starts it again, stays up, and takes writes afterwards; a
// map client that was open through it gets the next change.
func TestEmbeddedPostgresDies(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "wgembedded-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	logs := &instancetest.LogCapture{}
	inst := instancetest.Start(t, instancetest.Options{NoDev: true, DataDir: data, Log: logs})
	jana := inst.VerifiedResident("Jana", 51.3362, 12.3363)
	const lat, lon = 51.3338, 12.3312
	var cells struct{ Cells []string }
	jana.Get("/api/map/cells?"+url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {"14"}}.Encode()).Expect(t, 200).JSON(t, &cells)
	watcher := instancetest.DialMap(t, inst.URL)
	watcher.Subscribe(cells.Cells)

	pidOf := func() int {
		b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
		if err != nil {
			return 0
		}
		var pid int
		_, _ = fmt.Sscan(strings.SplitN(string(b), "\n", 2)[0], &pid)
		return pid
	}
	killed := pidOf()
	p, err := os.FindProcess(killed)
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		t.Fatal(err)
	}
	instancetest.WaitFor(t, "the instance to start its PostgreSQL again", func() bool {
		select {
		case <-inst.Exited():
			t.Fatalf("the instance stopped when its PostgreSQL died: %v", inst.ServeErr())
		default:
		}
		return logs.Has("embedded PostgreSQL running again") && pidOf() != killed
	})
	instancetest.WaitFor(t, "/readyz to say ready", func() bool { return jana.Get("/readyz").Status == http.StatusOK })
	var k struct{ ID string }
	jana.Post("/api/knoten", `{"type":"idee","title":"Nach dem Neustart","lat":51.3338,"lon":12.3312}`).Expect(t, 201).JSON(t, &k)
	watcher.Until("the new Knoten on the map", func(m instancetest.MapMessage) bool { return m.Type == "delta" && m.Has(k.ID) })
	if !logs.Has("embedded PostgreSQL exited; starting it again") {
		t.Errorf("the log does not say that PostgreSQL died:\n%s", logs.String())
	}
}
