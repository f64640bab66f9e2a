package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
)

// benchFlood: what a flood of bad logins and writes does to the instance, against the same
// instance idle. The flood comes from a separate process (`wgbench _flood`) over loopback; it
// probes /readyz all along. The instance's memory is this process's resident set (the instance
// runs in it; PostgreSQL's processes are not counted).
//
// Phases, each -duration long:
//  1. idle: /readyz probed alone;
//  2. one client: 32 connections from 127.0.0.1, half bad logins, half writes of one resident:
//     the limits per address and per account let their burst and rate through;
//  3. many clients: 32 connections over 64 loopback addresses, bad logins only: the limits per
//     address let 64 times as much through, and the pool of hashers is what bounds memory;
//  4. the same with 128 connections: more than the queue before the hashers holds, so some are
//     answered 503 busy;
//  5. unprotected, for comparison: phase 3 against a second instance on the same database with
//     the limits off and a hasher for every request (as before the pool). Run last, since its
//     memory is not given back at once.
func benchFlood(ctx context.Context, e *env, cfg config) {
	log.Printf("flood: %s per phase", cfg.duration)
	dur := cfg.duration
	// The resident whose session the writes use.
	cookie := floodSession(e.url, "bench@example.org", "bench password")

	type phase struct {
		name string
		res  floodResult
		rss  rssPeak
	}
	used := 0 // loopback addresses used so far: each phase's clients start with full buckets
	run := func(name, target string, conns, sources int, writes bool) phase {
		sample := sampleRSS()
		res := runFlood(target, dur, conns, used, sources, writes, cookie)
		if sources > 1 {
			used += sources
		}
		return phase{name, res, sample()}
	}
	idle := run("idle", e.url, 0, 1, false)
	one := run("one client: 32 connections, bad logins + writes", e.url, 32, 1, true)
	many := run("64 clients: 32 connections, bad logins", e.url, 32, 64, false)
	crowd := run("64 clients: 128 connections, bad logins", e.url, 128, 64, false)

	// The instance as it was: no limits, no bound on hashing at once.
	unprotected, stop := serveInstance(ctx, instance.Config{
		DB:         instance.DBConfig{URL: e.dbURL, MaxConns: 20},
		RateLimits: httpapi.RateLimits{Off: true},
		CaptchaOff: true,
		Accounts:   account.Options{Hashers: 1 << 20, HashQueue: 1},
	})
	without := run("64 clients, unprotected (no limits, no pool)", unprotected, 32, 64, false)
	stop()

	fmt.Printf("## Flood of bad logins and writes\n\n")
	fmt.Printf("Each phase %s; the flood from a separate process over loopback; /readyz probed every 20 ms throughout. "+
		"RSS: the instance's process (PostgreSQL not counted), sampled every 20 ms. Default limits; %d hasher(s), %d requests waiting at most.\n\n",
		dur, account.DefaultHashers(), 32*account.DefaultHashers())
	fmt.Println("| phase | RSS before → peak | /readyz p50 | p99 | max | logins: 401 / 429 / 503 | writes: 2xx / 429 |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|")
	for _, p := range []phase{idle, one, many, crowd, without} {
		h := sortDurations(p.res.Healthz)
		fmt.Printf("| %s | %d → **%d MB** | %s | **%s** | %s | %d / %d / %d | %d / %d |\n", p.name, p.rss.before>>20, p.rss.peak>>20,
			ms(percentile(h, 0.5)), ms(percentile(h, 0.99)), ms(percentile(h, 1)),
			p.res.Logins[401], p.res.Logins[429], p.res.Logins[503], p.res.Writes[201], p.res.Writes[429])
	}
	fmt.Println()
	expect := func(r httpapi.Rule, clients int) int {
		return clients * (r.Burst + int(dur/r.Every))
	}
	lr, wr := defaultRule(httpapi.ClassLogin, httpapi.PerIP), defaultRule(httpapi.ClassWrite, httpapi.PerAccount)
	fmt.Printf("What got through against what the limits allow (burst + rate × %s, per client):\n\n", dur)
	fmt.Printf("- one client, logins (%d at once, one per %s): %d answered, %d allowed\n", lr.Burst, lr.Every,
		one.res.Logins[401]+one.res.Logins[503], expect(lr, 1))
	fmt.Printf("- one client, writes of one account (%d at once, one per %s): %d answered, %d allowed\n", wr.Burst, wr.Every,
		one.res.Writes[201], expect(wr, 1))
	for _, p := range []phase{many, crowd} {
		fmt.Printf("- %s: %d checked (401) and %d refused busy (503), %d allowed by the limits\n",
			p.name, p.res.Logins[401], p.res.Logins[503], expect(lr, 64))
	}
	fmt.Println()
}

// floodSession logs in and returns the session cookie.
func floodSession(base, email, password string) string {
	res, err := http.Post(base+"/api/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	check(err)
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "wg_session" {
			return c.Value
		}
	}
	log.Fatalf("flood: login as %s: %s", email, res.Status)
	return ""
}

type rssPeak struct{ before, peak int64 }

// sampleRSS samples this process's resident set every 20 ms until the returned function is
// called, which returns the first sample and the peak.
func sampleRSS() func() rssPeak {
	var p rssPeak
	p.before = rss()
	p.peak = p.before
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.peak = max(p.peak, rss())
			}
		}
	}()
	return func() rssPeak {
		close(stop)
		<-done
		return p
	}
}

// rss is this process's resident set in bytes (Linux).
func rss() int64 { return processRSS(os.Getpid()) }

type floodResult struct {
	Logins  map[int]int
	Writes  map[int]int
	Healthz []time.Duration
}

// runFlood runs `wgbench _flood` against target and returns what it saw.
func runFlood(target string, d time.Duration, conns, first, sources int, writes bool, cookie string) floodResult {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_flood", "-target", target, "-duration", d.String(), "-conns", fmt.Sprint(conns),
		"-first", fmt.Sprint(first), "-sources", fmt.Sprint(sources), "-writes="+fmt.Sprint(writes), "-cookie", cookie)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	check(err)
	var res floodResult
	check(json.Unmarshal(out, &res))
	return res
}

// runFlooder is `wgbench _flood`: conns workers send bad logins (and, with -writes, half of
// them writes) to target for -duration, each from one of -sources loopback addresses
// (127.0.0.2 and up, after -first, or 127.0.0.1 alone), while one more connection probes /readyz every 20 ms.
// It prints a floodResult.
func runFlooder(args []string) {
	fs := flag.NewFlagSet("_flood", flag.ExitOnError)
	target := fs.String("target", "", "the instance's base URL")
	d := fs.Duration("duration", 10*time.Second, "how long")
	conns := fs.Int("conns", 32, "concurrent connections")
	sources := fs.Int("sources", 1, "loopback addresses to send from")
	first := fs.Int("first", 0, "with -sources > 1: skip this many addresses")
	writes := fs.Bool("writes", false, "half the connections write instead of logging in")
	cookie := fs.String("cookie", "", "session for the writes")
	check(fs.Parse(args))
	from := func(i int) *http.Client {
		ip := net.IPv4(127, 0, 0, 1)
		if *sources > 1 {
			n := *first + i%*sources + 2
			ip = net.IPv4(127, 0, byte(n>>8), byte(n&0xff))
		}
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
		return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 1}}
	}
	var (
		logins, knotenWrites = newTally(), newTally()
		healthz              []time.Duration
		probed               = make(chan struct{})
		seq                  atomic.Int64
		finish               = time.Now().Add(*d)
	)
	go func() {
		defer close(probed)
		c := from(0)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for time.Now().Before(finish) {
			<-t.C
			start := time.Now()
			r, err := c.Get(*target + "/readyz")
			if err != nil {
				log.Fatalf("readyz: %v", err)
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			healthz = append(healthz, time.Since(start))
		}
	}()
	sendAll(*conns, from, func(worker int) (*http.Request, *tally) {
		if !time.Now().Before(finish) {
			return nil, nil
		}
		path, body, counts := "/api/knoten", `{"type":"idee","title":"Flut","lat":51.34,"lon":12.37}`, knotenWrites
		if !*writes || worker%2 == 0 {
			// Every login to another address: the lockout (which counts per address) stays out of it, so
			// what is measured is the limits by client and the hashers.
			path, body, counts = "/api/auth/login", fmt.Sprintf(`{"email":"flut%d@example.org","password":"falsch falsch"}`, seq.Add(1)), logins
		}
		req, err := http.NewRequest("POST", *target+path, strings.NewReader(body))
		check(err)
		req.Header.Set("Content-Type", "application/json")
		if *cookie != "" {
			req.AddCookie(&http.Cookie{Name: "wg_session", Value: *cookie})
		}
		return req, counts
	})
	<-probed
	res := floodResult{Logins: logins.counts, Writes: knotenWrites.counts, Healthz: healthz}
	w := bufio.NewWriter(os.Stdout)
	check(json.NewEncoder(w).Encode(res))
	check(w.Flush())
}
