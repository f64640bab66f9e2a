package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
)

// benchMap: concurrent live-map clients over loopback (a separate process), a steady stream
// of new Knoten spread over the town; delivery latency from the write to each subscribed
// client, the server's CPU and memory per thousand clients, and a reconnect storm.
func benchMap(ctx context.Context, e *env, cfg config) {
	raiseFileLimit() // the instance holds one socket per client
	// A town with something on the map, so that states are not empty.
	log.Printf("map: placing %d Knoten", cfg.mapKnoten)
	r := rand.New(rand.NewPCG(7, 7))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= cfg.mapKnoten {
				_, _, err := e.inst.Knoten.Place(ctx, e.resident, knoten.Placement{Type: "idee", Title: "Bestand", Point: randomPoint(r)})
				check(err)
			}
		}()
	}
	wg.Wait()

	// The servers: this process's instance and, with -map-replicas above 1, replicas on its
	// database with its batch interval.
	srv := mapServers{e: e}
	for range cfg.mapReplicas - 1 {
		srv.reps = append(srv.reps, startServeProcess(e.dbURL, e.snapshotDir, "-map-batch", e.inst.MapFeed.Batch().String()))
	}
	defer srv.close()
	multi := srv.n() > 1

	fmt.Printf("## Live map\n\n")
	fmt.Printf("Clients in a separate process over loopback, each subscribed to the resolution-8 cells of a phone's view (zoom 15, about 500 m × 700 m: 4–8 cells) at a random place in a 15 km × 11 km town with %d Knoten. A writer places %d Knoten per second at random places for %s; latency is from the Knoten's creation (its `created_at`) to its first arrival at each client whose cells hold it. Batch interval %s. CPU is the instance's process and its PostgreSQL over the steady phase, on the same 2 cores as the clients.\n\n",
		cfg.mapKnoten, cfg.mapRate, cfg.duration, e.inst.MapFeed.Batch())
	fmt.Printf("The clients run in processes of at most %d each (a process may hold only so many sockets). *Clients' CPU* is what those processes spent over the steady phase, on the same 2 cores. *Per frame* is the server's CPU (the instance's process, without PostgreSQL) per WebSocket message the clients received in the steady phase. *Bytes per client* is the server's heap and goroutine stacks per connected client, after a garbage collection. *Flush* is the hub's time per batch for building the deltas and handing them to the connections' queues, average and longest.\n\n", mapPerChild)
	if multi {
		replicas := "server 2 is a replica, a process"
		if srv.n() > 2 {
			replicas = fmt.Sprintf("servers 2–%d are replicas, each a process", srv.n())
		}
		fmt.Printf("**%d servers** on the one PostgreSQL: server 1 is the benchmark's instance (in this process), %s of its own (`wgbench _serve`: the production configuration and rate limits, the same batch interval %s). The clients are spread evenly over the processes, and process *i* (from 0) connects to server *i* mod %d + 1, so each server holds 1/%d of them. Each client process uses 200 source addresses, so one address opens at most %d sockets per size (and as many again in the reconnect storm): under the production limit of 200 socket openings per address at once, which the replicas keep. The writer places its Knoten through server 1; the other servers learn of them from the event log, as replicas do in production, so their deliveries include that hop. *Server CPU* is all servers' processes together, *per frame* that over all frames; *heap per 1k clients* and *bytes per client* are all servers' memory over all clients. *Per server* gives each server's clients, their p99, the server's CPU and its flush (average / longest).\n\n",
			srv.n(), replicas, e.inst.MapFeed.Batch(), srv.n(), srv.n(), (mapPerChild+199)/200)
		fmt.Printf("| clients | deliveries | p50 | p99 | max | server CPU | PostgreSQL CPU | clients' CPU | per frame | heap per 1k clients | bytes per client | per server: clients, p99, CPU, flush |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	} else {
		fmt.Printf("| clients | deliveries | p50 | p99 | max | server CPU | PostgreSQL CPU | clients' CPU | per frame | heap per 1k clients | bytes per client | flush |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	}
	var last mapChildren
	for _, n := range cfg.mapClients {
		if last != nil {
			last.quit()
			last = nil
		}
		heap0, stacks0 := srv.memory()
		log.Printf("map: connecting %d clients", n)
		child := startMapChildren(srv, n)
		last = child
		time.Sleep(time.Second) // settle
		heap1, stacks1 := srv.memory()
		heap := float64(total(heap1) - total(heap0))
		stacks := float64(total(stacks1) - total(stacks0))
		if path := os.Getenv("WG_HEAP_PROFILE"); path != "" { // this process's instance only
			f, err := os.Create(fmt.Sprintf("%s.%d", path, n))
			check(err)
			check(pprof.WriteHeapProfile(f))
			f.Close()
		}

		flush0 := srv.feedStats(ctx)
		child.send("measure")
		profile := os.Getenv("WG_MAP_PROFILE") // a profile of the steady phase, per server
		if profile != "" {
			f, err := os.Create(fmt.Sprintf("%s.%d", profile, n))
			check(err)
			check(pprof.StartCPUProfile(f))
			for i, r := range srv.reps {
				r.startProfile(fmt.Sprintf("%s.%d.server%d", profile, n, i+2))
			}
		}
		cpu0, rcpu0 := sampleCPU(), srv.replicaCPU()
		stopWrite := make(chan struct{})
		written := make(chan int)
		go func() { written <- steadyWriter(ctx, e, cfg.mapRate, stopWrite) }()
		time.Sleep(cfg.duration)
		close(stopWrite)
		<-written
		// Let the last batch arrive.
		time.Sleep(e.inst.MapFeed.Batch() + 500*time.Millisecond)
		cpu := sampleCPU().since(cpu0)
		rcpu := srv.replicaCPU()
		for i := range rcpu {
			rcpu[i] -= rcpu0[i]
		}
		flush1 := srv.feedStats(ctx)
		if profile != "" {
			pprof.StopCPUProfile()
			for _, r := range srv.reps {
				r.stopProfile()
			}
		}
		// Under load a batch can take longer than the wait above to reach every client; the
		// latencies are read once the clients' counts stand still, so that late deliveries are
		// counted, not left out.
		settle(e, child)
		reports := child.reports()
		rep := mergeReports(reports)
		lat := rep.LatenciesMS
		slices.Sort(lat)
		pct := func(p float64) string { return msPercentile(lat, p) }
		secs := (cfg.duration + e.inst.MapFeed.Batch() + 500*time.Millisecond).Seconds()
		pgCPU := "n/a"
		if cpu.pgKnown {
			pgCPU = fmt.Sprintf("%.0f %%", 100*cpu.pg.Seconds()/secs)
		}
		serverCPU := cpu.self + total(rcpu)
		flushAvg := func(i int) time.Duration {
			flushes := flush1[i].Flushes - flush0[i].Flushes
			return (flush1[i].FlushTime - flush0[i].FlushTime) / time.Duration(max(flushes, 1))
		}
		row := fmt.Sprintf("| %d | %d | %s | **%s** | %s | %.0f %% of a core | %s | %.0f %% | %.1f µs | %.2f MiB | %.1f KiB |",
			n, len(lat), pct(0.5), pct(0.99), pct(1), 100*serverCPU.Seconds()/secs, pgCPU, 100*rep.CPUSeconds/secs,
			serverCPU.Seconds()*1e6/float64(max(rep.MeasuredMessages, 1)), heap/float64(n)*1000/(1<<20), (heap+stacks)/float64(n)/1024)
		if !multi {
			fmt.Printf("%s %d / %d ms |\n", row, flushAvg(0).Milliseconds(), flush1[0].FlushMax.Milliseconds())
		} else {
			var per []string
			for i := range srv.n() {
				var sl []float64
				clients := 0
				for j, r := range reports {
					if j%srv.n() == i {
						sl = append(sl, r.LatenciesMS...)
						clients += child[j].clients
					}
				}
				slices.Sort(sl)
				c := cpu.self
				if i > 0 {
					c = rcpu[i-1]
				}
				per = append(per, fmt.Sprintf("%d: %d, **%s**, %.0f %%, %d / %d ms", i+1, clients, msPercentile(sl, 0.99),
					100*c.Seconds()/secs, flushAvg(i).Milliseconds(), flush1[i].FlushMax.Milliseconds()))
			}
			fmt.Printf("%s %s |\n", row, strings.Join(per, "; "))
		}
		log.Printf("map: load %s", loadavg())
	}
	fmt.Println()

	// The reconnect storm: every client drops its connection and comes back with its cursor
	// (to its own server).
	if last != nil {
		before := sumStats(srv.feedStats(ctx))
		xact0 := transactions(ctx, e)
		st := last.storm()
		after := sumStats(srv.feedStats(ctx))
		xact := transactions(ctx, e) - xact0
		fmt.Printf("Reconnect storm: all %d clients dropped their connections at once and reconnected with their last cursor; all were caught up after %.1f s (%d catch-up deltas, %d states). The feed read the database %d times for it (%d state loads, %d object loads; %d transactions in the whole database during the storm, the writer stopped).",
			st.Clients, st.Seconds, st.Catchups, st.States, (after.StateLoads-before.StateLoads)+(after.ObjectLoads-before.ObjectLoads),
			after.StateLoads-before.StateLoads, after.ObjectLoads-before.ObjectLoads, xact)
		if multi {
			fmt.Printf(" Each client reconnected to its own server; the loads are the %d servers' feeds together.", srv.n())
		}
		fmt.Printf("\n\n")
		last.quit()
	}
}

// mapServers are the processes serving the map's clients: the benchmark's instance (server
// 1, in this process) and the replicas (servers 2…, `wgbench _serve` on its database).
type mapServers struct {
	e    *env
	reps []*replica
}

func (s mapServers) n() int { return 1 + len(s.reps) }

// target is server i's /ws/map (i from 0).
func (s mapServers) target(i int) string {
	if i == 0 {
		return strings.Replace(s.e.url, "http://", "ws://", 1) + "/ws/map"
	}
	return "ws://" + s.reps[i-1].addr + "/ws/map"
}

// memory is each server's heap and goroutine stacks in use after a garbage collection.
func (s mapServers) memory() (heap, stacks []int64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	heap, stacks = []int64{int64(m.HeapInuse)}, []int64{int64(m.StackInuse)}
	for _, r := range s.reps {
		st := r.gcStats()
		heap = append(heap, st.HeapInuse)
		stacks = append(stacks, st.StackInuse)
	}
	return heap, stacks
}

// feedStats is each server's map feed counters.
func (s mapServers) feedStats(ctx context.Context) []mapfeed.Stats {
	own, err := s.e.inst.MapFeed.Stats(ctx)
	check(err)
	out := []mapfeed.Stats{own}
	for _, r := range s.reps {
		out = append(out, r.mapStats())
	}
	return out
}

// replicaCPU is each replica's CPU time so far (this process's is sampleCPU's).
func (s mapServers) replicaCPU() []time.Duration {
	var out []time.Duration
	for _, r := range s.reps {
		out = append(out, r.cpu())
	}
	return out
}

func (s mapServers) close() {
	for _, r := range s.reps {
		r.close()
	}
}

func sumStats(ss []mapfeed.Stats) mapfeed.Stats {
	var t mapfeed.Stats
	for _, s := range ss {
		t.StateLoads += s.StateLoads
		t.ObjectLoads += s.ObjectLoads
	}
	return t
}

func total[T int64 | time.Duration](xs []T) T {
	var t T
	for _, x := range xs {
		t += x
	}
	return t
}

// settle waits until the clients have received nothing new for a whole batch interval (at
// most a minute): a batch still being handed out would have delivered something meanwhile.
func settle(e *env, cs mapChildren) {
	deadline := time.Now().Add(time.Minute)
	var last int64 = -1
	for time.Now().Before(deadline) {
		var n int64
		for _, line := range cs.send("count") {
			var c int64
			_, err := fmt.Sscan(line, &c)
			check(err)
			n += c
		}
		if n == last {
			return
		}
		last = n
		time.Sleep(e.inst.MapFeed.Batch())
	}
	log.Printf("map: deliveries still arriving after a minute")
}

func transactions(ctx context.Context, e *env) int64 {
	var n int64
	check(e.inst.Pool.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
	return n
}

// steadyWriter places rate Knoten per second at random places until stop; it returns how many.
func steadyWriter(ctx context.Context, e *env, rate int, stop <-chan struct{}) int {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return n
		case <-t.C:
			_, _, err := e.inst.Knoten.Place(ctx, e.resident, knoten.Placement{Type: "idee", Title: "Neu", Point: randomPoint(r)})
			check(err)
			n++
		}
	}
}

// mapChildren are the clients' processes. One process holds at most mapPerChild clients: a
// process may not open more than the machine's hard limit of files (20,000 here, and without
// CAP_SYS_RESOURCE not even root may lift it), and each client is a socket.
type mapChildren []*mapChild

const mapPerChild = 10_000

type mapChild struct {
	clients int
	cmd     *exec.Cmd
	in      *bufio.Writer
	raw     interface{ Close() error }
	out     *bufio.Reader
}

// startMapChildren starts the processes of n clients; process i connects to server i mod
// the servers' number.
func startMapChildren(srv mapServers, n int) mapChildren {
	var cs mapChildren
	for i, k := range mapSplit(n, srv.n()) {
		cs = append(cs, startMapChild(srv.target(i%srv.n()), k, i))
	}
	return cs
}

// mapSplit divides n clients among processes of at most mapPerChild. For one server the
// processes are full but the last. For several, where process i connects to server i mod
// servers, the processes are a multiple of servers in number and equal give or take one
// client, so that each server holds its share: 39,800 clients on two servers are 19,900 each
// (full processes would put 20,000 on the first, more sockets than a process may open here).
func mapSplit(n, servers int) []int {
	var sizes []int
	if servers <= 1 {
		for n > 0 {
			k := min(n, mapPerChild)
			sizes = append(sizes, k)
			n -= k
		}
		return sizes
	}
	p := (n + mapPerChild - 1) / mapPerChild
	p = (p + servers - 1) / servers * servers
	for i := range p {
		k := n / p
		if i < n%p {
			k++
		}
		if k > 0 {
			sizes = append(sizes, k)
		}
	}
	return sizes
}

// startMapChild starts the i-th process of k clients of the /ws/map at target; its viewports
// and source addresses differ from the other processes'.
func startMapChild(target string, k, i int) *mapChild {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_mapclients", "-target", target, "-n", fmt.Sprint(k),
		"-seed", fmt.Sprint(i+1), "-addr", fmt.Sprint(i))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	c := &mapChild{clients: k, cmd: cmd, in: bufio.NewWriter(stdin), raw: stdin, out: bufio.NewReaderSize(stdout, 64<<10)}
	line, err := c.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		log.Fatalf("map clients: %q %v", line, err)
	}
	log.Printf("map: %d clients %s", k, strings.TrimSpace(line))
	return c
}

// send writes a command to every process at once; for report and storm it returns their
// answer lines.
func (cs mapChildren) send(cmd string) []string {
	out := make([]string, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.send(cmd)
		}()
	}
	wg.Wait()
	return out
}

func (c *mapChild) send(cmd string) string {
	fmt.Fprintln(c.in, cmd)
	check(c.in.Flush())
	if cmd != "report" && cmd != "storm" && cmd != "count" {
		return ""
	}
	line, err := c.out.ReadString('\n')
	check(err)
	return line
}

// reports are the processes' reports, in their order.
func (cs mapChildren) reports() []latencyReport {
	var out []latencyReport
	for _, line := range cs.send("report") {
		var r latencyReport
		check(json.Unmarshal([]byte(line), &r))
		out = append(out, r)
	}
	return out
}

// mergeReports merges the processes' reports.
func mergeReports(rs []latencyReport) latencyReport {
	var all latencyReport
	for _, r := range rs {
		all.LatenciesMS = append(all.LatenciesMS, r.LatenciesMS...)
		all.Messages += r.Messages
		all.Bytes += r.Bytes
		all.MeasuredMessages += r.MeasuredMessages
		all.CPUSeconds += r.CPUSeconds
	}
	return all
}

// storm drops and reconnects every process's clients at once; all are back when the slowest is.
func (cs mapChildren) storm() stormResult {
	var all stormResult
	for _, line := range cs.send("storm") {
		var r stormResult
		check(json.Unmarshal([]byte(line), &r))
		all.Clients += r.Clients
		all.Reconnects += r.Reconnects
		all.Seconds = max(all.Seconds, r.Seconds)
		all.Catchups += r.Catchups
		all.States += r.States
	}
	return all
}

func (cs mapChildren) quit() {
	for _, c := range cs {
		c.send("quit")
		c.raw.Close()
		_ = c.cmd.Wait()
	}
}
