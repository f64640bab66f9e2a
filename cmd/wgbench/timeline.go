package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
)

// benchTimeline: GET /api/timeline for a phone's viewport on a day 20 days back, against the
// live GET /api/knoten?bbox= over a map of the same size. The history is 30 days of
// snapshots of an n-Knoten map (a full one daily, an incremental every 4 hours, n/1000 Knoten
// placed, n/1000 dissolved and n/1000 changed per 4 hours), ingested into the timeline's
// history projection as the instance does; the live table holds the last day's map.
func benchTimeline(ctx context.Context, e *env, cfg config) {
	n := cfg.timelineKnoten
	c := max(n/1000, 1) // changes per 4 hours, of each kind
	const days, steps = 30, 6
	// The history lies after the instance's own first snapshot (taken at its start, of an empty
	// map): the dev clock then moves past it, as if 30 days had gone by.
	if e.inst.DevClock == nil {
		log.Fatal("timeline: needs the dev clock (the env is made with it when -only names timeline)")
	}
	check(e.inst.Timeline.Sync(ctx))
	loc := e.inst.Timeline.Location()
	// The history's steps fall on the Ortsweberei's 4-hourly slots: the full snapshot at
	// midnight, incrementals at 04:00 … 20:00 (as the instance's schedule takes them).
	first := e.inst.Clock.Now().Add(time.Hour).In(loc)
	first = time.Date(first.Year(), first.Month(), first.Day()+1, 0, 0, 0, 0, loc)
	stepAt := func(s int) time.Time {
		return time.Date(first.Year(), first.Month(), first.Day()+s/steps, 4*(s%steps), 0, 0, 0, loc)
	}
	start := first
	// The day the queries ask for (20 days before the end) and its last snapshot (20:00):
	// between that and midnight the busy town's events lie in the log, so that every query
	// replays them.
	const queryDay = days - 20
	target := queryDay*steps + steps - 1
	// Knoten i's point and title are fixed by i; alive at step s: [s*c, n+s*c).
	point := func(i int) geo.Point {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		return geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
	}
	ids := func(i int) uuid.UUID {
		return uuid.UUID{0x70, 0, 0, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 0x40, 0, 0x80}
	}
	object := func(w io.Writer, i, version int) {
		p := point(i)
		at := stepAt(version)
		fmt.Fprintf(w, `{"created_at":%q,"created_by":"%s","description":"","dissolved_at":null,"dissolves_at":null,"garn_count":1,"h3":"8f1f","id":"%s","last_activity_at":%q,"lat":%v,"lon":%v,"permanent":true,"title":"Knoten %d.%d","type":"idee"}`,
			start.Format(time.RFC3339), e.resident, ids(i), at.Format(time.RFC3339), p.Lat, p.Lon, i, version)
	}
	write := func(w io.Writer, s int, full bool) {
		bw := bufio.NewWriterSize(w, 1<<16)
		lo, hi := s*c, n+s*c
		kind := "incremental"
		if full {
			kind = "full"
		}
		fmt.Fprintf(bw, `{"gone":{`)
		if !full && s > 0 {
			fmt.Fprintf(bw, `"knoten":[`)
			for i := lo - c; i < lo; i++ {
				if i > lo-c {
					bw.WriteByte(',')
				}
				fmt.Fprintf(bw, "%q", ids(i).String())
			}
			bw.WriteString("]")
		}
		fmt.Fprintf(bw, `},"kind":%q,"objects":{"knoten":[`, kind)
		first := true
		emit := func(i, version int) {
			if !first {
				bw.WriteByte(',')
			}
			first = false
			object(bw, i, version)
		}
		// Every Knoten's version is the last step that changed it: Knoten j changes at step
		// s when j ≡ s (mod n/c), one in n/c per step.
		period := max(n/c, 1)
		version := func(i, s int) int {
			for v := s; v >= 0; v-- {
				if i%period == v%period {
					return v
				}
			}
			return 0
		}
		if full {
			for i := lo; i < hi; i++ {
				emit(i, version(i, s))
			}
		} else {
			for i := lo; i < hi-c; i++ {
				if i%period == s%period {
					emit(i, s)
				}
			}
			for i := hi - c; i < hi; i++ {
				emit(i, version(i, s))
			}
		}
		bw.WriteString("]}}")
		check(bw.Flush())
	}
	log.Printf("timeline: ingesting %d days of snapshots of %d Knoten", days, n)
	var fullTook, incTook []time.Duration
	// The snapshots up to the target's hold the log as it is now; the later ones also the
	// events written after it.
	pos, err := eventstore.CurrentSnapshot(ctx, e.inst.Pool)
	check(err)
	var written eventMix
	for s := 0; s < days*steps; s++ {
		if s == target+1 {
			written = writeTownEvents(ctx, e, cfg.timelineEvents, stepAt(target), stepAt(target+1), n, c, target, ids, point)
			pos, err = eventstore.CurrentSnapshot(ctx, e.inst.Pool)
			check(err)
		}
		at := stepAt(s)
		full := s%steps == 0
		pr, pw := io.Pipe()
		go func() { write(pw, s, full); pw.Close() }()
		rec := timeline.Record{Hash: fmt.Sprintf("bench-%d", s), Kind: "incremental", AsOf: at, Position: pos}
		if full {
			rec.Kind = "full"
		}
		t := time.Now()
		_, err := e.inst.Timeline.Ingest(ctx, rec, pr)
		check(err)
		if full {
			fullTook = append(fullTook, time.Since(t))
		} else {
			incTook = append(incTook, time.Since(t))
		}
	}
	// The clock moves to 02:00 on the day after the history.
	_, err = e.inst.DevClock.Advance(stepAt(days * steps).Add(2 * time.Hour).Sub(e.inst.Clock.Now()))
	check(err)
	now := e.inst.Clock.Now()
	var versions int64
	var size string
	check(e.inst.Pool.QueryRow(ctx, `SELECT count(*), pg_size_pretty(pg_total_relation_size('timeline_versions')) FROM timeline_versions`).Scan(&versions, &size))
	e.exec(ctx, `VACUUM ANALYZE timeline_versions`)

	// The live map: the last step's Knoten.
	log.Printf("timeline: loading the live map")
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE tl_staging (id uuid, lat float8, lon float8, h3 bigint, title text)`)
	check(err)
	last := days*steps - 1
	rows := make([][]any, 0, n)
	for i := last * c; i < n+last*c; i++ {
		p := point(i)
		cell, err := p.Cell()
		check(err)
		rows = append(rows, []any{uuid.New(), p.Lat, p.Lon, cell, fmt.Sprintf("Knoten %d", i)})
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"tl_staging"}, []string{"id", "lat", "lon", "h3", "title"}, pgx.CopyFromRows(rows))
	check(err)
	_, err = conn.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, garn_count)
SELECT id, 'idee', title, '', point4326(lon, lat), h3, $1, $2, $2, 1 FROM tl_staging`, e.resident, now)
	check(err)
	conn.Release()
	rows = nil
	e.exec(ctx, `VACUUM ANALYZE knoten`)
	// The instance's snapshot of the day it has jumped to, taken and ingested now rather than by
	// its sweep during the measurement; then queries look for new snapshots as in production.
	_, err = e.inst.Snapshots.TakeDue(ctx)
	check(err)
	check(e.inst.Timeline.Sync(ctx))
	e.inst.Timeline.SyncEvery, e.inst.Timeline.WaitForSync = 15*time.Second, false

	// A date without a time: the end of that day, 20 days back.
	day := stepAt(queryDay * steps).Format("2006-01-02")
	moment, err := e.inst.Timeline.Moment(day, "")
	check(err)
	rng := rand.New(rand.NewPCG(42, 43))
	boxes := make([]knoten.BBox, cfg.queries)
	for i := range boxes {
		la := minLat + rng.Float64()*(maxLat-minLat-boxLat)
		lo := minLon + rng.Float64()*(maxLon-minLon-boxLon)
		boxes[i] = knoten.BBox{MinLon: lo, MinLat: la, MaxLon: lo + boxLon, MaxLat: la + boxLat}
	}
	client := &http.Client{}
	get := func(path string) []byte {
		res, err := client.Get(e.url + path)
		check(err)
		body, err := io.ReadAll(res.Body)
		check(err)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			log.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		return body
	}
	timelinePath := func(b knoten.BBox) string {
		return fmt.Sprintf("/api/timeline?date=%s&bbox=%f,%f,%f,%f", day, b.MinLon, b.MinLat, b.MaxLon, b.MaxLat)
	}
	var found, replayed int
	variants := []func(knoten.BBox){
		func(b knoten.BBox) {
			_, err := e.inst.Knoten.List(ctx, knoten.Query{BBox: &b})
			check(err)
		},
		func(b knoten.BBox) {
			st, err := e.inst.Timeline.At(ctx, moment, b)
			check(err)
			found += len(st.Objects["knoten"])
			replayed = st.Source.EventsReplayed
		},
		func(b knoten.BBox) {
			get(fmt.Sprintf("/api/knoten?bbox=%f,%f,%f,%f", b.MinLon, b.MinLat, b.MaxLon, b.MaxLat))
		},
		func(b knoten.BBox) {
			get(timelinePath(b))
		},
	}
	// The answer's own account of what it replayed.
	var answer struct {
		Source timeline.SourceInfo `json:"source"`
	}
	check(json.Unmarshal(get(timelinePath(boxes[0])), &answer))
	if answer.Source.EventsReplayed < written.total || !answer.Source.Exact {
		log.Fatalf("timeline: the answer replayed %d events (exact %v), %d were written after its snapshot",
			answer.Source.EventsReplayed, answer.Source.Exact, written.total)
	}

	type round struct {
		p50, p95 [4]time.Duration
		load     string
	}
	measure := func(boxes []knoten.BBox, profile string) round {
		var r round
		r.load = loadAverage()
		if profile != "" {
			f, err := os.Create(profile)
			check(err)
			check(pprof.StartCPUProfile(f))
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		times := make([][]time.Duration, len(variants))
		for i, box := range boxes {
			for j := range variants {
				v := (i + j) % len(variants)
				t := time.Now()
				variants[v](box)
				times[v] = append(times[v], time.Since(t))
			}
		}
		for v := range times {
			sortDurations(times[v])
			r.p50[v], r.p95[v] = percentile(times[v], .5), percentile(times[v], .95)
		}
		return r
	}
	// Before: every query replays the events itself (no cache), fewer boxes (each replays the
	// four hours), then with the cache: warm-up, then the rounds.
	cacheBytes := e.inst.Timeline.CacheBytes
	e.inst.Timeline.CacheBytes = 0
	var want []timeline.State
	for _, b := range boxes[:min(50, len(boxes))] {
		st, err := e.inst.Timeline.At(ctx, moment, b)
		check(err)
		want = append(want, st)
	}
	before := measure(boxes[:min(cfg.queries/100+1, len(boxes))], cfg.timelineProfile)
	e.inst.Timeline.CacheBytes = cacheBytes
	// The kept replay answers as the replay per query does.
	for i, b := range boxes[:min(50, len(boxes))] {
		for range 2 {
			st, err := e.inst.Timeline.At(ctx, moment, b)
			check(err)
			if !reflect.DeepEqual(st, want[i]) {
				log.Fatalf("timeline: box %v: the cached answer differs from the uncached one", b)
			}
		}
	}
	for _, b := range boxes[:min(200, len(boxes))] {
		for _, q := range variants {
			q(b)
		}
	}
	found = 0
	rounds := make([]round, cfg.timelineRounds)
	for i := range rounds {
		profile := ""
		if i == 0 && cfg.timelineProfile != "" {
			profile = cfg.timelineProfile + ".cached"
		}
		rounds[i] = measure(boxes, profile)
		log.Printf("timeline: round %d: live %s, timeline %s (p95), load %s", i+1, ms(rounds[i].p95[2]), ms(rounds[i].p95[3]), rounds[i].load)
	}
	median := func(f func(r round) float64) (med, lo, hi float64) {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}

	fmt.Println("## Timeline: a phone's viewport 20 days back")
	fmt.Println()
	fmt.Printf("A map of %d Knoten over %.0f km × %.0f km with 30 days of history (a full snapshot daily, an\n",
		n, (maxLon-minLon)*70, (maxLat-minLat)*111)
	fmt.Printf("incremental every 4 hours; %d Knoten placed, %d dissolved and %d changed per 4 hours), ingested\n", c, c, c)
	fmt.Printf("into the history projection: %d versions, %s with indexes; a full snapshot's ingest p50 %s,\n",
		versions, size, ms(percentile(sortDurations(fullTook), .5)))
	fmt.Printf("an incremental's %s. Between the asked day's last snapshot (20:00) and midnight the log holds\n",
		ms(percentile(sortDurations(incTook), .5)))
	fmt.Printf("%d events: %s. Every answer replayed %d (source.events_replayed).\n", written.total, written, replayed)
	fmt.Printf("%d random boxes of about 2 km × 2 km (about %d Knoten each), date=%s (the end of that day),\n",
		len(boxes), found/len(boxes)/len(rounds), day)
	cachedBytes, cached := e.inst.Timeline.CachedBytes()
	fmt.Printf("each asked four ways in a row (rotating order). Baseline: the live listing. The kept replay: %d entry, %.1f MB.\n",
		cached, float64(cachedBytes)/1e6)
	fmt.Println()
	fmt.Printf("Before (no cache: each query replays the events), %d boxes, load average %s:\n\n", cfg.queries/100+1, before.load)
	fmt.Println("| | p50 | p95 | p95 ratio to live |")
	fmt.Println("|---|--:|--:|--:|")
	names := []string{"knoten.List (live)", "timeline.At", "GET /api/knoten?bbox= (live)", "GET /api/timeline"}
	base := []int{0, 0, 2, 2}
	for v, name := range names {
		fmt.Printf("| %s | %s | %s | %.2f× |\n", name, ms(before.p50[v]), ms(before.p95[v]), float64(before.p95[v])/float64(before.p95[base[v]]))
	}
	fmt.Println()
	loads := make([]string, len(rounds))
	for i, r := range rounds {
		loads[i] = r.load
	}
	fmt.Printf("With the replay cache, %d rounds of %d boxes; median of the rounds (min–max); load averages %s:\n\n",
		len(rounds), len(boxes), strings.Join(loads, "; "))
	fmt.Println("| | p50 | p95 | p95 ratio to live |")
	fmt.Println("|---|--:|--:|--:|")
	msf := func(f float64) string { return fmt.Sprintf("%.2f", f/1e6) }
	for v, name := range names {
		p50, p50lo, p50hi := median(func(r round) float64 { return float64(r.p50[v]) })
		p95, p95lo, p95hi := median(func(r round) float64 { return float64(r.p95[v]) })
		q, qlo, qhi := median(func(r round) float64 { return float64(r.p95[v]) / float64(r.p95[base[v]]) })
		fmt.Printf("| %s | %s ms (%s–%s) | %s ms (%s–%s) | %.2f× (%.2f–%.2f) |\n", name, msf(p50), msf(p50lo), msf(p50hi),
			msf(p95), msf(p95lo), msf(p95hi), q, qlo, qhi)
	}
	fmt.Println()
}

// loadAverage is the machine's 1, 5 and 15 minute load averages (Linux), or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
