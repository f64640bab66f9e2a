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

// restore --to and the drill run pgBackRest on a repository whose pgbackrest.conf names the S3
// bucket as repo2 when serve had one; pgBackRest refuses every command then ("restore command
// requires option: repo2-s3-key") unless the keys are in its environment. So the repository
// they open carries the same secrets as serve's: the cipher pass and the S3 keys.
func TestRestoreToRepoHasTheS3Keys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pgbackrest.conf"), []byte("[global]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WG_BACKUP_CIPHER_PASS", "pass")
	t.Setenv("WG_BACKUP_S3_BUCKET", "bucket")
	t.Setenv("WG_BACKUP_S3_ENDPOINT", "s3.example.org")
	t.Setenv("WG_BACKUP_S3_REGION", "eu")
	t.Setenv("WG_BACKUP_S3_KEY", "key-id")
	t.Setenv("WG_BACKUP_S3_SECRET", "key-secret")
	repo, err := openRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(repo.Env(), "\n")
	for _, want := range []string{"PGBACKREST_REPO1_CIPHER_PASS=pass", "PGBACKREST_REPO2_CIPHER_PASS=pass",
		"PGBACKREST_REPO2_S3_KEY=key-id", "PGBACKREST_REPO2_S3_KEY_SECRET=key-secret"} {
		if !strings.Contains(env, want) {
			t.Errorf("the repository restore --to and the drill open lacks %s in pgBackRest's environment", strings.SplitN(want, "=", 2)[0])
		}
	}
}
