package main

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
)

// benchEdgeCaptcha: the seed's SLO "Bot-Registrierungen < 1 % (nach Captcha + Rate-limit)".
// The edge flood's instance with the captcha on (its default: ALTCHA, maxnumber 200,000), two
// rounds, each against a fresh instance (full buckets), -edge-clients addresses, -edge-duration:
//
//   - bare: -edge-requests/2 registrations at an even pace from bots that do not solve it — half
//     send no solution, half replay one solution solved once;
//   - solve: one bot per CPU of this machine, each fetching a challenge, solving it in Go as the
//     widget does (SHA-256(salt+n) for n = 0, 1, …) and registering, as fast as it can.
//
// Then what one challenge costs: the bot's CPU to solve it against the server's to issue,
// check and spend it, each on one thread.
func benchEdgeCaptcha(ctx context.Context, e *env, cfg config) {
	type round struct {
		name    string
		clients int
		res     edgeResult
		cpu     cpuSample
		load    string
	}
	run := func(name, mode string, requests, clients int) round {
		target, stop := serveInstance(ctx, edgeConfig(e, true))
		defer stop()
		r := round{name: name, clients: clients, load: loadAverage()}
		before := sampleCPU()
		r.res = runEdgeFlood(target, mode, cfg.edgeDuration, requests, clients)
		r.cpu = sampleCPU().since(before)
		return r
	}
	few := max(cfg.edgeClients/10, 1)
	rounds := []round{
		run("do not solve (none, or one solution replayed)", floodBare, cfg.edgeRequests/2, cfg.edgeClients),
		run("solve every challenge (one bot per CPU)", floodSolve, 0, cfg.edgeClients),
		run(fmt.Sprintf("the same from %d addresses", few), floodSolve, 0, few),
	}
	issue, solve, verify, spend := captchaCosts(ctx, e, 100)

	rr := defaultRule(httpapi.ClassRegister, httpapi.PerIP)
	fmt.Printf("## Bot registrations with the captcha on\n\n")
	fmt.Printf("The flood's instance with the captcha at its default (maxnumber %d), default limits (registrations that act: %d at once, "+
		"then one per %s, per address). Each round %s against a fresh instance (full buckets); the bots in a separate process "+
		"on this machine's %d CPU(s), shared with the instance, PostgreSQL and whatever else runs here.\n\n",
		captcha.DefaultMaxNumber, rr.Burst, rr.Every, cfg.edgeDuration, runtime.NumCPU())
	fmt.Println("| bots | addresses | load average (1, 5, 15 min) | registrations sent | challenges solved | let through (202) | share of those sent | the limits allow | read p95 |")
	fmt.Println("|---|--:|---|--:|--:|--:|--:|--:|--:|")
	for _, r := range rounds {
		sent, ok := sum(r.res.Registrations), r.res.Registrations[202]
		h := sortDurations(r.res.Reads)
		fmt.Printf("| %s | %d | %s | %d | %d | **%d** | **%.2f %%** | %d | %s |\n", r.name, r.clients, r.load, sent, r.res.Solved, ok,
			100*float64(ok)/float64(max(sent, 1)), r.clients*(rr.Burst+int(cfg.edgeDuration/rr.Every)), ms(percentile(h, 0.95)))
	}
	fmt.Println()
	for _, r := range rounds {
		fmt.Printf("- %s: refusals %v; CPU per registration sent: the bots %s (solving and HTTP), the instance %s (its process and PostgreSQL; "+
			"hashing the accepted ones' passwords included)\n", r.name, r.res.Codes, usms(per(r.res.CPU, sum(r.res.Registrations))),
			usms(per(r.cpu.total(), sum(r.res.Registrations))))
	}
	fmt.Printf("\nOne challenge, CPU time on one thread: the server issues it in %s and checks a solution in %s (signature, expiry, "+
		"and one SELECT for whether it was spent, PostgreSQL's share not counted; means of 10,000), "+
		"and spends it in %s (one INSERT; wall time, PostgreSQL's share included); a bot solves it in **%s** (mean of 100) — "+
		"%.0f× the server's issue and check.\n\n", usms(issue), usms(verify), usms(spend), usms(solve), float64(solve)/float64(max(issue+verify, 1)))
}

// usms says a duration in microseconds (one decimal), or in milliseconds from 1 ms on.
func usms(d time.Duration) string {
	if d >= time.Millisecond {
		return ms(d)
	}
	return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000)
}

func per(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// captchaCosts measures n challenges (the server's side n×100 times) on this goroutine's thread: issuing, solving, checking
// (CPU time of the thread) and spending (wall time: a database round trip).
func captchaCosts(ctx context.Context, e *env, n int) (issue, solve, verify, spend time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	svc := captcha.New(e.inst.Pool, e.inst.Clock, captcha.Options{})
	_, err := svc.NewChallenge(ctx) // reads the key once
	check(err)
	// The server's side is microseconds: measured over reps rounds, so that the thread's CPU
	// time, which the kernel counts in ticks, has something to count.
	mean := func(reps int, f func(i int)) time.Duration {
		t0 := threadCPU()
		for range reps {
			for i := range n {
				f(i)
			}
		}
		return ((threadCPU() - t0) / time.Duration(reps*n)).Round(time.Microsecond / 10)
	}
	chs := make([]captcha.Challenge, n)
	payloads := make([]string, n)
	solved := make([]captcha.Solved, n)
	issue = mean(100, func(i int) { chs[i], err = svc.NewChallenge(ctx); check(err) })
	solve = mean(1, func(i int) { payloads[i], err = captcha.Solve(chs[i]); check(err) })
	verify = mean(100, func(i int) { solved[i], err = svc.Check(ctx, payloads[i]); check(err) })
	t0 := time.Now()
	for i := range n {
		check(svc.Spend(ctx, solved[i]))
	}
	spend = (time.Since(t0) / time.Duration(n)).Round(time.Microsecond)
	return issue, solve, verify, spend
}

// threadCPU is the calling thread's user and system time (Linux RUSAGE_THREAD; the caller
// locks its goroutine to the thread).
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	check(syscall.Getrusage(rusageThread, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
