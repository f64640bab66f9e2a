package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// benchAppend: domain writes (a Faden spun: Knoten row locked, Faden inserted, Knoten updated,
// one event appended, all in one transaction) against a bare single-row INSERT loop.
func benchAppend(ctx context.Context, e *env, cfg config) {
	e.exec(ctx, `CREATE TABLE bench_raw (id bigserial PRIMARY KEY, at timestamptz NOT NULL, payload jsonb NOT NULL)`)
	e.exec(ctx, `CREATE TABLE bench_projection (id int PRIMARY KEY, n bigint NOT NULL)`)
	targets := make([]uuid.UUID, cfg.workers)
	for i := range targets {
		k, _, err := e.inst.Knoten.Place(ctx, e.resident, knoten.Placement{Type: "idee", Title: fmt.Sprintf("Bench %d", i), Point: leipzig})
		check(err)
		targets[i] = k.ID
	}
	payload := `{"faden_id":"01a1f5c2-7a3e-7000-8000-000000000000","knoten_id":"01a1f5c2-7a3e-7000-8000-000000000001","type":"gespraech"}`
	bare := func(w int) error {
		_, err := e.inst.Pool.Exec(ctx, `INSERT INTO bench_raw (at, payload) VALUES ($1, $2)`, time.Now(), payload)
		return err
	}
	// The event store's own path: one event and the projection row it updates, one transaction.
	appendWithProjection := func(w int) error {
		return database.InTx(ctx, e.inst.Pool, func(tx *database.Tx) error {
			tx.Defer(`INSERT INTO bench_projection (id, n) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET n = bench_projection.n + 1`, w)
			return eventstore.Append(tx, e.inst.Clock.Now(), knoten.FadenVerzwirnt.New(eventstore.Header{Actor: e.resident, Subject: targets[w]},
				knoten.FadenVerzwirntV1{FadenID: targets[w], KnotenID: targets[w]}))
		})
	}
	spin := func(w int) error {
		_, err := e.inst.Knoten.Spin(ctx, e.resident, knoten.Spinning{KnotenID: targets[w], Type: "gespraech"})
		return err
	}

	fmt.Println("## Appends with projection updates")
	fmt.Println()
	fmt.Println("Baseline: a bare single-row autocommit INSERT into a table with a primary key. *Append*: one event")
	fmt.Println("and the projection row it updates (an upsert), one transaction. *Spin*: the full domain command")
	fmt.Println("behind POST /api/faeden — update and check the Knoten, insert the Faden, append FadenGesponnen —")
	fmt.Println("one transaction, one round trip. All durable (synchronous commit). The three run in alternating")
	fmt.Println("one-second slots; a ratio is taken per round against the baseline slot next to it, and the table")
	fmt.Println("shows mean rates and the median of the per-round ratios, because this VM's disk flush time drifts")
	fmt.Println("by a factor of two within a minute.")
	fmt.Println()
	fmt.Println("| writers | bare INSERT/s | append + projection/s | ratio | Fäden spun/s | ratio |")
	fmt.Println("|--:|--:|--:|--:|--:|--:|")
	rounds := max(3, int(cfg.duration/time.Second))
	var cpuLines []string
	for _, workers := range []int{1, cfg.workers} {
		var b, a, o float64
		var ra, ro []float64
		var cb, ca, co cpuPerSlot
		for range rounds {
			rb := cb.rate(workers, bare)
			rapp := ca.rate(workers, appendWithProjection)
			rs := co.rate(workers, spin)
			b, a, o = b+rb, a+rapp, o+rs
			ra, ro = append(ra, rapp/rb), append(ro, rs/rb)
		}
		n := float64(rounds)
		fmt.Printf("| %d | %.0f | %.0f | %.2f× | %.0f | %.2f× |\n", workers, b/n, a/n, median(ra), o/n, median(ro))
		cpuLines = append(cpuLines, fmt.Sprintf("| %d | %s | %s | %s |", workers, cb, ca, co))
	}
	fmt.Println()
	if pgDataDir != "" {
		// CPU time per operation depends far less on what else runs on the machine than the
		// rates do: it says what a write costs, where the rates say what the machine gave it.
		fmt.Println("CPU time per operation, this process (the instance) + PostgreSQL, in µs, over all rounds:")
		fmt.Println()
		fmt.Println("| writers | bare INSERT | append + projection | Faden spun |")
		fmt.Println("|--:|--:|--:|--:|")
		for _, l := range cpuLines {
			fmt.Println(l)
		}
		fmt.Println()
	}
	benchPositionColumn(ctx, e, rounds)
}

// benchPositionColumn: what positions that survive a restore cost an append. Two copies of the
// events table, one whose tx is the transaction id plus the database's offset (events_tx(), as
// the log now has it), one with the raw transaction id it had before; the same inserts into
// each, in alternating one-second slots.
func benchPositionColumn(ctx context.Context, e *env, rounds int) {
	e.exec(ctx, `CREATE TABLE bench_pos_offset (LIKE events INCLUDING DEFAULTS)`)
	e.exec(ctx, `ALTER TABLE bench_pos_offset ADD PRIMARY KEY (id, at)`)
	e.exec(ctx, `CREATE INDEX ON bench_pos_offset (tx, id)`)
	e.exec(ctx, `CREATE TABLE bench_pos_raw (LIKE bench_pos_offset INCLUDING ALL)`)
	e.exec(ctx, `ALTER TABLE bench_pos_raw ALTER COLUMN tx DROP DEFAULT`)
	e.exec(ctx, `ALTER TABLE bench_pos_raw ALTER COLUMN tx TYPE xid8 USING tx::text::xid8`)
	e.exec(ctx, `ALTER TABLE bench_pos_raw ALTER COLUMN tx SET DEFAULT pg_current_xact_id()`)
	payload := `{"faden_id":"01a1f5c2-7a3e-7000-8000-000000000000","knoten_id":"01a1f5c2-7a3e-7000-8000-000000000001","type":"gespraech"}`
	insert := func(table string, rows int) func(int) error {
		sql := `INSERT INTO ` + table + ` (at, type, version, payload, public) SELECT $1, 'FadenVerzwirnt', 1, $2, true FROM generate_series(1, $3)`
		return func(int) error {
			_, err := e.inst.Pool.Exec(ctx, sql, time.Now(), payload, rows)
			return err
		}
	}
	fmt.Println("## The position column")
	fmt.Println()
	fmt.Println("What positions that survive a restore cost an append: the same autocommit inserts into two")
	fmt.Println("copies of the events table, one whose `tx` is `events_tx()` (the transaction id plus the")
	fmt.Println("database's offset, as the log has it) and one with the raw `pg_current_xact_id()` of before,")
	fmt.Println("in alternating one-second slots (each first in every other round); the ratio is the median")
	fmt.Println("of the per-round ratios.")
	fmt.Println()
	fmt.Println("| writers | rows per insert | raw xid rows/s | xid + offset rows/s | ratio |")
	fmt.Println("|--:|--:|--:|--:|--:|")
	for _, workers := range []int{1, 8} {
		for _, rows := range []int{1, 100} {
			var raw, off float64
			var ratios []float64
			for i := range rounds {
				// Each goes first in every other round: the second slot of a round is not
				// favoured by what the first left behind (dirty pages, WAL to flush).
				var r, o float64
				if i%2 == 0 {
					r = rate(workers, time.Second, insert("bench_pos_raw", rows)) * float64(rows)
					o = rate(workers, time.Second, insert("bench_pos_offset", rows)) * float64(rows)
				} else {
					o = rate(workers, time.Second, insert("bench_pos_offset", rows)) * float64(rows)
					r = rate(workers, time.Second, insert("bench_pos_raw", rows)) * float64(rows)
				}
				raw, off = raw+r, off+o
				ratios = append(ratios, o/r)
			}
			n := float64(rounds)
			fmt.Printf("| %d | %d | %.0f | %.0f | %.2f× |\n", workers, rows, raw/n, off/n, median(ratios))
		}
	}
	fmt.Println()
}

// cpuPerSlot adds up the operations and the CPU time (this process's and the cluster's) of a
// variant's one-second slots.
type cpuPerSlot struct {
	ops      float64
	self, pg time.Duration
}

// rate runs op for one slot (as rate does) and counts its operations and CPU time.
func (c *cpuPerSlot) rate(workers int, op func(worker int) error) float64 {
	before, start := sampleCPU(), time.Now()
	r := rate(workers, time.Second, op)
	used := sampleCPU().since(before)
	c.ops += r * time.Since(start).Seconds()
	c.self += used.self
	c.pg += used.pg
	return r
}

func (c cpuPerSlot) String() string {
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / c.ops }
	return fmt.Sprintf("%.0f + %.0f", us(c.self), us(c.pg))
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// rate runs op on workers goroutines for d and returns completed ops per second.
func rate(workers int, d time.Duration, op func(worker int) error) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				check(op(w))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
