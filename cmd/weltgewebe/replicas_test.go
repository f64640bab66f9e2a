package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// Two replicas of the real binary on one PostgreSQL behind nginx, rendered from the production
// config (deploy/nginx/weltgewebe.conf: its upstream over both, its locations). A bounded mixed
// load goes through nginx: residents place Knoten, spin Fäden, write in the chat, file Anträge,
// read the map's box and the Anträge; live-map sockets follow the box. Mid-load the replica that
// leads River is killed with SIGKILL. Then:
//   - every write nginx acknowledged is there, read back through nginx (the survivor);
//   - the sockets that were on the dead replica reconnected through nginx to the survivor and,
//     by their cursor, caught up: every socket saw every acknowledged Knoten;
//   - River goes on on the survivor: it becomes the leader and its periodic sweeps run, the
//     Anträge filed after the kill are delivered to a follower's inbox, and no activity arrives
//     there more than twice (once more than needed: a retry, which ActivityPub tolerates);
//
// and then the survivor is stopped with SIGTERM: /readyz answers 503 "draining" before its
// listener closes, its sockets are closed with 4012 "server restart", and it exits cleanly.
func TestReplicasBehindNginx(t *testing.T) {
	streamtest.Binary(t) // nginx with the RTMP module (the production file has an rtmp{} block), or skip
	began := time.Now()
	bin := binary(t)
	built := time.Now()
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	dir := reachableTempDir(t)
	peer := startPeerInbox(t)

	// Both replicas at once (each migrates under the same advisory lock: one does, one finds
	// it done); each on its own address, which nginx's upstream names.
	addrs := []string{freeAddr(t), freeAddr(t)}
	replicas := make([]*server, 2)
	var wg sync.WaitGroup
	for n := range replicas {
		wg.Go(func() {
			replicas[n] = startReplica(t, bin, dbURL, dir, addrs[n])
		})
	}
	wg.Wait()
	for _, r := range replicas {
		if r == nil {
			t.FailNow()
		}
	}
	ngx := streamtest.Start(t, streamtest.Options{Instance: addrs[0], Secret: "replicas", Upstreams: addrs})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		rows, _ := db.Query(ctx, `SELECT kind || ' ' || state::text || ' attempt ' || attempt || ' by ' || coalesce(array_to_string(attempted_by, ','), '-')
			|| ' ' || coalesce(errors::text, '') FROM river_job WHERE kind <> 'sweep' ORDER BY id`)
		for rows != nil && rows.Next() {
			var line string
			_ = rows.Scan(&line)
			t.Log("job: " + line)
		}
		for _, q := range []string{
			`SELECT 'cursor ' || consumer || ' ' || tx || '-' || id FROM event_cursors`,
			`SELECT 'horizon ' || events_horizon()`,
			`SELECT 'event ' || type || ' ' || tx || '-' || id || ' public ' || public FROM events WHERE type LIKE 'Antrag%' ORDER BY tx, id`,
			`SELECT 'outgoing ' || count(*) FROM ap_outgoing`,
			`SELECT 'follower ' || local || ' ' || follower FROM ap_followers`,
			`SELECT 'actor ' || iri || ' ' || type || ' ' || inbox FROM ap_actors`,
			`SELECT 'cursor-at ' || consumer || ' ' || updated_at FROM event_cursors`,
			`SELECT 'all ' || type || ' ' || tx || '-' || id || ' at ' || at FROM events ORDER BY tx, id`,
		} {
			rows, _ := db.Query(ctx, q)
			for rows != nil && rows.Next() {
				var line string
				_ = rows.Scan(&line)
				t.Log(line)
			}
		}
		rows, _ = db.Query(ctx, `SELECT a.pid || ' ' || coalesce(a.state, '-') || ' ' || coalesce(a.application_name, '') || ' since ' || coalesce(a.state_change::text, '-')
			|| ' advisory ' || coalesce((SELECT string_agg(objid::text, ',') FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory'), '-')
			|| ' xmin ' || coalesce(a.backend_xmin::text, '-') || ' ' || left(coalesce(a.query, ''), 120)
			FROM pg_stat_activity a WHERE a.datname = current_database()`)
		for rows != nil && rows.Next() {
			var line string
			_ = rows.Scan(&line)
			t.Log("backend: " + line)
		}
		for n, r := range replicas {
			_ = r.cmd.Process.Signal(syscall.SIGQUIT) // a live one prints its goroutines
			select {
			case <-r.done:
			case <-time.After(5 * time.Second):
			}
			_ = r.cmd.Process.Kill()
			select { // the killed one's exit was taken already
			case <-r.done:
			case <-time.After(5 * time.Second):
			}
			t.Logf("replica %d (pid %d) log:\n%s", n, r.cmd.Process.Pid, r.log.String())
		}
	})

	// nginx passes the app's security policy and adds none: one header, the app's.
	res, err := http.Get(ngx.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Values("Content-Security-Policy"); len(csp) != 1 || !strings.Contains(csp[0], "default-src") {
		t.Errorf("Content-Security-Policy through nginx: %q, want the app's one", csp)
	}

	waitUntil(t, "the delivery follower started", func() bool {
		var n int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM event_cursors WHERE consumer = $1`, federation.DeliveryConsumer).Scan(&n)
		return n == 1
	})
	// The follower of the Ortsweberei: every Antrag filed is announced to its inbox.
	follower := peer.url + "/users/f"
	if _, err := db.Exec(ctx, `INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1, $2, 'Person', $3, now())`,
		follower, strings.TrimPrefix(peer.url, "http://"), follower+"/inbox"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $2, now())`,
		follower, follower+"#follow"); err != nil {
		t.Fatal(err)
	}

	// Residents, verified by an admin (Anträge need it), all through nginx.
	if out, err := exec.Command(bin, "admin", "create", "--email", "admin@example.org", "--password", "admin password",
		"--name", "Ada Admin", "--database-url", dbURL, "--data-dir", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	admin := newWebClient(ngx.URL)
	admin.must(t, "POST", "/api/auth/login", map[string]string{"email": "admin@example.org", "password": "admin password"}, http.StatusOK, nil)
	residents := make([]*webClient, 4)
	for n := range residents {
		c := newWebClient(ngx.URL)
		email := fmt.Sprintf("r%d@example.org", n)
		c.must(t, "POST", "/api/auth/register", map[string]any{"name": fmt.Sprintf("Anwohnerin %d", n), "address": fmt.Sprintf("Weg %d", n),
			"lat": 51.33, "lon": 12.33, "email": email, "password": "lange genug"}, http.StatusAccepted, nil)
		var me struct{ ID string }
		c.must(t, "POST", "/api/auth/login", map[string]string{"email": email, "password": "lange genug"}, http.StatusOK, &me)
		admin.must(t, "POST", "/api/admin/accounts/"+me.ID+"/verify", nil, http.StatusOK, nil)
		residents[n] = c
	}

	// Live-map sockets on the box the load writes into, opened one after another: nginx's
	// round robin puts them on both replicas.
	bbox := "12.32,51.32,12.34,51.34"
	var cells struct{ Cells []string }
	residents[0].must(t, "GET", "/api/map/cells?bbox="+bbox+"&zoom=8", nil, http.StatusOK, &cells)
	sockets := make([]*mapSocket, 4)
	for n := range sockets {
		sockets[n] = followMap(t, strings.Replace(ngx.URL, "http://", "ws://", 1)+"/ws/map", cells.Cells)
	}
	setUp := time.Now()

	// The load: each resident in turn places a Knoten, spins a Faden to it, writes in the chat,
	// reads the box and the Anträge, and every third round files an Antrag. Each acknowledged
	// write is recorded; a write cut off with its replica (502) is not acknowledged, and may or
	// may not have happened.
	const rounds = 15
	var acked struct {
		sync.Mutex
		knoten, faeden, chat []string
		antraege             map[string]time.Time // id → when acknowledged
	}
	acked.antraege = map[string]time.Time{}
	var killedAt atomic.Pointer[time.Time]
	var done atomic.Int64
	victimCh := make(chan int, 1)
	load := func(n int, c *webClient) {
		for i := range rounds {
			var k struct{ ID string }
			if c.do("POST", "/api/knoten", map[string]any{"type": "idee", "title": fmt.Sprintf("Idee %d-%d", n, i),
				"lat": 51.33 + float64(n)*0.001, "lon": 12.33 + float64(i)*0.0005}, &k) == http.StatusCreated {
				acked.Lock()
				acked.knoten = append(acked.knoten, k.ID)
				acked.Unlock()
				var f struct{ ID string }
				if c.do("POST", "/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}, &f) == http.StatusCreated {
					acked.Lock()
					acked.faeden = append(acked.faeden, f.ID)
					acked.Unlock()
				}
			}
			var m struct{ ID string }
			if c.do("POST", "/api/chat", map[string]string{"text": fmt.Sprintf("Hallo %d-%d", n, i)}, &m) == http.StatusCreated {
				acked.Lock()
				acked.chat = append(acked.chat, m.ID)
				acked.Unlock()
			}
			c.do("GET", "/api/knoten?bbox="+bbox, nil, nil)
			c.do("GET", "/api/antraege", nil, nil)
			if i%3 == 0 {
				var a struct{ ID string }
				if c.do("POST", "/api/antraege", map[string]any{"title": fmt.Sprintf("Antrag %d-%d", n, i)}, &a) == http.StatusCreated {
					acked.Lock()
					acked.antraege[a.ID] = time.Now()
					acked.Unlock()
				}
			}
			// A third into the load, the leader dies.
			if done.Add(1) == rounds*int64(len(residents))/3 {
				victimCh <- 1
			}
		}
	}
	var loadDone sync.WaitGroup
	for n, c := range residents {
		loadDone.Go(func() { load(n, c) })
	}
	<-victimCh
	var leader string
	if err := db.QueryRow(ctx, `SELECT leader_id FROM river_leader`).Scan(&leader); err != nil {
		t.Fatalf("River's leader: %v", err)
	}
	victim := -1
	for n, r := range replicas {
		if strings.Contains(leader, fmt.Sprintf("_pid%d_", r.cmd.Process.Pid)) {
			victim = n
		}
	}
	if victim < 0 {
		t.Fatalf("River's leader %q is neither replica", leader)
	}
	survivor := replicas[1-victim]
	if err := replicas[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-replicas[victim].done
	now := time.Now()
	killedAt.Store(&now)
	loadDone.Wait()
	loaded := time.Now()

	// No acknowledged write lost: each is there, read through nginx (only the survivor is left).
	reader := residents[0]
	for _, id := range acked.knoten {
		reader.must(t, "GET", "/api/knoten/"+id, nil, http.StatusOK, nil)
	}
	for id := range acked.antraege {
		reader.must(t, "GET", "/api/antraege/"+id, nil, http.StatusOK, nil)
	}
	for what, ids := range map[string][]string{"faeden": acked.faeden, "chat_nachrichten": acked.chat} {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM `+what+` WHERE id = ANY($1::uuid[])`, ids).Scan(&n); err != nil || n != len(ids) {
			t.Errorf("%s: %d of %d acknowledged in the database (%v)", what, n, len(ids), err)
		}
	}
	if len(acked.knoten) < rounds*len(residents)/2 || len(acked.antraege) == 0 {
		t.Fatalf("only %d Knoten and %d Anträge acknowledged of %d rounds: the survivor did not take the load", len(acked.knoten),
			len(acked.antraege), rounds*len(residents))
	}

	// Every socket sees every acknowledged Knoten; those of the dead replica reconnected.
	reconnected := 0
	for n, s := range sockets {
		waitUntil(t, fmt.Sprintf("socket %d to have every acknowledged Knoten", n), func() bool { return s.hasAll(acked.knoten) })
		if s.connections() > 1 {
			reconnected++
		}
	}
	if reconnected == 0 {
		t.Error("no socket reconnected after the kill, yet nginx spread them over both replicas")
	}

	// River on the survivor: it leads (River's lease of the dead leader runs out first: up to
	// 15 s), and its periodic sweeps run; the Anträge filed after the kill are delivered.
	waitUntil(t, "the survivor to lead River", func() bool {
		var id string
		_ = db.QueryRow(ctx, `SELECT leader_id FROM river_leader`).Scan(&id)
		return strings.Contains(id, fmt.Sprintf("_pid%d_", survivor.cmd.Process.Pid))
	})
	waitUntil(t, "a periodic sweep enqueued and run after the kill", func() bool {
		var n int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'sweep' AND args->>'reason' = 'periodic'
			AND state = 'completed' AND created_at > $1`, *killedAt.Load()).Scan(&n)
		return n > 0
	})
	after := 0
	for id, at := range acked.antraege {
		if at.After(*killedAt.Load()) {
			after++
			waitUntil(t, "the Announce of Antrag "+id+" (filed after the kill)", func() bool { return peer.deliveredAbout(id) > 0 })
		}
	}
	if after == 0 {
		t.Error("no Antrag was acknowledged after the kill")
	}
	// Those filed before: delivered, or their delivery still waits in the queue (one the dead
	// replica was sending is rescued once its own timeout has passed) — never dropped.
	var dropped int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND state IN ('discarded', 'cancelled')`).Scan(&dropped); err != nil || dropped > 0 {
		t.Errorf("deliveries dropped: %d (%v)", dropped, err)
	}
	var waiting int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND state <> 'completed'`).Scan(&waiting)
	missing := 0
	for id := range acked.antraege {
		if peer.deliveredAbout(id) == 0 {
			missing++
		}
	}
	if missing > waiting {
		t.Errorf("%d Anträge were never announced and only %d deliveries wait in the queue", missing, waiting)
	}
	for id, n := range peer.counts() {
		if n > 2 {
			t.Errorf("activity %s arrived %d times", id, n)
		}
	}
	checked := time.Now()

	// SIGTERM: /readyz goes 503 "draining" while the listener still answers (--shutdown-delay),
	// then the listener closes; the sockets get 4012; serve exits 0.
	readyz := "http://" + addrs[1-victim] + "/readyz"
	if code, body := getBody(readyz); code != http.StatusOK || !strings.Contains(body, `"status":"ready"`) {
		t.Fatalf("/readyz of the survivor: %d %s", code, body)
	}
	for _, s := range sockets {
		s.stop() // closed by the survivor, they stay closed: no replica is left to take them
	}
	if err := survivor.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sawDraining := false
	waitUntil(t, "the survivor's listener to close", func() bool {
		code, body := getBody(readyz)
		if code == http.StatusServiceUnavailable && strings.Contains(body, `"status":"draining"`) {
			sawDraining = true
		}
		return code == 0
	})
	if !sawDraining {
		t.Error("/readyz never answered 503 draining before the listener closed")
	}
	for n, s := range sockets {
		waitUntil(t, fmt.Sprintf("socket %d closed with 4012", n), func() bool { return s.closedWith(4012) })
	}
	select {
	case err := <-survivor.done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, survivor.log.String())
		}
	case <-time.After(streamtest.Patience):
		t.Fatal("serve did not exit after SIGTERM")
	}
	t.Logf("build %s, start and set-up %s, load %s (kill at %s), checks %s (leader moved, deliveries), SIGTERM %s; %d Knoten, %d Fäden, %d chat, %d Anträge acknowledged",
		built.Sub(began).Round(time.Millisecond), setUp.Sub(built).Round(time.Millisecond), loaded.Sub(setUp).Round(time.Millisecond),
		killedAt.Load().Sub(setUp).Round(time.Millisecond), checked.Sub(loaded).Round(time.Millisecond), time.Since(checked).Round(time.Millisecond),
		len(acked.knoten), len(acked.faeden), len(acked.chat), len(acked.antraege))
}

// startReplica starts one `serve` on the shared database, fast for a test: sweeps every second,
// the live map every 200 ms, River's rescue floor 2 s, a second of draining on SIGTERM.
func startReplica(t *testing.T, bin, dbURL, dir, addr string) *server {
	return start(t, bin, "serve", "--dev", "--database-url", dbURL, "--listen", addr, "--data-dir", filepath.Join(dir, "data"),
		"--snapshot-dir", filepath.Join(dir, "snapshots"), "--sweep-interval", "1s", "--map-batch", "200ms",
		"--job-rescue-after", "2s", "--shutdown-delay", "1s", "--shutdown-timeout", "10s", "--trusted-proxy", "127.0.0.1",
		// One Ortsweberei, one public URL, however many replicas: its ActivityPub IRIs.
		"--public-url", "http://lindenau.test")
}

// webClient is one browser through nginx.
type webClient struct {
	base string
	http *http.Client
}

func newWebClient(base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a request and decodes a 2xx answer into into; it returns the status, 0 when the
// request failed without one.
func (c *webClient) do(method, path string, body, into any) int {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if into != nil && res.StatusCode/100 == 2 && json.Unmarshal(got, into) != nil {
		return 0
	}
	return res.StatusCode
}

func (c *webClient) must(t *testing.T, method, path string, body any, want int, into any) {
	t.Helper()
	if got := c.do(method, path, body, into); got != want {
		t.Fatalf("%s %s: %d, want %d", method, path, got, want)
	}
}

// getBody is a GET's status and body; status 0 when the connection was refused.
func getBody(url string) (int, string) {
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// mapSocket follows the live map as the web app does (web/src/feed.ts): it subscribes to its
// cells, keeps the last cursor of a state or delta, and when the socket closes reconnects at
// once and subscribes again with that cursor.
type mapSocket struct {
	url   string
	cells []string
	ctx   context.Context
	quit  context.CancelFunc
	// stopped: no reconnect once the current connection closes.
	stopped atomic.Bool

	mu      sync.Mutex
	seen    map[string]bool
	cursor  string
	dials   int
	closing []websocket.StatusCode
}

func followMap(t *testing.T, url string, cells []string) *mapSocket {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &mapSocket{url: url, cells: cells, ctx: ctx, quit: cancel, seen: map[string]bool{}}
	t.Cleanup(cancel)
	first := make(chan struct{})
	go s.run(first)
	select {
	case <-first:
	case <-time.After(streamtest.Patience):
		t.Fatal("the live map did not answer through nginx")
	}
	return s
}

func (s *mapSocket) run(first chan struct{}) {
	var once sync.Once
	for s.ctx.Err() == nil && !s.stopped.Load() {
		conn, _, err := websocket.Dial(s.ctx, s.url, nil)
		if err != nil {
			// nginx answers 502 while no replica takes connections: try again shortly.
			select {
			case <-s.ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		conn.SetReadLimit(16 << 20)
		s.mu.Lock()
		s.dials++
		sub := map[string]any{"type": "subscribe", "cells": s.cells}
		if s.cursor != "" {
			sub["cursor"] = s.cursor
		}
		s.mu.Unlock()
		b, _ := json.Marshal(sub)
		err = conn.Write(s.ctx, websocket.MessageText, b)
		for err == nil {
			var data []byte
			if _, data, err = conn.Read(s.ctx); err == nil {
				s.note(data)
				once.Do(func() { close(first) })
			}
		}
		s.mu.Lock()
		s.closing = append(s.closing, websocket.CloseStatus(err))
		s.mu.Unlock()
		conn.CloseNow()
	}
}

func (s *mapSocket) note(data []byte) {
	var m struct {
		Type   string `json:"type"`
		Cursor string `json:"cursor"`
		Knoten []struct {
			ID string `json:"id"`
		} `json:"knoten"`
	}
	if json.Unmarshal(data, &m) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Type == "state" || m.Type == "delta" {
		for _, k := range m.Knoten {
			s.seen[k.ID] = true
		}
		if m.Cursor != "" {
			s.cursor = m.Cursor
		}
	}
}

func (s *mapSocket) hasAll(ids []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if !s.seen[id] {
			return false
		}
	}
	return true
}

func (s *mapSocket) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// stop lets the socket end without reconnecting once its current connection closes.
func (s *mapSocket) stop() { s.stopped.Store(true) }

func (s *mapSocket) closedWith(code websocket.StatusCode) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.closing {
		if c == code {
			return true
		}
	}
	return false
}

// peerInbox is a follower's server: it takes every delivery and counts each activity by id.
type peerInbox struct {
	url    string
	mu     sync.Mutex
	byID   map[string]int
	bodies []string
}

func startPeerInbox(t *testing.T) *peerInbox {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.13:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peerInbox{url: "http://" + ln.Addr().String(), byID: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(b, &a) == nil && a.ID != "" {
			p.mu.Lock()
			p.byID[a.ID]++
			p.bodies = append(p.bodies, string(b))
			p.mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("peer inbox: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return p
}

// deliveredAbout is how many deliveries named the id (an Antrag's, in its Announce).
func (p *peerInbox) deliveredAbout(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, b := range p.bodies {
		if strings.Contains(b, id) {
			n++
		}
	}
	return n
}

func (p *peerInbox) counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.byID))
	for k, v := range p.byID {
		out[k] = v
	}
	return out
}
