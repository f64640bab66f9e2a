package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// benchRTMPSecret is what the benchmark's nginx and instance share for the ingest callbacks.
const benchRTMPSecret = "wgbench-rtmp-secret"

// streamConfig is the livestream measurement's (flags -stream-…).
type streamConfig struct {
	viewers      int
	duration     time.Duration
	writersPct   int
	messageEvery time.Duration
	voteEvery    time.Duration
	picture      streamtest.Picture
	storm        bool
	backlog      int // nginx's accept queue (streamtest.Options.Backlog)
	// inProcess runs the viewers in this process (the go test, whose binary is not wgbench):
	// their CPU is then counted as the instance's.
	inProcess bool
}

// streamFigures is what benchStream measured (the go test reads it).
type streamFigures struct {
	Viewers  int
	Chat     bool
	Steady   svReport
	Storm    *svStorm
	Final    svReport
	CPU      map[string]time.Duration // over the steady phase
	Seconds  float64                  // the steady phase
	Memory   map[string]int64         // bytes, at the end of the steady phase
	Load     [3]string                // the machine's load averages (1, 5, 15 min) before and after the steady phase, and at the end
	Segments int                      // in the playlist when the viewers came
	// Overflows is how many connections the kernel's accept queues dropped during the storm
	// (TcpExtListenOverflows: the whole machine's, other sessions' tests included).
	Overflows int64
}

// benchStream: the Partizipartei's livestream with N viewers (docs/BENCHMARKS.md,
// "Livestream"). The real chain on this machine — nginx with the RTMP module (the production
// template, through internal/testrig/streamtest), ffmpeg pushing a test pattern through a
// stream made for the run, the instance and PostgreSQL — and the viewers in a separate process
// (streamviewers.go), through nginx as in production: HLS from nginx's files, the chat socket
// and the writes proxied to the instance.
func benchStream(ctx context.Context, e *env, sc streamConfig) streamFigures {
	bt := newBenchT()
	defer bt.cleanup()
	fig := streamFigures{Viewers: sc.viewers, CPU: map[string]time.Duration{}, Memory: map[string]int64{}}

	admin, err := e.inst.Accounts.CreateAdmin(ctx, "Stream Admin", "stream-admin@example.org", "bench password")
	check(err)
	st, key, err := e.inst.Streams.Create(ctx, admin, "Bench live", nil)
	check(err)
	ngx := streamtest.Start(bt, streamtest.Options{Instance: strings.TrimPrefix(e.url, "http://"), Secret: benchRTMPSecret,
		WorkerConnections: 4*sc.viewers + 512, Backlog: sc.backlog})
	log.Printf("stream: nginx at %s, pushing %s at %d fps, %s", ngx.URL, sc.picture.Size, sc.picture.Rate, sc.picture.Bitrate)
	bc := streamtest.PushPicture(bt, ngx.RTMP+"/"+key, sc.picture)

	// Live, and a playlist of three segments: what a player needs to start.
	playlist := ngx.URL + "/hls/" + st.ID.String() + ".m3u8"
	deadline := time.Now().Add(streamtest.Patience)
	for {
		if res, err := http.Get(playlist); err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if _, segs := parsePlaylist(b); res.StatusCode == http.StatusOK && len(segs) >= 3 {
				fig.Segments = len(segs)
				break
			}
		}
		select {
		case <-bc.Exited():
			log.Fatalf("stream: ffmpeg ended: %v\n%s\nnginx: %s", bc.Err(), bc.Output(), ngx.ErrorLog())
		default:
		}
		if time.Now().After(deadline) {
			log.Fatalf("stream: no playlist of three segments after %s\n%s", streamtest.Patience, ngx.ErrorLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, err := e.inst.Streams.Get(ctx, st.ID)
	check(err)
	if got.State != "live" {
		log.Fatalf("stream: %s, not live", got.State)
	}

	// The chat is there once the stream chat is built (docs/STREAMS.md); without it the
	// viewers watch only, and the figures say so.
	if res, err := http.Get(ngx.URL + "/api/streams/" + st.ID.String() + "/chat"); err == nil {
		res.Body.Close()
		fig.Chat = res.StatusCode == http.StatusOK
	}
	var creds []writerCred
	if fig.Chat {
		creds = benchWriters(ctx, e, admin, sc.viewers*sc.writersPct/100)
	} else {
		log.Printf("stream: GET /api/streams/{id}/chat is not there: HLS only, no sockets")
	}

	credsJSON, err := json.Marshal(creds)
	check(err)
	args := []string{"-base", ngx.URL, "-stream", st.ID.String(), "-n", strconv.Itoa(sc.viewers), "-writers", string(credsJSON),
		"-chat=" + strconv.FormatBool(fig.Chat), "-message-every", sc.messageEvery.String(), "-vote-every", sc.voteEvery.String()}
	log.Printf("stream: %d viewers joining (%d of them write)", sc.viewers, len(creds))
	child := startStreamViewers(args, sc.inProcess)

	procs := map[string]func() time.Duration{
		"instance": func() time.Duration { return sampleCPU().self },
		"nginx":    func() time.Duration { return processCPU(ngx.PID()) },
		"ffmpeg":   func() time.Duration { return processCPU(bc.PID()) },
		"viewers":  func() time.Duration { return child.cpu() },
	}
	if pgDataDir != "" {
		procs["PostgreSQL"] = func() time.Duration { d, _ := clusterCPU(); return d }
	}
	fig.Load[0] = loadAverage()
	cpu0 := map[string]time.Duration{}
	for k, f := range procs {
		cpu0[k] = f()
	}
	t0 := time.Now()
	child.send("measure")
	time.Sleep(sc.duration)
	check(json.Unmarshal([]byte(child.send("report")), &fig.Steady))
	fig.Seconds = time.Since(t0).Seconds()
	for k, f := range procs {
		fig.CPU[k] = f() - cpu0[k]
	}
	fig.Load[1] = loadAverage()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fig.Memory["instance"] = processRSS(os.Getpid())
	fig.Memory["instance heap"] = int64(ms.HeapInuse)
	fig.Memory["nginx"] = processRSS(ngx.PID())
	fig.Memory["ffmpeg"] = processRSS(bc.PID())
	if child.cmd != nil {
		fig.Memory["viewers"] = processRSS(child.cmd.Process.Pid)
	}
	if pgDataDir != "" {
		fig.Memory["PostgreSQL"] = clusterPSS()
	}
	if fig.Chat && sc.storm {
		log.Printf("stream: reconnect storm")
		var s svStorm
		over0 := listenOverflows()
		check(json.Unmarshal([]byte(child.send("storm")), &s))
		fig.Storm = &s
		fig.Overflows = listenOverflows() - over0
	}
	check(json.Unmarshal([]byte(child.send("quit")), &fig.Final))
	child.wait()
	fig.Load[2] = loadAverage()
	select {
	case <-bc.Exited():
		log.Printf("stream: ffmpeg ended during the run: %v\n%s", bc.Err(), bc.Output())
	default:
	}
	for _, e := range fig.Final.HLS.Errors {
		log.Printf("stream: %s", e)
	}
	return fig
}

// printStream writes the figures as Markdown.
func printStream(sc streamConfig, f streamFigures) {
	secs := f.Seconds
	fmt.Printf("## Livestream\n\n")
	fmt.Printf("%d viewers in a separate process, through nginx (one process, the production template's rtmp{} block and locations) on loopback: each fetches the HLS playlist on its cadence and every new segment once, over its own keep-alive connections", f.Viewers)
	if f.Chat {
		fmt.Printf(", and holds a chat socket (%d %% sorted \"oben\"); %d %% of them are verified residents who write a message every %s and vote every %s. ", 20, sc.writersPct, sc.messageEvery, sc.voteEvery)
	} else {
		fmt.Printf("; **no chat** (the stream chat is not on this branch). ")
	}
	fmt.Printf("ffmpeg pushes a %s test pattern at %d fps, %s, H.264 ultrafast + AAC. Steady phase %.0f s. Load averages (1, 5, 15 min) %s before, %s after, %s at the end.\n\n",
		sc.picture.Size, sc.picture.Rate, sc.picture.Bitrate, secs, f.Load[0], f.Load[1], f.Load[2])
	h := f.Steady.HLS
	fmt.Printf("| | steady phase |\n|---|--:|\n")
	fmt.Printf("| playlists / segments fetched | %d / %d |\n", h.Playlists, h.Segments)
	fmt.Printf("| **fetch errors** (playlist, segment) | **%d, %d** |\n", h.PlaylistError, h.SegmentError)
	fmt.Printf("| video delivered | %.1f MB/s |\n", float64(h.Bytes)/secs/1e6)
	fmt.Printf("| segment fetch p50 / p99 / max | %.1f / %.1f / %.1f ms |\n", h.SegmentP50MS, h.SegmentP99MS, h.SegmentMaxMS)
	fmt.Printf("| players stalled (a buffer of 3 segments ran dry) | %d times, %.1f s in all |\n", h.Stalls, float64(h.StallMS)/1000)
	if f.Chat {
		c := f.Steady.Chat
		fmt.Printf("| messages written (refused 429, errors) | %d (%d, %d) |\n", c.Written, c.WriteRefused, c.WriteErrors)
		fmt.Printf("| votes (refused 429, errors) | %d (%d, %d) |\n", c.Votes, c.VoteRefused, c.VoteErrors)
		fmt.Printf("| deliveries to sockets | %d |\n", c.Deliveries)
		fmt.Printf("| **chat delivery p50 / p99** / max | %.0f / **%.0f** / %.0f ms |\n", c.P50MS, c.P99MS, c.MaxMS)
		fmt.Printf("| per message p50 / p99: 201 to the writer; first socket; last socket | %.0f / %.0f; %.0f / %.0f; %.0f / %.0f ms |\n",
			c.AckMS[0], c.AckMS[1], c.FirstMS[0], c.FirstMS[1], c.LastMS[0], c.LastMS[1])
		fmt.Printf("| **dropped sockets** | **%d** |\n", c.Dropped)
		fmt.Printf("| viewer count the sockets last saw | %d–%d |\n", c.ViewersMin, c.ViewersMax)
	}
	fmt.Println()
	fmt.Printf("| process | CPU | per 100 viewers | memory |\n|---|--:|--:|--:|\n")
	for _, k := range []string{"instance", "PostgreSQL", "nginx", "ffmpeg", "viewers"} {
		d, ok := f.CPU[k]
		if !ok {
			continue
		}
		mem := "–"
		if m, ok := f.Memory[k]; ok {
			mem = fmt.Sprintf("%.0f MiB", float64(m)/(1<<20))
			if k == "instance" {
				mem += fmt.Sprintf(" (heap %.0f MiB)", float64(f.Memory["instance heap"])/(1<<20))
			}
		}
		share := d.Seconds() / secs
		per := fmt.Sprintf("%.1f %%", 100*share/float64(f.Viewers)*100)
		if k == "ffmpeg" {
			per = "– (the broadcast's)"
		}
		fmt.Printf("| %s | %.0f %% of a core | %s | %s |\n", k, 100*share, per, mem)
	}
	fmt.Println()
	if s := f.Storm; s != nil {
		ready := "not within 5 s"
		if s.ReadySeconds > 0 {
			ready = fmt.Sprintf("after %.2f s", s.ReadySeconds)
		}
		fmt.Printf("Reconnect storm: all %d chat sockets dropped at once and reconnected with their cursors while the writers went on; all were back after %.2f s, had the server's \"ready\" (catch-up sent) %s, and were caught up (every message written before the last came back, received) after **%.2f s**; %d messages written meanwhile.", s.Viewers, s.BackSeconds, ready, s.DoneSeconds, s.Written)
		backlog := fmt.Sprint(sc.backlog)
		if sc.backlog <= 0 {
			backlog = "nginx's default, 511"
		}
		fmt.Printf(" nginx's accept queue held %s; the kernel counted %d accept-queue overflows on the machine meanwhile (each a dropped SYN, retried by the client after 1 s, then 3 s, 7 s).", backlog, f.Overflows)
		if s.TimedOut {
			fmt.Printf(" **Not caught up within a minute: %d viewer×message pairs missing.**", s.Missing)
		}
		fmt.Println()
		fmt.Println()
	}
	if f.Chat {
		c := f.Final.Chat
		fmt.Printf("Whole run: %d messages written, **%d lost** (viewer×message pairs never received), %d duplicates, %d resets, %d dropped sockets, %d segment and %d playlist fetch errors.\n\n",
			c.Written, f.Final.Lost, c.Duplicates, c.Resets, c.Dropped, f.Final.HLS.SegmentError, f.Final.HLS.PlaylistError)
	} else {
		fmt.Printf("Whole run: %d segment and %d playlist fetch errors.\n\n", f.Final.HLS.SegmentError, f.Final.HLS.PlaylistError)
	}
}

// benchWriters registers n verified residents and logs them in; their session cookies go to
// the viewers' process. Logged in through the service, not the API: the login limits per
// address are measured elsewhere (flood) and not what this measures.
func benchWriters(ctx context.Context, e *env, admin account.Account, n int) []writerCred {
	creds := make([]writerCred, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			email := fmt.Sprintf("streamer-%d@example.org", i)
			a, err := e.inst.Accounts.Register(ctx, account.Registration{Name: fmt.Sprintf("Zuschauerin %d", i), Address: "Benchstraße 3",
				Home: leipzig, Email: email, Password: "bench password"})
			check(err)
			_, err = e.inst.Accounts.Verify(ctx, admin, a.ID)
			check(err)
			from := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 2, byte(1 + i%200)}), 32)
			s, _, err := e.inst.Accounts.Login(ctx, email, "bench password", from, "", nil)
			check(err)
			creds[i] = writerCred{Cookie: s.Token, Account: a.ID.String()}
		}()
	}
	wg.Wait()
	return creds
}

// viewersChild is the viewers' process (or, in the go test, goroutine).
type viewersChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	done chan struct{}
}

func startStreamViewers(args []string, inProcess bool) *viewersChild {
	c, line := startGenerator("_streamviewers", runStreamViewers, args, inProcess, 64<<10)
	if !strings.HasPrefix(line, "ready") {
		log.Fatalf("stream viewers: %q", line)
	}
	log.Printf("stream: viewers %s", strings.TrimSpace(line))
	return c
}

// startGenerator starts a load generator: this binary again as a process of its own (command
// name, so that its CPU is measured apart from the server's), or in the go test a goroutine
// running run. It returns once the generator has written its first line ("ready …").
func startGenerator(name string, run func(args []string, in io.Reader, out io.Writer), args []string, inProcess bool, buf int) (*viewersChild, string) {
	c := &viewersChild{done: make(chan struct{})}
	var stdout io.Reader
	if inProcess {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		c.in, stdout = inW, outR
		go func() {
			defer close(c.done)
			run(args, inR, outW)
			outW.Close()
		}()
	} else {
		self, err := os.Executable()
		check(err)
		c.cmd = exec.Command(self, append([]string{name}, args...)...)
		c.cmd.Stderr = os.Stderr
		c.in, err = c.cmd.StdinPipe()
		check(err)
		stdout, err = c.cmd.StdoutPipe()
		check(err)
		check(c.cmd.Start())
		go func() { _ = c.cmd.Wait(); close(c.done) }()
	}
	c.out = bufio.NewReaderSize(stdout, buf)
	line, err := c.out.ReadString('\n')
	if err != nil {
		log.Fatalf("%s: %q %v", name, line, err)
	}
	return c, line
}

// send writes a command; for report, storm and quit it returns the answer line.
func (c *viewersChild) send(cmd string) string {
	_, err := fmt.Fprintln(c.in, cmd)
	check(err)
	if cmd == "measure" {
		return ""
	}
	line, err := c.out.ReadString('\n')
	check(err)
	return line
}

func (c *viewersChild) wait() {
	c.in.Close()
	<-c.done
}

// cpu is the viewers' process's CPU time so far (0 when they run in this process).
func (c *viewersChild) cpu() time.Duration {
	if c.cmd == nil {
		return 0
	}
	return processCPU(c.cmd.Process.Pid)
}

// processRSS is a process's resident set from /proc, in bytes.
func processRSS(pid int) int64 { return procStatus(pid, "/status", "VmRSS:") }

// clusterPSS is the proportional set size of the PostgreSQL cluster's processes: their shared
// buffers counted once, not once per backend.
func clusterPSS() int64 {
	b, err := os.ReadFile(filepath.Join(pgDataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	postmaster := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	entries, _ := os.ReadDir("/proc")
	var sum int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(e.Name()); ok && (e.Name() == postmaster || ppid == postmaster) {
			sum += procStatus(pid, "/smaps_rollup", "Pss:")
		}
	}
	return sum
}

// procStatus reads a "Name:  123 kB" line of a /proc file.
func procStatus(pid int, file, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// listenOverflows is the kernel's count of connections dropped because a listener's accept
// queue was full (/proc/net/netstat, TcpExt ListenOverflows).
func listenOverflows() int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == "ListenOverflows" {
				v, _ := strconv.ParseInt(values[j], 10, 64)
				return v
			}
		}
	}
	return 0
}

// benchT lets wgbench run the test rig that starts nginx and ffmpeg (streamtest), so that the
// benchmark runs the chain exactly as the tests do, from the production template. It is a
// streamtest.T: a failure ends the run, a skip (nginx or ffmpeg missing) too, with the rig's
// reason.
type benchT struct {
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

func newBenchT() *benchT { return &benchT{} }

func (t *benchT) Helper()                           {}
func (t *benchT) Failed() bool                      { return false }
func (t *benchT) Logf(format string, args ...any)   { log.Printf(format, args...) }
func (t *benchT) Fatal(args ...any)                 { t.cleanup(); log.Fatal(args...) }
func (t *benchT) Fatalf(format string, args ...any) { t.cleanup(); log.Fatalf(format, args...) }
func (t *benchT) Skip(args ...any)                  { t.Fatal(args...) }
func (t *benchT) Skipf(format string, args ...any)  { t.Fatalf(format, args...) }
func (t *benchT) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}
func (t *benchT) TempDir() string {
	d, err := os.MkdirTemp("", "wgbench-stream-")
	check(err)
	check(os.Chmod(d, 0o755))
	t.mu.Lock()
	t.dirs = append(t.dirs, d)
	t.mu.Unlock()
	return d
}

// cleanup runs the cleanups, last first, as testing does, then removes the directories.
func (t *benchT) cleanup() {
	t.mu.Lock()
	cs, ds := t.cleanups, t.dirs
	t.cleanups, t.dirs = nil, nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range ds {
		os.RemoveAll(d)
	}
}
