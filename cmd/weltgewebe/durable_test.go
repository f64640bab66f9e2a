package main

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A delivery queued when the server is killed with SIGKILL is delivered after the restart: the
// queue lives in PostgreSQL, committed together with the event that caused it.
func TestQueuedDeliverySurvivesKill9(t *testing.T) {
	bin := binary(t)
	dataDir := filepath.Join(reachableTempDir(t), "data")

	// A follower's inbox that is down (503) until the test says otherwise.
	var up atomic.Bool
	var mu sync.Mutex
	var got []string
	ln, err := net.Listen("tcp", "127.0.0.13:0")
	if err != nil {
		t.Fatal(err)
	}
	inbox := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})}
	go inbox.Serve(ln)
	defer inbox.Close()
	follower := "http://" + ln.Addr().String() + "/users/f"

	srv := start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, "postgres://postgres@/postgres?host="+filepath.Join(dataDir, "run")+"&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(ctx, `INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1, $2, 'Person', $3, now())`,
		follower, ln.Addr().String(), follower+"/inbox")
	if err == nil {
		_, err = db.Exec(ctx, `INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ('ortsweberei', $1, $2, now())`,
			follower, follower+"#follow")
	}
	db.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A verified resident files an Antrag: one delivery for the follower of the Ortsweberei, its
	// Announce (the Antrag actor's Create is for neighbours and the Antrag's own followers).
	for _, args := range [][]string{
		{"admin", "create", "--email", "admin@example.org", "--password", "admin password", "--name", "Admin", "--data-dir", dataDir},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	post := func(c *http.Client, path, body string) *http.Response {
		res, err := c.Post(srv.url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if res := post(c, "/api/auth/register", `{"name":"Jana","address":"Weg 1","lat":51.3,"lon":12.3,"email":"jana@example.org","password":"lange genug"}`); res.StatusCode != 202 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	if out, err := exec.Command(bin, "admin", "verify", "--by", "admin@example.org", "--email", "jana@example.org", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	post(c, "/api/auth/login", `{"email":"jana@example.org","password":"lange genug"}`)
	if res := post(c, "/api/antraege", `{"title":"Bank am Kanal"}`); res.StatusCode != 201 {
		t.Fatalf("antrag: %d", res.StatusCode)
	}

	// Wait until the delivery is queued (and has been refused once), then kill -9.
	waitQueued := time.Now().Add(60 * time.Second)
	for {
		db, err := pgx.Connect(ctx, "postgres://postgres@/postgres?host="+filepath.Join(dataDir, "run")+"&sslmode=disable")
		if err == nil {
			var n int
			_ = db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'federation_deliver' AND attempt >= 1`).Scan(&n)
			db.Close(ctx)
			if n == 1 {
				break
			}
		}
		if time.Now().After(waitQueued) {
			t.Fatal("the delivery was not queued and tried")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	for deadline := time.Now().Add(60 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("PostgreSQL did not stop after its parent was killed")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The jobs the killed process was running stay "running" in the queue until River's leader
	// rescues them: in dev mode once they are 10 s old, checked every 30 s (River's fixed
	// interval), after a leader lease of its own; so up to a minute and a half on an idle
	// machine. The bound is twice that, as a safety net for a busy one.
	up.Store(true)
	restarted := time.Now()
	srv = start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	defer srv.stop(t)
	for deadline := time.Now().Add(180 * time.Second); ; {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 1 {
			t.Logf("delivered %s after the restart", time.Since(restarted).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			db, err := pgx.Connect(ctx, "postgres://postgres@/postgres?host="+filepath.Join(dataDir, "run")+"&sslmode=disable")
			if err == nil {
				rows, _ := db.Query(ctx, `SELECT state::text || ' attempt ' || attempt || ' at ' || scheduled_at::text || ' ' || coalesce(errors::text, '') FROM river_job WHERE kind = 'federation_deliver'`)
				jobs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
				rows, _ = db.Query(ctx, `SELECT host || ' ' || failures || ' ' || coalesce(paused_until::text, '-') FROM ap_hosts`)
				hosts, _ := pgx.CollectRows(rows, pgx.RowTo[string])
				t.Logf("jobs: %v\nhosts: %v", jobs, hosts)
			}
			t.Fatalf("after the restart %d of 1 queued delivery arrived", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
