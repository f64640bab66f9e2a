package main

import (
	"context"
	"fmt"
	"time"
)

// benchSweep: the expiry sweep ending n due Fäden (and the Knoten they leave empty), with one
// event each, against a bare UPDATE of the same rows.
func benchSweep(ctx context.Context, e *env, cfg config) {
	const perKnoten = 5
	n := cfg.faeden
	now := e.inst.Clock.Now()
	due := now.Add(time.Hour)
	e.exec(ctx, `
INSERT INTO knoten (id, type, title, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
SELECT gen_random_uuid(), 'idee', 'Sweep ' || i, point4326(12.37, 51.34), 0, $1, $2, $2, $3
FROM generate_series(1, $4) i`, e.resident, now, due, n/perKnoten)
	e.exec(ctx, `
INSERT INTO faeden (id, knoten_id, account_id, type, twisted, created_at, expires_at)
SELECT gen_random_uuid(), k.id, $1, 'gespraech', false, $2, $3
FROM knoten k, generate_series(1, $4)
WHERE k.title LIKE 'Sweep %'`, e.resident, now, due, perKnoten)
	e.exec(ctx, `CREATE TABLE bench_faeden (LIKE faeden INCLUDING ALL)`)
	e.exec(ctx, `INSERT INTO bench_faeden SELECT * FROM faeden WHERE expires_at = $1`, due)
	e.exec(ctx, `ANALYZE knoten, faeden, bench_faeden`)

	sweepAt := due.Add(time.Minute)
	start := time.Now()
	tag, err := e.inst.Pool.Exec(ctx, `UPDATE bench_faeden SET expired_at = expires_at WHERE expired_at IS NULL AND NOT twisted AND expires_at <= $1`, sweepAt)
	check(err)
	bare := time.Since(start)

	_, err = e.inst.DevClock.Advance(sweepAt.Sub(e.inst.Clock.Now()))
	check(err)
	start = time.Now()
	res, err := e.inst.Knoten.Sweep(ctx)
	check(err)
	ours := time.Since(start)

	fmt.Println("## Expiry sweep")
	fmt.Println()
	fmt.Printf("%d Fäden on %d Knoten come due at once. The sweep takes them on in batches of 1000 Fäden:\n", n, n/perKnoten)
	fmt.Println("lock their Knoten, expire their due Fäden (one FadenAbgelaufen event each), dissolve the Knoten")
	fmt.Println("left empty (one KnotenAufgeloest each), one transaction per batch. Baseline: one bare UPDATE of")
	fmt.Println("the same rows in a copy of the table, no events.")
	fmt.Println()
	fmt.Println("| | rows | time | Fäden/s | ratio |")
	fmt.Println("|---|--:|--:|--:|--:|")
	fmt.Printf("| bare UPDATE | %d | %s | %.0f | 1.00× |\n", tag.RowsAffected(), ms(bare), float64(tag.RowsAffected())/bare.Seconds())
	fmt.Printf("| sweep | %d Fäden + %d Knoten | %s | %.0f | %.2f× |\n\n", res.Expired, res.Dissolved, ms(ours),
		float64(res.Expired)/ours.Seconds(), (float64(res.Expired)/ours.Seconds())/(float64(tag.RowsAffected())/bare.Seconds()))
}
