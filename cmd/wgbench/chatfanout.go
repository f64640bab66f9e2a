package main

import (
	"bufio"
	bytes_ "bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/chat"
)

// benchChat (-only chat): the Nähstübchen's fan-out alone — N sockets on /ws/chat held by a
// separate process (`wgbench _chatclients`) over loopback, a writer putting M messages a second
// into the room through the service; latency from a message's time (its `at`) to its arrival
// at each socket, and the instance's CPU per delivered frame. It is the chat's share of the
// residents benchmark (one room for the whole town, every message to everyone who opened it)
// without the rest of the town, quick enough to run before and after a change.
type chatBenchConfig struct {
	sockets  []int
	rate     int
	duration time.Duration
	rounds   int
	profile  string // CPU profiles of the steady phases: PREFIX-<n>-<round>.pprof
}

func benchChat(ctx context.Context, e *env, cc chatBenchConfig) {
	writer := e.verifiedResident(ctx)
	fmt.Printf("## The Nähstübchen's fan-out\n\n")
	fmt.Printf("Sockets on `/ws/chat` (the Nähstübchen) held by a separate process over loopback (no nginx); a writer puts %d messages a second into the room through the service for %s; every message goes to every socket. Latency is from the message's time (set when it is written, before its transaction) to its arrival at each socket: the commit, the hub's following of the log and the fan-out. CPU is the instance's process (the writer included) and its PostgreSQL over the steady phase plus 1 s, on the same cores as the sockets' process. %d rounds per number of sockets.\n\n",
		cc.rate, cc.duration, cc.rounds)
	fmt.Printf("| sockets | round | load before | messages | deliveries (of expected) | p50 | p99 | max | instance CPU | **µs per delivered frame** | PostgreSQL CPU |\n|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, n := range cc.sockets {
		child := startChatChild(e, n)
		for round := 1; round <= cc.rounds; round++ {
			load := loadavg()
			child.send("measure")
			if cc.profile != "" {
				f, err := os.Create(fmt.Sprintf("%s-%d-%d.pprof", cc.profile, n, round))
				check(err)
				check(pprof.StartCPUProfile(f))
			}
			cpu0 := sampleCPU()
			written := chatWriter(ctx, e, writer, cc.rate, cc.duration)
			time.Sleep(time.Second) // the last messages arrive
			cpu := sampleCPU().since(cpu0)
			if cc.profile != "" {
				pprof.StopCPUProfile()
			}
			var rep chatReport
			check(json.Unmarshal([]byte(child.send("report")), &rep))
			lat := rep.LatenciesMS
			slices.Sort(lat)
			pct := func(p float64) string { return msPercentile(lat, p) }
			secs := (cc.duration + time.Second).Seconds()
			pg := "n/a"
			if cpu.pgKnown {
				pg = fmt.Sprintf("%.0f %%", 100*cpu.pg.Seconds()/secs)
			}
			perFrame := "–"
			if len(lat) > 0 {
				perFrame = fmt.Sprintf("%.1f", float64(cpu.self.Microseconds())/float64(len(lat)))
			}
			fmt.Printf("| %d | %d | %s | %d | %d (%.1f %%) | %s | %s | %s | %.0f %% | **%s** | %s |\n",
				n, round, load, written, len(lat), 100*float64(len(lat))/float64(max(written*n, 1)), pct(0.5), pct(0.99), pct(1),
				100*cpu.self.Seconds()/secs, perFrame, pg)
			if rep.Dropped > 0 {
				fmt.Printf("|  |  | %d sockets closed by the server during the round |  |  |  |  |  |  |  |  |\n", rep.Dropped)
			}
		}
		child.wait()
	}
	fmt.Println()
}

// chatWriter writes rate messages a second to the Nähstübchen for d; it returns how many.
func chatWriter(ctx context.Context, e *env, a account.Account, rate int, d time.Duration) int {
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	end := time.After(d)
	n := 0
	for {
		select {
		case <-end:
			return n
		case <-t.C:
			_, err := e.inst.Chat.Write(ctx, chat.Naehstuebchen, a, fmt.Sprintf("Bench-Nachricht %d", n))
			check(err)
			n++
		}
	}
}

type chatReport struct {
	LatenciesMS []float64 `json:"latencies_ms"`
	Frames      int64     `json:"frames"`
	Dropped     int64     `json:"dropped"`
}

func startChatChild(e *env, n int) *viewersChild {
	c, line := startGenerator("_chatclients", runChatClients,
		[]string{"-target", strings.Replace(e.url, "http://", "ws://", 1) + "/ws/chat", "-n", fmt.Sprint(n)}, false, 1<<20)
	if !strings.HasPrefix(line, "ready") {
		log.Fatalf("chat clients: %q", line)
	}
	log.Printf("chat: %d sockets %s", n, strings.TrimSpace(line))
	return c
}

// runChatClients is `wgbench _chatclients`: n sockets on the Nähstübchen. Over stdin/stdout:
//
//	child: ready {…}   every socket had the server's ready
//	parent: measure    start recording
//	parent: report     → {"latencies_ms": …} of the messages since measure
//	parent: closes stdin (done)
func runChatClients(args []string, stdin io.Reader, stdout io.Writer) {
	fs := flag.NewFlagSet("_chatclients", flag.ExitOnError)
	target := fs.String("target", "", "ws:// URL of /ws/chat")
	n := fs.Int("n", 1000, "sockets")
	check(fs.Parse(args))
	debug.SetGCPercent(400) // a load generator: collect garbage rarely

	var (
		measuring atomic.Bool
		mu        sync.Mutex
		latencies []float64
		frames    atomic.Int64
		dropped   atomic.Int64
		ready     sync.WaitGroup
		conns     = make([]*websocket.Conn, *n)
	)
	read := func(conn *websocket.Conn, isReady func()) {
		var buf bytes_.Buffer
		for {
			data, err := readFrame(context.Background(), conn, &buf)
			if err != nil {
				if websocket.CloseStatus(err) != -1 {
					dropped.Add(1)
				}
				return
			}
			now := time.Now()
			frames.Add(1)
			switch gjson.GetBytes(data, "type").Str {
			case "ready":
				isReady()
			case "message":
				if !measuring.Load() {
					continue
				}
				if at, err := time.Parse(time.RFC3339Nano, gjson.GetBytes(data, "message.at").Str); err == nil {
					mu.Lock()
					latencies = append(latencies, float64(now.Sub(at).Microseconds())/1000)
					mu.Unlock()
				}
			}
		}
	}
	// Source addresses spread as a town's are: the socket limit counts per address.
	sem := make(chan struct{}, 100)
	start := time.Now()
	for i := range conns {
		ready.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(1+i%200))}}
			client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
			for attempt := 0; ; attempt++ {
				dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				conn, _, err := websocket.Dial(dctx, *target, &websocket.DialOptions{HTTPClient: client})
				cancel()
				if err != nil {
					if attempt > 20 {
						log.Fatalf("chatclients: dial: %v", err)
					}
					time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
					continue
				}
				conns[i] = conn
				var once sync.Once
				go read(conn, func() { once.Do(ready.Done) })
				return
			}
		}()
	}
	ready.Wait()
	fmt.Fprintf(stdout, "ready {\"seconds\": %.2f}\n", time.Since(start).Seconds())
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case "measure":
			mu.Lock()
			latencies = nil
			mu.Unlock()
			dropped.Store(0)
			measuring.Store(true)
		case "report":
			measuring.Store(false)
			mu.Lock()
			b, _ := json.Marshal(chatReport{LatenciesMS: latencies, Frames: frames.Load(), Dropped: dropped.Load()})
			latencies = nil
			mu.Unlock()
			fmt.Fprintln(stdout, string(b))
		}
	}
	// The parent closed stdin: done.
	for _, c := range conns {
		c.CloseNow()
	}
}
