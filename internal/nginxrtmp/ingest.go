package nginxrtmp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure an ingest that `serve --ingest` runs as its own child (docs/STREAMS.md,
// "The ingest in one binary").
type Options struct {
	// RTMP is the address (host:port) broadcasters push to, e.g. 127.0.0.1:1935.
	RTMP string
	// Instance is the address (host:port) of the instance's /internal/rtmp/ callbacks.
	Instance string
	// Secret is what the callbacks carry (the instance's RTMPSecret).
	Secret string
	// Dir is nginx's own directory; HLS is written to Dir/hls.
	Dir string
	// Log receives nginx's log lines (error log at warn, and the RTMP sessions without keys).
	Log *slog.Logger
}

// Ingest is nginx with the RTMP module, running as this process's child: one process in the
// foreground, killed by the kernel when this process dies (no orphan holds the port).
type Ingest struct {
	// HLSDir is where nginx writes the playlists and segments.
	HLSDir string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	log    *slog.Logger
	// stopping: Stop was called; an exit before is an error worth an admin's attention.
	stopping atomic.Bool
}

// Start renders Template for o, starts nginx and returns once it takes RTMP connections.
// It fails with ErrNoNginx or ErrNoModule when they are not installed.
func Start(ctx context.Context, o Options) (*Ingest, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	hlsDir := filepath.Join(dir, "hls")
	if err := os.MkdirAll(hlsDir, 0o755); err != nil {
		return nil, fmt.Errorf("nginxrtmp: %w", err)
	}
	conf, err := Render(Template, Config{RTMP: o.RTMP, Instance: o.Instance, Secret: o.Secret, Prefix: dir,
		// Both logs go to nginx's stderr, which is read into the instance's log. warn, never
		// info: at info nginx-rtmp logs the keys and the callback URLs with the secret; the
		// sessions' log has the template's nokey format.
		ErrorLog: "stderr", ErrorLevel: "warn", RTMPLog: "/dev/stderr"})
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("nginxrtmp: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nginx-rtmp")
	cmd := exec.Command(bin, "-p", dir, "-e", "stderr", "-c", confPath)
	// Its own process group: a Ctrl-C at the terminal reaches the instance, which stops nginx
	// after the instance's requests are done. Pdeathsig: killed with the instance.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nginxrtmp: start nginx: %w", err)
	}
	g := &Ingest{HLSDir: hlsDir, cmd: cmd, exited: make(chan struct{}), log: log}
	logged := make(chan struct{})
	go func() { defer close(logged); g.copyLog(out) }()
	go func() {
		<-logged // Wait closes the pipe: read it to the end first
		g.err = cmd.Wait()
		close(g.exited)
		if !g.stopping.Load() {
			log.Error("nginx exited: broadcasts are refused until the instance restarts", "err", g.err)
		}
	}()
	if err := g.waitUp(ctx, o.RTMP); err != nil {
		g.Stop()
		return nil, err
	}
	log.Info("ingest up", "rtmp", "rtmp://"+o.RTMP+"/live", "hls", hlsDir, "pid", cmd.Process.Pid)
	return g, nil
}

// copyLog writes nginx's lines into the instance's log: the error log's lines (they start
// with a date, "2026/12/05 10:00:00 [warn] …") at warn and above, the RTMP sessions at info.
func (g *Ingest) copyLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		level := slog.LevelInfo
		if len(line) > 20 && line[4] == '/' && line[19] == ' ' && line[20] == '[' {
			level = slog.LevelWarn
			if !strings.HasPrefix(line[20:], "[warn]") && !strings.HasPrefix(line[20:], "[notice]") {
				level = slog.LevelError
			}
		}
		g.log.Log(context.Background(), level, line)
	}
}

// waitUp waits until the RTMP port answers, or nginx exits, or ctx ends.
func (g *Ingest) waitUp(ctx context.Context, addr string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-g.exited:
			return fmt.Errorf("nginxrtmp: nginx exited: %v (its log is in the instance's log)", g.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// PID is nginx's process.
func (g *Ingest) PID() int { return g.cmd.Process.Pid }

// Exited is closed when nginx has exited.
func (g *Ingest) Exited() <-chan struct{} { return g.exited }

// Stop asks nginx to finish (SIGQUIT: it closes the broadcasts, whose publish_done callbacks
// take the streams offline while the instance still answers) and kills it if it has not
// within 10 s. It returns once nginx has exited.
func (g *Ingest) Stop() {
	select {
	case <-g.exited:
		return
	default:
	}
	g.stopping.Store(true)
	_ = g.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	g.log.Info("ingest stopped")
}
