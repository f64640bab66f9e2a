package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// restore --to refuses before it touches anything: a target it cannot read, a directory that
// is not a repository, a data directory that holds something.
func TestRestoreToRefuses(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	full := filepath.Join(dir, "full")
	for _, d := range []string{repo, full} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(full, "PG_VERSION"), []byte("15\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	restore := func(args ...string) error {
		return run(context.Background(), append([]string{"restore"}, args...), io.Discard, io.Discard)
	}
	if err := restore("--to", "yesterday", "--backup-repo", repo, "--data-dir", filepath.Join(dir, "new")); !fault.Is(err, "restore_target_invalid") {
		t.Errorf("--to yesterday: %v", err)
	}
	if err := restore("--to", "latest", "--backup-repo", repo, "--data-dir", filepath.Join(dir, "new")); err == nil || !strings.Contains(err.Error(), "holds no pgbackrest.conf") {
		t.Errorf("not a repository: %v", err)
	}
	if err := os.WriteFile(filepath.Join(repo, "pgbackrest.conf"), []byte("[global]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := restore("--to", "latest", "--backup-repo", repo, "--data-dir", full); !fault.Is(err, "restore_target_not_empty") {
		t.Errorf("into a data directory with a cluster: %v", err)
	}
	if err := restore("--to=latest", "--data-dir", filepath.Join(dir, "new")); err == nil || !strings.Contains(err.Error(), "--backup-repo") {
		t.Errorf("without a repository: %v", err)
	}
}
