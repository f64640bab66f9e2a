// Package pgcluster runs a private PostgreSQL cluster as a child process.
//
// It is what lets `weltgewebe serve` work without any database set up: on first start it runs
// initdb in the data directory, then it starts postgres listening only on a Unix socket inside
// that directory (no TCP port at all), and stops it with a fast shutdown when the instance exits.
// Tests use the same code to get one throwaway cluster per test binary.
//
// PostgreSQL refuses to run as root. When the calling process is root, the cluster runs as the
// "postgres" system user that Debian's postgresql package creates, and the data directory is
// handed to that user.
package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned when no PostgreSQL server binaries can be found.
var ErrNoPostgres = errors.New("pgcluster: PostgreSQL server binaries (initdb, postgres) not found; " +
	"install postgresql-15 and postgresql-15-postgis-3 (make deps does this on Debian) or set DATABASE_URL")

// Options configure a cluster.
type Options struct {
	// DataDir holds the cluster. It is created (with initdb) when it does not hold one yet.
	DataDir string
	// BinDir is where initdb and postgres live. Empty means: look in /usr/lib/postgresql/<v>/bin
	// (newest version first), then on PATH.
	BinDir string
	// Settings are passed to postgres as -c name=value, after the defaults below.
	Settings map[string]string
	// Throwaway trades durability for speed (fsync off); for test clusters only.
	Throwaway bool
	// Logger receives the server's log lines at debug level and lifecycle messages at info.
	Logger *slog.Logger
	// Env is added to the server's environment: what its archive_command needs (pgBackRest's
	// secrets, which must not be in a configuration file).
	Env []string
	// WALStream, when set, runs pg_receivewal beside the server (stream.go).
	WALStream *WALStream
}

// Cluster is a running PostgreSQL server owned by this process.
type Cluster struct {
	dataDir   string
	binDir    string
	socketDir string
	port      int
	owner     Owner
	opts      Options
	log       *slog.Logger
	attached  bool // the server belongs to another process

	mu       sync.Mutex
	proc     *server // the server process running now (Keep replaces one that died)
	stopping bool
	stream   *streamer // nil without Options.WALStream
	stopOnce sync.Once
	stopErr  error
}

// server is one run of the postgres process.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited
	err    error         // how it exited, once exited is closed
	tail   *tail         // its last log lines
}

const port = 5432 // only names the socket file; there is no TCP listener

// Start initialises the data directory if needed and starts the server. It returns once the
// server accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: data dir: %w", err)
	}
	owner, err := ServerOwner()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("pgcluster: create data dir: %w", err)
	}
	if err := owner.Chown(dataDir); err != nil {
		return nil, err
	}
	if err := owner.checkReachable(dataDir); err != nil {
		return nil, err
	}

	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("initialising embedded PostgreSQL cluster", "dir", dataDir)
		if err := initdb(ctx, binDir, dataDir, owner); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}

	socketDir, err := socketDirFor(dataDir, owner)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dataDir: dataDir, binDir: binDir, socketDir: socketDir, port: port, owner: owner, opts: opts, log: log}
	if c.alreadyRunning(ctx) {
		// Another process (a running `weltgewebe serve`) owns the server: use it, leave it be.
		log.Info("using the PostgreSQL server already running in the data directory", "dir", dataDir)
		c.attached = true
		return c, nil
	}
	p, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	c.proc = p
	if opts.WALStream != nil {
		c.stream = c.startStream(*opts.WALStream)
		if err := c.stream.waitStreaming(ctx); err != nil {
			// With a synchronous stream every write would wait for it: refuse to start, with
			// the reason, rather than come up and hang at the first write (or the migrations).
			// Once started, a stream that fails is started again and /readyz says "down".
			_ = c.Stop()
			return nil, fmt.Errorf("pgcluster: the WAL stream into %s does not start: %w; writes would wait for it "+
				"(free or fix the backup repository, or start with --backup-wal archive)", opts.WALStream.Dir, err)
		}
	}
	return c, nil
}

// URL is a connection string for the named database on this cluster.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", database, c.socketDir, c.port)
}

// BinDir holds the server's binaries, and the client tools of the same version (pg_dump,
// pg_restore).
func (c *Cluster) BinDir() string { return c.binDir }

// DataDir is the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// SocketDir is the directory of the server's Unix socket, and Port the number in its name.
func (c *Cluster) SocketDir() string { return c.socketDir }

// Port names the socket file (.s.PGSQL.<port>); the server has no TCP listener.
func (c *Cluster) Port() int { return c.port }

// Owner is the system user the server runs as.
func (c *Cluster) Owner() Owner { return c.owner }

// Keep starts the server again whenever it exits without Stop (a crash, a kill, the OOM
// killer), until ctx ends: what a service manager would do for a server of its own, and nobody
// else would do for this one. PostgreSQL recovers from its write-ahead log at each start, as
// after any crash. Failed starts are retried with a growing pause (up to 30 s), so a server
// that cannot start (a full disk) is tried again without end, and the log says why each time;
// meanwhile the instance answers 503 and reports itself not ready. Keep returns at once for a
// server that belongs to another process.
func (c *Cluster) Keep(ctx context.Context) error {
	if c.attached {
		return nil
	}
	for {
		c.mu.Lock()
		p := c.proc
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-p.exited:
		}
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return nil
		}
		c.log.Error("embedded PostgreSQL exited; starting it again", "dir", c.dataDir, "err", p.err, "log", p.tail.String())
		next, err := c.restart(ctx)
		if err != nil {
			return nil // ctx ended
		}
		c.mu.Lock()
		if c.stopping {
			c.mu.Unlock()
			next.stop()
			return nil
		}
		c.proc = next
		c.mu.Unlock()
		c.log.Info("embedded PostgreSQL running again", "dir", c.dataDir)
	}
}

// restart starts the server until it runs or ctx ends, pausing longer after each failure: a
// killed postmaster's children take a moment to notice and let go of its shared memory.
func (c *Cluster) restart(ctx context.Context) (*server, error) {
	pause := 250 * time.Millisecond
	for {
		p, err := c.start(ctx)
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Error("embedded PostgreSQL did not start; trying again", "dir", c.dataDir, "in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// Stop shuts the server down ("fast" mode: open sessions are disconnected, then a checkpoint)
// and waits for it to exit. It is safe to call more than once.
func (c *Cluster) Stop() error {
	if c.attached {
		return nil
	}
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopping = true
		p := c.proc
		c.mu.Unlock()
		c.stopErr = p.stop()
		// After the server: its shutdown checkpoint still reaches the stream.
		if c.stream != nil {
			c.stream.stop()
		}
		if c.socketDir != filepath.Join(c.dataDir, "run") {
			_ = os.RemoveAll(c.socketDir)
		}
		c.log.Info("embedded PostgreSQL stopped", "dir", c.dataDir)
	})
	return c.stopErr
}

// stop asks the server for a fast shutdown and waits for it to exit (killing it after 60 s).
func (p *server) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
		return nil
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("pgcluster: server did not stop within 60s; killed")
	}
}

func (c *Cluster) alreadyRunning(ctx context.Context) bool {
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err != nil {
		return false
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return false
	}
	_ = conn.Close(ctx)
	return true
}

// start runs the server and returns once it accepts connections.
func (c *Cluster) start(ctx context.Context) (*server, error) {
	opts := c.opts
	settings := map[string]string{
		"listen_addresses":        "",
		"unix_socket_directories": c.socketDir,
		"port":                    strconv.Itoa(c.port),
		"max_connections":         "200",
		"shared_buffers":          "128MB",
		// A forgotten open transaction holds back the event log horizon (see eventstore); cap it.
		"idle_in_transaction_session_timeout": "60s",
		"logging_collector":                   "off",
		"log_min_messages":                    "warning",
	}
	if opts.Throwaway {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
		settings["max_connections"] = "500"
	}
	if ws := opts.WALStream; ws != nil {
		settings["wal_level"] = "replica"
		if ws.Sync {
			// A commit is acknowledged once pg_receivewal has flushed its WAL (stream.go).
			settings["synchronous_standby_names"] = ws.Slot
			settings["synchronous_commit"] = "on"
		}
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", c.dataDir}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}

	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a Ctrl-C in the terminal reaches us, and we stop the server after
		// the instance has let go of its connections, not before.
		Setpgid: true,
		// If this process dies without stopping the server (kill -9), the server shuts down
		// instead of holding the data directory.
		Pdeathsig: syscall.SIGINT,
	}
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	c.owner.Apply(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	p := &server{cmd: cmd, exited: make(chan struct{}), tail: newTail(20)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.tail.add(line)
			c.log.Debug("postgres", "line", line)
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			c.log.Info("embedded PostgreSQL running", "dir", c.dataDir, "socket", c.socketDir)
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("pgcluster: postgres exited during start-up (%v):\n%s", p.err, p.tail.String())
		case <-ctx.Done():
			_ = p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.stop()
			return nil, fmt.Errorf("pgcluster: postgres not accepting connections after 60s:\n%s", p.tail.String())
		}
	}
}

func initdb(ctx context.Context, binDir, dataDir string, owner Owner) error {
	run := func(locale string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
			"-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale="+locale, "--no-instructions")
		owner.Apply(cmd)
		return cmd.CombinedOutput()
	}
	out, err := run("C.UTF-8")
	if err != nil && strings.Contains(string(out), "locale") {
		// Some minimal systems lack C.UTF-8; plain C with UTF-8 encoding still works.
		_ = cleanDir(dataDir)
		out, err = run("C")
	}
	if err != nil {
		return fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	return nil
}

func cleanDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// socketDirFor keeps the socket inside the data directory when the path fits the 107-byte limit
// of Unix socket addresses, and in a private temporary directory otherwise.
func socketDirFor(dataDir string, owner Owner) (string, error) {
	dir := filepath.Join(dataDir, "run")
	if len(dir)+len("/.s.PGSQL.5432") < 100 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("pgcluster: socket dir: %w", err)
		}
		return dir, owner.Chown(dir)
	}
	dir, err := os.MkdirTemp("", "wgpg-")
	if err != nil {
		return "", fmt.Errorf("pgcluster: socket dir: %w", err)
	}
	return dir, owner.Chown(dir)
}

func findBinDir(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(filepath.Join(explicit, "postgres")); err != nil {
			return "", fmt.Errorf("pgcluster: no postgres in %s: %w", explicit, err)
		}
		return explicit, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "initdb")); err == nil {
			return filepath.Dir(m), nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		p, _ = filepath.EvalSymlinks(p)
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// Owner is the system user the cluster's processes run as: the current user, or "postgres"
// when we are root. Everything that reads or writes the cluster's files or its WAL (pgBackRest,
// pg_receivewal, a restore) runs as the same user, or PostgreSQL finds files it cannot open.
type Owner struct {
	uid, gid int
	name     string
	switchTo bool
}

// ServerOwner is the user a cluster started by this process runs as.
func ServerOwner() (Owner, error) {
	if os.Geteuid() != 0 {
		return Owner{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	o, err := LookupOwner("postgres")
	if err != nil {
		return Owner{}, fmt.Errorf("pgcluster: running as root, and PostgreSQL refuses root; "+
			"the system user \"postgres\" (created by Debian's postgresql package) is missing: %w", err)
	}
	return o, nil
}

// LookupOwner is the named system user; "" (or this process's own user) is this process.
func LookupOwner(name string) (Owner, error) {
	if name == "" {
		return Owner{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return Owner{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == os.Geteuid() {
		return Owner{uid: uid, gid: gid}, nil
	}
	return Owner{uid: uid, gid: gid, name: u.Username, switchTo: true}, nil
}

// Name is the user's name when processes switch to it, "" when they run as this process.
func (o Owner) Name() string { return o.name }

// Apply makes cmd run as the owner (a no-op when that is this process). cmd.Env, when set, is
// kept; HOME is set to a directory the owner can enter.
func (o Owner) Apply(cmd *exec.Cmd) {
	if !o.switchTo {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "HOME="+os.TempDir())
	if cmd.Dir == "" {
		cmd.Dir = os.TempDir()
	}
}

// Chown hands path and everything below it to the owner (a no-op when that is this process).
func (o Owner) Chown(path string) error {
	if !o.switchTo {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, o.uid, o.gid); err != nil {
			return fmt.Errorf("pgcluster: hand %s to user %s: %w", p, o.name, err)
		}
		return nil
	})
}

// ChownOne hands path alone (not what is below it) to the owner; a no-op when that is this
// process.
func (o Owner) ChownOne(path string) error {
	if !o.switchTo {
		return nil
	}
	if err := os.Lchown(path, o.uid, o.gid); err != nil {
		return fmt.Errorf("pgcluster: hand %s to user %s: %w", path, o.name, err)
	}
	return nil
}

// CheckReachable fails early, with a useful message, when the owner could not reach dir
// because a parent directory is closed to it.
func (o Owner) CheckReachable(dir string) error { return o.checkReachable(dir) }

// checkReachable fails early, with a useful message, when the server user could not reach the
// data directory because a parent directory is closed to it.
func (o Owner) checkReachable(dir string) error {
	if !o.switchTo {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o001 == 0 && int(st.Uid) != o.uid {
			return fmt.Errorf("pgcluster: the %q user cannot enter %s (mode %v); choose a data directory it can reach",
				o.name, p, fi.Mode().Perm())
		}
		if p == "/" {
			return nil
		}
	}
}

type tail struct {
	mu    sync.Mutex
	lines []string
	n     int
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.n {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
