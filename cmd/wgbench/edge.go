package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
)

// benchEdge: issue 16's bounded flood. -edge-requests registrations and logins (half each, every
// one to another address, every password wrong or new) from -edge-clients client addresses in
// -edge-duration, sent at an even pace from a separate process (`wgbench _edgeflood`) over
// loopback through a trusted proxy's X-Forwarded-For (the instance trusts 127.0.0.1 as its
// proxy, as behind nginx), while one more connection reads GET /api/knoten?bbox= every 20 ms over
// 10,000 Knoten. Against the default limits, with the captcha off (what the limits let through
// is the measure; with the captcha on, a registration without a solved challenge is refused
// before anything is hashed). Before the flood the same reads run alone for comparison.
func benchEdge(ctx context.Context, e *env, cfg config) {
	seedKnoten(ctx, e, 10_000)
	target, stop := serveInstance(ctx, edgeConfig(e, false))
	idle := runEdgeFlood(target, floodMixed, 10*time.Second, 0, cfg.edgeClients)
	heapBefore := heapAfterGC()
	sample := sampleRSS()
	flood := runEdgeFlood(target, floodMixed, cfg.edgeDuration, cfg.edgeRequests, cfg.edgeClients)
	peak := sample()
	heapAfter := heapAfterGC()
	stop()

	fmt.Printf("## Flood at the edge: %d registrations and logins from %d addresses in %s\n\n", cfg.edgeRequests, cfg.edgeClients, cfg.edgeDuration)
	fmt.Printf("Half registrations (each a new address), half logins (each a wrong password for another address), at an even pace; "+
		"client addresses named by X-Forwarded-For from the trusted proxy 127.0.0.1; default limits, captcha off, %d hasher(s). "+
		"Reads: GET /api/knoten?bbox= (10,000 Knoten, %d in the box) every 20 ms on a connection of their own.\n\n",
		account.DefaultHashers(), flood.ReadKnoten)
	fmt.Println("| | reads | p50 | p95 | p99 | max |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	for _, p := range []struct {
		name string
		r    edgeResult
	}{{"idle", idle}, {"during the flood", flood}} {
		h := sortDurations(p.r.Reads)
		fmt.Printf("| %s | %d | %s | **%s** | %s | %s |\n", p.name, len(h), ms(percentile(h, 0.5)), ms(percentile(h, 0.95)),
			ms(percentile(h, 0.99)), ms(percentile(h, 1)))
	}
	fmt.Println()
	allowed := func(r httpapi.Rule, sent int) int { return allowedBy(r, sent, cfg.edgeClients, cfg.edgeDuration) }
	lr, rr, qr := defaultRule(httpapi.ClassLogin, httpapi.PerIP), defaultRule(httpapi.ClassRegister, httpapi.PerIP), defaultRule(httpapi.ClassRegisterRequest, httpapi.PerIP)
	sentLogins, sentRegs := sum(flood.Logins), sum(flood.Registrations)
	fmt.Printf("Sent in %s: %d logins, %d registrations (the pace held: %d sent late).\n\n", flood.Took.Round(100*time.Millisecond), sentLogins, sentRegs, flood.Late)
	fmt.Println("| | answered (limits passed) | of them 503 busy | refused 429 | the limits allow | |")
	fmt.Println("|---|--:|--:|--:|--:|---|")
	fmt.Printf("| logins | %d | %d | %d | %d | %d at once, then one per %s, per address |\n", sentLogins-flood.Logins[429],
		flood.Logins[503], flood.Logins[429], allowed(lr, sentLogins), lr.Burst, lr.Every)
	fmt.Printf("| registrations | %d | %d | %d | %d | %d at once, then one per %s, per address (all requests: %d, then one per %s) |\n",
		sentRegs-flood.Registrations[429], flood.Registrations[503], flood.Registrations[429], min(allowed(rr, sentRegs), allowed(qr, sentRegs)),
		rr.Burst, rr.Every, qr.Burst, qr.Every)
	fmt.Printf("\nStatus counts: logins %v, registrations %v; refusals by code: %v.\n\n", flood.Logins, flood.Registrations, flood.Codes)
	fmt.Printf("Memory: Go heap after GC %d MiB before, %d MiB after; resident set %d MiB before, peak %d MiB (the instance's process; PostgreSQL not counted).\n\n",
		heapBefore>>20, heapAfter>>20, peak.before>>20, peak.peak>>20)
	benchEdgeCaptcha(ctx, e, cfg)
}

// edgeConfig is the edge flood's instance: default limits, the client addresses from the
// trusted proxy 127.0.0.1's X-Forwarded-For, and the captcha off or at its default
// (registrations, and logins after failures).
func edgeConfig(e *env, captchaOn bool) instance.Config {
	return instance.Config{
		DB:         instance.DBConfig{URL: e.dbURL, MaxConns: 20},
		RateLimits: httpapi.RateLimits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		CaptchaOff: !captchaOn,
	}
}

// serveInstance opens another instance on the benchmark's database and serves it on a loopback
// port until stop.
func serveInstance(ctx context.Context, cfg instance.Config) (url string, stop func()) {
	inst, err := instance.Open(ctx, cfg)
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- inst.Serve(runCtx, ln) }()
	url = "http://" + ln.Addr().String()
	waitHealthy(url)
	return url, func() {
		cancel()
		check(<-done)
		check(inst.Close())
	}
}

// defaultRule is the default limits' line for a class and scope.
func defaultRule(c httpapi.Class, s httpapi.Scope) httpapi.Rule {
	for _, r := range httpapi.DefaultRules {
		if r.Class == c && r.Scope == s {
			return r
		}
	}
	log.Fatalf("no default rule for %s/%s", c, s)
	return httpapi.Rule{}
}

// allowedBy is what rule r lets through of sent requests spread evenly over clients addresses
// in d: each address's burst and what refills in d, or what it sent if less.
func allowedBy(r httpapi.Rule, sent, clients int, d time.Duration) int {
	return clients * min(sent/clients, r.Burst+int(d/r.Every))
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func waitHealthy(base string) {
	for i := 0; ; i++ {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if i > 600 {
			log.Fatalf("edge: %s not healthy", base)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seedKnoten puts n Knoten into the map's area unless it has as many.
func seedKnoten(ctx context.Context, e *env, n int) {
	var have int
	check(e.inst.Pool.QueryRow(ctx, `SELECT count(*) FROM knoten`).Scan(&have))
	if have >= n {
		return
	}
	copyKnoten(ctx, e, rand.New(rand.NewPCG(16, 16)), n, `$2`)
	e.exec(ctx, `ANALYZE knoten`)
}

type edgeResult struct {
	Logins        map[int]int
	Registrations map[int]int
	Codes         map[string]int // "<kind> <status> <code>" of the refusals
	Reads         []time.Duration
	ReadKnoten    int
	Late          int
	Took          time.Duration
	// floodSolve: challenges solved, and the flooder's CPU time (solving, and its HTTP).
	Solved int
	CPU    time.Duration
}

// The flooder's modes.
const (
	floodMixed = "mixed" // registrations and logins in turns, at an even pace, no captcha
	floodBare  = "bare"  // registrations at an even pace without a solved captcha: none, or one solution replayed
	floodSolve = "solve" // registrations, each with a challenge fetched and solved, as fast as the flooder's CPUs go
)

func runEdgeFlood(target, mode string, d time.Duration, requests, clients int) edgeResult {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_edgeflood", "-target", target, "-mode", mode, "-duration", d.String(), "-requests", fmt.Sprint(requests),
		"-clients", fmt.Sprint(clients))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	check(err)
	var res edgeResult
	check(json.Unmarshal(out, &res))
	return res
}

// edgeFlooder sends the flood's requests, each from one client address (198.18.x.y, named in
// X-Forwarded-For), through up to 256 connections, and counts the answers.
type edgeFlooder struct {
	target  string
	clients int
	client  *http.Client
	mu      sync.Mutex
	res     edgeResult
}

// from is the client address of the flood's i-th request.
func (f *edgeFlooder) from(i int) string {
	c := i % f.clients
	return fmt.Sprintf("198.18.%d.%d", c/250, c%250+1)
}

// send posts body to path from the i-th request's address; kind is "login" or "registration".
func (f *edgeFlooder) send(i int, kind, path, body string) {
	req, err := http.NewRequest("POST", f.target+path, strings.NewReader(body))
	check(err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", f.from(i))
	status, code := 0, ""
	if r, err := f.client.Do(req); err == nil {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(r.Body).Decode(&e)
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		status, code = r.StatusCode, e.Error.Code
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	counts := f.res.Logins
	if kind == "registration" {
		counts = f.res.Registrations
	}
	counts[status]++
	if status >= 400 {
		f.res.Codes[fmt.Sprintf("%s %d %s", kind, status, code)]++
	}
}

// solve fetches a challenge from the i-th request's address and solves it as the widget does.
func (f *edgeFlooder) solve(i int) string {
	req, err := http.NewRequest("GET", f.target+"/api/captcha", nil)
	check(err)
	req.Header.Set("X-Forwarded-For", f.from(i))
	r, err := f.client.Do(req)
	check(err)
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		log.Fatalf("edge flood: GET /api/captcha: %s", r.Status)
	}
	var ch captcha.Challenge
	check(json.NewDecoder(r.Body).Decode(&ch))
	p, err := captcha.Solve(ch)
	check(err)
	f.mu.Lock()
	f.res.Solved++
	f.mu.Unlock()
	return p
}

// registration is the body of the flood's i-th registration (a new address each).
func registration(run string, i int, altcha string) string {
	a := ""
	if altcha != "" {
		a = fmt.Sprintf(`,"altcha":%q`, altcha)
	}
	return fmt.Sprintf(`{"name":"Flut %d","address":"Flutweg %d","lat":51.34,"lon":12.37,"email":"flut-%s-%d@example.org","password":"ein neues langes Passwort %d"%s}`,
		i, i, run, i, i, a)
}

// runEdgeFlooder is `wgbench _edgeflood`: -requests registrations and logins (-mode), from
// -clients addresses over -duration; and bbox reads every 20 ms on a connection of their own.
// It prints an edgeResult.
func runEdgeFlooder(args []string) {
	fs := flag.NewFlagSet("_edgeflood", flag.ExitOnError)
	target := fs.String("target", "", "the instance's base URL")
	mode := fs.String("mode", floodMixed, "mixed, bare or solve")
	d := fs.Duration("duration", time.Minute, "how long")
	requests := fs.Int("requests", 10_000, "requests in all (mixed, bare)")
	clients := fs.Int("clients", 50, "client addresses")
	check(fs.Parse(args))
	f := &edgeFlooder{target: *target, clients: *clients,
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}},
		res:    edgeResult{Logins: map[int]int{}, Registrations: map[int]int{}, Codes: map[string]int{}}}
	var (
		readsDone  = make(chan struct{})
		start      = time.Now()
		finish     = start.Add(*d)
		late       atomic.Int64
		box        = fmt.Sprintf("%f,%f,%f,%f", 12.30, 51.30, 12.30+5*boxLon, 51.30+5*boxLat) // ~100 of 10,000 Knoten
		readClient = &http.Client{Timeout: time.Minute}
		run        = fmt.Sprintf("%x", time.Now().UnixNano())
		cpuBefore  = sampleCPU().self
	)
	go func() {
		defer close(readsDone)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for time.Now().Before(finish) {
			<-t.C
			t0 := time.Now()
			r, err := readClient.Get(*target + "/api/knoten?bbox=" + box)
			if err != nil {
				log.Fatalf("read: %v", err)
			}
			var body struct {
				Knoten []json.RawMessage `json:"knoten"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			took := time.Since(t0)
			f.mu.Lock()
			f.res.Reads = append(f.res.Reads, took)
			f.res.ReadKnoten = len(body.Knoten)
			f.mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	switch *mode {
	case floodSolve:
		// One bot per CPU, each solving and registering as fast as it can: what a sender with
		// this machine's CPUs gets through.
		var next atomic.Int64
		for range runtime.NumCPU() {
			wg.Go(func() {
				for time.Now().Before(finish) {
					i := int(next.Add(1))
					f.send(i, "registration", "/api/auth/register", registration(run, i, f.solve(i)))
				}
			})
		}
	case floodMixed, floodBare:
		// One solution, solved once, that every other bare registration replays.
		replay := ""
		if *mode == floodBare {
			replay = f.solve(0)
		}
		gap := *d / time.Duration(max(*requests, 1))
		sem := make(chan struct{}, 256)
		for i := range *requests {
			at := start.Add(time.Duration(i) * gap)
			if w := time.Until(at); w > 0 {
				time.Sleep(w)
			} else if w < -100*time.Millisecond {
				late.Add(1)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				switch {
				case *mode == floodBare && i%2 == 1:
					f.send(i, "registration", "/api/auth/register", registration(run, i, replay))
				case *mode == floodBare || (i / *clients)%2 == 1: // in mixed, every address sends both, in turns
					f.send(i, "registration", "/api/auth/register", registration(run, i, ""))
				default:
					f.send(i, "login", "/api/auth/login", fmt.Sprintf(`{"email":"flut-%s-%d@example.org","password":"falsch falsch"}`, run, i))
				}
			})
		}
	default:
		log.Fatalf("_edgeflood: unknown -mode %q", *mode)
	}
	wg.Wait()
	f.res.Took = time.Since(start)
	<-readsDone
	f.res.Late = int(late.Load())
	f.res.CPU = sampleCPU().self - cpuBefore
	w := bufio.NewWriter(os.Stdout)
	check(json.NewEncoder(w).Encode(f.res))
	check(w.Flush())
}
