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

// benchBBox: GET /api/knoten?bbox= over n Knoten, against the bare `geom && envelope` query.
func benchBBox(ctx context.Context, e *env, cfg config) {
	n := cfg.knoten
	log.Printf("bbox: loading %d Knoten", n)
	start := time.Now()
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE staging (id uuid, lat float8, lon float8, h3 bigint, type text, title text)`)
	check(err)
	rng := rand.New(rand.NewPCG(42, 42))
	rows := make([][]any, 0, n)
	for i := range n {
		p := geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
		c, err := p.Cell()
		check(err)
		rows = append(rows, []any{uuid.New(), p.Lat, p.Lon, c, knoten.KnotenTypes[i%len(knoten.KnotenTypes)], fmt.Sprintf("Knoten %d", i)})
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"staging"}, []string{"id", "lat", "lon", "h3", "type", "title"}, pgx.CopyFromRows(rows))
	check(err)
	now := e.inst.Clock.Now()
	_, err = conn.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
SELECT id, type, title, '', point4326(lon, lat), h3, $1, $2::timestamptz - random() * interval '6 days', $2, $2::timestamptz + interval '7 days'
FROM staging`, e.resident, now)
	check(err)
	conn.Release()
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
	measure := func(q func(knoten.BBox)) []time.Duration {
		for _, b := range boxes[:200] { // warm the caches and the statement cache
			q(b)
		}
		d := make([]time.Duration, len(boxes))
		for i, b := range boxes {
			t := time.Now()
			q(b)
			d[i] = time.Since(t)
		}
		return sortDurations(d)
	}
	b := measure(bare)
	perBox := found / (len(boxes) + 200)
	s := measure(service)
	h := measure(httpGet)

	fmt.Println("## Knoten in a box")
	fmt.Println()
	fmt.Printf("%d Knoten spread over %.0f km × %.0f km; %d random boxes of about 2 km × 2 km, about %d Knoten each,\n",
		n, (maxLon-minLon)*70, (maxLat-minLat)*111, len(boxes), perBox)
	fmt.Println("queried one after another. Baseline: the bare `geom && ST_MakeEnvelope(…)` query, same columns, on a")
	fmt.Println("copy of the table with a plain GiST index. Ours: the listing query (alive at this instant, newest")
	fmt.Println("first, limit 1000), then the whole HTTP request with JSON encoding over loopback.")
	fmt.Println()
	fmt.Println("| | p50 | p95 | p95 ratio |")
	fmt.Println("|---|--:|--:|--:|")
	fmt.Printf("| bare SQL | %s | %s | 1.00× |\n", ms(percentile(b, .5)), ms(percentile(b, .95)))
	fmt.Printf("| knoten.List | %s | %s | %.2f× |\n", ms(percentile(s, .5)), ms(percentile(s, .95)), float64(percentile(s, .95))/float64(percentile(b, .95)))
	fmt.Printf("| GET /api/knoten?bbox= | %s | %s | %.2f× |\n\n", ms(percentile(h, .5)), ms(percentile(h, .95)), float64(percentile(h, .95))/float64(percentile(b, .95)))
}
