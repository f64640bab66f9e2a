package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
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
	now := e.inst.Clock.Now()
	start := now.Add(-days * 24 * time.Hour)
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
		at := start.Add(time.Duration(version) * 4 * time.Hour)
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
	for s := 0; s < days*steps; s++ {
		at := start.Add(time.Duration(s) * 4 * time.Hour)
		full := s%steps == 0
		pr, pw := io.Pipe()
		go func() { write(pw, s, full); pw.Close() }()
		rec := timeline.Record{Hash: fmt.Sprintf("bench-%d", s), Kind: "incremental", AsOf: at,
			// A position past the log's, so that the replay finds no events: the query's own cost.
			Position: eventstore.Snapshot{Xmin: 1 << 62, Xmax: 1 << 62}}
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

	loc := e.inst.Timeline.Location()
	back := now.Add(-20 * 24 * time.Hour).In(loc)
	day, at := back.Format("2006-01-02"), back.Format("15:04")
	moment, err := e.inst.Timeline.Moment(day, at)
	check(err)
	rng := rand.New(rand.NewPCG(42, 43))
	boxes := make([]knoten.BBox, cfg.queries)
	for i := range boxes {
		la := minLat + rng.Float64()*(maxLat-minLat-boxLat)
		lo := minLon + rng.Float64()*(maxLon-minLon-boxLon)
		boxes[i] = knoten.BBox{MinLon: lo, MinLat: la, MaxLon: lo + boxLon, MaxLat: la + boxLat}
	}
	var found int
	client := &http.Client{}
	get := func(path string) {
		res, err := client.Get(e.url + path)
		check(err)
		_, err = io.Copy(io.Discard, res.Body)
		check(err)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			log.Fatalf("GET %s: %d", path, res.StatusCode)
		}
	}
	variants := []func(knoten.BBox){
		func(b knoten.BBox) {
			_, err := e.inst.Knoten.List(ctx, knoten.Query{BBox: &b})
			check(err)
		},
		func(b knoten.BBox) {
			st, err := e.inst.Timeline.At(ctx, moment, b)
			check(err)
			found += len(st.Objects["knoten"])
		},
		func(b knoten.BBox) {
			get(fmt.Sprintf("/api/knoten?bbox=%f,%f,%f,%f", b.MinLon, b.MinLat, b.MaxLon, b.MaxLat))
		},
		func(b knoten.BBox) {
			get(fmt.Sprintf("/api/timeline?date=%s&at=%s&bbox=%f,%f,%f,%f", day, at, b.MinLon, b.MinLat, b.MaxLon, b.MaxLat))
		},
	}
	for _, b := range boxes[:min(200, len(boxes))] {
		for _, q := range variants {
			q(b)
		}
	}
	found = 0
	times := make([][]time.Duration, len(variants))
	for i, box := range boxes {
		for j := range variants {
			v := (i + j) % len(variants)
			t := time.Now()
			variants[v](box)
			times[v] = append(times[v], time.Since(t))
		}
	}
	for i := range times {
		times[i] = sortDurations(times[i])
	}
	fmt.Println("## Timeline: a phone's viewport 20 days back")
	fmt.Println()
	fmt.Printf("A map of %d Knoten over %.0f km × %.0f km with 30 days of history (a full snapshot daily, an\n",
		n, (maxLon-minLon)*70, (maxLat-minLat)*111)
	fmt.Printf("incremental every 4 hours; %d Knoten placed, %d dissolved and %d changed per 4 hours), ingested\n", c, c, c)
	fmt.Printf("into the history projection: %d versions, %s with indexes; a full snapshot's ingest p50 %s,\n",
		versions, size, ms(percentile(sortDurations(fullTook), .5)))
	fmt.Printf("an incremental's %s. %d random boxes of about 2 km × 2 km (about %d Knoten each) at\n",
		ms(percentile(sortDurations(incTook), .5)), len(boxes), found/len(boxes))
	fmt.Printf("%s %s, each asked four ways in a row (rotating order). Baseline: the live listing.\n", day, at)
	fmt.Println()
	fmt.Println("| | p50 | p95 | p95 ratio to live |")
	fmt.Println("|---|--:|--:|--:|")
	row := func(name string, d, base []time.Duration) {
		fmt.Printf("| %s | %s | %s | %.2f× |\n", name, ms(percentile(d, .5)), ms(percentile(d, .95)),
			float64(percentile(d, .95))/float64(percentile(base, .95)))
	}
	row("knoten.List (live)", times[0], times[0])
	row("timeline.At", times[1], times[0])
	row("GET /api/knoten?bbox= (live)", times[2], times[2])
	row("GET /api/timeline", times[3], times[2])
	fmt.Println()
}
