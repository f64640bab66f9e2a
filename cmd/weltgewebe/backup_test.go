package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// serve with a backup repository and a nightly time: a new repository gets its first (full)
// backup at start, `backup --type incr` adds one while serving, `backup status --json` and
// GET /api/admin/backup show them with the stream running, and the snapshot files are copied
// into the repository.
func TestServeBacksUpIntoTheRepository(t *testing.T) {
	if _, err := pgbackrest.Binary(); err != nil {
		t.Skip(err)
	}
	bin := binary(t)
	dir := reachableTempDir(t)
	dataDir, repo := filepath.Join(dir, "data"), filepath.Join(dir, "repo")
	srv := start(t, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--backup-repo", repo, "--backup-at", "01:30")
	defer srv.stop(t)

	status := func() (r struct {
		Configured bool
		Last       map[string]*struct{ Label, Type string }
		Stream     struct {
			State     string
			SyncState string `json:"sync_state"`
		}
		Archive struct{ Mode string }
		Oldest  *string `json:"oldest_restore_point"`
	}) {
		out, err := exec.Command(bin, "backup", "status", "--json", "--data-dir", dataDir, "--backup-repo", repo).Output()
		if err != nil {
			var stderr []byte
			if e, ok := err.(*exec.ExitError); ok {
				stderr = e.Stderr
			}
			t.Fatalf("backup status: %v\n%s%s", err, out, stderr)
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("backup status --json: %v\n%s", err, out)
		}
		return r
	}
	instancetest.WaitFor(t, "scheduled first backup", func() bool {
		info, err := (&pgbackrest.Repo{Dir: repo}).Info(context.Background())
		return err == nil && len(info.Backups) == 1 && info.Backups[0].Type == "full"
	})
	out, err := exec.Command(bin, "backup", "--type", "incr", "--data-dir", dataDir, "--backup-repo", repo).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(incr)") {
		t.Fatalf("backup --type incr while serving: %v\n%s", err, out)
	}
	st := status()
	if !st.Configured || st.Last["incr"] == nil || st.Stream.State != "ok" || st.Stream.SyncState != "sync" ||
		st.Archive.Mode != "on" || st.Oldest == nil {
		t.Fatalf("status after two backups: %+v", st)
	}

	// The same report for admins over HTTP; nobody else gets it.
	if code := get(t, srv.url+"/api/admin/backup"); code != http.StatusUnauthorized {
		t.Fatalf("GET /api/admin/backup without a session: %d", code)
	}
	if out, err := exec.Command(bin, "admin", "create", "--email", "admin@example.org", "--password", "admin password",
		"--name", "Ada Admin", "--data-dir", dataDir, "--backup-repo", repo).CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Post(srv.url+"/api/auth/login", "application/json", strings.NewReader(`{"email":"admin@example.org","password":"admin password"}`))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", err, res)
	}
	res.Body.Close()
	res, err = c.Get(srv.url + "/api/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var api struct {
		Configured bool
		Last       map[string]json.RawMessage
		Stream     struct{ State string }
	}
	if err := json.NewDecoder(res.Body).Decode(&api); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/admin/backup: %d %v", res.StatusCode, err)
	}
	if !api.Configured || api.Last["full"] == nil || api.Stream.State != "ok" {
		t.Fatalf("GET /api/admin/backup: %+v", api)
	}

	// The snapshot taken at start (its slot had none) is in the repository too.
	instancetest.WaitFor(t, "snapshot files in the repository", func() bool {
		own, _ := filepath.Glob(filepath.Join(dataDir, "snapshots", "*.json.gz"))
		copied, _ := filepath.Glob(filepath.Join(repo, "files", "snapshots", "*.json.gz"))
		if len(own) == 0 || len(copied) != len(own) {
			return false
		}
		for i := range own {
			a, _ := os.ReadFile(own[i])
			b, _ := os.ReadFile(copied[i])
			if filepath.Base(own[i]) != filepath.Base(copied[i]) || string(a) != string(b) {
				return false
			}
		}
		return true
	})
}
