package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// WALStream is a pg_receivewal child that receives the server's WAL as it is written, into a
// directory of the backup repository (docs/plans/operations.md, decision 1). archive_command
// alone loses the segment in progress when the server's disk is lost; with Sync, a commit is
// acknowledged only once its WAL is on the stream's disk too.
type WALStream struct {
	// Dir receives the segments; the one in progress is <name>.partial. Created and handed to
	// the cluster's owner.
	Dir string
	// Slot is the physical replication slot (which keeps the server from recycling WAL the
	// stream has not received) and the stream's application_name.
	Slot string
	// Sync makes the server wait for the stream (synchronous_standby_names): pg_receivewal
	// --synchronous flushes each write and reports it at once.
	Sync bool
}

// streamer keeps one pg_receivewal running until stop: started again whenever it exits, as
// Keep does for the server, since with Sync every write waits while it is away.
type streamer struct {
	c      *Cluster
	opts   WALStream
	cancel context.CancelFunc
	done   chan struct{}
	failed chan error // each run that ended with an error, while someone reads (waitStreaming)

	mu  sync.Mutex
	cmd *exec.Cmd // the running pg_receivewal, nil between runs
}

func (c *Cluster) startStream(opts WALStream) *streamer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &streamer{c: c, opts: opts, cancel: cancel, done: make(chan struct{}), failed: make(chan error, 8)}
	go s.keep(ctx)
	return s
}

func (s *streamer) keep(ctx context.Context) {
	defer close(s.done)
	pause := 250 * time.Millisecond
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-prune.C:
				if err := s.prune(ctx); err != nil && ctx.Err() == nil {
					s.c.log.Warn("wal stream: removing archived segments", "err", err)
				}
			}
		}
	}()
	for {
		began := time.Now()
		err := s.run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > 30*time.Second {
			pause = 250 * time.Millisecond
		}
		s.c.mu.Lock()
		stopping := s.c.stopping
		s.c.mu.Unlock()
		if stopping {
			return // the server is shutting down; stop() follows
		}
		s.c.log.Error("WAL stream (pg_receivewal) stopped; starting it again", "in", pause, "err", err)
		select {
		case s.failed <- err:
		default: // nobody waits for the start any more
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// connString is a replication connection to the server over its socket.
func (s *streamer) connString() string {
	return fmt.Sprintf("host=%s port=%d user=postgres application_name=%s", s.c.socketDir, s.c.port, s.opts.Slot)
}

// run prepares the directory and the slot and runs pg_receivewal until it exits.
func (s *streamer) run(ctx context.Context) error {
	if err := os.MkdirAll(s.opts.Dir, 0o750); err != nil {
		return err
	}
	if err := s.c.owner.ChownOne(s.opts.Dir); err != nil {
		return err
	}
	if err := s.supersede(ctx); err != nil {
		return err
	}
	bin := filepath.Join(s.c.binDir, "pg_receivewal")
	create := exec.CommandContext(ctx, bin, "--create-slot", "--if-not-exists", "--slot="+s.opts.Slot,
		"--no-password", "--dbname="+s.connString())
	s.c.owner.Apply(create)
	if out, err := create.CombinedOutput(); err != nil {
		return fmt.Errorf("create slot: %w: %s", err, strings.TrimSpace(string(out)))
	}
	args := []string{"--directory=" + s.opts.Dir, "--slot=" + s.opts.Slot, "--no-loop", "--no-password",
		"--dbname=" + s.connString()}
	if s.opts.Sync {
		args = append(args, "--synchronous")
	}
	cmd := exec.Command(bin, args...)
	// Own process group (a Ctrl-C reaches the instance, which stops the stream after the
	// server); killed with the instance, as the server is.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	s.c.owner.Apply(cmd)
	out := newTail(20)
	cmd.Stderr = tailWriter{out}
	cmd.Stdout = cmd.Stderr
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		return ctx.Err()
	}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.cmd = cmd
	s.mu.Unlock()
	s.c.log.Info("WAL stream running", "dir", s.opts.Dir, "synchronous", s.opts.Sync)
	err := cmd.Wait()
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%w: %s", err, out.String())
}

// stop ends the stream: pg_receivewal flushes what it has and exits on SIGINT.
func (s *streamer) stop() {
	s.cancel()
	s.mu.Lock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
	}
	cmd := s.cmd
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		if cmd != nil {
			_ = cmd.Process.Kill()
		}
		<-s.done
	}
}

// startFailures is how many runs of pg_receivewal in a row may fail before the cluster's start
// gives up: one failure can be a slot or a connection met at a bad moment; three are a
// repository that cannot take the stream (full, unwritable, missing).
const startFailures = 3

// waitStreaming waits until the server reports the stream as streaming, or until
// startFailures runs in a row have failed (then the last one's error), or ctx ends. No clock:
// on a loaded machine a start may take long, and what decides is what pg_receivewal does.
func (s *streamer) waitStreaming(ctx context.Context) error {
	failures := 0
	for {
		conn, err := pgx.Connect(ctx, s.c.URL("postgres"))
		if err == nil {
			var n int
			err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
				s.opts.Slot).Scan(&n)
			_ = conn.Close(ctx)
			if err == nil && n > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.failed:
			if failures++; failures >= startFailures {
				return fmt.Errorf("pg_receivewal failed %d times in a row: %w", failures, err)
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var segmentFile = regexp.MustCompile(`^([0-9A-F]{8})([0-9A-F]{16})(\.partial)?$`)

// supersede moves the segments of an older timeline aside (into superseded-<unix time>/): after
// a restore the server runs on a new timeline, and pg_receivewal, which starts after the newest
// segment in its directory, would ask for WAL the new timeline may not have. Everything in
// them is in the restored cluster or the archive.
func (s *streamer) supersede(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var current string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&current); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return err
	}
	var old []string
	for _, e := range entries {
		if m := segmentFile.FindStringSubmatch(e.Name()); m != nil && m[1] < current[:8] {
			old = append(old, e.Name())
		}
	}
	if len(old) == 0 {
		return nil
	}
	aside := filepath.Join(s.opts.Dir, "superseded-"+strconv.FormatInt(time.Now().Unix(), 10))
	if err := os.MkdirAll(aside, 0o750); err != nil {
		return err
	}
	for _, name := range old {
		if err := os.Rename(filepath.Join(s.opts.Dir, name), filepath.Join(aside, name)); err != nil {
			return err
		}
	}
	s.c.log.Info("WAL stream: segments of an earlier timeline moved aside", "dir", aside, "segments", len(old))
	return s.c.owner.Chown(aside)
}

// prune removes the completed segments the archive has (pg_stat_archiver), so that the
// stream's directory holds only what is not archived yet.
func (s *streamer) prune(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var last *string
	if err := conn.QueryRow(ctx, `SELECT last_archived_wal FROM pg_stat_archiver`).Scan(&last); err != nil {
		return err
	}
	if last == nil {
		return nil
	}
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !archivedSegment(e.Name(), *last) {
			continue
		}
		if err := os.Remove(filepath.Join(s.opts.Dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// archivedSegment says whether the stream's file name is a completed segment at or before
// lastArchived (pg_stat_archiver's last_archived_wal): the archiver takes segments in order,
// so the archive has it. The segment in progress (.partial), history files, and anything when
// the last archived file is not a segment (a .history or .backup file) are kept.
func archivedSegment(name, lastArchived string) bool {
	archived := segmentFile.FindStringSubmatch(lastArchived)
	m := segmentFile.FindStringSubmatch(name)
	if archived == nil || archived[3] != "" || m == nil || m[3] != "" {
		return false
	}
	return m[1] <= archived[1] && m[2] <= archived[2]
}

type tailWriter struct{ t *tail }

func (w tailWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.add(line)
	}
	return len(p), nil
}
