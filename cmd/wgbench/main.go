// Command wgbench measures the instance's hot paths against raw PostgreSQL baselines on the
// same database in the same run, and prints the figures as Markdown (docs/BENCHMARKS.md).
//
//	go run ./cmd/wgbench                  # everything (several minutes)
//	go run ./cmd/wgbench -only append,follow -duration 5s
//
// It starts its own PostgreSQL cluster (durable settings, as `weltgewebe serve` runs it)
// unless -database-url names a server; the database it uses is created for the run and
// dropped afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
)

type config struct {
	drillKnoten, drillEvents int
	drillBackup              string
	edgeRequests             int
	edgeClients              int
	edgeDuration             time.Duration
	duration                 time.Duration
	workers                  int
	knoten                   int
	bboxRounds               int
	bboxProfile              string
	timelineKnoten           int
	timelineEvents           int
	timelineRounds           int
	timelineProfile          string
	snapshotChanges          int
	faeden                   int
	queries                  int
	followRate               int
	residents                int
	batchChanges             int
	inboxRequests            int
	followers                int
	mapKnoten                int
	mapRate                  int
	mapClients               []int
	mapReplicas              int
	adressen                 int
	camtCredits              int
	exportBookings           int
	stream                   streamConfig
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "_post" {
		runPoster(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_receive" {
		runReceiver(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_edgeflood" {
		runEdgeFlooder(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_flood" {
		runFlooder(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_streamviewers" {
		runStreamViewers(os.Args[2:], os.Stdin, os.Stdout)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_mapclients" {
		runMapClients(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_chatclients" {
		runChatClients(os.Args[2:], os.Stdin, os.Stdout)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_residents" {
		runResidents(os.Args[2:], os.Stdin, os.Stdout)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "_serve" {
		runServe(os.Args[2:])
		return
	}
	var (
		cfg     config
		only    = flag.String("only", "append,follow,bbox,adressen,sweep,governance,federation,map,flood,edge,bank,konto,wortfilter", "which measurements to run")
		dbURL   = flag.String("database-url", os.Getenv("WG_BENCH_DATABASE_URL"), "superuser URL of a server to use instead of a fresh cluster")
		keepDir = flag.String("data-dir", "", "cluster directory (default: a temporary one, removed afterwards)")
	)
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long each throughput measurement runs")
	flag.IntVar(&cfg.edgeRequests, "edge-requests", 10_000, "registrations and logins in the edge flood")
	flag.IntVar(&cfg.edgeClients, "edge-clients", 50, "client addresses in the edge flood")
	flag.DurationVar(&cfg.edgeDuration, "edge-duration", time.Minute, "how long the edge flood runs")
	flag.IntVar(&cfg.workers, "workers", 8, "concurrent writers in the concurrent append measurement")
	flag.IntVar(&cfg.knoten, "knoten", 1_000_000, "Knoten in the bbox measurement")
	flag.IntVar(&cfg.bboxRounds, "bbox-rounds", 3, "rounds of -queries boxes in the bbox measurement (one load of -knoten)")
	flag.StringVar(&cfg.bboxProfile, "bbox-cpuprofile", "", "write a CPU profile of the bbox measurement's rounds (not the load) to this file")
	flag.IntVar(&cfg.snapshotChanges, "snapshot-changes", 10_000, "Fäden spun between the full and the incremental snapshot (with -only snapshot; sizes: -knoten, -faeden)")
	flag.IntVar(&cfg.timelineKnoten, "timeline-knoten", 100_000, "Knoten on the map in the timeline measurement (run it alone: it compares with the live table)")
	flag.IntVar(&cfg.timelineEvents, "timeline-events", 3000, "events in the log between the asked day's last snapshot and midnight (timeline)")
	flag.IntVar(&cfg.timelineRounds, "timeline-rounds", 5, "rounds of -queries boxes with the replay cache (timeline)")
	flag.StringVar(&cfg.timelineProfile, "timeline-cpuprofile", "", "write CPU profiles of the timeline's uncached queries to this file, of its first cached round to this file.cached")
	flag.IntVar(&cfg.drillKnoten, "drill-knoten", 100_000, "Knoten on the map in the restore drill (run -only drill alone)")
	flag.IntVar(&cfg.drillEvents, "drill-events", 1_000_000, "events in the log in the restore drill")
	flag.StringVar(&cfg.drillBackup, "drill-backup", "before", "the drill's base backup: before the fill (the restore replays every event's WAL) or after it")
	flag.IntVar(&cfg.faeden, "faeden", 100_000, "due Fäden in the sweep measurement")
	flag.IntVar(&cfg.queries, "queries", 2000, "bbox queries per variant")
	flag.IntVar(&cfg.followRate, "follow-rate", 500, "events per second written while measuring follower latency")
	flag.IntVar(&cfg.residents, "residents", 100_000, "residents in the tally measurement")
	flag.IntVar(&cfg.batchChanges, "batch-changes", 10_000, "delegation changes in the batch measurement")
	flag.IntVar(&cfg.inboxRequests, "inbox-requests", 20_000, "signed activities in the inbox measurement")
	flag.IntVar(&cfg.followers, "followers", 1000, "follower inboxes in the delivery fan-out measurement")
	flag.IntVar(&cfg.mapKnoten, "map-knoten", 5000, "Knoten on the map in the live-map measurement")
	flag.IntVar(&cfg.mapRate, "map-rate", 20, "new Knoten per second in the live-map measurement")
	flag.IntVar(&cfg.mapReplicas, "map-replicas", 1, "server processes for the live-map clients: the instance and N-1 replicas (wgbench _serve) on its database")
	flag.IntVar(&cfg.adressen, "adressen", 100_000, "addresses in the address search measurement")
	flag.IntVar(&cfg.camtCredits, "camt-credits", 10_000, "booked credits in the CAMT.053 import measurement")
	flag.IntVar(&cfg.exportBookings, "export-bookings", 100_000, "bookings of the month in the export measurement")
	flag.IntVar(&cfg.stream.viewers, "stream-viewers", 1000, "viewers of the livestream (stream; run it alone)")
	flag.DurationVar(&cfg.stream.duration, "stream-duration", time.Minute, "the livestream's steady phase")
	flag.IntVar(&cfg.stream.writersPct, "stream-writers", 10, "percent of the livestream's viewers who write and vote (verified residents)")
	flag.DurationVar(&cfg.stream.messageEvery, "stream-message-every", 20*time.Second, "how often each writer writes a chat message")
	flag.DurationVar(&cfg.stream.voteEvery, "stream-vote-every", 10*time.Second, "how often each writer votes on a recent message")
	flag.StringVar(&cfg.stream.picture.Size, "stream-size", "1280x720", "the broadcast's picture (ffmpeg's test pattern)")
	flag.IntVar(&cfg.stream.picture.Rate, "stream-fps", 25, "the broadcast's frames per second (a keyframe every second)")
	flag.StringVar(&cfg.stream.picture.Bitrate, "stream-bitrate", "1500k", "the broadcast's video bitrate")
	flag.BoolVar(&cfg.stream.storm, "stream-storm", true, "end the livestream measurement with a reconnect storm of the chat sockets")
	flag.IntVar(&cfg.stream.backlog, "stream-backlog", 4096, "nginx's accept queue in the livestream measurement (listen … backlog=, as deploy/nginx/weltgewebe.conf; nginx's default is 511)")
	residentCounts := flag.String("residents-n", "200,1000,5000", "numbers of residents in the phase-gate measurement (residents; run it alone)")
	residentReplicas := flag.String("residents-replicas", "1", "replica counts behind nginx in the residents measurement, each a series (e.g. 1,2)")
	rc := residentsConfig{}
	flag.IntVar(&rc.rounds, "residents-rounds", 2, "runs of each number of residents")
	flag.DurationVar(&rc.duration, "residents-duration", time.Minute, "the measured phase of each residents run")
	flag.DurationVar(&rc.think, "residents-think", 15*time.Second, "a resident's mean think time between actions")
	flag.DurationVar(&rc.ramp, "residents-ramp", 0, "arrivals spread over this (0: N/200 s, at least 2 s)")
	flag.IntVar(&rc.knoten, "residents-knoten", 5000, "Knoten on the map before the residents come")
	flag.StringVar(&rc.profile, "residents-cpuprofile", "", "CPU profiles of the replicas during the largest N's first run: PREFIX-<k>r-<i>.pprof")
	flag.BoolVar(&rc.keys, "residents-keys", true, "make every resident's federation keys before the first run, as residents who have been around have them (false: each first vote makes them during a run)")
	chatSockets := flag.String("chat-sockets", "1000,2500", "numbers of Nähstübchen sockets in the chat fan-out measurement (chat)")
	cc := chatBenchConfig{}
	flag.IntVar(&cc.rate, "chat-rate", 10, "messages a second written to the Nähstübchen (chat)")
	flag.DurationVar(&cc.duration, "chat-duration", 20*time.Second, "each chat round's steady phase")
	flag.IntVar(&cc.rounds, "chat-rounds", 3, "rounds per number of chat sockets")
	flag.StringVar(&cc.profile, "chat-cpuprofile", "", "CPU profiles of the chat rounds' steady phases: PREFIX-<sockets>-<round>.pprof")
	mapClients := flag.String("map-clients", "1000,5000,10000", "numbers of concurrent live-map clients")
	settings := map[string]string{"max_connections": "300"}
	flag.Func("set", "a PostgreSQL setting for the benchmark cluster, name=value (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want name=value, got %q", s)
		}
		settings[k] = v
		return nil
	})
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	for _, v := range strings.Split(*mapClients, ",") {
		var n int
		_, err := fmt.Sscan(strings.TrimSpace(v), &n)
		check(err)
		cfg.mapClients = append(cfg.mapClients, n)
	}
	cc.sockets = parseInts(*chatSockets)
	rc.counts = parseInts(*residentCounts)
	rc.replicas = parseInts(*residentReplicas)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	log.SetFlags(log.Ltime)

	ctx := context.Background()
	adminURL := *dbURL
	if adminURL == "" {
		dir := *keepDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "wgbench-")
			check(err)
			check(os.Chmod(tmp, 0o755))
			defer os.RemoveAll(tmp)
			dir = filepath.Join(tmp, "data")
		}
		if *only == "drill" {
			// The drill's cluster archives and streams into a repository beside it.
			base := filepath.Dir(dir) // the temporary directory
			if *keepDir != "" {
				base = *keepDir
			}
			drillCluster = openDrillCluster(ctx, base)
			defer drillCluster.db.Close()
			adminURL = drillCluster.db.URL
		} else {
			c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir, Settings: settings})
			check(err)
			defer c.Stop()
			adminURL = c.URL("postgres")
			pgDataDir = c.DataDir()
		}
	}

	asked := strings.Split(strings.ReplaceAll(*only, " ", ""), ",")
	if slices.Contains(asked, "residents") {
		if len(asked) > 1 {
			log.Fatal("run -only residents alone: it runs its own replicas and nginx on a database of its own")
		}
		fmt.Printf("# wgbench — %s, %d CPUs, %s\n\n", time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
		printResidents(rc, benchResidents(ctx, adminURL, rc))
		return
	}
	if slices.Contains(asked, "stream") && len(asked) > 1 {
		log.Fatal("run -only stream alone: its instance believes nginx's X-Forwarded-For, which the other measurements' clients would not send")
	}
	env := newEnv(ctx, adminURL, slices.Contains(asked, "sweep") || slices.Contains(asked, "timeline") || slices.Contains(asked, "snapshot"),
		slices.Contains(asked, "stream"))
	defer env.close(ctx)

	fmt.Printf("# wgbench — %s, %d CPUs, %s, PostgreSQL %s\n\n", time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), env.pgVersion(ctx))
	if len(settings) > 1 {
		fmt.Printf("Cluster settings: %v\n\n", settings)
	}
	for _, name := range strings.Split(*only, ",") {
		switch strings.TrimSpace(name) {
		case "append":
			benchAppend(ctx, env, cfg)
		case "backup": // its own two clusters (backup.go)
			benchBackup(ctx, cfg)
		case "konto":
			benchKonto(ctx, env, cfg)
		case "follow":
			benchFollow(ctx, env, cfg)
		case "bbox":
			benchBBox(ctx, env, cfg)
		case "adressen":
			benchAdressen(ctx, env, cfg)
		case "sweep":
			benchSweep(ctx, env, cfg)
		case "governance":
			benchGovernance(ctx, env, cfg)
		case "federation":
			benchFederation(ctx, env, cfg)
		case "signatures": // the part of federation that counts signatures per new Antrag
			benchFanOutHosts(ctx, env, cfg)
		case "inbox": // the first half of federation alone
			benchInbox(ctx, env, cfg)
		case "map":
			benchMap(ctx, env, cfg)
		case "chat":
			benchChat(ctx, env, cc)
		case "flood":
			benchFlood(ctx, env, cfg)
		case "edge":
			benchEdge(ctx, env, cfg)
		case "bank":
			benchBank(ctx, env, cfg)
		case "timeline":
			benchTimeline(ctx, env, cfg)
		case "snapshot":
			benchSnapshot(ctx, env, cfg)
		case "wortfilter":
			benchWortfilter()
		case "drill":
			if drillCluster == nil {
				log.Fatal("run -only drill alone, on the benchmark's own cluster (no -database-url)")
			}
			benchDrill(ctx, env, cfg, drillCluster)
		case "stream":
			printStream(cfg.stream, benchStream(ctx, env, cfg.stream))
		default:
			log.Fatalf("unknown measurement %q", name)
		}
	}
}

func parseInts(s string) []int {
	var out []int
	for _, v := range strings.Split(s, ",") {
		var n int
		_, err := fmt.Sscan(strings.TrimSpace(v), &n)
		check(err)
		out = append(out, n)
	}
	return out
}

// drillCluster is -only drill's cluster (drill.go); nil otherwise.
var drillCluster *drillRun

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}

// msPercentile of sorted milliseconds, for a report's table ("–" for none).
func msPercentile(sorted []float64, p float64) string {
	if len(sorted) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", sorted[int(float64(len(sorted)-1)*p)])
}

func sortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
