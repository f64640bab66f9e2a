// Package pgbackrest drives pgBackRest (https://pgbackrest.org) for the instance's backups:
// the repository's configuration, the archive_command PostgreSQL runs for each completed WAL
// segment, base backups, the repository's contents (info), and a restore into an empty data
// directory (docs/OPERATIONS.md, "Backup and restore"; docs/plans/operations.md, decisions 1–4).
//
// A repository is a directory (it may be a mounted disk or NFS export of another machine: it is
// what survives a lost server):
//
//	DIR/pgbackrest.conf     written by WriteConfig (stanza "weltgewebe"); no secrets in it
//	DIR/repo/               pgBackRest's repo1-path (archive/, backup/)
//	DIR/wal-stream/         pg_receivewal's output: WAL not archived yet (*.partial = current)
//	DIR/files/snapshots/    a copy of every signed snapshot file, written when it is taken
//	DIR/drills/             drill reports
//
// Every pgBackRest process runs as the cluster's owner (pgcluster.Owner): as root, the
// embedded cluster runs as "postgres", and a repository written by two users breaks.
package pgbackrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
)

// Stanza is pgBackRest's name for the instance's cluster in the repository.
const Stanza = "weltgewebe"

// Repo is a backup repository and how it is written.
type Repo struct {
	Dir           string // the repository directory (layout above)
	RetentionDays int    // full backups older than this are expired (with the WAL only they need); 0: 30
	CipherPass    string // "" = unencrypted; else aes-256-cbc with this pass (given to pgBackRest by environment only)
	S3            *S3    // nil = none; else a second repository that every backup and archive-push also writes
}

// S3 is an S3-compatible bucket, pgBackRest's repo2. Key and Secret reach pgBackRest by its
// environment, never by the configuration file.
type S3 struct {
	Bucket, Endpoint, Region, Key, Secret string
	// Path inside the bucket; "" = /weltgewebe.
	Path string
}

// DefaultRetentionDays is how long full backups are kept when Repo.RetentionDays is 0.
const DefaultRetentionDays = 30

// Cluster is the PostgreSQL cluster a repository backs up: its data directory, socket, the
// directory of its binaries (pg_receivewal), and the system user it runs as.
type Cluster struct {
	DataDir, SocketDir string
	Port               int
	BinDir             string
	User               string // "" = this process's
}

// ErrNotEmpty is Restore's answer for a data directory that holds anything.
var ErrNotEmpty = errors.New("pgbackrest: the target data directory is not empty; restore only into an empty one")

// ErrNoBinary says pgBackRest is not installed.
var ErrNoBinary = errors.New("pgbackrest: the pgbackrest program is not installed (Debian package pgbackrest; bash scripts/deps.sh installs it)")

// ConfigPath is the repository's pgbackrest.conf.
func (r Repo) ConfigPath() string { return filepath.Join(r.Dir, "pgbackrest.conf") }

// RepoPath is pgBackRest's repo1-path.
func (r Repo) RepoPath() string { return filepath.Join(r.Dir, "repo") }

// StreamDir is where pg_receivewal writes the WAL as it is written.
func (r Repo) StreamDir() string { return filepath.Join(r.Dir, "wal-stream") }

// SnapshotsDir holds a copy of every signed snapshot file.
func (r Repo) SnapshotsDir() string { return filepath.Join(r.Dir, "files", "snapshots") }

// DrillsDir holds the drill reports.
func (r Repo) DrillsDir() string { return filepath.Join(r.Dir, "drills") }

// lockPath is pgBackRest's lock directory: in the repository, so that every process that
// writes it (serve's archive_command, a backup command) sees the same locks.
func (r Repo) lockPath() string { return filepath.Join(r.Dir, "lock") }

// owner is the user that owns the repository (as root: the cluster's owner WriteConfig handed
// it to), "" when that is this process or the repository does not exist yet.
func (r Repo) owner() string {
	fi, err := os.Stat(r.RepoPath())
	if err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) == os.Geteuid() || os.Geteuid() != 0 {
		return ""
	}
	u, err := user.LookupId(strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)))
	if err != nil {
		return ""
	}
	return u.Username
}

// Binary is the pgbackrest program's path.
func Binary() (string, error) {
	p, err := exec.LookPath("pgbackrest")
	if err != nil {
		return "", ErrNoBinary
	}
	return filepath.Abs(p)
}

// WriteConfig creates the repository's directories (handed to the cluster's owner) and writes
// DIR/pgbackrest.conf for the cluster. It holds no secrets: those are in Env.
func (r Repo) WriteConfig(pg Cluster) error {
	if r.Dir == "" {
		return errors.New("pgbackrest: no repository directory")
	}
	if !filepath.IsAbs(r.Dir) {
		return fmt.Errorf("pgbackrest: the repository directory must be absolute, not %q", r.Dir)
	}
	owner, err := pgcluster.LookupOwner(pg.User)
	if err != nil {
		return fmt.Errorf("pgbackrest: cluster user: %w", err)
	}
	for _, d := range []string{r.Dir, r.RepoPath(), r.StreamDir(), r.lockPath(), r.SnapshotsDir(), r.DrillsDir()} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("pgbackrest: %w", err)
		}
	}
	if err := owner.CheckReachable(r.Dir); err != nil {
		return err
	}
	days := r.RetentionDays
	if days <= 0 {
		days = DefaultRetentionDays
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by weltgewebe (serve, backup); changes are overwritten. No secrets are kept here:\n")
	fmt.Fprintf(&b, "# the cipher pass and the S3 keys reach pgBackRest by its environment (docs/OPERATIONS.md).\n")
	fmt.Fprintf(&b, "[global]\n")
	fmt.Fprintf(&b, "repo1-path=%s\n", r.RepoPath())
	fmt.Fprintf(&b, "repo1-retention-full-type=time\nrepo1-retention-full=%d\n", days)
	if r.CipherPass != "" {
		fmt.Fprintf(&b, "repo1-cipher-type=aes-256-cbc\n")
	}
	if s := r.S3; s != nil {
		path := s.Path
		if path == "" {
			path = "/weltgewebe"
		}
		fmt.Fprintf(&b, "repo2-type=s3\nrepo2-path=%s\nrepo2-s3-bucket=%s\nrepo2-s3-endpoint=%s\nrepo2-s3-region=%s\n",
			path, s.Bucket, s.Endpoint, s.Region)
		fmt.Fprintf(&b, "repo2-retention-full-type=time\nrepo2-retention-full=%d\n", days)
		if r.CipherPass != "" {
			fmt.Fprintf(&b, "repo2-cipher-type=aes-256-cbc\n")
		}
	}
	// A checkpoint at once rather than a spread one: a backup starts when asked.
	fmt.Fprintf(&b, "start-fast=y\ncompress-type=zst\n")
	// What weltgewebe keeps inside the data directory but is not PostgreSQL's: the socket
	// directory (a restored server would find the old socket's lock file and refuse to
	// start), the snapshot files (the repository has its own copy, files/snapshots/, and they
	// are not the cluster owner's to read) and the ingest's HLS segments.
	fmt.Fprintf(&b, "exclude=run/\nexclude=snapshots/\nexclude=ingest/\n")
	fmt.Fprintf(&b, "lock-path=%s\nlog-level-console=warn\nlog-level-stderr=off\nlog-level-file=off\n", r.lockPath())
	fmt.Fprintf(&b, "\n[%s]\n", Stanza)
	fmt.Fprintf(&b, "pg1-path=%s\n", pg.DataDir)
	if pg.SocketDir != "" {
		fmt.Fprintf(&b, "pg1-socket-path=%s\n", pg.SocketDir)
	}
	if pg.Port != 0 {
		fmt.Fprintf(&b, "pg1-port=%d\n", pg.Port)
	}
	// The embedded cluster's superuser (initdb -U postgres); pgBackRest connects as it.
	fmt.Fprintf(&b, "pg1-user=postgres\n")
	if err := writeAtomic(r.ConfigPath(), []byte(b.String()), 0o640); err != nil {
		return err
	}
	// The repository's directories and the configuration belong to the cluster's owner:
	// pgBackRest (archive-push runs inside postgres) and pg_receivewal write there as it. Each
	// alone: what is inside them is theirs already, and a walk would race with a running
	// backup's files (every command that opens the database writes the configuration).
	for _, p := range []string{r.Dir, r.RepoPath(), r.StreamDir(), r.lockPath(), filepath.Dir(r.SnapshotsDir()),
		r.SnapshotsDir(), r.DrillsDir(), r.ConfigPath()} {
		if err := owner.ChownOne(p); err != nil {
			return err
		}
	}
	return nil
}

// Env is what pgBackRest needs in its environment beyond the configuration file: the cipher
// pass and the S3 keys. PostgreSQL's environment carries it too, for archive_command.
func (r Repo) Env() []string {
	var env []string
	if r.CipherPass != "" {
		env = append(env, "PGBACKREST_REPO1_CIPHER_PASS="+r.CipherPass)
		if r.S3 != nil {
			env = append(env, "PGBACKREST_REPO2_CIPHER_PASS="+r.CipherPass)
		}
	}
	if s := r.S3; s != nil {
		env = append(env, "PGBACKREST_REPO2_S3_KEY="+s.Key, "PGBACKREST_REPO2_S3_KEY_SECRET="+s.Secret)
	}
	return env
}

// ArchiveCommand is PostgreSQL's archive_command: pgBackRest's archive-push of each completed
// segment into every repository.
func (r Repo) ArchiveCommand() string {
	bin, err := Binary()
	if err != nil {
		bin = "pgbackrest"
	}
	// archive_command is run by a shell, and % is PostgreSQL's escape in it.
	esc := func(s string) string { return strings.ReplaceAll(shellQuote(s), "%", "%%") }
	return esc(bin) + " --config=" + esc(r.ConfigPath()) + " --stanza=" + Stanza + " archive-push %p"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// run runs pgbackrest as the cluster's owner with the repository's configuration and returns
// its standard output; a failure carries its standard error.
func (r Repo) run(ctx context.Context, user string, args ...string) ([]byte, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	owner, err := pgcluster.LookupOwner(user)
	if err != nil {
		return nil, fmt.Errorf("pgbackrest: cluster user: %w", err)
	}
	full := append([]string{"--config=" + r.ConfigPath(), "--stanza=" + Stanza}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), r.Env()...)
	// Errors go to stderr at this level; the configuration silences the rest.
	cmd.Env = append(cmd.Env, "PGBACKREST_LOG_LEVEL_STDERR=error")
	owner.Apply(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return stdout.Bytes(), fmt.Errorf("pgbackrest %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// Backup is one backup in the repository.
type Backup struct {
	Label     string    `json:"label"`
	Type      string    `json:"type"` // full, diff or incr
	Start     time.Time `json:"start"`
	Stop      time.Time `json:"stop"`       // the earliest moment it restores to
	Size      int64     `json:"size"`       // of the database it copied
	RepoSize  int64     `json:"repo_size"`  // what it takes in the repository (compressed), with what it refers to
	RepoDelta int64     `json:"repo_delta"` // what it added to the repository
	WALStart  string    `json:"wal_start"`
	WALStop   string    `json:"wal_stop"`
	Repo      int       `json:"repo"` // 1 = the directory, 2 = S3
}

// Duration is how long the backup took.
func (b Backup) Duration() time.Duration { return b.Stop.Sub(b.Start) }

// Kinds are the backup types Backup takes.
var Kinds = []string{"full", "diff", "incr"}

// Backup takes a backup of the given kind (full, diff or incr) into every repository, creating
// the stanza first when the repository has none. It returns the new backup of repo1.
// PostgreSQL must be archiving into the repository (ArchiveCommand): a backup waits for the
// WAL that makes it consistent to be archived.
func (r Repo) Backup(ctx context.Context, pg Cluster, kind string) (Backup, error) {
	if !slices.Contains(Kinds, kind) {
		return Backup{}, fmt.Errorf("pgbackrest: backup type must be full, diff or incr, not %q", kind)
	}
	if err := r.EnsureStanza(ctx, pg); err != nil {
		return Backup{}, err
	}
	repos := []string{"1"}
	if r.S3 != nil {
		repos = append(repos, "2")
	}
	for _, n := range repos {
		if _, err := r.run(ctx, pg.User, "backup", "--repo="+n, "--type="+kind); err != nil {
			return Backup{}, err
		}
	}
	info, err := r.Info(ctx)
	if err != nil {
		return Backup{}, err
	}
	for i := len(info.Backups) - 1; i >= 0; i-- {
		if info.Backups[i].Repo == 1 {
			return info.Backups[i], nil
		}
	}
	return Backup{}, errors.New("pgbackrest: the backup is not in the repository's info")
}

// EnsureStanza creates the stanza when the repository has none (pgBackRest's stanza-create;
// the cluster must be running). Call it as soon as the cluster runs: archive-push fails
// until the stanza exists, and PostgreSQL pauses its archiver for a minute after three
// failures, which a backup waiting for its last segment then waits out.
func (r Repo) EnsureStanza(ctx context.Context, pg Cluster) error {
	info, err := r.Info(ctx)
	if err == nil && info.Status.Code != 1 && info.Status.Code != 3 {
		return nil // there (1 = missing stanza path, 3 = missing stanza data)
	}
	_, err = r.run(ctx, pg.User, "stanza-create")
	return err
}

// Info is what the repository holds for the stanza.
type Info struct {
	Status struct {
		Code    int    `json:"code"` // 0 ok; 1 missing stanza path; 2 no valid backups; 3 missing stanza data …
		Message string `json:"message"`
	} `json:"status"`
	Backups    []Backup `json:"backups"`     // oldest first, every repository's
	ArchiveMin string   `json:"archive_min"` // the oldest and newest WAL segment archived ("" = none)
	ArchiveMax string   `json:"archive_max"`
	RepoBytes  int64    `json:"repo_bytes"` // everything in the directory's repo/ (backups and WAL)
}

// Info reads `pgbackrest info --output=json` (as the repository's owner) and sums the bytes in
// the repository directory.
func (r Repo) Info(ctx context.Context) (Info, error) {
	out, err := r.run(ctx, r.owner(), "info", "--output=json")
	if err != nil {
		return Info{}, err
	}
	info, err := parseInfo(out)
	if err != nil {
		return Info{}, err
	}
	info.RepoBytes, _ = DirBytes(r.RepoPath())
	return info, nil
}

func parseInfo(out []byte) (Info, error) {
	var raw []struct {
		Name   string `json:"name"`
		Status struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
		Archive []struct {
			Min      string `json:"min"`
			Max      string `json:"max"`
			Database struct {
				RepoKey int `json:"repo-key"`
			} `json:"database"`
		} `json:"archive"`
		Backup []struct {
			Label   string `json:"label"`
			Type    string `json:"type"`
			Archive struct {
				Start string `json:"start"`
				Stop  string `json:"stop"`
			} `json:"archive"`
			Database struct {
				RepoKey int `json:"repo-key"`
			} `json:"database"`
			Info struct {
				Size       int64 `json:"size"`
				Repository struct {
					Size  int64 `json:"size"`
					Delta int64 `json:"delta"`
				} `json:"repository"`
			} `json:"info"`
			Timestamp struct {
				Start int64 `json:"start"`
				Stop  int64 `json:"stop"`
			} `json:"timestamp"`
		} `json:"backup"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return Info{}, fmt.Errorf("pgbackrest info: %w", err)
	}
	var info Info
	for _, s := range raw {
		if s.Name != Stanza {
			continue
		}
		info.Status.Code, info.Status.Message = s.Status.Code, s.Status.Message
		for _, a := range s.Archive {
			if a.Database.RepoKey > 1 {
				continue
			}
			if info.ArchiveMin == "" || a.Min < info.ArchiveMin {
				info.ArchiveMin = a.Min
			}
			if a.Max > info.ArchiveMax {
				info.ArchiveMax = a.Max
			}
		}
		for _, b := range s.Backup {
			repo := b.Database.RepoKey
			if repo == 0 {
				repo = 1
			}
			info.Backups = append(info.Backups, Backup{Label: b.Label, Type: b.Type,
				Start: time.Unix(b.Timestamp.Start, 0).UTC(), Stop: time.Unix(b.Timestamp.Stop, 0).UTC(),
				Size: b.Info.Size, RepoSize: b.Info.Repository.Size, RepoDelta: b.Info.Repository.Delta,
				WALStart: b.Archive.Start, WALStop: b.Archive.Stop, Repo: repo})
		}
	}
	slices.SortStableFunc(info.Backups, func(a, b Backup) int { return a.Stop.Compare(b.Stop) })
	return info, nil
}

// DirBytes is the size of every regular file below dir.
func DirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// Target is the point a restore recovers to: the end of all WAL there is (Latest), a moment,
// or a restore point made with pg_create_restore_point.
type Target struct {
	Latest bool
	Time   time.Time
	Name   string
	// Segment, with Name, is the WAL segment the restore point is in (pg_walfile_name of its
	// LSN). The restore then starts from the newest backup that ended in an earlier segment:
	// pgBackRest alone takes the newest backup, and one that began after the restore point
	// never reaches it (a nightly backup finishing while the drill fingerprints the source).
	// "": the newest backup.
	Segment string
}

// String is the target as `restore --to` names it.
func (t Target) String() string {
	switch {
	case t.Name != "":
		return "name:" + t.Name
	case !t.Time.IsZero():
		return t.Time.UTC().Format(time.RFC3339Nano)
	}
	return "latest"
}

// Restore restores the newest fitting backup into pg.DataDir, which must be empty or absent,
// lays the WAL the stream received (wal-stream/, its *.partial segment under its full name)
// into pg_wal/ so that recovery replays every acknowledged commit, and leaves recovery
// settings (restore_command, the target, promote at the end) for the cluster's next start.
// It does not start the cluster.
func (r Repo) Restore(ctx context.Context, pg Cluster, t Target) error {
	owner, err := pgcluster.LookupOwner(pg.User)
	if err != nil {
		return fmt.Errorf("pgbackrest: cluster user: %w", err)
	}
	dataDir, err := filepath.Abs(pg.DataDir)
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return ErrNotEmpty
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgbackrest: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("pgbackrest: %w", err)
	}
	if err := owner.Chown(dataDir); err != nil {
		return err
	}
	if err := owner.CheckReachable(dataDir); err != nil {
		return err
	}
	args := []string{"restore", "--pg1-path=" + dataDir}
	switch {
	case t.Name != "":
		args = append(args, "--type=name", "--target="+t.Name, "--target-action=promote")
		if t.Segment != "" {
			b, err := r.backupBefore(ctx, t.Segment)
			if err != nil {
				return err
			}
			args = append(args, "--set="+b.Label, "--repo="+strconv.Itoa(b.Repo))
		}
	case !t.Time.IsZero():
		args = append(args, "--type=time", "--target="+t.Time.UTC().Format("2006-01-02 15:04:05.000000+00"), "--target-action=promote")
	default:
		args = append(args, "--type=default")
	}
	if _, err := r.run(ctx, pg.User, args...); err != nil {
		return err
	}
	if err := r.layStream(filepath.Join(dataDir, "pg_wal")); err != nil {
		return err
	}
	return owner.Chown(filepath.Join(dataDir, "pg_wal"))
}

// backupBefore is the newest backup whose WAL ends in a segment before segment. A backup ends
// with a switch to the next segment (pg_backup_stop), so a restore point made after it is in a
// later segment, and one made before it or while it ran is in its stop segment or an earlier one.
func (r Repo) backupBefore(ctx context.Context, segment string) (Backup, error) {
	info, err := r.Info(ctx)
	if err != nil {
		return Backup{}, err
	}
	for i := len(info.Backups) - 1; i >= 0; i-- { // oldest first
		if b := info.Backups[i]; b.WALStop != "" && b.WALStop < segment {
			return b, nil
		}
	}
	return Backup{}, fmt.Errorf("pgbackrest: no backup ended before the restore point's WAL segment %s", segment)
}

var segmentName = regexp.MustCompile(`^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$`)

// layStream copies the stream's segments into pgWAL: recovery asks pgBackRest for each segment
// first (restore_command) and reads pg_wal/ for what the archive does not have yet, above all
// the segment in progress, which pg_receivewal keeps as *.partial. A segment the archive has
// is the same bytes either way.
//
// The source may be running (the drill restores beside it): between listing and copying, a
// segment may be pruned (it is in the archive then) or the .partial renamed to its full name
// (complete now). So a file gone is skipped, and a second pass takes what appeared, replacing
// a copy of a .partial by its completed segment.
func (r Repo) layStream(pgWAL string) error {
	fromPartial := map[string]bool{}
	for pass := 0; pass < 2; pass++ {
		entries, err := os.ReadDir(r.StreamDir())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pgbackrest: wal-stream: %w", err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !segmentName.MatchString(e.Name()) {
				continue
			}
			name := strings.TrimSuffix(e.Name(), ".partial")
			partial := name != e.Name()
			dst := filepath.Join(pgWAL, name)
			if _, err := os.Stat(dst); err == nil && (partial || !fromPartial[name]) {
				continue
			}
			err := copyFile(filepath.Join(r.StreamDir(), e.Name()), dst)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned or renamed meanwhile
			}
			if err != nil {
				return fmt.Errorf("pgbackrest: wal-stream: %w", err)
			}
			fromPartial[name] = partial
		}
	}
	return nil
}

// SaveSnapshot copies a signed snapshot file into the repository (files/snapshots/, under its
// base name), atomically: a reader sees the whole file or none.
func (r Repo) SaveSnapshot(path string) error {
	if err := os.MkdirAll(r.SnapshotsDir(), 0o750); err != nil {
		return fmt.Errorf("pgbackrest: %w", err)
	}
	return copyFile(path, filepath.Join(r.SnapshotsDir(), filepath.Base(path)))
}

// RestoreSnapshots copies the snapshot files in the repository into dir (created when
// missing), leaving files that are already there, and returns how many it copied.
func (r Repo) RestoreSnapshots(dir string) (int, error) {
	entries, err := os.ReadDir(r.SnapshotsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgbackrest: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("pgbackrest: %w", err)
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dst := filepath.Join(dir, e.Name())
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := copyFile(filepath.Join(r.SnapshotsDir(), e.Name()), dst); err != nil {
			return n, fmt.Errorf("pgbackrest: %w", err)
		}
		n++
	}
	return n, nil
}

// copyFile copies src to dst through a temporary file beside dst, synced, then renamed.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pgbackrest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pgbackrest: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ParseTarget reads `restore --to`: latest, an RFC 3339 time, or name:NAME.
func ParseTarget(s string) (Target, error) {
	switch {
	case s == "latest":
		return Target{Latest: true}, nil
	case strings.HasPrefix(s, "name:") && len(s) > len("name:"):
		return Target{Name: strings.TrimPrefix(s, "name:")}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Target{}, fmt.Errorf("restore target must be latest, an RFC 3339 time or name:NAME, not %q", s)
	}
	return Target{Time: t}, nil
}
