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

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
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
	inst, err := instance.Open(ctx, instance.Config{
		DB:         instance.DBConfig{URL: e.dbURL, MaxConns: 20},
		RateLimits: httpapi.RateLimits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		CaptchaOff: true,
	})
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- inst.Serve(runCtx, ln) }()
	target := "http://" + ln.Addr().String()
	waitHealthy(target)

	idle := runEdgeFlood(target, 10*time.Second, 0, cfg.edgeClients)
	heapBefore := heapAfterGC()
	sample := sampleRSS()
	flood := runEdgeFlood(target, cfg.edgeDuration, cfg.edgeRequests, cfg.edgeClients)
	peak := sample()
	heapAfter := heapAfterGC()
	cancel()
	check(<-done)
	check(inst.Close())

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
	rule := func(c httpapi.Class, s httpapi.Scope) httpapi.Rule {
		for _, r := range httpapi.DefaultRules {
			if r.Class == c && r.Scope == s {
				return r
			}
		}
		log.Fatalf("no default rule for %s/%s", c, s)
		return httpapi.Rule{}
	}
	allowed := func(r httpapi.Rule, sent int) int {
		per := min(sent/cfg.edgeClients, r.Burst+int(cfg.edgeDuration/r.Every))
		return per * cfg.edgeClients
	}
	lr, rr, qr := rule(httpapi.ClassLogin, httpapi.PerIP), rule(httpapi.ClassRegister, httpapi.PerIP), rule(httpapi.ClassRegisterRequest, httpapi.PerIP)
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
		res, err := http.Get(base + "/healthz")
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
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE edge_staging (id uuid, lat float8, lon float8, h3 bigint, type text, title text)`)
	check(err)
	rng := rand.New(rand.NewPCG(16, 16))
	rows := make([][]any, 0, n)
	for i := range n {
		p := geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
		c, err := p.Cell()
		check(err)
		rows = append(rows, []any{uuid.New(), p.Lat, p.Lon, c, knoten.KnotenTypes[i%len(knoten.KnotenTypes)], fmt.Sprintf("Knoten %d", i)})
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"edge_staging"}, []string{"id", "lat", "lon", "h3", "type", "title"}, pgx.CopyFromRows(rows))
	check(err)
	now := e.inst.Clock.Now()
	_, err = conn.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
SELECT id, type, title, '', point4326(lon, lat), h3, $1, $2, $2, $2::timestamptz + interval '7 days' FROM edge_staging`, e.resident, now)
	check(err)
	_, err = conn.Exec(ctx, `DROP TABLE edge_staging; ANALYZE knoten`)
	check(err)
}

type edgeResult struct {
	Logins        map[int]int
	Registrations map[int]int
	Codes         map[string]int // "<kind> <status> <code>" of the refusals
	Reads         []time.Duration
	ReadKnoten    int
	Late          int
	Took          time.Duration
}

func runEdgeFlood(target string, d time.Duration, requests, clients int) edgeResult {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_edgeflood", "-target", target, "-duration", d.String(), "-requests", fmt.Sprint(requests), "-clients", fmt.Sprint(clients))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	check(err)
	var res edgeResult
	check(json.Unmarshal(out, &res))
	return res
}

// runEdgeFlooder is `wgbench _edgeflood`: -requests registrations and logins, alternating, at an
// even pace over -duration, each from one of -clients addresses (198.18.x.y, named in
// X-Forwarded-For), through up to 256 connections; and bbox reads every 20 ms on a connection
// of their own. It prints an edgeResult.
func runEdgeFlooder(args []string) {
	fs := flag.NewFlagSet("_edgeflood", flag.ExitOnError)
	target := fs.String("target", "", "the instance's base URL")
	d := fs.Duration("duration", time.Minute, "how long")
	requests := fs.Int("requests", 10_000, "registrations and logins in all")
	clients := fs.Int("clients", 50, "client addresses")
	check(fs.Parse(args))
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	var (
		mu         sync.Mutex
		res        = edgeResult{Logins: map[int]int{}, Registrations: map[int]int{}, Codes: map[string]int{}}
		readsDone  = make(chan struct{})
		start      = time.Now()
		finish     = start.Add(*d)
		late       atomic.Int64
		box        = fmt.Sprintf("%f,%f,%f,%f", 12.30, 51.30, 12.30+5*boxLon, 51.30+5*boxLat) // ~100 of 10,000 Knoten
		readClient = &http.Client{Timeout: time.Minute}
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
			mu.Lock()
			res.Reads = append(res.Reads, took)
			res.ReadKnoten = len(body.Knoten)
			mu.Unlock()
		}
	}()
	if *requests > 0 {
		run := fmt.Sprintf("%x", time.Now().UnixNano())
		gap := *d / time.Duration(*requests)
		sem := make(chan struct{}, 256)
		var wg sync.WaitGroup
		for i := range *requests {
			at := start.Add(time.Duration(i) * gap)
			if w := time.Until(at); w > 0 {
				time.Sleep(w)
			} else if w < -100*time.Millisecond {
				late.Add(1)
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				c := i % *clients
				from := fmt.Sprintf("198.18.%d.%d", c/250, c%250+1)
				kind, path, body, counts := "login", "/api/auth/login", fmt.Sprintf(`{"email":"flut-%s-%d@example.org","password":"falsch falsch"}`, run, i), res.Logins
				if (i / *clients)%2 == 1 { // every address sends both, in turns
					kind, path, counts = "registration", "/api/auth/register", res.Registrations
					body = fmt.Sprintf(`{"name":"Flut %d","address":"Flutweg %d","lat":51.34,"lon":12.37,"email":"flut-%s-%d@example.org","password":"ein neues langes Passwort %d"}`, i, i, run, i, i)
				}
				req, err := http.NewRequest("POST", *target+path, strings.NewReader(body))
				check(err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", from)
				status, code := 0, ""
				if r, err := client.Do(req); err == nil {
					var e struct {
						Error struct{ Code string } `json:"error"`
					}
					_ = json.NewDecoder(r.Body).Decode(&e)
					_, _ = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					status, code = r.StatusCode, e.Error.Code
				}
				mu.Lock()
				counts[status]++
				if status >= 400 {
					res.Codes[fmt.Sprintf("%s %d %s", kind, status, code)]++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	res.Took = time.Since(start)
	<-readsDone
	res.Late = int(late.Load())
	w := bufio.NewWriter(os.Stdout)
	check(json.NewEncoder(w).Encode(res))
	check(w.Flush())
}
