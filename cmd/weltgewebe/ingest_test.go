package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// `serve --ingest` runs nginx-rtmp itself, from the production template: an admin makes a
// stream, a broadcaster pushes to the instance's own RTMP port with the stream's key, the
// stream goes live, and its playlist and segments come from the instance's own origin at
// /hls/ with nginx's cache headers. nginx stops with serve, and dies with it when serve is
// killed.
func TestServeRunsItsOwnIngest(t *testing.T) {
	streamtest.Binary(t)
	streamtest.FFmpeg(t)
	bin := binary(t)
	dataDir := filepath.Join(reachableTempDir(t), "data")
	rtmp := freeAddr(t)
	srv := start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--ingest", "rtmp="+rtmp)
	nginx := ingestProcesses(t, dataDir)
	if len(nginx) != 1 {
		t.Fatalf("nginx processes of the ingest: %v", nginx)
	}

	if out, err := exec.Command(bin, "admin", "create", "--email", "admin@example.org", "--password", "admin password",
		"--name", "Ada Admin", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	call := func(method, path string, body any, want int, into any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, srv.url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		res, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, got)
		}
		if into != nil {
			if err := json.Unmarshal(got, into); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, got)
			}
		}
	}
	call("POST", "/api/auth/login", map[string]string{"email": "admin@example.org", "password": "admin password"}, http.StatusOK, nil)
	var made struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		HLSURL    string `json:"hls_url"`
		IngestKey string `json:"ingest_key"`
	}
	call("POST", "/api/streams", map[string]string{"title": "Demo live"}, http.StatusCreated, &made)

	streamtest.Push(t, "rtmp://"+rtmp+"/live/"+made.IngestKey)
	waitUntil(t, "the stream live", func() bool {
		call("GET", "/api/streams/"+made.ID, nil, http.StatusOK, &made)
		return made.State == "live"
	})
	if made.HLSURL != "/hls/"+made.ID+".m3u8" {
		t.Fatalf("hls_url %q", made.HLSURL)
	}
	playlist, segment := streamtest.Playlist(t, srv.url+made.HLSURL, 2)
	if !strings.HasPrefix(segment, made.ID+"-") {
		t.Fatalf("segment %q is not named by the stream's id; playlist:\n%s", segment, playlist)
	}
	// Only the two names nginx writes: not its config (which holds the secret), not a path out.
	for _, path := range []string{"/hls/", "/hls/nginx.conf", "/hls/..%2fnginx.conf", "/hls/" + made.ID + ".m3u8.bak"} {
		if code := get(t, srv.url+path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}

	srv.stop(t)
	log := srv.log.String()
	if !strings.Contains(log, "component=nginx-rtmp") || !strings.Contains(log, "ingest up") {
		t.Errorf("serve's log has nothing from its nginx:\n%s", log)
	}
	// nginx's lines reach serve's log, and never with a key or the callbacks' secret.
	if strings.Contains(log, made.IngestKey) || strings.Contains(log, "secret=") {
		t.Errorf("serve's log holds the ingest key or the secret:\n%s", log)
	}
	if left := ingestProcesses(t, dataDir); len(left) != 0 {
		t.Fatalf("nginx still runs after serve stopped: %v", left)
	}

	// Killed without a chance to stop it, serve leaves no nginx behind (it holds the port).
	srv = start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--ingest", "rtmp="+rtmp)
	if n := ingestProcesses(t, dataDir); len(n) != 1 {
		t.Fatalf("nginx processes of the ingest after a restart: %v", n)
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	waitUntil(t, "nginx gone after serve was killed", func() bool { return len(ingestProcesses(t, dataDir)) == 0 })
	// The embedded PostgreSQL shuts down on its own (pgcluster's Pdeathsig): let it finish
	// before the test's directory is removed.
	waitUntil(t, "PostgreSQL gone after serve was killed", func() bool { return len(processes(t, "-D\x00"+dataDir+"\x00")) == 0 })
}

// ingestProcesses are the live nginx processes with their prefix in dataDir's ingest.
func ingestProcesses(t *testing.T, dataDir string) []int {
	t.Helper()
	return processes(t, "-p\x00"+filepath.Join(dataDir, "ingest")+"\x00")
}

// processes are the live processes whose command line holds want (arguments NUL-separated).
func processes(t *testing.T, want string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(stat), ") Z ") {
			continue // a zombie has exited; only its parent's wait is missing
		}
		pids = append(pids, pid)
	}
	return pids
}

// freeAddr is a loopback address with a port free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUntil polls cond until it holds, for up to streamtest.Patience.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(streamtest.Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", streamtest.Patience, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
