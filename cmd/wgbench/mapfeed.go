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

	fmt.Printf("## Live map\n\n")
	fmt.Printf("Clients in a separate process over loopback, each subscribed to the resolution-8 cells of a phone's view (zoom 15, about 500 m × 700 m: 4–8 cells) at a random place in a 15 km × 11 km town with %d Knoten. A writer places %d Knoten per second at random places for %s; latency is from the Knoten's creation (its `created_at`) to its first arrival at each client whose cells hold it. Batch interval %s. CPU is the instance's process and its PostgreSQL over the steady phase, on the same 2 cores as the clients.\n\n",
		cfg.mapKnoten, cfg.mapRate, cfg.duration, e.inst.MapFeed.Batch())
	fmt.Printf("The clients run in processes of at most %d each (a process may hold only so many sockets). *Clients' CPU* is what those processes spent over the steady phase, on the same 2 cores. *Per frame* is the server's CPU (the instance's process, without PostgreSQL) per WebSocket message the clients received in the steady phase. *Bytes per client* is the server's heap and goroutine stacks per connected client, after a garbage collection. *Flush* is the hub's time per batch for building the deltas and handing them to the connections' queues, average and longest.\n\n", mapPerChild)
	fmt.Printf("| clients | deliveries | p50 | p99 | max | server CPU | PostgreSQL CPU | clients' CPU | per frame | heap per 1k clients | bytes per client | flush |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var last mapChildren
	for _, n := range cfg.mapClients {
		if last != nil {
			last.quit()
			last = nil
		}
		runtime.GC()
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		log.Printf("map: connecting %d clients", n)
		child := startMapChildren(e, n)
		last = child
		time.Sleep(time.Second) // settle
		runtime.GC()
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		heap := float64(int64(m1.HeapInuse) - int64(m0.HeapInuse))
		stacks := float64(int64(m1.StackInuse) - int64(m0.StackInuse))
		if path := os.Getenv("WG_HEAP_PROFILE"); path != "" {
			f, err := os.Create(fmt.Sprintf("%s.%d", path, n))
			check(err)
			check(pprof.WriteHeapProfile(f))
			f.Close()
		}

		flush0, err := e.inst.MapFeed.Stats(ctx)
		check(err)
		child.send("measure")
		if path := os.Getenv("WG_MAP_PROFILE"); path != "" { // a profile of the steady phase
			f, err := os.Create(fmt.Sprintf("%s.%d", path, n))
			check(err)
			check(pprof.StartCPUProfile(f))
		}
		cpu0 := sampleCPU()
		stopWrite := make(chan struct{})
		written := make(chan int)
		go func() { written <- steadyWriter(ctx, e, cfg.mapRate, stopWrite) }()
		time.Sleep(cfg.duration)
		close(stopWrite)
		<-written
		// Let the last batch arrive.
		time.Sleep(e.inst.MapFeed.Batch() + 500*time.Millisecond)
		cpu := sampleCPU().since(cpu0)
		flush1, err := e.inst.MapFeed.Stats(ctx)
		check(err)
		flushes := flush1.Flushes - flush0.Flushes
		flushAvg := (flush1.FlushTime - flush0.FlushTime) / time.Duration(max(flushes, 1))
		if os.Getenv("WG_MAP_PROFILE") != "" {
			pprof.StopCPUProfile()
		}
		// Under load a batch can take longer than the wait above to reach every client; the
		// latencies are read once the clients' counts stand still, so that late deliveries are
		// counted, not left out.
		settle(e, child)
		rep := child.report()
		lat := rep.LatenciesMS
		slices.Sort(lat)
		pct := func(p float64) string { return msPercentile(lat, p) }
		secs := (cfg.duration + e.inst.MapFeed.Batch() + 500*time.Millisecond).Seconds()
		pgCPU := "n/a"
		if cpu.pgKnown {
			pgCPU = fmt.Sprintf("%.0f %%", 100*cpu.pg.Seconds()/secs)
		}
		fmt.Printf("| %d | %d | %s | **%s** | %s | %.0f %% of a core | %s | %.0f %% | %.1f µs | %.2f MiB | %.1f KiB | %d / %d ms |\n",
			n, len(lat), pct(0.5), pct(0.99), pct(1), 100*cpu.self.Seconds()/secs, pgCPU, 100*rep.CPUSeconds/secs,
			cpu.self.Seconds()*1e6/float64(max(rep.MeasuredMessages, 1)), heap/float64(n)*1000/(1<<20), (heap+stacks)/float64(n)/1024,
			flushAvg.Milliseconds(), flush1.FlushMax.Milliseconds())
		log.Printf("map: load %s", loadavg())
	}
	fmt.Println()

	// The reconnect storm: every client drops its connection and comes back with its cursor.
	if last != nil {
		before, err := e.inst.MapFeed.Stats(ctx)
		check(err)
		xact0 := transactions(ctx, e)
		st := last.storm()
		after, err := e.inst.MapFeed.Stats(ctx)
		check(err)
		xact := transactions(ctx, e) - xact0
		fmt.Printf("Reconnect storm: all %d clients dropped their connections at once and reconnected with their last cursor; all were caught up after %.1f s (%d catch-up deltas, %d states). The feed read the database %d times for it (%d state loads, %d object loads; %d transactions in the whole database during the storm, the writer stopped).\n\n",
			st.Clients, st.Seconds, st.Catchups, st.States, (after.StateLoads-before.StateLoads)+(after.ObjectLoads-before.ObjectLoads),
			after.StateLoads-before.StateLoads, after.ObjectLoads-before.ObjectLoads, xact)
		last.quit()
	}
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
	cmd *exec.Cmd
	in  *bufio.Writer
	raw interface{ Close() error }
	out *bufio.Reader
}

func startMapChildren(e *env, n int) mapChildren {
	var cs mapChildren
	for i := 0; n > 0; i++ {
		k := min(n, mapPerChild)
		cs = append(cs, startMapChild(e, k, i))
		n -= k
	}
	return cs
}

// startMapChild starts the i-th process of k clients; its viewports and source addresses
// differ from the other processes'.
func startMapChild(e *env, k, i int) *mapChild {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_mapclients", "-target", strings.Replace(e.url, "http://", "ws://", 1)+"/ws/map", "-n", fmt.Sprint(k),
		"-seed", fmt.Sprint(i+1), "-addr", fmt.Sprint(i))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	c := &mapChild{cmd: cmd, in: bufio.NewWriter(stdin), raw: stdin, out: bufio.NewReaderSize(stdout, 64<<10)}
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

// report merges the processes' reports.
func (cs mapChildren) report() latencyReport {
	var all latencyReport
	for _, line := range cs.send("report") {
		var r latencyReport
		check(json.Unmarshal([]byte(line), &r))
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
