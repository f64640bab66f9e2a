package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The test: a busy instance (the real binary, its embedded cluster streaming its WAL
// synchronously into a backup repository, a full backup taken) while residents keep placing
// Knoten through the API. The drill runs against it while it writes and must pass. Then the
// server is lost — serve, its PostgreSQL and its pg_receivewal stopped and killed at one
// instant — and `restore --to latest` into a fresh directory with nothing but the repository
// must bring back every Knoten whose 201 a resident received.
func TestDrillAndRestoreAfterKill(t *testing.T) {
	bin := binary(t)
	ctx := context.Background()
	t0 := time.Now()
	step := func(what string) { t.Logf("%6.1f s  %s", time.Since(t0).Seconds(), what) }
	dir := reachableTempDir(t)
	dataDir, repoDir := filepath.Join(dir, "data"), filepath.Join(dir, "repo")
	srv := start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--backup-repo", repoDir,
		"--rate-limit", "write/account=0/1s,write/ip=0/1s")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	step("serving")
	run("backup", "--type", "full", "--data-dir", dataDir, "--backup-repo", repoDir)
	step("full backup")

	// Three residents, each writing as fast as the instance answers.
	run("admin", "create", "--email", "admin@example.org", "--password", "admin password", "--name", "Admin", "--data-dir", dataDir)
	var clients []*http.Client
	for i := range 3 {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		email := fmt.Sprintf("r%d@example.org", i)
		post(t, c, srv.url+"/api/auth/register", fmt.Sprintf(`{"name":"Bewohnerin %d","address":"Weg %d","lat":51.3,"lon":12.3,"email":%q,"password":"lange genug"}`, i, i, email), 202)
		run("admin", "verify", "--by", "admin@example.org", "--email", email, "--data-dir", dataDir)
		post(t, c, srv.url+"/api/auth/login", fmt.Sprintf(`{"email":%q,"password":"lange genug"}`, email), 200)
		clients = append(clients, c)
	}
	var mu sync.Mutex
	var acked []string // every Knoten whose 201 arrived
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	var writers sync.WaitGroup
	var lost atomic.Bool
	for w, c := range clients {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf(`{"type":"idee","title":"Knoten %d-%d","lat":%f,"lon":%f}`, w, i, 51.3+float64(i%100)/1000, 12.3+float64(w)/100)
				res, err := c.Post(srv.url+"/api/knoten", "application/json", strings.NewReader(body))
				if err != nil {
					if !lost.Load() {
						t.Errorf("POST /api/knoten before the server was lost: %v", err)
					}
					return
				}
				var k struct{ ID string }
				err = json.NewDecoder(res.Body).Decode(&k)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated || err != nil {
					if lost.Load() {
						return
					}
					t.Errorf("POST /api/knoten: %d %v", res.StatusCode, err)
					return
				}
				mu.Lock()
				acked = append(acked, k.ID)
				mu.Unlock()
			}
		}()
	}
	step("residents ready")
	waitFor(t, "the first writes", func() bool { return ackedCount() >= 30 })

	// The drill, while they write.
	out := run("drill", "--data-dir", dataDir, "--backup-repo", repoDir)
	if !strings.Contains(out, "PASSED") {
		t.Fatalf("drill:\n%s", out)
	}
	step("drill:\n" + out)
	// Its report is public on the instance it drilled.
	res, err := http.Get(srv.url + "/api/betrieb/drills")
	if err != nil {
		t.Fatal(err)
	}
	var drills []struct {
		Name   string
		Passed bool
	}
	err = json.NewDecoder(res.Body).Decode(&drills)
	res.Body.Close()
	if err != nil || len(drills) != 1 || !drills[0].Passed || get(t, srv.url+"/api/betrieb/drills/"+drills[0].Name) != http.StatusOK {
		t.Fatalf("GET /api/betrieb/drills: %v %+v", err, drills)
	}
	atDrill := ackedCount()
	if atDrill == 0 {
		t.Fatal("no writes")
	}
	// Writes go on after it, then the server is lost in the middle of them.
	waitFor(t, "writes after the drill", func() bool { return ackedCount() >= atDrill+30 })
	lost.Store(true)
	loseServer(t, srv.cmd.Process.Pid)
	<-srv.done
	writers.Wait()
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()

	step("server lost")
	// A fresh directory with nothing but the repository.
	restored := filepath.Join(reachableTempDir(t), "restored")
	step(run("restore", "--to", "latest", "--backup-repo", repoDir, "--data-dir", restored))
	srv = start(t, bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", restored)
	step("serving the restored")
	defer srv.stop(t)
	db, err := pgx.Connect(ctx, "postgres://postgres@/postgres?host="+filepath.Join(restored, "run")+"&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var rows, events int
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM knoten WHERE id = ANY($1::uuid[])),
	       (SELECT count(DISTINCT subject_id) FROM events WHERE type = 'KnotenGeknuepft' AND subject_id = ANY($1::uuid[]))`, want).Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	if rows != len(want) || events != len(want) {
		t.Fatalf("after the restore %d of %d acknowledged Knoten are on the map, %d in the log", rows, len(want), events)
	}
	last := want[len(want)-1]
	if code := get(t, srv.url+"/api/knoten/"+last); code != http.StatusOK {
		t.Fatalf("the last acknowledged Knoten through the restored API: %d", code)
	}
	t.Logf("%d acknowledged writes (%d before the drill ended), all restored", len(want), atDrill)
}

func post(t *testing.T, c *http.Client, url, body string, want int) {
	t.Helper()
	res, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", url, res.StatusCode, want)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loseServer stops the process and every descendant (its PostgreSQL and that server's
// backends, pg_receivewal) with SIGSTOP, so that none goes on after another has gone, and
// then kills them all with SIGKILL: what a lost machine does. Killing serve alone would not
// do — its children get a parent-death signal and shut down cleanly.
func loseServer(t *testing.T, root int) {
	t.Helper()
	stopped := map[int]bool{}
	for {
		var next []int
		for _, p := range append(descendants(root), root) {
			if !stopped[p] {
				next = append(next, p)
			}
		}
		if len(next) == 0 {
			break
		}
		for _, p := range next {
			_ = syscall.Kill(p, syscall.SIGSTOP)
			stopped[p] = true
		}
	}
	for p := range stopped {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	t.Logf("killed %d processes", len(stopped))
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
