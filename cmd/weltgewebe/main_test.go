package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary, with its embedded PostgreSQL: it initialises a cluster on first start,
// serves, lets `admin create` use the running cluster, stops the cluster cleanly on SIGTERM,
// and finds its data again on the next start.
func TestServeWithEmbeddedDatabase(t *testing.T) {
	bin := binary(t)
	dataDir := filepath.Join(reachableTempDir(t), "data")

	srv := start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	if res := get(t, srv.url+"/healthz"); res != http.StatusOK {
		t.Fatalf("healthz: %d", res)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		t.Fatalf("no cluster initialised in --data-dir: %v", err)
	}
	if get(t, srv.url+"/api/dev/clock") != http.StatusOK {
		t.Fatal("--dev did not enable the dev clock")
	}

	out, err := exec.Command(bin, "admin", "create", "--email", "admin@example.org", "--password", "admin password",
		"--name", "Ada Admin", "--data-dir", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "admin admin@example.org created") {
		t.Fatalf("admin create beside a running serve: %v\n%s", err, out)
	}
	login := func(url string) int {
		res, err := http.Post(url+"/api/auth/login", "application/json",
			strings.NewReader(`{"email":"admin@example.org","password":"admin password"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := login(srv.url); code != http.StatusOK {
		t.Fatalf("admin login: %d", code)
	}

	// An export while serving, restored into a fresh data directory, carries the account over.
	dump := filepath.Join(reachableTempDir(t), "instance.dump")
	if out, err := exec.Command(bin, "export", "database", "--data-dir", dataDir, dump).CombinedOutput(); err != nil {
		t.Fatalf("export while serving: %v\n%s", err, out)
	}

	srv.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("PostgreSQL still running after SIGTERM (postmaster.pid: %v)", err)
	}

	restored := filepath.Join(reachableTempDir(t), "restored")
	// "restore FILE" no longer guesses: it names the flag.
	if out, err := exec.Command(bin, "restore", "--data-dir", restored, dump).CombinedOutput(); err == nil || !strings.Contains(string(out), "--from-export") {
		t.Fatalf("restore FILE: %v, want an error naming --from-export:\n%s", err, out)
	}
	if out, err := exec.Command(bin, "restore", "--data-dir", restored, "--from-export", dump).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	srv = start(t, bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", restored)
	if code := login(srv.url); code != http.StatusOK {
		t.Fatalf("admin login on the restored instance: %d", code)
	}
	srv.stop(t)

	if out, err := exec.Command(bin, "migrate", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	// Without --dev: the data is still there, and the dev clock is not.
	srv = start(t, bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	if code := login(srv.url); code != http.StatusOK {
		t.Fatalf("admin login after restart: %d", code)
	}
	if code := get(t, srv.url+"/api/dev/clock"); code != http.StatusNotFound {
		t.Fatalf("dev clock without --dev: %d", code)
	}
	srv.stop(t)
}

func TestDemoNeedsDev(t *testing.T) {
	var stderr strings.Builder
	err := run(context.Background(), []string{"serve", "--demo"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--demo needs --dev") {
		t.Fatalf("serve --demo without --dev: %v", err)
	}
}

type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	// log is serve's stderr: read it only after done has answered.
	log *strings.Builder
}

var listening = regexp.MustCompile(`weltgewebe listening on (http://\S+)`)

func start(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// The tests register residents as scripts do, without solving the captcha.
	cmd.Env = append(os.Environ(), "WG_CAPTCHA=off")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), log: &stderr}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case s.url = <-urls:
		return s
	case err := <-s.done:
		t.Fatalf("serve exited during start-up: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start within 60s\n%s", stderr.String())
	}
	return nil
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60s of SIGTERM")
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// reachableTempDir is a temporary directory the database's system user can enter (the
// cluster runs as "postgres" when the tests run as root).
func reachableTempDir(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The edge's serve flags are checked before anything starts: a captcha setting that names no
// place to ask it, and a rate limit the table does not have, are refused with the flag's name.
func TestServeRefusesBadEdgeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--captcha", "maybe"}, "--captcha: captcha: want off, on, or a list"},
		{[]string{"--captcha", "register,login,login-after-failures"}, "--captcha: captcha: name one of"},
		{[]string{"--rate-limit", "chats/ip=1/1s"}, "--rate-limit"},
		{[]string{"--rate-limit", "chat/ip=1"}, "--rate-limit"},
		{[]string{"--ingest", "1935"}, "--ingest wants rtmp=HOST:PORT or off"},
		{[]string{"--ingest", "rtmp=localhost"}, "--ingest wants rtmp=HOST:PORT or off"},
		{[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout wants a positive duration"},
		{[]string{"--shutdown-delay", "soon"}, "--shutdown-delay wants a duration"},
		{[]string{"--job-rescue-after", "10ms"}, "--job-rescue-after wants a duration of at least 1s"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...), io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}

// A help that is asked for exits 0 (scripts and `make drill DRILLFLAGS=--help` take it as
// success); a command used wrongly prints its usage and fails.
func TestHelpExitsZeroMisuseFails(t *testing.T) {
	bin := binary(t)
	for _, args := range [][]string{{"drill", "--help"}, {"serve", "-h"}, {"restore", "--to", "x", "-help"}, {"--help"}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil || !strings.Contains(strings.ToLower(string(out)), "usage") {
			t.Errorf("weltgewebe %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, args := range [][]string{{}, {"admin"}, {"export"}, {"drill", "--no-such-flag"}} {
		if err := exec.Command(bin, args...).Run(); err == nil {
			t.Errorf("weltgewebe %s: exit 0, want a failure", strings.Join(args, " "))
		}
	}
}
