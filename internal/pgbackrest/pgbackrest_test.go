package pgbackrest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// open starts an embedded cluster that archives and streams into repo (as serve
// --backup-repo does), without the instance's schema.
func open(t *testing.T, dataDir string, repo *pgbackrest.Repo, wal string) *instance.Database {
	t.Helper()
	if _, err := pgbackrest.Binary(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := instance.OpenDatabase(ctx, instance.DBConfig{DataDir: dataDir, NoMigrate: true, Backup: repo, BackupWAL: wal}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// tempDir is a directory the cluster's user (postgres, when the tests run as root) can enter.
func tempDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// With the synchronous stream, a commit that returned is in the repository's wal-stream:
// what B's kill test and every restore to "latest" rely on.
func TestAcknowledgedCommitIsInTheStream(t *testing.T) {
	dir := tempDir(t)
	repo := &pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	d := open(t, filepath.Join(dir, "data"), repo, "sync")
	ctx := context.Background()
	var state string
	if err := d.Pool.QueryRow(ctx, `SELECT sync_state FROM pg_stat_replication WHERE application_name = 'weltgewebe_walstream'`).Scan(&state); err != nil {
		t.Fatalf("the stream is not connected: %v", err)
	}
	if state != "sync" {
		t.Fatalf("the stream's sync_state is %q, want sync", state)
	}
	marker := "acknowledged-" + rand.Text()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE t (v text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO t VALUES ($1)`, marker); err != nil {
		t.Fatal(err)
	}
	// No waiting: the commit's acknowledgement is the stream's flush.
	if !inStream(t, repo, marker) {
		t.Fatalf("the committed row %q is not in %s", marker, repo.StreamDir())
	}

	// pg_receivewal dies: the cluster starts it again, and the next commit, which waits for
	// it, is in the stream too.
	pid := receiverPID(t, repo.StreamDir())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	again := "after-the-kill-" + rand.Text()
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.Pool.Exec(waitCtx, `INSERT INTO t VALUES ($1)`, again); err != nil {
		t.Fatalf("a commit after the stream died: %v (was it started again?)", err)
	}
	if !inStream(t, repo, again) {
		t.Fatalf("the row committed after the stream's restart is not in %s", repo.StreamDir())
	}
	if receiverPID(t, repo.StreamDir()) == pid {
		t.Fatal("the same pg_receivewal still runs")
	}
}

// receiverPID finds the pg_receivewal writing into dir.
func receiverPID(t *testing.T, dir string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if strings.HasSuffix(args[0], "pg_receivewal") && slices.Contains(args, "--directory="+dir) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no pg_receivewal writes into %s", dir)
	return 0
}

// inStream says whether a segment in the stream's directory holds the bytes of s (a row's
// text is in its insert record).
func inStream(t *testing.T, repo *pgbackrest.Repo, s string) bool {
	t.Helper()
	entries, err := os.ReadDir(repo.StreamDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repo.StreamDir(), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// A full backup, a row written after it and never archived (it is only in the stream's
// .partial segment when the server is killed), a restore to latest into an empty directory: the
// restored cluster has the row, and the snapshot files come back.
func TestBackupRestoreLatestHasTheStreamsCommits(t *testing.T) {
	dir := tempDir(t)
	repo := &pgbackrest.Repo{Dir: filepath.Join(dir, "repo"), CipherPass: "test-pass"}
	d := open(t, filepath.Join(dir, "data"), repo, "sync")
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE t (v text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO t VALUES ('before the backup')`); err != nil {
		t.Fatal(err)
	}
	pg, ok := d.BackupCluster()
	if !ok {
		t.Fatal("no embedded cluster")
	}
	b, err := repo.Backup(ctx, pg, "full")
	if err != nil {
		t.Fatal(err)
	}
	if b.Type != "full" || b.RepoSize <= 0 || b.Stop.Before(b.Start) {
		t.Fatalf("backup = %+v", b)
	}
	if conf, _ := os.ReadFile(repo.ConfigPath()); strings.Contains(string(conf), "test-pass") {
		t.Fatal("the cipher pass is in pgbackrest.conf")
	}
	info, err := repo.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Backups) != 1 || info.Backups[0].Label != b.Label || info.RepoBytes <= 0 || info.ArchiveMax == "" {
		t.Fatalf("info = %+v", info)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO t VALUES ('after the backup')`); err != nil {
		t.Fatal(err)
	}
	// A moment between two commits, on the server's own clock: a restore to it has the first
	// and not the second (restore --to TIMESTAMP). pgBackRest keeps a backup's stop time in
	// whole seconds and wants a target after it: the moment is taken once the server's clock
	// has passed that second.
	var moment time.Time
	for {
		if err := d.Pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&moment); err != nil {
			t.Fatal(err)
		}
		if moment.After(b.Stop.Truncate(time.Second).Add(time.Second)) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO t VALUES ('after the moment')`); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "snapshot-1.json")
	if err := os.WriteFile(snap, []byte(`{"signed":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := repo.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	// The server dies without a shutdown (which would archive the segment in progress).
	pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.Close() // waits for the killed server; stops the stream

	target := filepath.Join(dir, "restored")
	if err := os.WriteFile(filepath.Join(dir, "occupied"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := repo.Restore(ctx, pgbackrest.Cluster{DataDir: dir, User: pg.User}, pgbackrest.Target{Latest: true}); err != pgbackrest.ErrNotEmpty {
		t.Fatalf("restore into a directory with files: %v, want ErrNotEmpty", err)
	}
	if err := repo.Restore(ctx, pgbackrest.Cluster{DataDir: target, User: pg.User}, pgbackrest.Target{Latest: true}); err != nil {
		t.Fatal(err)
	}
	n, err := repo.RestoreSnapshots(filepath.Join(dir, "snapshots"))
	if err != nil || n != 1 {
		t.Fatalf("snapshot files restored: %d, %v", n, err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: target, Env: repo.Env()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	conn := waitPromoted(t, c)
	defer conn.Close(ctx)
	var rows []string
	rs, err := conn.Query(ctx, `SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err = pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows, ",") != "after the backup,after the moment,before the backup" {
		t.Fatalf("restored rows = %q", rows)
	}

	// The same repository to the moment: recovery stops before the later commit.
	atMoment := filepath.Join(dir, "at-the-moment")
	if err := repo.Restore(ctx, pgbackrest.Cluster{DataDir: atMoment, User: pg.User}, pgbackrest.Target{Time: moment}); err != nil {
		t.Fatal(err)
	}
	cm, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: atMoment, Env: repo.Env()})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Stop()
	connM := waitPromoted(t, cm)
	defer connM.Close(ctx)
	rs, err = connM.Query(ctx, `SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err = pgx.CollectRows(rs, pgx.RowTo[string]); err != nil || strings.Join(rows, ",") != "after the backup,before the backup" {
		t.Fatalf("rows restored to %s = %q (%v), want both before it and not the one after", moment, rows, err)
	}
}

// waitPromoted connects once recovery has ended (the server accepts connections while it
// still replays, read-only).
func waitPromoted(t *testing.T, c *pgcluster.Cluster) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			var recovering bool
			if err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovering); err == nil && !recovering {
				return conn
			}
			conn.Close(ctx)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restored cluster is still recovering after 30 s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --backup-wal archive: no stream (writes never wait for one); a completed segment reaches
// the repository by archive-push.
func TestArchiveOnlyHasNoStreamAndArchives(t *testing.T) {
	dir := tempDir(t)
	repo := &pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	d := open(t, filepath.Join(dir, "data"), repo, "archive")
	ctx := context.Background()
	var standbys string
	if err := d.Pool.QueryRow(ctx, `SELECT current_setting('synchronous_standby_names')`).Scan(&standbys); err != nil || standbys != "" {
		t.Fatalf("synchronous_standby_names = %q (%v), want none", standbys, err)
	}
	var segment string
	if err := d.Pool.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&segment); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var last *string
		if err := d.Pool.QueryRow(ctx, `SELECT last_archived_wal FROM pg_stat_archiver`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		if last != nil && *last >= segment {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived after 30 s (last: %v)", segment, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, err := repo.Info(ctx)
	if err != nil || info.ArchiveMax < segment {
		t.Fatalf("the repository's archive ends at %q (%v), want %s", info.ArchiveMax, err, segment)
	}
	if entries, _ := os.ReadDir(repo.StreamDir()); len(entries) != 0 {
		t.Fatalf("wal-stream/ has %d files without a stream", len(entries))
	}
}

// A restore to a named restore point starts from a backup that ended before it, not from the
// newest one: a backup that began after the point (the nightly one, finishing while the drill
// fingerprints the source) never reaches it in its WAL, and recovery would give up.
func TestRestoreToNameStartsBeforeThePoint(t *testing.T) {
	dir := tempDir(t)
	repo := &pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	d := open(t, filepath.Join(dir, "data"), repo, "sync")
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE t (v text); INSERT INTO t VALUES ('before the point')`); err != nil {
		t.Fatal(err)
	}
	pg, ok := d.BackupCluster()
	if !ok {
		t.Fatal("no embedded cluster")
	}
	if _, err := repo.Backup(ctx, pg, "full"); err != nil {
		t.Fatal(err)
	}
	var segment string
	if err := d.Pool.QueryRow(ctx, `SELECT pg_walfile_name(pg_create_restore_point('the-point'))`).Scan(&segment); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO t VALUES ('after the point')`); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Backup(ctx, pg, "incr"); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "restored")
	if err := repo.Restore(ctx, pgbackrest.Cluster{DataDir: target, User: pg.User}, pgbackrest.Target{Name: "the-point", Segment: segment}); err != nil {
		t.Fatal(err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: target, Env: repo.Env()})
	if err != nil {
		t.Fatalf("the cluster restored to the point did not start: %v", err)
	}
	defer c.Stop()
	conn := waitPromoted(t, c)
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, `SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil || strings.Join(rows, ",") != "before the point" {
		t.Fatalf("restored rows = %q (%v), want the point's", rows, err)
	}
}

// restore --to promotes the restored cluster without archiving (it must not write into the
// repository while it might be a copy beside a live source), so the new timeline's history
// file is not archived then. Once serve runs on it with the repository, the archive must get
// it: without it a later restore from a backup of the old timeline cannot follow onto the new
// one and replays the old timeline only, losing everything written since the first restore.
func TestServeAfterRestoreArchivesTheNewTimeline(t *testing.T) {
	dir := tempDir(t)
	repo := &pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	d := open(t, filepath.Join(dir, "data"), repo, "archive")
	ctx := context.Background()
	pg, ok := d.BackupCluster()
	if !ok {
		t.Fatal("no embedded cluster")
	}
	if _, err := repo.Backup(ctx, pg, "full"); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	target := filepath.Join(dir, "restored")
	if err := repo.Restore(ctx, pgbackrest.Cluster{DataDir: target, User: pg.User}, pgbackrest.Target{Latest: true}); err != nil {
		t.Fatal(err)
	}
	// As restore --to starts it: recovery, promotion, no archiving.
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: target, Env: repo.Env(), Settings: map[string]string{"archive_mode": "off"}})
	if err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, c).Close(ctx)
	var tli int
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT timeline_id FROM pg_control_checkpoint()`).Scan(&tli); err != nil || tli < 2 {
		t.Fatalf("timeline after the restore: %d (%v)", tli, err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	history := fmt.Sprintf("%08X.history", tli)

	// serve on the restored cluster with the repository.
	open(t, target, repo, "archive")
	deadline := time.Now().Add(60 * time.Second)
	for {
		found, _ := filepath.Glob(filepath.Join(repo.RepoPath(), "archive", pgbackrest.Stanza, "*", history+"*"))
		if len(found) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not in the repository's archive 60 s after serve started on the restored cluster", history)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A synchronous stream that cannot run (a full or unwritable repository: here a pg_receivewal
// that fails as it would, "No space left on device") stops the start with the reason: an
// instance that came up would hang at its first write, the migrations among them, with
// nothing but a log line to say why.
func TestStartRefusesAStreamThatCannotRun(t *testing.T) {
	if _, err := pgbackrest.Binary(); err != nil {
		t.Skip(err)
	}
	dir := tempDir(t)
	// PostgreSQL's binaries, but a pg_receivewal that cannot write.
	real, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(real) == 0 {
		t.Skip("no PostgreSQL server binaries in /usr/lib/postgresql")
	}
	slices.Sort(real)
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(real[len(real)-1]))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "pg_receivewal" {
			if err := os.Symlink(filepath.Join(filepath.Dir(real[len(real)-1]), e.Name()), filepath.Join(binDir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	failing := "#!/bin/sh\necho 'pg_receivewal: error: could not write to file: No space left on device' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(binDir, "pg_receivewal"), []byte(failing), 0o755); err != nil {
		t.Fatal(err)
	}
	repo := &pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	dataDir := filepath.Join(dir, "data")
	// The deadline only guards against a hang; the start ends by the stream's failures.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := instance.OpenDatabase(ctx, instance.DBConfig{DataDir: dataDir, PGBinDir: binDir, NoMigrate: true, Backup: repo, BackupWAL: "sync"}, nil)
	if err == nil {
		d.Close()
		t.Fatal("the instance's database opened with a synchronous stream that cannot run: every write would wait")
	}
	if ctx.Err() != nil || !strings.Contains(err.Error(), "WAL stream") || !strings.Contains(err.Error(), "No space left on device") ||
		!strings.Contains(err.Error(), "--backup-wal archive") {
		t.Fatalf("the start's error does not say what is wrong and what to do: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); err == nil {
		t.Error("the refused start left PostgreSQL running")
	}
}
