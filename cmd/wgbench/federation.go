package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
)

// benchFederation: signed inbox POSTs accepted per second against raw RSA verification, and
// the fan-out of one activity to many follower inboxes against raw RSA signing. Both raw
// baselines run on every core, as the server does.
func benchFederation(ctx context.Context, e *env, cfg config) {
	benchFanOutHosts(ctx, e, cfg) // first: its followers are the only ones
	benchInbox(ctx, e, cfg)
	benchFanOut(ctx, e, cfg)
}

// remoteServer is a stand-in Fediverse server on its own loopback address: it serves the
// actor (with the key) the inbox measurement signs as.
type remoteServer struct {
	url string
	key *rsa.PrivateKey
	srv *http.Server
}

func startRemote(addr string) *remoteServer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	check(err)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	ln, err := net.Listen("tcp", addr)
	check(err)
	r := &remoteServer{url: "http://" + ln.Addr().String(), key: key}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name, ok := strings.CutPrefix(req.URL.Path, "/users/")
		if !ok || !strings.HasPrefix(name, "bench") {
			http.NotFound(w, req)
			return
		}
		actor := r.url + req.URL.Path
		w.Header().Set("Content-Type", "application/activity+json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
			"id":       actor, "type": "Person", "preferredUsername": name,
			"inbox": actor + "/inbox", "outbox": actor + "/outbox",
			"publicKey": map[string]string{"id": actor + "#main-key", "owner": actor, "publicKeyPem": pemText},
		})
	})}
	go r.srv.Serve(ln)
	return r
}

func (r *remoteServer) close() { _ = r.srv.Close() }

// benchInbox posts n signed replies to an Antrag (each becomes a public comment) from a
// separate load-generator process over concurrent keep-alive connections. The requests are
// signed beforehand: signing is the sender's cost, not ours.
func benchInbox(ctx context.Context, e *env, cfg config) {
	n := cfg.inboxRequests
	remote := startRemote("127.0.0.2:0")
	defer remote.close()
	inbox := e.url + "/ap/inbox"
	a, err := e.inst.Antraege.File(ctx, e.verifiedResident(ctx), antrag.Filing{Title: "Inbox"})
	check(err)
	antragIRI := e.inst.Federation.AntragIRI(a.ID)
	log.Printf("federation: signing %d inbox requests", n)

	// From benchActors people of one remote server (sharing one key pair), as replies to an
	// Antrag come; each person's activities are processed in order, one at a time.
	const benchActors = 100
	reqs := make([]preparedRequest, n+benchActors)
	var wg sync.WaitGroup
	var next atomic.Int64
	now := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(reqs); i = int(next.Add(1) - 1) {
				actor := fmt.Sprintf("%s/users/bench%d", remote.url, i%benchActors)
				note := fmt.Sprintf("%s/statuses/%d", actor, i)
				body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
					"id": note + "/activity", "type": "Create", "actor": actor,
					"to": []string{"https://www.w3.org/ns/activitystreams#Public"},
					"object": map[string]any{"id": note, "type": "Note", "attributedTo": actor, "inReplyTo": antragIRI,
						"content": fmt.Sprintf("<p>Antwort Nummer %d: <strong>dafür</strong>, wenn es leise bleibt.</p>", i),
						"to":      []string{"https://www.w3.org/ns/activitystreams#Public"}}})
				r, _ := http.NewRequest(http.MethodPost, inbox, nil)
				r.Header.Set("Content-Type", "application/activity+json")
				check(httpsig.Sign(r, body, actor+"#main-key", remote.key, now))
				reqs[i] = preparedRequest{Body: body, Header: r.Header}
			}
		}()
	}
	wg.Wait()

	// A first request from each actor fetches and caches its key; the measurement runs with
	// them cached.
	for _, r := range reqs[n:] {
		warm, err := http.NewRequestWithContext(ctx, http.MethodPost, inbox, bytes.NewReader(r.Body))
		check(err)
		warm.Header = r.Header
		res, err := http.DefaultClient.Do(warm)
		check(err)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			log.Fatalf("inbox answered %d", res.StatusCode)
		}
	}
	awaitJobs(ctx, e, "federation_inbox")

	const conns = 64
	// Baselines in the same run, over the same connections with the same requests, by servers
	// in this process: one that only reads the body and answers 202 (what any HTTP endpoint
	// costs), and one that also verifies the signature with the key at hand (what the
	// verification costs on top). The instance's cost above the second is its own work: the
	// checks, the lookups and the durable write.
	host := strings.TrimPrefix(e.url, "http://")
	httpOnly := baselineInbox(ctx, reqs[:n], conns, host, nil)
	withVerify := baselineInbox(ctx, reqs[:n], conns, host, func(r *http.Request, body []byte) error {
		_, err := httpsig.Verify(r.Context(), r, body, host, time.Now(), 0, func(_ context.Context, keyID string, _ bool) (crypto.PublicKey, string, error) {
			owner, _, _ := strings.Cut(keyID, "#")
			return &remote.key.PublicKey, owner, nil
		})
		return err
	})
	log.Printf("federation: posting %d signed activities from %d connections", n, conns)
	p := startPoster(reqs[:n], inbox, "", conns)
	// The accepting is measured alone: the background processing waits until it is done.
	river := e.inst.Jobs.Client()
	err = river.QueuePause(ctx, "federation_inbox", nil)
	check(err)
	time.Sleep(200 * time.Millisecond)                     // the pause reaches the queue's producer
	if path := os.Getenv("WG_INBOX_PROFILE"); path != "" { // a profile of the accepting phase alone
		pprof.StopCPUProfile()
		f, err := os.Create(path)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	cpu0 := sampleCPU()
	result := p.fire()
	cpuAccepted := sampleCPU().since(cpu0)
	if os.Getenv("WG_INBOX_PROFILE") != "" {
		pprof.StopCPUProfile()
	}
	if result.Statuses[http.StatusAccepted] != n {
		log.Fatalf("the inbox answered %v to %d signed activities", result.Statuses, n)
	}
	var jobs int
	check(e.inst.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'federation_inbox' AND state = 'available'`).Scan(&jobs))
	cpu1, started := sampleCPU(), time.Now()
	err = river.QueueResume(ctx, "federation_inbox", nil)
	check(err)
	awaitJobs(ctx, e, "federation_inbox")
	processed := time.Since(started)
	cpuProcessed := sampleCPU().since(cpu1)
	var comments int
	check(e.inst.Pool.QueryRow(ctx, `SELECT count(*) FROM antrag_kommentare WHERE antrag_id = $1`, a.ID).Scan(&comments))
	if comments != n+benchActors {
		log.Fatalf("%d replies became %d comments", n+benchActors, comments)
	}

	// Raw: RSA-2048 PKCS#1 v1.5 verification of a SHA-256 digest, alone on one thread and on
	// every core.
	digest := sha256.Sum256(reqs[0].Body)
	sig, err := rsa.SignPKCS1v15(nil, remote.key, crypto.SHA256, digest[:])
	check(err)
	verify := func() {
		if rsa.VerifyPKCS1v15(&remote.key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			log.Fatal("raw verify failed")
		}
	}
	rawCPU := cpuPerOp(verify)
	rawRate := parallelRate(result.Elapsed, verify)

	rate := float64(n) / result.Elapsed.Seconds()
	fmt.Printf("## Federation: signed inbox\n\n")
	fmt.Printf("%d signed `Create{Note}` replies to an Antrag (about %d bytes each) POSTed to the shared inbox by a separate load-generator process over %d keep-alive connections from %d people of one remote server (signed beforehand; each sender's key cached after a first request). Accepting is each request verified (Digest, Date, RSA signature, key owner = actor on the same host), deduplicated by id and stored durably with its processing job (group commit: %d jobs for the %d activities) before the 202. Processing (in the background; here held back until all were accepted, then measured on its own) turns each into a public comment (all %d checked).\n\n",
		n, len(reqs[0].Body), conns, benchActors, jobs, n, n)
	fmt.Printf("| | per second | CPU per request | × raw verify |\n|---|---:|---:|---:|\n")
	fmt.Printf("| raw `rsa.VerifyPKCS1v15` | %.0f (all cores) | %s (one thread) | 1.00× |\n", rawRate, us(rawCPU))
	perReq := func(c cpuSample) string {
		if !c.pgKnown {
			return fmt.Sprintf("%s (server; PostgreSQL not counted)", us(c.self/time.Duration(n)))
		}
		return fmt.Sprintf("%s (server %s + PostgreSQL %s)", us(c.total()/time.Duration(n)), us(c.self/time.Duration(n)), us(c.pg/time.Duration(n)))
	}
	ratio := func(c cpuSample) float64 { return float64(c.total()) / float64(n) / float64(rawCPU) }
	fmt.Printf("| inbox, accepted (202) | %.0f | %s | **%.2f×** |\n", rate, perReq(cpuAccepted), ratio(cpuAccepted))
	fmt.Printf("| processing into comments (background) | %.0f | %s | %.2f× |\n\n", float64(n)/processed.Seconds(), perReq(cpuProcessed), ratio(cpuProcessed))
	fmt.Printf("Accepting throughput against the raw verify rate on all cores: %.2f× the time per request (the load generator shares the 2 cores).\n\n", rawRate/rate)

	// The split of an accepted activity's CPU, against the baselines measured above.
	base := func(c cpuSample) time.Duration { return c.self / time.Duration(n) }
	full := cpuAccepted.total() / time.Duration(n)
	fmt.Printf("Where an accepted activity's CPU goes, against baselines in this run (same requests, connections and load generator; the baselines are servers in the instance's process):\n\n")
	fmt.Printf("| | per second | CPU per request | × HTTP only |\n|---|---:|---:|---:|\n")
	fmt.Printf("| HTTP only: read the body, answer 202 | %.0f | %s | 1.00× |\n", float64(n)/httpOnly.elapsed.Seconds(), us(base(httpOnly.cpu)))
	fmt.Printf("| HTTP + signature verified (Digest, Date, Host, RSA; key at hand) | %.0f | %s | %.2f× |\n", float64(n)/withVerify.elapsed.Seconds(), us(base(withVerify.cpu)), float64(base(withVerify.cpu))/float64(base(httpOnly.cpu)))
	fmt.Printf("| inbox, accepted (202) | %.0f | %s | **%.2f×** |\n\n", rate, perReq(cpuAccepted), float64(full)/float64(base(httpOnly.cpu)))
	fmt.Printf("Split: HTTP %s, verification %s, the instance's own work on the server (decoding, checks, key and block lookups, handing to the group commit) %s, PostgreSQL (the durable write) %s; total %s.\n\n",
		us(base(httpOnly.cpu)), us(base(withVerify.cpu)-base(httpOnly.cpu)), us(cpuAccepted.self/time.Duration(n)-base(withVerify.cpu)), us(cpuAccepted.pg/time.Duration(n)), us(full))
}

type baselineResult struct {
	elapsed time.Duration
	cpu     cpuSample
}

// baselineInbox serves reqs from a plain net/http server in this process that reads each body
// (with the inbox's size limit), runs verify on it if given, and answers 202; it returns the
// time and this process's CPU for all of them.
func baselineInbox(ctx context.Context, reqs []preparedRequest, conns int, host string, verify func(*http.Request, []byte) error) baselineResult {
	ln, err := net.Listen("tcp", "127.0.0.4:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, federation.MaxInboxBytes))
		if err == nil && verify != nil {
			err = verify(r, body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	p := startPoster(reqs, "http://"+ln.Addr().String()+"/ap/inbox", host, conns)
	cpu0 := sampleCPU()
	res := p.fire()
	cpu := sampleCPU().since(cpu0)
	if res.Statuses[http.StatusAccepted] != len(reqs) {
		log.Fatalf("the baseline answered %v to %d requests", res.Statuses, len(reqs))
	}
	return baselineResult{elapsed: res.Elapsed, cpu: cpu}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

// benchFanOut: followers on one remote server, each with its own inbox (no shared inbox, so
// one delivery per follower); a new Antrag is the Group's Announce to each. The receiving
// server runs as a process of its own (`wgbench _receive`), as a remote server would, so that
// the instance's CPU per delivery can be told apart from it.
func benchFanOut(ctx context.Context, e *env, cfg config) {
	n := cfg.followers
	want := n
	recv := startReceiver("127.0.0.3:0", want)
	host := recv.url[len("http://"):]
	now := time.Now()
	rows := make([][]any, n)
	fRows := make([][]any, n)
	for i := range n {
		iri := fmt.Sprintf("%s/users/f%d", recv.url, i)
		rows[i] = []any{iri, host, "Person", iri + "/inbox", now}
		fRows[i] = []any{"ortsweberei", iri, iri + "#follow", now}
	}
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"ap_actors"}, []string{"iri", "host", "type", "inbox", "fetched_at"}, pgx.CopyFromRows(rows))
	check(err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"ap_followers"}, []string{"local", "follower", "follow_id", "created_at"}, pgx.CopyFromRows(fRows))
	check(err)
	conn.Release()

	applicant := e.verifiedResident(ctx)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	digest := sha256.Sum256([]byte("fan-out"))
	sign := func() {
		_, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		check(err)
	}
	// This VM's speed drifts by a tenth and more within a minute: each round's fan-out is
	// compared with the raw signing measured right before and right after it, and the median
	// round is reported.
	const rounds = 3
	type round struct {
		rate, raw, ours, rawCPU float64
		self, pg                time.Duration // per delivery
		receiverShare           float64       // of all cores, from filing to the last arrival
		first, spread           time.Duration
	}
	var all []round
	for i := range rounds {
		rawBefore, cpuBefore := parallelRate(2*time.Second, sign), cpuPerOp(sign)
		log.Printf("federation: fan-out %d of %d: a new Antrag to %d followers (%d deliveries)", i+1, rounds, n, want)
		if path := os.Getenv("WG_FANOUT_PROFILE"); path != "" && i == 0 { // a profile of one fan-out
			f, err := os.Create(path)
			check(err)
			check(pprof.StartCPUProfile(f))
		}
		start, cpu0, recv0 := time.Now(), sampleCPU(), processCPU(recv.cmd.Process.Pid)
		_, err = e.inst.Antraege.File(ctx, applicant, antrag.Filing{Title: fmt.Sprintf("Fan-out %d", i)})
		check(err)
		res := recv.wait()
		cpu := sampleCPU().since(cpu0)
		recvCPU, elapsed := processCPU(recv.cmd.Process.Pid)-recv0, time.Since(start)
		if os.Getenv("WG_FANOUT_PROFILE") != "" && i == 0 {
			pprof.StopCPUProfile()
		}
		rawAfter, cpuAfter := parallelRate(2*time.Second, sign), cpuPerOp(sign)
		spread := time.Duration(res.Last - res.First)
		all = append(all, round{
			rate: float64(want-1) / spread.Seconds(), raw: (rawBefore + rawAfter) / 2,
			ours: float64(cpu.total()) / float64(want), rawCPU: float64(cpuBefore+cpuAfter) / 2,
			self: cpu.self / time.Duration(want), pg: cpu.pg / time.Duration(want),
			receiverShare: recvCPU.Seconds() / (elapsed.Seconds() * float64(runtime.GOMAXPROCS(0))),
			first:         time.Duration(res.First - start.UnixNano()), spread: spread,
		})
	}
	recv.stop()
	slices.SortFunc(all, func(a, b round) int { return cmp.Compare(a.rate/a.raw, b.rate/b.raw) })
	m := all[len(all)/2]
	var ratios []string
	for _, r := range all {
		ratios = append(ratios, fmt.Sprintf("%.2f×", r.rate/r.raw))
	}
	fmt.Printf("## Federation: delivery fan-out\n\n")
	fmt.Printf("A new Antrag delivered to %d followers with an inbox each on one server (the Ortsweberei's `Announce` to each inbox: %d POSTs, each signed on its own), to a receiving server in a process of its own on the same machine that answers 202 without checking. The rate is from the first delivery's arrival to the last; before the first, the delivery follower saw the event, made the new Antrag actor's keys (RSA-2048) and queued the jobs: %s. The CPU per delivery is the instance's process and its PostgreSQL from filing to the last arrival. %d rounds, each against raw signing measured right before and after it; the median round is shown (all rounds: %s).\n\n",
		n, want, m.first.Round(time.Millisecond), rounds, strings.Join(ratios, ", "))
	fmt.Printf("| | per second | relative rate | CPU per delivery | relative cost |\n|---|---:|---:|---:|---:|\n")
	fmt.Printf("| raw `rsa.SignPKCS1v15`, all cores | %.0f | 1.00× | %s (one thread) | 1.00× |\n", m.raw, us(time.Duration(m.rawCPU)))
	fmt.Printf("| deliveries (%d in %s) | %.0f | **%.2f×** | %s (server %s + PostgreSQL %s) | **%.2f×** |\n\n", want, m.spread.Round(time.Millisecond), m.rate, m.rate/m.raw,
		us(time.Duration(m.ours)), us(m.self), us(m.pg), m.rawCPU/m.ours)
	fmt.Printf("The receiving server's process used %.1f %% of the %d cores from filing to the last arrival.\n\n", 100*m.receiverShare, runtime.GOMAXPROCS(0))
}

// receiver is the fan-out's receiving server, a child process.
type receiver struct {
	url string
	cmd *exec.Cmd
	out *bufio.Reader
}

type receiveResult struct {
	Received int   `json:"received"`
	First    int64 `json:"first_ns"`
	Last     int64 `json:"last_ns"`
}

func startReceiver(addr string, want int) *receiver {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_receive", "-addr", addr, "-want", fmt.Sprint(want))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	r := &receiver{cmd: cmd, out: bufio.NewReader(stdout)}
	line, err := r.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		log.Fatalf("receiver: %q %v", line, err)
	}
	r.url = strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	return r
}

// wait returns when the receiver has had the next round of POSTs it was told to expect.
func (r *receiver) wait() receiveResult {
	var res receiveResult
	line, err := r.out.ReadString('\n')
	check(err)
	check(json.Unmarshal([]byte(line), &res))
	return res
}

func (r *receiver) stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// runReceiver is `wgbench _receive`: an HTTP server that answers every POST with 202 and,
// each time it has had -want more of them, prints when the first and the last of those arrived.
func runReceiver(args []string) {
	fs := flag.NewFlagSet("_receive", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.3:0", "address to listen on")
	want := fs.Int64("want", 1, "POSTs in a round")
	check(fs.Parse(args))
	ln, err := net.Listen("tcp", *addr)
	check(err)
	var mu sync.Mutex
	var received, first int64
	rounds := make(chan receiveResult, 16)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.NotFound(w, req)
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		now := time.Now().UnixNano()
		w.WriteHeader(http.StatusAccepted)
		mu.Lock()
		defer mu.Unlock()
		if first == 0 {
			first = now
		}
		if received++; received == *want {
			rounds <- receiveResult{Received: int(received), First: first, Last: now}
			received, first = 0, 0
		}
	}))
	fmt.Printf("ready http://%s\n", ln.Addr())
	for r := range rounds {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
}

// parallelRate runs op on every core for about d and returns operations per second.
func parallelRate(d time.Duration, op func()) float64 {
	d = max(d, 2*time.Second)
	var ops atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				op()
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(ops.Load()) / time.Since(start).Seconds()
}

// awaitJobs waits until no job of the kind is left to work.
func awaitJobs(ctx context.Context, e *env, kind string) {
	for {
		var left int
		check(e.inst.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`, kind).Scan(&left))
		if left == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
