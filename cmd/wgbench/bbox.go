package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
		for rows.Next() {
			check(rows.Scan(&k.ID, &k.Type, &k.Title, &k.Description, &k.Point.Lat, &k.Point.Lon, &k.Cell, &k.CreatedBy,
				&k.CreatedAt, &k.LastActivityAt, &k.GarnCount, &k.DissolvesAt))
			found++
		}
		check(rows.Err())
	}
	service := func(b knoten.BBox) {
		_, err := e.inst.Knoten.List(ctx, knoten.Query{BBox: &b})
		check(err)
	}
	client := &http.Client{}
	httpGet := func(b knoten.BBox) {
		res, err := client.Get(fmt.Sprintf("%s/api/knoten?bbox=%f,%f,%f,%f", e.url, b.MinLon, b.MinLat, b.MaxLon, b.MaxLat))
		check(err)
		_, err = io.Copy(io.Discard, res.Body)
		check(err)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			log.Fatalf("GET /api/knoten: %d", res.StatusCode)
		}
	}
	// Each box is asked all three ways in a row, in rotating order, so that caches and the
	// machine's drift treat them alike.
	variants := []func(knoten.BBox){bare, service, httpGet}
	for _, b := range boxes[:200] { // warm the caches and the statement caches
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
	b, s, h := sortDurations(times[0]), sortDurations(times[1]), sortDurations(times[2])
	perBox := found / len(boxes)

	fmt.Println("## Knoten in a box")
	fmt.Println()
	fmt.Printf("%d Knoten spread over %.0f km × %.0f km; %d random boxes of about 2 km × 2 km, about %d Knoten each,\n",
		n, (maxLon-minLon)*70, (maxLat-minLat)*111, len(boxes), perBox)
	fmt.Println("each asked three ways in a row (rotating order). Baseline: the bare `geom && ST_MakeEnvelope(…)`")
	fmt.Println("query, same columns, on a copy of the table with a plain GiST index. Ours: the listing query")
	fmt.Println("(alive at this instant, newest first, limit 1000), and the whole HTTP request with JSON encoding")
	fmt.Println("over loopback.")
	fmt.Println()
	fmt.Println("| | p50 | p95 | p50 ratio | p95 ratio |")
	fmt.Println("|---|--:|--:|--:|--:|")
	row := func(name string, d []time.Duration) {
		fmt.Printf("| %s | %s | %s | %.2f× | %.2f× |\n", name, ms(percentile(d, .5)), ms(percentile(d, .95)),
			float64(percentile(d, .5))/float64(percentile(b, .5)), float64(percentile(d, .95))/float64(percentile(b, .95)))
	}
	row("bare SQL", b)
	row("knoten.List", s)
	row("GET /api/knoten?bbox=", h)
	fmt.Println()
}
