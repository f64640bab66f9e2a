package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// The region the pins are spread over: about 100 km × 100 km around Leipzig, and the size of a
// query box: about 2 km × 2 km, a phone's view of a town.
const (
	minLat, maxLat = 50.9, 51.8
	minLon, maxLon = 11.65, 13.10
	boxLat, boxLon = 0.018, 0.029
)

// copyKnoten puts n Knoten, spread over the region by rng, into the knoten table at once (COPY
// through a temporary table), created by the benchmark's resident. createdAt is their
// created_at, an SQL expression over $2, the instance's now.
func copyKnoten(ctx context.Context, e *env, rng *rand.Rand, n int, createdAt string) {
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE knoten_staging (id uuid, lat float8, lon float8, h3 bigint, type text, title text)`)
	check(err)
	rows := make([][]any, 0, n)
	for i := range n {
		p := geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
		c, err := p.Cell()
		check(err)
		rows = append(rows, []any{uuid.New(), p.Lat, p.Lon, c, knoten.KnotenTypes[i%len(knoten.KnotenTypes)], fmt.Sprintf("Knoten %d", i)})
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"knoten_staging"}, []string{"id", "lat", "lon", "h3", "type", "title"}, pgx.CopyFromRows(rows))
	check(err)
	_, err = conn.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
SELECT id, type, title, '', point4326(lon, lat), h3, $1, `+createdAt+`, $2, $2::timestamptz + interval '7 days'
FROM knoten_staging`, e.resident, e.inst.Clock.Now())
	check(err)
	_, err = conn.Exec(ctx, `DROP TABLE knoten_staging`)
	check(err)
}

// benchBBox: GET /api/knoten?bbox= over n Knoten, against the bare `geom && envelope` query.
func benchBBox(ctx context.Context, e *env, cfg config) {
	n := cfg.knoten
	log.Printf("bbox: loading %d Knoten", n)
	start := time.Now()
	rng := rand.New(rand.NewPCG(42, 42))
	copyKnoten(ctx, e, rng, n, `$2::timestamptz - random() * interval '6 days'`)
	e.exec(ctx, `CREATE TABLE bench_pins AS SELECT * FROM knoten`)
	e.exec(ctx, `CREATE INDEX ON bench_pins USING gist (geom)`)
	e.exec(ctx, `VACUUM ANALYZE knoten`)
	e.exec(ctx, `VACUUM ANALYZE bench_pins`)
	log.Printf("bbox: loaded in %s", time.Since(start).Round(time.Second))

	boxes := make([]knoten.BBox, cfg.queries)
	for i := range boxes {
		la := minLat + rng.Float64()*(maxLat-minLat-boxLat)
		lo := minLon + rng.Float64()*(maxLon-minLon-boxLon)
		boxes[i] = knoten.BBox{MinLon: lo, MinLat: la, MaxLon: lo + boxLon, MaxLat: la + boxLat}
	}
	var found int
	bare := func(b knoten.BBox) {
		rows, err := e.inst.Pool.Query(ctx, `
SELECT id, type, title, description, ST_Y(geom), ST_X(geom), h3, created_by, created_at, last_activity_at, garn_count, dissolves_at
FROM bench_pins WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)`, b.MinLon, b.MinLat, b.MaxLon, b.MaxLat)
		check(err)
		var k knoten.Knoten
		var id, by pgtype.UUID // from their 16 bytes, as knoten reads them (a *uuid.UUID would be parsed from text)
		for rows.Next() {
			check(rows.Scan(&id, &k.Type, &k.Title, &k.Description, &k.Point.Lat, &k.Point.Lon, &k.Cell, &by,
				&k.CreatedAt, &k.LastActivityAt, &k.GarnCount, &k.DissolvesAt))
			k.ID, k.CreatedBy = id.Bytes, by.Bytes
			found++
		}
		check(rows.Err())
	}
	service := func(b knoten.BBox) {
		_, err := e.inst.Knoten.List(ctx, knoten.Query{BBox: &b})
		check(err)
	}
	// The HTTP variants: the answer as it always was, and the lean form (?fields=pin); each
	// uncompressed — the transport asks for no encoding, as the first measurements' server
	// sent none — and gzip-compressed, as a browser asks for it.
	identity := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	compressing := &http.Client{Transport: &http.Transport{}} // asks for gzip, and unpacks it
	httpGet := func(client *http.Client, extra string) func(knoten.BBox) {
		return func(b knoten.BBox) {
			res, err := client.Get(fmt.Sprintf("%s/api/knoten?bbox=%f,%f,%f,%f%s", e.url, b.MinLon, b.MinLat, b.MaxLon, b.MaxLat, extra))
			check(err)
			_, err = io.Copy(io.Discard, res.Body)
			check(err)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				log.Fatalf("GET /api/knoten: %d", res.StatusCode)
			}
		}
	}
	names := []string{"bare SQL", "knoten.List", "knoten.Pins", "GET /api/knoten?bbox=", "GET …&fields=pin",
		"GET /api/knoten?bbox= (gzip)", "GET …&fields=pin (gzip)"}
	variants := []func(knoten.BBox){bare, service, func(b knoten.BBox) {
		_, err := e.inst.Knoten.Pins(ctx, knoten.Query{BBox: &b})
		check(err)
	}, httpGet(identity, ""), httpGet(identity, "&fields=pin"),
		httpGet(compressing, ""), httpGet(compressing, "&fields=pin")}
	// Each box is asked every way in a row, in rotating order, so that the machine's drift
	// treats them alike; and before that once of each table, unmeasured, so that every variant
	// finds the box's pages in the buffer cache. (Without it the baseline, alone on its copy of
	// the table, read them cold each time, while the six variants on knoten shared one cold
	// read: that made the listing look 30 % faster than the bare query.)
	for _, b := range boxes[:min(200, len(boxes))] { // warm the caches and the statement caches
		for _, q := range variants {
			q(b)
		}
	}
	if cfg.bboxProfile != "" {
		f, err := os.Create(cfg.bboxProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	type round struct{ times [][]time.Duration }
	var rounds []round
	found = 0
	for r := range cfg.bboxRounds {
		times := make([][]time.Duration, len(variants))
		for i, box := range boxes {
			bare(box)
			service(box)
			for j := range variants {
				v := (i + j + r) % len(variants)
				t := time.Now()
				variants[v](box)
				times[v] = append(times[v], time.Since(t))
			}
		}
		for _, d := range times {
			sortDurations(d)
		}
		rounds = append(rounds, round{times})
		log.Printf("bbox: round %d of %d done, load average %s", r+1, cfg.bboxRounds, loadAverage())
	}
	perBox := found / (2 * len(boxes) * cfg.bboxRounds) // the bare query ran twice per box: warming, measured
	sizes := gzipSizes(e, boxes[0])

	fmt.Println("## Knoten in a box")
	fmt.Println()
	fmt.Printf("%d Knoten spread over %.0f km × %.0f km; %d random boxes of about 2 km × 2 km, about %d Knoten each,\n",
		n, (maxLon-minLon)*70, (maxLat-minLat)*111, len(boxes), perBox)
	fmt.Printf("each asked %d ways in a row (rotating order, after one unmeasured read of each table), %d rounds.\n", len(variants), cfg.bboxRounds)
	fmt.Println("Baseline: the bare `geom && ST_MakeEnvelope(…)` query, same columns, on a copy of the table with a")
	fmt.Println("plain GiST index. Ours: the listing query")
	fmt.Println("(alive at this instant, newest first, limit 1000), its lean form (knoten.Pins: the pin's columns),")
	fmt.Println("and the whole HTTP request over loopback: the full answer and the lean one (`&fields=pin`),")
	fmt.Println("uncompressed (the client asks for no encoding) and gzip-compressed (it asks for gzip).")
	fmt.Printf("Answer sizes for the first box: full %d bytes (gzip %d), lean %d bytes (gzip %d).\n", sizes[0], sizes[1], sizes[2], sizes[3])
	fmt.Println()
	for r, rd := range rounds {
		if cfg.bboxRounds > 1 {
			fmt.Printf("Round %d:\n\n", r+1)
		}
		fmt.Println("| | p50 | p95 | p50 ratio | p95 ratio |")
		fmt.Println("|---|--:|--:|--:|--:|")
		b := rd.times[0]
		for v, d := range rd.times {
			fmt.Printf("| %s | %s | %s | %.2f× | %.2f× |\n", names[v], ms(percentile(d, .5)), ms(percentile(d, .95)),
				ratio(d, b, .5), ratio(d, b, .95))
		}
		fmt.Println()
	}
	if len(rounds) > 1 {
		fmt.Printf("Over the %d rounds, median (min–max) of the ratios to the bare query:\n\n", len(rounds))
		fmt.Println("| | p50 ratio | p95 ratio |")
		fmt.Println("|---|--:|--:|")
		for v := range variants {
			var p50, p95 []float64
			for _, rd := range rounds {
				p50 = append(p50, ratio(rd.times[v], rd.times[0], .5))
				p95 = append(p95, ratio(rd.times[v], rd.times[0], .95))
			}
			fmt.Printf("| %s | %s | %s |\n", names[v], spread(p50), spread(p95))
		}
		fmt.Println()
	}
}

func ratio(d, base []time.Duration, p float64) float64 {
	return float64(percentile(d, p)) / float64(percentile(base, p))
}

// spread is "median× (min–max)" of rs.
func spread(rs []float64) string {
	s := slices.Clone(rs)
	slices.Sort(s)
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", s[len(s)/2], s[0], s[len(s)-1])
}

// gzipSizes are the sizes of the full and lean answers for one box, uncompressed and as the
// server compresses them.
func gzipSizes(e *env, b knoten.BBox) [4]int {
	var out [4]int
	for i, extra := range []string{"", "&fields=pin"} {
		for j, enc := range []string{"identity", "gzip"} {
			req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/knoten?bbox=%f,%f,%f,%f%s", e.url, b.MinLon, b.MinLat, b.MaxLon, b.MaxLat, extra), nil)
			check(err)
			req.Header.Set("Accept-Encoding", enc)
			res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			check(err)
			body, err := io.ReadAll(res.Body)
			check(err)
			res.Body.Close()
			out[2*i+j] = len(body)
		}
	}
	return out
}
