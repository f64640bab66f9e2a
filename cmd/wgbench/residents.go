package main

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// residentsConfig is the phase-gate measurement's (flags -residents-…).
type residentsConfig struct {
	counts   []int         // residents per run
	rounds   int           // runs of each count
	duration time.Duration // the measured phase
	think    time.Duration // mean think time
	ramp     time.Duration // arrivals spread over it; 0: N/200 s, at least 2 s
	replicas []int         // replica counts, each a series of its own
	knoten   int           // Knoten on the map before the first run
	profile  string        // CPU profiles of the replicas during the largest count's first run: PREFIX-<replicas>r-<i>.pprof
	// keys: make each resident's federation keys before the first run (makeKeys); without,
	// a resident's first vote makes them during a run.
	keys bool
	// The go test's: a small town, every action in turn, the report once every resident has
	// acted minActions times, and everything in this process.
	box        [4]float64
	cycle      bool
	minActions int
	inProcess  bool
}

// residentsRun is one run of one count.
type residentsRun struct {
	N, Replicas, Round int
	Ready              residentsReady
	Report             residentsReport
	CPU                map[string]time.Duration // over the measured phase
	Memory             map[string]int64         // bytes, at its end
	Load               [2]string                // load averages before the residents came and after the phase
	Seconds            float64
}

// benchResidents: the seed's phase gates as a benchmark (docs/BENCHMARKS.md, "Phase gates").
// N residents (residentsgen.go) through nginx — the production template, rendered by
// internal/nginxrtmp as in the livestream measurement — to one or more replicas on one
// PostgreSQL. It makes a database of its own for the series and drops it afterwards.
func benchResidents(ctx context.Context, adminURL string, rc residentsConfig) []residentsRun {
	dbName := fmt.Sprintf("wgbench_residents_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, adminURL)
	check(err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+dbName)
	check(err)
	conn.Close(ctx)
	defer func() {
		if conn, err := pgx.Connect(ctx, adminURL); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}()
	dbURL := withDatabase(adminURL, dbName)
	snapshotDir, err := os.MkdirTemp("", "wgbench-residents-snapshots-")
	check(err)
	defer os.RemoveAll(snapshotDir)
	planDir, err := os.MkdirTemp("", "wgbench-residents-")
	check(err)
	defer os.RemoveAll(planDir)

	fx := residentsFixture(ctx, dbURL, snapshotDir, rc)

	var runs []residentsRun
	for _, k := range rc.replicas {
		bt := newBenchT()
		var reps []*replica
		for range k {
			reps = append(reps, startReplica(ctx, dbURL, snapshotDir, rc.inProcess))
		}
		maxN := slices.Max(rc.counts)
		// Two nginx processes, each the production template as the rig renders it (one
		// process without a master): production runs worker_processes auto, two workers on
		// this machine, sharing the clients. One process would also meet this machine's cap
		// of 20,000 open files per process (no CAP_SYS_RESOURCE here) at 5,000 residents,
		// whose connections — a keep-alive connection, the map socket and often the chat
		// socket each, and the proxied copy of every socket towards a replica — come to
		// about 20,000. worker_connections: each process's share of them, with room.
		var ngx []*streamtest.Nginx
		for range 2 {
			ngx = append(ngx, streamtest.Start(bt, streamtest.Options{Instance: reps[0].addr, Upstreams: addrs(reps),
				WorkerConnections: 3*maxN + 1024, Backlog: 4096}))
		}
		log.Printf("residents: %d replica(s) at %v, nginx at %s and %s", k, addrs(reps), ngx[0].URL, ngx[1].URL)
		if rc.keys && len(runs) == 0 {
			makeKeys(reps[0].addr, maxN)
		}
		for round := range rc.rounds {
			for _, n := range rc.counts {
				run := residentsOnce(fx, reps, ngx, n, round, rc, planDir)
				runs = append(runs, run)
				r := run.Report
				log.Printf("residents: %d replica(s), N=%d, round %d: %d requests, p95 %.0f ms, %d failed, %d dropped sockets; load %s → %s",
					k, n, round+1, r.HTTP.Count, r.HTTP.P95, r.HTTP.Failed, r.Dropped, run.Load[0], run.Load[1])
			}
		}
		bt.cleanup()
		for _, r := range reps {
			r.close()
		}
	}
	return runs
}

// makeKeys has the replica make every resident's federation keys (an RSA-2048 and an Ed25519
// pair, which sign their Stimmen) the way it does on first need: by serving their actor
// document, GET /ap/users/{handle}. Residents who have been around have their keys; the
// benchmark's are new accounts, and without this each one's first vote made an RSA key in
// the measured phase (~0.1 s of CPU each) — at 1,000 residents over half of the replica's
// CPU. The keys are in the database: once per series.
func makeKeys(addr string, n int) {
	t0 := time.Now()
	parallel(n, 2, func(i int) {
		res, err := http.Get(fmt.Sprintf("http://%s/ap/users/nachbarin-%d", addr, i))
		check(err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			log.Fatalf("residents: the actor of nachbarin-%d: %s", i, res.Status)
		}
	})
	log.Printf("residents: %d residents' federation keys made (%.0f s)", n, time.Since(t0).Seconds())
}

// residentsFixtures is what the runs share: the residents' logins and the open Abstimmungen.
type residentsFixtures struct {
	logins       []residentLogin
	abstimmungen []string
}

// residentsFixture makes the residents (fastResidents) and the town they find: Knoten all over
// it (each with its creator's Faden), open Anträge, and Anträge whose Abstimmung is open; these
// through the services of a fixture instance of its own (not served), as events with their
// projections.
func residentsFixture(ctx context.Context, dbURL, snapshotDir string, rc residentsConfig) residentsFixtures {
	maxN := slices.Max(rc.counts)
	cfg := replicaConfig(dbURL, snapshotDir)
	inst, err := instance.Open(ctx, cfg)
	check(err)
	defer inst.Close()
	t0 := time.Now()
	admin, err := inst.Accounts.CreateAdmin(ctx, "Residents Admin", "residents-admin@example.org", "bench password")
	check(err)
	minLat, minLon, maxLat, maxLon := residentsPlan{Box: rc.box}.town()
	rng := rand.New(rand.NewPCG(18, 18))
	homes := make([]geo.Point, maxN)
	for i := range homes {
		homes[i] = geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
	}
	fx := residentsFixtures{logins: make([]residentLogin, maxN)}
	ids := fastResidents(ctx, inst, admin, homes, fx.logins)
	accounts := make([]account.Account, min(maxN, 60))
	for i := range accounts {
		accounts[i], err = inst.Accounts.Get(ctx, ids[i])
		check(err)
	}
	owners := func(i int) uuid.UUID { return ids[i%maxN] }
	log.Printf("residents: %d residents registered, verified and logged in (%.0f s)", maxN, time.Since(t0).Seconds())

	t0 = time.Now()
	parallel(rc.knoten, 4, func(i int) {
		p := geo.Point{Lat: minLat + rand.Float64()*(maxLat-minLat), Lon: minLon + rand.Float64()*(maxLon-minLon)}
		_, _, err := inst.Knoten.Place(ctx, owners(i), knoten.Placement{Type: "idee", Title: fmt.Sprintf("Idee %d", i), Point: p})
		check(err)
	})
	log.Printf("residents: %d Knoten placed (%.0f s)", rc.knoten, time.Since(t0).Seconds())

	// Open Anträge, filed now; and Anträge filed 15 days ago with an Einspruch, whose deadline
	// (7 days, moved by 7 with the Einspruch) passed a day ago: their Abstimmung opened then
	// and runs for six more days. The services for the past run on a clock 15 days back; the
	// deadline is applied as of now, as the sweep would.
	for i := range 30 {
		_, err := inst.Antraege.File(ctx, accounts[i%len(accounts)], antrag.Filing{Title: fmt.Sprintf("Antrag %d: Bank am Spielplatz", i),
			DetailsMD: "Eine **Bank** im Schatten, für die Großeltern."})
		check(err)
	}
	past := pastClock(15 * 24 * time.Hour)
	kn := knoten.NewService(inst.Pool, past, nil)
	ab := abstimmung.NewService(inst.Pool, past, kn, abstimmung.DefaultDuration)
	an := antrag.NewService(inst.Pool, past, ab, kn)
	var voting []uuid.UUID
	for i := range 20 {
		a, err := an.File(ctx, accounts[i%len(accounts)], antrag.Filing{Title: fmt.Sprintf("Abstimmung %d: Trinkbrunnen am Markt", i),
			DetailsMD: "Ein Brunnen für alle."})
		check(err)
		_, err = an.Object(ctx, accounts[(i+1)%len(accounts)], a.ID, "Zu teuer.")
		check(err)
		voting = append(voting, a.ID)
	}
	check(an.ApplyDeadlines(ctx, time.Now()))
	for _, id := range voting {
		a, err := inst.Antraege.Get(ctx, id)
		check(err)
		if a.AbstimmungID == nil {
			log.Fatalf("residents: Antrag %s has no Abstimmung (status %s)", id, a.Status)
		}
		fx.abstimmungen = append(fx.abstimmungen, a.AbstimmungID.String())
	}
	return fx
}

// fastResidents makes verified residents who are logged in, as many as homes, the way the
// governance measurement makes many accounts fast: the rows written directly rather than
// through Register, Verify and Login, whose two argon2 hashes per resident would take this
// machine ten minutes for 5,000 (the hashes are the edge measurement's subject, not this
// one's). What those write is written all the same, in transactions of 500: the account row
// (home, public position within 250 m, on the map, verified), the events GarnrolleAngelegt and
// GarnrolleVerifiziert, and a session whose token goes into logins.
func fastResidents(ctx context.Context, inst *instance.Instance, admin account.Account, homes []geo.Point, logins []residentLogin) []uuid.UUID {
	ids := make([]uuid.UUID, len(homes))
	for lo := 0; lo < len(homes); lo += 500 {
		check(database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
			now := inst.Clock.Now()
			for i := lo; i < min(lo+500, len(homes)); i++ {
				id := uuid.Must(uuid.NewV7())
				ids[i] = id
				handle, name := fmt.Sprintf("nachbarin-%d", i), fmt.Sprintf("Nachbarin %d", i)
				pos, err := geo.RandomPointWithin(homes[i], account.DefaultRadius)
				check(err)
				cell, err := pos.Cell()
				check(err)
				tx.Defer(`
INSERT INTO accounts (id, handle, name, email, password_hash, is_admin, address, home, position_radius_m, on_map, position,
                      position_h3, created_at, verified_at, verified_by)
VALUES ($1, $2, $3, $4, '-', false, 'Benchstraße 4', point4326($5, $6), $7, true, point4326($8, $9), $10, $11, $11, $12)`,
					id, handle, name, fmt.Sprintf("resident-%d@example.org", i), homes[i].Lon, homes[i].Lat, account.DefaultRadius,
					pos.Lon, pos.Lat, cell, now, admin.ID)
				token := make([]byte, 32)
				_, _ = crand.Read(token)
				logins[i] = residentLogin{Cookie: base64.RawURLEncoding.EncodeToString(token), ID: id.String()}
				hash := sha256.Sum256([]byte(logins[i].Cookie))
				tx.Defer(`INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
					hash[:], id, now, now.Add(account.SessionLifetime))
				p := pos
				if err := eventstore.Append(tx, now,
					account.GarnrolleAngelegt.New(eventstore.Header{Actor: id, Subject: id, Cell: cell},
						account.GarnrolleAngelegtV1{AccountID: id, Handle: handle, Name: name, Position: &p}),
					account.GarnrolleVerifiziert.New(eventstore.Header{Actor: admin.ID, Subject: id},
						account.GarnrolleVerifiziertV1{AccountID: id, VerifiedBy: admin.ID})); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return ids
}

// pastClock is the system clock set back by a fixed offset (the fixture's past).
type pastClock time.Duration

func (p pastClock) Now() time.Time {
	return time.Now().Add(-time.Duration(p)).UTC().Truncate(time.Microsecond)
}

// parallel runs f(0..n-1) on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func withDatabase(adminURL, db string) string {
	u, err := url.Parse(adminURL)
	check(err)
	u.Path = "/" + db
	return u.String()
}

func addrs(reps []*replica) []string {
	var out []string
	for _, r := range reps {
		out = append(out, r.addr)
	}
	return out
}

// residentsOnce is one run: n residents arrive, the phase is measured, they leave.
func residentsOnce(fx residentsFixtures, reps []*replica, ngx []*streamtest.Nginx, n, round int, rc residentsConfig, planDir string) residentsRun {
	run := residentsRun{N: n, Replicas: len(reps), Round: round, CPU: map[string]time.Duration{}, Memory: map[string]int64{}}
	ramp := rc.ramp
	if ramp == 0 {
		ramp = max(2*time.Second, time.Duration(n)*time.Second/200)
	}
	var bases []string
	for _, x := range ngx {
		bases = append(bases, x.URL)
	}
	plan := residentsPlan{Bases: bases, Residents: fx.logins[:n], Abstimmungen: fx.abstimmungen, Think: rc.think, Ramp: ramp,
		Seed: uint64(1000*round + n), Box: rc.box, Cycle: rc.cycle, MinActions: rc.minActions}
	b, err := json.Marshal(plan)
	check(err)
	planFile := filepath.Join(planDir, fmt.Sprintf("plan-%d-%d-%d.json", len(reps), n, round))
	check(os.WriteFile(planFile, b, 0o600))

	run.Load[0] = loadAverage()
	proc, ready := startResidents(planFile, rc.inProcess)
	run.Ready = ready

	procs := map[string]func() time.Duration{
		"nginx":      func() time.Duration { return processCPU(ngx[0].PID()) + processCPU(ngx[1].PID()) },
		"generator":  proc.cpu,
		"PostgreSQL": func() time.Duration { d, _ := clusterCPU(); return d },
	}
	for i, r := range reps {
		procs[replicaName(i)] = r.cpu
	}
	cpu0 := map[string]time.Duration{}
	for k, f := range procs {
		cpu0[k] = f()
	}
	profiling := rc.profile != "" && round == 0 && n == slices.Max(rc.counts)
	if profiling {
		for i, r := range reps {
			r.startProfile(fmt.Sprintf("%s-%dr-%d.pprof", rc.profile, len(reps), i+1))
		}
	}
	t0 := time.Now()
	proc.send("measure")
	if rc.minActions == 0 {
		time.Sleep(rc.duration)
	}
	check(json.Unmarshal([]byte(proc.send("report")), &run.Report))
	run.Seconds = time.Since(t0).Seconds()
	for k, f := range procs {
		run.CPU[k] = f() - cpu0[k]
	}
	if profiling {
		for _, r := range reps {
			r.stopProfile()
		}
	}
	for i, r := range reps {
		run.Memory[replicaName(i)] = r.rss()
		run.Memory[replicaName(i)+" heap"] = r.stats().HeapInuse
	}
	run.Memory["nginx"] = processRSS(ngx[0].PID()) + processRSS(ngx[1].PID())
	run.Memory["PostgreSQL"] = clusterPSS()
	if proc.cmd != nil {
		run.Memory["generator"] = processRSS(proc.cmd.Process.Pid)
	}
	run.Load[1] = loadAverage()
	fmt.Fprintln(proc.in, "quit")
	proc.wait()
	for _, e := range run.Report.Errors {
		log.Printf("residents: %s", e)
	}
	return run
}

func replicaName(i int) string { return fmt.Sprintf("replica %d", i+1) }

// printResidents writes the figures as Markdown: per replica count, a table per N of the
// medians over the rounds (with the spread of p95), then every run with the machine's load.
func printResidents(rc residentsConfig, runs []residentsRun) {
	fmt.Printf("## Phase gates (residents through nginx)\n\n")
	fmt.Printf("Residents as in cmd/wgbench/residentsgen.go: think time exponential, mean %s (cut to %s–%s); actions %s. Each N run %d times, a measured phase of %s after all have arrived (arrivals spread over N/200 s). Medians over the runs; the spread is the lowest and highest run.\n\n",
		rc.think, rc.think/5, 4*rc.think, actionsText(), rc.rounds, rc.duration)
	for _, k := range rc.replicas {
		for _, n := range rc.counts {
			var rs []residentsRun
			for _, r := range runs {
				if r.Replicas == k && r.N == n {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			fmt.Printf("### %d residents, %d replica(s)\n\n", n, k)
			fmt.Printf("| request | per s | p50 | p95 (spread) | p99 | failed |\n|---|--:|--:|--:|--:|--:|\n")
			row := func(name string, get func(residentsRun) kindReport) {
				var per, p50, p95, p99 []float64
				var failed, count int64
				for _, r := range rs {
					kr := get(r)
					per = append(per, float64(kr.Count)/r.Report.Seconds)
					p50, p95, p99 = append(p50, kr.P50), append(p95, kr.P95), append(p99, kr.P99)
					failed += kr.Failed
					count += kr.Count
				}
				if count == 0 {
					return
				}
				fmt.Printf("| %s | %.1f | %.0f ms | %.0f ms (%.0f–%.0f) | %.0f ms | %d (%.2f %%) |\n", name, medianF(per), medianF(p50), medianF(p95),
					slices.Min(p95), slices.Max(p95), medianF(p99), failed, 100*float64(failed)/float64(count))
			}
			row("**all HTTP**", func(r residentsRun) kindReport { return r.Report.HTTP })
			for _, kind := range residentKinds {
				row(kind, func(r residentsRun) kindReport { return r.Report.Kinds[kind] })
			}
			fmt.Println()
		}
	}
	fmt.Printf("Every run (CPU in %% of one core over the measured phase; memory at its end: RSS, PostgreSQL's PSS):\n\n")
	fmt.Printf("| replicas | N | run | load before → after | HTTP/s | p95 | failed | sockets dropped | replicas CPU | nginx | PostgreSQL | generator | replicas RSS (heap) | nginx | PostgreSQL | generator |\n")
	fmt.Printf("|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range runs {
		var repCPU []string
		var repMem []string
		for i := range r.Replicas {
			repCPU = append(repCPU, fmt.Sprintf("%.0f %%", pct(r.CPU[replicaName(i)], r.Seconds)))
			repMem = append(repMem, fmt.Sprintf("%.0f (%.0f) MiB", mibI(r.Memory[replicaName(i)]), mibI(r.Memory[replicaName(i)+" heap"])))
		}
		fmt.Printf("| %d | %d | %d | %s → %s | %.0f | %.0f ms | %d | %d | %s | %.0f %% | %.0f %% | %.0f %% | %s | %.0f MiB | %.0f MiB | %.0f MiB |\n",
			r.Replicas, r.N, r.Round+1, r.Load[0], r.Load[1], float64(r.Report.HTTP.Count)/r.Report.Seconds, r.Report.HTTP.P95,
			r.Report.HTTP.Failed, r.Report.Dropped, strings.Join(repCPU, " + "), pct(r.CPU["nginx"], r.Seconds), pct(r.CPU["PostgreSQL"], r.Seconds),
			pct(r.CPU["generator"], r.Seconds), strings.Join(repMem, " + "), mibI(r.Memory["nginx"]), mibI(r.Memory["PostgreSQL"]), mibI(r.Memory["generator"]))
	}
	fmt.Println()
}

func actionsText() string {
	var parts []string
	for _, a := range residentActions {
		parts = append(parts, fmt.Sprintf("%s %d %%", a.name, a.weight))
	}
	return strings.Join(parts, ", ")
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(d time.Duration, secs float64) float64 { return 100 * d.Seconds() / secs }
func mibI(b int64) float64                      { return float64(b) / (1 << 20) }
