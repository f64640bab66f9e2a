package instance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/httpsig"
	"github.com/weltgewebe/weltgewebe/federation/mastopeer"
	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/instance/pgtest"
)

// A request whose database work runs past its deadline is answered 503 request_timeout, and its
// statement ends at the server too, not left running there.
func TestRequestDeadlineCancelsItsStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inst, base, _ := startInstance(t, instance.Config{DB: instance.DBConfig{URL: pgtest.URL(t)}, RequestTimeout: time.Second})
	c := newHTTPClient(t, base)
	registerVerified(t, inst, c, "Jana")
	var k struct{ ID string }
	c.call("POST", "/api/knoten", `{"type":"idee","title":"Bank","lat":51.3338,"lon":12.3312}`, 201, &k)

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
	res := c.do("POST", "/api/faeden", fmt.Sprintf(`{"to_knoten_id":%q,"type":"gespraech"}`, k.ID))
	if res.status != http.StatusServiceUnavailable || res.code() != "request_timeout" || res.header.Get("Retry-After") == "" {
		t.Fatalf("a request past its deadline: %d %s (Retry-After %q), want 503 request_timeout", res.status, res.body, res.header.Get("Retry-After"))
	}
	// The waiting statement is gone from the server while the lock is still held.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var waiting int
		if err := holder.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timed-out request's statement still waits at the server")
		}
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	c.call("POST", "/api/faeden", fmt.Sprintf(`{"to_knoten_id":%q,"type":"gespraech"}`, k.ID), 201, nil)
}

// The database server goes away while the instance runs, and comes back. Meanwhile every API
// request is answered 503 database_unavailable with Retry-After, /healthz says not ready,
// /livez alive, and the process stays up (it used to answer 500s and exit). Afterwards writes
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
	delivered := func(title string) func() bool {
		return func() bool {
			inboxMu.Lock()
			defer inboxMu.Unlock()
			return slices.ContainsFunc(inbox, func(b string) bool { return strings.Contains(b, `"Create"`) && strings.Contains(b, title) })
		}
	}

	logs := &instancetest.LogCapture{}
	inst, base, done := startInstance(t, instance.Config{DB: instance.DBConfig{URL: cluster.URL("weltgewebe")}, Dev: true,
		FederationAllowHosts: []string{"127.0.0.1"}, Log: slog.New(logs)})
	followerIRI := "http://" + ln.Addr().String() + "/users/f"
	if _, err := inst.Pool.Exec(ctx, `INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1, $2, 'Person', $3, now())`,
		followerIRI, ln.Addr().String(), followerIRI+"/inbox"); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(ctx, `INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $2, now())`,
		followerIRI, followerIRI+"#follow"); err != nil {
		t.Fatal(err)
	}
	jana := newHTTPClient(t, base)
	registerVerified(t, inst, jana, "Jana")
	const lat, lon = 51.3338, 12.3312
	var cells struct{ Cells []string }
	jana.call("GET", "/api/map/cells?"+url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {"14"}}.Encode(), "", 200, &cells)
	watcher := dialMap(t, base)
	watcher.send(t, map[string]any{"type": "subscribe", "cells": cells.Cells})
	for range cells.Cells {
		watcher.until(t, "the cells' state", func(m mapMessage) bool { return m.Type == "state" })
	}
	var antrag struct {
		ID        string
		Fediverse struct{ ID string } `json:"fediverse"`
	}
	jana.call("POST", "/api/antraege", `{"title":"Bank am Kanal"}`, 201, &antrag)
	waitUntil(t, "the first Antrag's delivery", delivered("Bank am Kanal"))
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
	_, replica, _ := startInstance(t, instance.Config{DB: instance.DBConfig{URL: cluster.URL("weltgewebe")}, Dev: true})

	cluster.Stop()
	// Every follower of the log meets the outage, and the instance goes on.
	for _, want := range []string{"event log: cannot read the head", "follower=mapfeed", "follower=chat", "federation: delivery follower stopped"} {
		for deadline := time.Now().Add(60 * time.Second); !logs.Has(want); time.Sleep(20 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("the instance stopped during the outage: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no log line %q within 60s of the outage:\n%s", want, logs.String())
			}
		}
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/knoten", ""},
		{"GET", "/api/me", ""},
		{"POST", "/api/knoten", `{"type":"idee","title":"Im Dunkeln","lat":51.3338,"lon":12.3312}`},
		{"GET", "/api/antraege", ""},
	} {
		res := jana.do(r.method, r.path, r.body)
		if res.status != http.StatusServiceUnavailable || res.code() != "database_unavailable" || res.header.Get("Retry-After") == "" {
			t.Errorf("%s %s during the outage: %d %s (Retry-After %q), want 503 database_unavailable", r.method, r.path, res.status, res.body, res.header.Get("Retry-After"))
		}
	}
	// ActivityPub answers the same: what is asked of the database, and deliveries, whether
	// the sender's key is known (the activity cannot be stored) or not (the key cannot be kept).
	// A 503 with Retry-After, not a 500 (a bug, to a sender) nor a 401 (a refusal for good).
	for _, path := range []string{"/ap/users/" + handle, strings.TrimPrefix(antrag.Fediverse.ID, base), "/ap/users/" + handle + "/outbox",
		"/.well-known/webfinger?resource=acct:" + handle + "@" + strings.TrimPrefix(base, "http://"), "/nodeinfo/2.1"} {
		res := jana.do("GET", path, "")
		if res.status != http.StatusServiceUnavailable || res.code() != "database_unavailable" || res.header.Get("Retry-After") == "" {
			t.Errorf("GET %s during the outage: %d %s (Retry-After %q), want 503 database_unavailable", path, res.status, res.body, res.header.Get("Retry-After"))
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
	if res := jana.do("GET", "/healthz", ""); res.status != http.StatusServiceUnavailable {
		t.Errorf("/healthz during the outage: %d", res.status)
	}
	if res := jana.do("GET", "/livez", ""); res.status != http.StatusOK {
		t.Errorf("/livez during the outage: %d", res.status)
	}
	select {
	case err := <-done:
		t.Fatalf("the instance stopped during the outage: %v", err)
	default:
	}

	cluster, err = pgcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Stop() })
	waitUntil(t, "/healthz to say ready", func() bool { return jana.do("GET", "/healthz", "").status == http.StatusOK })
	var k struct{ ID string }
	jana.call("POST", "/api/knoten", `{"type":"idee","title":"Nach dem Ausfall","lat":51.3338,"lon":12.3312}`, 201, &k)
	watcher.until(t, "the new Knoten on the map", func(m mapMessage) bool { return m.Type == "delta" && m.has(k.ID) })
	jana.call("POST", "/api/antraege", `{"title":"Brunnen am Markt"}`, 201, nil)
	waitUntil(t, "the second Antrag's delivery", delivered("Brunnen am Markt"))
	// The senders' retries are taken: the 503s kept nothing that would refuse them now.
	for _, p := range []*mastopeer.Peer{known, stranger} {
		if code, _, res := deliver(p, reply(p)); code != http.StatusAccepted {
			t.Errorf("a delivery from %s after the outage: %d %s", p.Host(), code, res)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the instance stopped: %v", err)
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
	inst, base, done := startInstance(t, instance.Config{DB: instance.DBConfig{DataDir: data}, Log: slog.New(logs)})
	jana := newHTTPClient(t, base)
	registerVerified(t, inst, jana, "Jana")
	const lat, lon = 51.3338, 12.3312
	var cells struct{ Cells []string }
	jana.call("GET", "/api/map/cells?"+url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {"14"}}.Encode(), "", 200, &cells)
	watcher := dialMap(t, base)
	watcher.send(t, map[string]any{"type": "subscribe", "cells": cells.Cells})
	for range cells.Cells {
		watcher.until(t, "the cells' state", func(m mapMessage) bool { return m.Type == "state" })
	}

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
	waitUntil(t, "the instance to start its PostgreSQL again", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the instance stopped when its PostgreSQL died: %v", err)
		default:
		}
		return logs.Has("embedded PostgreSQL running again") && pidOf() != killed
	})
	waitUntil(t, "/healthz to say ready", func() bool { return jana.do("GET", "/healthz", "").status == http.StatusOK })
	var k struct{ ID string }
	jana.call("POST", "/api/knoten", `{"type":"idee","title":"Nach dem Neustart","lat":51.3338,"lon":12.3312}`, 201, &k)
	watcher.until(t, "the new Knoten on the map", func(m mapMessage) bool { return m.Type == "delta" && m.has(k.ID) })
	if !logs.Has("embedded PostgreSQL exited; starting it again") {
		t.Errorf("the log does not say that PostgreSQL died:\n%s", logs.String())
	}
}

// startInstance opens an instance with cfg and serves it on a loopback port until the test
// ends. done receives Serve's result.
func startInstance(t *testing.T, cfg instance.Config) (*instance.Instance, string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg.PublicURL = base
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	cfg.SweepInterval = time.Hour
	cfg.MapFeed.Batch = 200 * time.Millisecond
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	inst, err := instance.Open(context.Background(), cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		err := inst.Serve(ctx, ln)
		done <- err
		close(finished)
	}()
	t.Cleanup(func() {
		stop()
		<-finished
		inst.Close()
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance is not healthy after 60s")
		}
	}
	return inst, base, done
}

type httpClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newHTTPClient(t *testing.T, base string) *httpClient {
	jar, _ := cookiejar.New(nil)
	return &httpClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func (r httpResult) code() string {
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (c *httpClient) do(method, path, body string) httpResult {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return httpResult{res.StatusCode, res.Header, b}
}

func (c *httpClient) call(method, path, body string, want int, out any) {
	c.t.Helper()
	res := c.do(method, path, body)
	if res.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, res.status, res.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// registerVerified registers a resident with the client, verifies the account and logs in.
func registerVerified(t *testing.T, inst *instance.Instance, c *httpClient, name string) {
	t.Helper()
	email := strings.ToLower(name) + "-" + uuid.NewString()[:8] + "@example.org"
	var me struct{ ID uuid.UUID }
	c.call("POST", "/api/auth/register", fmt.Sprintf(`{"name":%q,"address":"Weg 1","lat":51.3362,"lon":12.3363,"email":%q,"password":"correct horse battery"}`, name, email), 202, nil)
	c.call("POST", "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email), 200, nil)
	c.call("GET", "/api/me", "", 200, &me)
	ctx := context.Background()
	admin, err := inst.Accounts.CreateAdmin(ctx, "Admin", "admin-"+uuid.NewString()[:8]+"@example.org", "admin password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Accounts.Verify(ctx, admin, me.ID); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 60s", what)
		}
	}
}

type mapMessage struct {
	Type   string `json:"type"`
	Knoten []struct {
		ID string `json:"id"`
	} `json:"knoten"`
}

func (m mapMessage) has(id string) bool {
	for _, k := range m.Knoten {
		if k.ID == id {
			return true
		}
	}
	return false
}

type mapConn struct {
	conn *websocket.Conn
	msgs chan mapMessage
}

func dialMap(t *testing.T, base string) *mapConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http://", "ws://", 1)+"/ws/map", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	c := &mapConn{conn: conn, msgs: make(chan mapMessage, 1000)}
	go func() {
		defer close(c.msgs)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m mapMessage
			if json.Unmarshal(data, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	c.until(t, "hello", func(m mapMessage) bool { return m.Type == "hello" })
	return c
}

func (c *mapConn) send(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func (c *mapConn) until(t *testing.T, what string, ok func(mapMessage) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				t.Fatalf("the map connection closed while waiting for %s", what)
			}
			if ok(m) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s within 60s", what)
		}
	}
}
