package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
)

// A replica is the instance as `weltgewebe serve` runs it behind nginx, configured as an
// operator would for this benchmark: the production defaults (rate limits, captcha on, a pool
// of 20, the map's 2.5 s batch, the 10 s sweep) and --trusted-proxy 127.0.0.1, so that the
// limits count each resident by the address nginx forwards, as weltgewebe.service sets it.
// wgbench runs each replica as a process of its own (`wgbench _serve`), so that its CPU and
// memory are its own and several replicas are several processes on one PostgreSQL, as in
// production; the go test runs it in its own process (the test binary is not wgbench).
//
// Protocol with the parent, one line each:
//
//	child: listening ADDR
//	parent: stats               → {"heap_inuse": …, "stack_inuse": …, "goroutines": …}
//	parent: stats gc            the same after a garbage collection (memory per client)
//	parent: mapstats            → the map feed's mapfeed.Stats (flushes, loads)
//	parent: profile FILE        start a CPU profile into FILE → ok
//	parent: stopprofile         → ok
//	parent: quit                the replica shuts down gracefully and exits
type replica struct {
	addr string
	cmd  *exec.Cmd // nil in process
	in   io.WriteCloser
	out  *bufio.Reader
	// in process
	stop    func()
	profile *os.File
}

type replicaStats struct {
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
	Goroutines int   `json:"goroutines"`
}

// replicaConfig is the operator's configuration of a replica for the benchmark.
func replicaConfig(dbURL, snapshotDir string) instance.Config {
	return instance.Config{
		DB: instance.DBConfig{URL: dbURL},
		RateLimits: httpapi.RateLimits{
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		},
		Snapshots: instance.SnapshotConfig{Dir: snapshotDir},
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func startReplica(ctx context.Context, dbURL, snapshotDir string, inProcess bool) *replica {
	if inProcess {
		inst, err := instance.Open(ctx, replicaConfig(dbURL, snapshotDir))
		check(err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- inst.Serve(runCtx, ln) }()
		return &replica{addr: ln.Addr().String(), stop: func() {
			cancel()
			if err := <-done; err != nil {
				log.Printf("replica: %v", err)
			}
			inst.Close()
		}}
	}
	return startServeProcess(dbURL, snapshotDir)
}

// startServeProcess starts a replica as a process of its own (`wgbench _serve`); args are
// further flags of _serve (-map-batch).
func startServeProcess(dbURL, snapshotDir string, args ...string) *replica {
	self, err := os.Executable()
	check(err)
	r := &replica{cmd: exec.Command(self, append([]string{"_serve", "-database-url", dbURL, "-snapshot-dir", snapshotDir}, args...)...)}
	r.cmd.Stderr = os.Stderr
	r.in, err = r.cmd.StdinPipe()
	check(err)
	stdout, err := r.cmd.StdoutPipe()
	check(err)
	check(r.cmd.Start())
	r.out = bufio.NewReader(stdout)
	line, err := r.out.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		log.Fatalf("replica: %q %v", line, err)
	}
	r.addr = addr
	return r
}

func (r *replica) send(cmd string) string {
	_, err := fmt.Fprintln(r.in, cmd)
	check(err)
	line, err := r.out.ReadString('\n')
	check(err)
	return strings.TrimSpace(line)
}

// pid is the replica's process (this one, in process).
func (r *replica) pid() int {
	if r.cmd == nil {
		return os.Getpid()
	}
	return r.cmd.Process.Pid
}

func (r *replica) cpu() time.Duration { return processCPU(r.pid()) }
func (r *replica) rss() int64         { return processRSS(r.pid()) }

func (r *replica) stats() replicaStats {
	if r.cmd == nil {
		return ownStats()
	}
	var s replicaStats
	check(json.Unmarshal([]byte(r.send("stats")), &s))
	return s
}

func (r *replica) startProfile(file string) {
	if r.cmd == nil {
		f, err := os.Create(file)
		check(err)
		check(pprof.StartCPUProfile(f))
		r.profile = f
		return
	}
	r.send("profile " + file)
}

func (r *replica) stopProfile() {
	if r.cmd == nil {
		pprof.StopCPUProfile()
		r.profile.Close()
		return
	}
	r.send("stopprofile")
}

func (r *replica) close() {
	if r.cmd == nil {
		r.stop()
		return
	}
	fmt.Fprintln(r.in, "quit")
	r.in.Close()
	_ = r.cmd.Wait()
}

// gcStats is the replica's memory after a garbage collection, as the map measurement reads
// its own process's.
func (r *replica) gcStats() replicaStats {
	var s replicaStats
	check(json.Unmarshal([]byte(r.send("stats gc")), &s))
	return s
}

// mapStats is the replica's map feed's counters.
func (r *replica) mapStats() mapfeed.Stats {
	var s mapfeed.Stats
	check(json.Unmarshal([]byte(r.send("mapstats")), &s))
	return s
}

func ownStats() replicaStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return replicaStats{HeapInuse: int64(ms.HeapInuse), StackInuse: int64(ms.StackInuse), Goroutines: runtime.NumGoroutine()}
}

// raiseFileLimit lifts the open-file limit as far as the process may: 5,000 residents hold
// about 17,000 connections in the generator, and a replica one socket each (the machine's
// hard limit is 20,000; as root the limit goes beyond it).
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// runServe is `wgbench _serve`.
func runServe(args []string) {
	fs := flag.NewFlagSet("_serve", flag.ExitOnError)
	dbURL := fs.String("database-url", "", "the run's database")
	snapshotDir := fs.String("snapshot-dir", "", "the replicas' shared snapshot directory")
	mapBatch := fs.Duration("map-batch", 0, "the map feed's batch interval (0: the default, 2.5 s); the map measurement passes its own instance's")
	check(fs.Parse(args))
	raiseFileLimit()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := replicaConfig(*dbURL, *snapshotDir)
	cfg.MapFeed.Batch = *mapBatch
	inst, err := instance.Open(ctx, cfg)
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	done := make(chan error, 1)
	go func() { done <- inst.Serve(ctx, ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	var profile *os.File
	for in.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(in.Text()), " ")
		switch cmd {
		case "stats":
			if arg == "gc" {
				runtime.GC()
			}
			b, _ := json.Marshal(ownStats())
			fmt.Println(string(b))
		case "mapstats":
			st, err := inst.MapFeed.Stats(ctx)
			check(err)
			b, _ := json.Marshal(st)
			fmt.Println(string(b))
		case "profile":
			profile, err = os.Create(arg)
			check(err)
			check(pprof.StartCPUProfile(profile))
			fmt.Println("ok")
		case "stopprofile":
			pprof.StopCPUProfile()
			profile.Close()
			fmt.Println("ok")
		case "quit":
			cancel()
		}
		if cmd == "quit" {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		log.Printf("_serve: %v", err)
	}
	inst.Close()
}
