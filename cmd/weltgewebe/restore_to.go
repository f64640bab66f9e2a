package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// wantsRestoreTo reports whether a restore's arguments ask for a point-in-time restore from a
// backup repository (restore --to) rather than one of the other restores.
func wantsRestoreTo(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-to" || a == "--to" || strings.HasPrefix(a, "-to=") || strings.HasPrefix(a, "--to=") {
			return true
		}
	}
	return false
}

const restoreToUsage = `usage: weltgewebe restore --to latest|TIMESTAMP|name:NAME --backup-repo DIR --data-dir EMPTY [--snapshot-dir DIR]

Restores the instance's database from a backup repository (serve --backup-repo) into an empty
data directory: the newest fitting base backup, then every WAL segment the repository holds —
the archive and the synchronous stream's segments, so --to latest brings back every write the
instance acknowledged — replayed up to the target, and promoted. The signed snapshot files in the
repository are copied back. Afterwards "weltgewebe serve --data-dir EMPTY" starts on it.

  latest       everything the repository has
  TIMESTAMP    an RFC 3339 time, e.g. 2026-12-05T13:45:00+01:00
  name:NAME    a restore point (the drill makes drill-<time>)

The restored cluster is a new timeline: start serve with --backup-repo and take a full backup
(weltgewebe backup --type full) at once (docs/OPERATIONS.md, "Backup and restore").

flags:
`

func restoreTo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("restore", stderr, restoreToUsage)
	to := fs.String("to", "", "the target: latest, an RFC 3339 time, or name:NAME")
	repoDir := fs.String("backup-repo", envOr("WG_BACKUP_REPO", ""), "the backup repository (env WG_BACKUP_REPO)")
	dataDir := fs.String("data-dir", envOr("WG_DATA_DIR", "data"), "the EMPTY directory to restore the embedded cluster into (env WG_DATA_DIR)")
	pgBin := fs.String("pg-bin", envOr("WG_PG_BIN", ""), "directory with the PostgreSQL server binaries (default: newest /usr/lib/postgresql/*/bin)")
	snapshotDir := fs.String("snapshot-dir", envOr("WG_SNAPSHOT_DIR", ""), "where the signed snapshot files go (env WG_SNAPSHOT_DIR; default <data-dir>/snapshots, as serve has it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *to == "" || *repoDir == "" {
		fs.Usage()
		return errors.New("restore --to needs a target and --backup-repo, and no file")
	}
	target, err := pgbackrest.ParseTarget(*to)
	if err != nil {
		return fault.Invalidf("to", "restore_target_invalid", "%v", err)
	}
	repo, err := openRepo(*repoDir)
	if err != nil {
		return err
	}
	start := time.Now()
	rc, err := recoverInto(ctx, repo, target, *dataDir, *pgBin, stderr)
	if err != nil {
		return err
	}
	var replayed int64
	if rc.startLSN != "" {
		if err := rc.conn.QueryRow(ctx, `SELECT (coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()) - $1::pg_lsn)::bigint`, rc.startLSN).Scan(&replayed); err != nil {
			replayed = 0
		}
	}
	if err := rc.stop(ctx); err != nil {
		return err
	}
	dir := *snapshotDir
	if dir == "" {
		dir = filepath.Join(rc.dataDir, "snapshots")
	}
	n, err := repo.RestoreSnapshots(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s to %s in %s (%s of WAL replayed, %d snapshot files); start it with: weltgewebe serve --data-dir %s --backup-repo %s, then take a full backup (a new timeline)\n",
		repo.Dir, target, time.Since(start).Round(10*time.Millisecond), mib(replayed), n, *dataDir, *repoDir)
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// flagSet is a command's flag set whose -h prints text before the flags.
func flagSet(name string, stderr io.Writer, text string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text)
		fs.PrintDefaults()
	}
	return fs
}

// openRepo is the repository at dir, as serve writes it: its configuration must be there.
func openRepo(dir string) (pgbackrest.Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return pgbackrest.Repo{}, err
	}
	// With serve's secrets: an encrypted repository needs the pass, and one with an S3 bucket
	// (repo2 in pgbackrest.conf) the keys, or pgBackRest refuses to restore at all.
	repo := *repoWithSecrets(abs, 0)
	if _, err := os.Stat(repo.ConfigPath()); err != nil {
		return repo, fmt.Errorf("--backup-repo %s holds no pgbackrest.conf (is it a repository serve --backup-repo wrote?): %w", dir, err)
	}
	return repo, nil
}

// recovered is a cluster restored from a repository, recovered to its target and promoted,
// still running.
type recovered struct {
	cluster  *pgcluster.Cluster
	conn     *pgx.Conn // to the "postgres" database
	dataDir  string
	startLSN string // where the base backup's WAL begins ("" when its label was not found)
	// restore is the time pgBackRest took to lay the files down; recovery the time from the
	// cluster's start to its promotion.
	restore, recovery time.Duration
	log               *lineTail
}

func (rc *recovered) stop(ctx context.Context) error {
	if rc.conn != nil {
		_ = rc.conn.Close(ctx)
	}
	return rc.cluster.Stop()
}

// recoverInto restores the repository into dataDir (which must be empty), starts the cluster
// — without archiving and without the synchronous stream: it must write nothing into the
// repository, whose timeline belongs to the source — and waits until recovery has reached the
// target and promoted the cluster.
func recoverInto(ctx context.Context, repo pgbackrest.Repo, target pgbackrest.Target, dataDir, pgBin string, stderr io.Writer) (*recovered, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, fault.Conflictf("restore_target_not_empty", "%s is not empty: restore --to only restores into an empty (or missing) data directory", dataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	owner, err := pgcluster.ServerOwner()
	if err != nil {
		return nil, err
	}
	rc := &recovered{dataDir: abs, log: &lineTail{max: 30}}
	t0 := time.Now()
	if err := repo.Restore(ctx, pgbackrest.Cluster{DataDir: abs, User: owner.Name(), BinDir: pgBin}, target); err != nil {
		if errors.Is(err, pgbackrest.ErrNotEmpty) {
			return nil, fault.Conflictf("restore_target_not_empty", "%s is not empty: restore --to only restores into an empty (or missing) data directory", dataDir)
		}
		return nil, err
	}
	rc.restore = time.Since(t0)
	rc.startLSN = backupStart(abs)
	// The embedded cluster keeps its socket in the data directory (run/), so a backup of a
	// running one carries the socket's lock file, which would make the restored server think
	// another one is using its socket.
	locks, _ := filepath.Glob(filepath.Join(abs, "run", ".s.PGSQL.*"))
	for _, l := range locks {
		if err := os.Remove(l); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}

	t1 := time.Now()
	log := slog.New(slog.NewTextHandler(rc.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Env: an encrypted repository's pass, which restore_command (pgBackRest's archive-get)
	// needs while recovery runs.
	rc.cluster, err = pgcluster.Start(ctx, pgcluster.Options{DataDir: abs, BinDir: pgBin, Logger: log, Env: repo.Env(), Settings: map[string]string{
		"archive_mode":              "off",
		"synchronous_standby_names": "",
		"hot_standby":               "on",
	}})
	if err != nil {
		return nil, fmt.Errorf("the restored cluster did not start: %w\n%s", err, rc.log)
	}
	if rc.conn, err = pgx.Connect(ctx, rc.cluster.URL("postgres")); err != nil {
		_ = rc.cluster.Stop()
		return nil, fmt.Errorf("restore: %w", err)
	}
	// Recovery replays up to the target and then promotes; wait for that state, as long as
	// it takes (a month of WAL takes minutes), until ctx ends or the server gives up.
	for {
		var inRecovery bool
		err := rc.conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery)
		if err == nil && !inRecovery {
			break
		}
		if err != nil {
			_ = rc.stop(context.Background())
			return nil, fmt.Errorf("restore: recovery to %s failed: %w\nPostgreSQL said:\n%s", target, err, rc.log)
		}
		select {
		case <-ctx.Done():
			_ = rc.stop(context.Background())
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	rc.recovery = time.Since(t1)
	return rc, nil
}

// backupStart reads where the restored base backup's WAL begins from its backup_label (gone
// once the cluster has started).
func backupStart(dataDir string) string {
	f, err := os.Open(filepath.Join(dataDir, "backup_label"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "START WAL LOCATION: "); ok {
			lsn, _, _ := strings.Cut(rest, " ")
			return lsn
		}
	}
	return ""
}

// lineTail keeps the last lines written to it: the restored server's log, shown when its
// recovery fails.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		t.lines = append(t.lines, l)
	}
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
