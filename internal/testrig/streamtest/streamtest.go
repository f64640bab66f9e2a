// Package streamtest runs the livestream's real ingest chain for tests (docs/STREAMS.md): nginx
// with the RTMP module on loopback, with a config generated as deploy/nginx/weltgewebe.conf
// lays it out (RTMP in, HLS out, the instance's on_publish callbacks), and ffmpeg pushing a
// synthetic test pattern. Internal to tests; never in the binary.
//
// Tests skip (with the reason) when nginx, its RTMP module or ffmpeg are not installed;
// scripts/deps.sh installs them.
package streamtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/nginxrtmp"
)

// T is what the rig asks of its caller: a *testing.T has it, and so has wgbench's runner, which
// starts the same chain for the stream benchmark (cmd/wgbench/stream.go).
type T interface {
	Helper()
	Logf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	TempDir() string
}

// Patience is how long the rig waits for nginx or ffmpeg: a safety net for a busy machine.
const Patience = 60 * time.Second

// RTMPModule is where Debian's libnginx-mod-rtmp puts the module.
const RTMPModule = nginxrtmp.Module

// Nginx is a running nginx: RTMP ingest, HLS files, and a proxy to the instance.
type Nginx struct {
	// RTMP is the ingest's base URL: a broadcaster publishes to RTMP + "/" + key.
	RTMP string
	// URL is the http server: /hls/ from the files, the rest from the instance.
	URL    string
	HLSDir string
	prefix string
	pid    int
}

// Options say what nginx calls and proxies.
type Options struct {
	// Instance is the address (host:port) of the instance under test: the RTMP callbacks'
	// target, and the proxy's when Upstreams is empty.
	Instance string
	// Upstreams are replicas of the instance (host:port each) the http server balances over,
	// as the production config's upstream does; empty: Instance alone.
	Upstreams []string
	// Secret is what the callbacks carry (serve --rtmp-secret).
	Secret string
	// WorkerConnections is nginx's worker_connections (default 256). A load test with a
	// thousand viewers needs three connections each: the HLS fetches, the chat socket and its
	// proxied copy to the instance.
	WorkerConnections int
	// Backlog is the http listener's accept queue (nginx's listen … backlog=; default 511,
	// nginx's own). A reconnect storm of a thousand sockets overflows 511 when nginx is slow
	// to accept: the kernel drops the SYNs, and the clients retry after 1, 3, 7 s.
	Backlog int
}

// Binary returns nginx's path, or skips the test.
func Binary(t T) string {
	t.Helper()
	path, err := nginxrtmp.Binary()
	if err != nil {
		t.Skipf("streamtest: %v (bash scripts/deps.sh)", err)
	}
	return path
}

// FFmpeg returns ffmpeg's path, or skips the test.
func FFmpeg(t T) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("streamtest: ffmpeg is not installed (Debian: ffmpeg, bash scripts/deps.sh)")
	}
	return path
}

// Template is the production config the test runs: deploy/nginx/weltgewebe.conf.
func Template(t T) string {
	t.Helper()
	return nginxrtmp.Template
}

// config is the test's nginx.conf (nginxrtmp.Render): the template's rtmp{} block and the
// locations of its https server, with the production ports, address, secret and directory
// replaced by the test's, and a plain-http server on loopback in place of the TLS one.
func config(t T, tmpl, prefix, rtmp, httpAddr string, o Options) string {
	t.Helper()
	conf, err := nginxrtmp.Render(tmpl, nginxrtmp.Config{RTMP: rtmp, Instance: o.Instance, Secret: o.Secret, Prefix: prefix,
		HTTP: httpAddr, Upstreams: o.Upstreams, ErrorLevel: "info",
		// nginx-rtmp's own access log, in the test's directory: the test reads it.
		RTMPLog: filepath.Join(prefix, "rtmp-access.log"),
		// A rotation or an end cuts a broadcast off at the next update: within a second here.
		UpdateTimeout: time.Second, WorkerConnections: o.WorkerConnections, Backlog: o.Backlog})
	if err != nil {
		t.Fatalf("streamtest: %v", err)
	}
	return conf
}

// Start runs nginx for the test, with the production config's RTMP block and locations; it is stopped when the test ends, and its error log is
// written to the test's log if the test failed.
func Start(t T, o Options) *Nginx {
	t.Helper()
	bin := Binary(t)
	tmpl := Template(t)
	prefix := t.TempDir()
	for _, d := range []string{"hls", "tmp"} {
		if err := os.Mkdir(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		// Free ports, taken and let go: another process may take one meanwhile, so nginx's
		// failure to bind is retried with new ones.
		rtmp, httpAddr := freePort(t), freePort(t)
		conf := config(t, tmpl, prefix, rtmp, httpAddr, o)
		confPath := filepath.Join(prefix, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-p", prefix, "-e", filepath.Join(prefix, "error.log"), "-c", confPath)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("streamtest: start nginx: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		n := &Nginx{RTMP: "rtmp://" + rtmp + "/live", URL: "http://" + httpAddr, HLSDir: filepath.Join(prefix, "hls"), prefix: prefix,
			pid: cmd.Process.Pid}
		if err := n.waitUp(exited); err != nil {
			last = fmt.Errorf("%v; output: %s; error log: %s", err, out.String(), n.ErrorLog())
			_ = cmd.Process.Kill()
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("streamtest: nginx error log:\n%s", n.ErrorLog())
			}
		})
		return n
	}
	t.Fatalf("streamtest: nginx did not come up: %v", last)
	return nil
}

// waitUp waits until both ports answer, or nginx exits.
func (n *Nginx) waitUp(exited <-chan error) error {
	deadline := time.Now().Add(Patience)
	rtmp := strings.TrimSuffix(strings.TrimPrefix(n.RTMP, "rtmp://"), "/live")
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("nginx exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", rtmp, time.Second); err == nil {
			c.Close()
			if res, err := http.Get(n.URL + "/hls/"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusNotFound {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx not answering after %s", Patience)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID is nginx's process (one, without a master: the load test reads its CPU time).
func (n *Nginx) PID() int { return n.pid }

// ErrorLog is nginx's error log so far.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.prefix, "error.log"))
	return string(b)
}

// RTMPLog is nginx-rtmp's access log so far (one line per RTMP session, written as it ends).
func (n *Nginx) RTMPLog() string {
	b, _ := os.ReadFile(filepath.Join(n.prefix, "rtmp-access.log"))
	return string(b)
}

// HLSFiles lists the names of the files nginx has written for HLS.
func (n *Nginx) HLSFiles() []string {
	entries, _ := os.ReadDir(n.HLSDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func freePort(t T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Broadcast is ffmpeg pushing a test pattern with a tone, as OBS would push a camera.
type Broadcast struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	mu     sync.Mutex
	out    bytes.Buffer
}

// Push starts ffmpeg publishing to url (the ingest URL with the key) in real time: a 320×240
// test pattern at 10 frames per second with a keyframe every second, and a sine tone; H.264
// and AAC in FLV, as OBS sends. nginx cuts at keyframes, so segments are whole seconds
// (hls_fragment's 2 s). It stops when the test ends.
func Push(t T, url string) *Broadcast {
	t.Helper()
	return PushPicture(t, url, Picture{Size: "320x240", Rate: 10})
}

// Picture is what PushPicture sends: a test pattern of Size at Rate frames per second, at
// Bitrate (ffmpeg's notation, e.g. "1500k"; empty: the encoder's choice).
type Picture struct {
	Size    string
	Rate    int
	Bitrate string
}

// PushPicture is Push with a picture of the caller's (the load test sends what a real
// broadcast sends, so that the viewers fetch segments of a real size).
func PushPicture(t T, url string, p Picture) *Broadcast {
	t.Helper()
	bin := FFmpeg(t)
	b := &Broadcast{exited: make(chan struct{})}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%s:rate=%d", p.Size, p.Rate),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fmt.Sprint(p.Rate), "-pix_fmt", "yuv420p"}
	if p.Bitrate != "" {
		args = append(args, "-b:v", p.Bitrate, "-maxrate", p.Bitrate, "-bufsize", p.Bitrate)
	}
	args = append(args, "-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stdout, b.cmd.Stderr = &lockedWriter{b}, &lockedWriter{b}
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("streamtest: start ffmpeg: %v", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("streamtest: ffmpeg's output:\n%s", b.Output())
		}
	})
	return b
}

type lockedWriter struct{ b *Broadcast }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.out.Write(p)
}

// PID is ffmpeg's process.
func (b *Broadcast) PID() int { return b.cmd.Process.Pid }

// Output is what ffmpeg has written so far.
func (b *Broadcast) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// Exited is closed when ffmpeg has ended (stopped, or refused by the server).
func (b *Broadcast) Exited() <-chan struct{} { return b.exited }

// Err is how ffmpeg ended, once Exited is closed.
func (b *Broadcast) Err() error { <-b.exited; return b.err }

// Stop ends the broadcast as a broadcaster does: ffmpeg closes the stream and the connection
// (SIGINT), and Stop returns when it has exited.
func (b *Broadcast) Stop(t T) {
	t.Helper()
	if !b.stop() {
		t.Fatalf("streamtest: ffmpeg did not exit within %s of SIGINT", Patience)
	}
}

// End ends the broadcast as Stop does, from any goroutine (a test's helper server): false
// when ffmpeg had not exited within Patience of SIGINT (it is killed then).
func (b *Broadcast) End() bool { return b.stop() }

func (b *Broadcast) stop() bool {
	select {
	case <-b.exited:
		return true
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.exited:
		return true
	case <-time.After(Patience):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return false
	}
}

// Playlist waits (up to Patience) until url, an HLS playlist, answers with at least n
// segments; checks that it and its first segment carry the content types and cache headers
// of deploy/nginx/weltgewebe.conf (playlist revalidated, segment immutable) and that the
// segment is MPEG-TS; and returns the playlist and the segment's name.
func Playlist(t T, url string, n int) (playlist, segment string) {
	t.Helper()
	get := func(url string) (*http.Response, []byte) {
		res, err := http.Get(url)
		if err != nil {
			return nil, nil
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, body
	}
	var res *http.Response
	for deadline := time.Now().Add(Patience); ; time.Sleep(50 * time.Millisecond) {
		var body []byte
		if res, body = get(url); res != nil && res.StatusCode == http.StatusOK && strings.Count(string(body), "#EXTINF") >= n {
			playlist = string(body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streamtest: no playlist of %d segments at %s after %s", n, url, Patience)
		}
	}
	if cc, ct := res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"); cc != "no-cache" || ct != "application/vnd.apple.mpegurl" {
		t.Fatalf("streamtest: playlist Cache-Control %q, Content-Type %q", cc, ct)
	}
	for _, line := range strings.Split(playlist, "\n") {
		if strings.HasSuffix(line, ".ts") {
			segment = line
			break
		}
	}
	res, seg := get(url[:strings.LastIndex(url, "/")+1] + segment)
	if res == nil || res.StatusCode != http.StatusOK || len(seg) == 0 || seg[0] != 0x47 { // an MPEG-TS packet starts with 0x47
		t.Fatalf("streamtest: segment %q: %v, %d bytes; playlist:\n%s", segment, res != nil && res.StatusCode == http.StatusOK, len(seg), playlist)
	}
	if cc, ct := res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"); cc != "public, max-age=31536000, immutable" || ct != "video/mp2t" {
		t.Fatalf("streamtest: segment Cache-Control %q, Content-Type %q", cc, ct)
	}
	return playlist, segment
}
