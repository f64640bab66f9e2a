package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"iter"
	"log"
	"math/rand/v2"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// benchSnapshot: the instance's own snapshot service (snapshot.Service.TakeDue on the dev
// clock: dump in one repeatable-read transaction, write gzip to a temp file, fsync, rename,
// read back and verify, record) over cfg.knoten Knoten and cfg.faeden Fäden; an incremental
// after cfg.snapshotChanges Fäden spun through the domain; and the restore of that chain
// into an empty database (instance.RestoreSnapshot, as `weltgewebe restore --from-snapshots`).
func benchSnapshot(ctx context.Context, e *env, cfg config) {
	if e.inst.DevClock == nil {
		log.Fatal("snapshot: needs the dev clock (the env is made with it when -only names snapshot)")
	}
	n, nf := cfg.knoten, cfg.faeden
	log.Printf("snapshot: loading %d Knoten and %d Fäden", n, nf)
	now := e.inst.Clock.Now()
	// Through a staging table, with each point's H3 cell computed as the domain does.
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE snapshot_staging (id uuid, lat float8, lon float8, h3 bigint)`)
	check(err)
	rng := rand.New(rand.NewPCG(15, 15))
	rows := make([][]any, 0, n)
	for range n {
		p := geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
		c, err := p.Cell()
		check(err)
		rows = append(rows, []any{uuid.New(), p.Lat, p.Lon, c})
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"snapshot_staging"}, []string{"id", "lat", "lon", "h3"}, pgx.CopyFromRows(rows))
	check(err)
	_, err = conn.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
SELECT id, 'idee', 'Snapshot ' || row_number() OVER (), '', point4326(lon, lat), h3, $1, $2, $2, $2::timestamptz + interval '7 days'
FROM snapshot_staging`, e.resident, now)
	check(err)
	conn.Release()
	rows = nil
	e.exec(ctx, `
INSERT INTO faeden (id, knoten_id, account_id, type, twisted, created_at, expires_at)
SELECT gen_random_uuid(), k.id, $1, 'gespraech', false, $2, $2::timestamptz + interval '7 days'
FROM (SELECT id FROM knoten WHERE title LIKE 'Snapshot %' LIMIT $3) k`, e.resident, now, nf)
	e.exec(ctx, `VACUUM ANALYZE knoten, faeden`)

	take := func(kind string) (snapshot.Record, time.Duration, uint64) {
		// The next slot of the kind: a day on for the full one, four hours for the incremental.
		by := 4 * time.Hour
		if kind == snapshot.KindFull {
			by = 24 * time.Hour
		}
		_, err := e.inst.DevClock.Advance(by)
		check(err)
		peak := heapPeak()
		start := time.Now()
		recs, err := e.inst.Snapshots.TakeDue(ctx)
		took := time.Since(start)
		check(err)
		grew := peak()
		for _, r := range recs {
			if r.Kind == kind {
				return r, took, grew
			}
		}
		log.Fatalf("snapshot: no %s snapshot taken (the periodic sweep took the slot?)", kind)
		return snapshot.Record{}, 0, 0
	}
	full, fullTook, fullHeap := take(snapshot.KindFull)
	raw := uncompressed(e, full)

	m := cfg.snapshotChanges
	log.Printf("snapshot: spinning %d Fäden", m)
	ids, err := e.inst.Pool.Query(ctx, `SELECT id FROM knoten WHERE title LIKE 'Snapshot %' ORDER BY id LIMIT $1`, m)
	check(err)
	targets, err := pgx.CollectRows(ids, pgx.RowTo[uuid.UUID])
	check(err)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(targets)); i = next.Add(1) - 1 {
				_, err := e.inst.Knoten.Spin(ctx, e.resident, knoten.Spinning{KnotenID: targets[i], Type: "gespraech"})
				check(err)
			}
		})
	}
	wg.Wait()
	inc, incTook, incHeap := take(snapshot.KindIncremental)

	// The chain into a new, empty database on the same server.
	restoreDB := e.dbName + "_restore"
	e.adminExec(ctx, "CREATE DATABASE "+restoreDB)
	defer e.adminExec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+restoreDB+" WITH (FORCE)")
	db, err := instance.OpenDatabase(ctx, instance.DBConfig{URL: e.urlOf(restoreDB), MaxConns: 4}, nil)
	check(err)
	defer db.Close()
	pub := e.snapshotKey(ctx)
	chain := []snapshot.Opener{e.inst.Snapshots.Opener(full), e.inst.Snapshots.Opener(inc)}
	objects := func(section string) iter.Seq2[snapshot.Object, error] {
		return snapshot.MergeSection(chain, section, snapshot.MergeOptions{Key: pub})
	}
	peak := heapPeak()
	start := time.Now()
	check(instance.RestoreSnapshot(ctx, db.Pool, instance.SnapshotSections(), objects, nil))
	restoreTook := time.Since(start)
	restoreHeap := peak()
	var restored int
	check(db.Pool.QueryRow(ctx, `SELECT count(*) FROM knoten`).Scan(&restored))

	fmt.Printf("## Snapshots: take, incremental, restore\n\n")
	fmt.Printf("`wgbench -only snapshot`: %d Knoten and %d active Fäden (plus the bench resident), taken by the\n", n, nf)
	fmt.Println("instance's snapshot service on the dev clock (`TakeDue`: dump in one repeatable-read")
	fmt.Println("transaction, gzip to a temp file, fsync, rename, read back and verify hash, signature and proof,")
	fmt.Println("record). Heap: the Go heap's growth over the step, sampled every 10 ms (peak − start).")
	fmt.Println()
	fmt.Println("| step | time | file (gzip) | document | heap growth |")
	fmt.Println("|---|--:|--:|--:|--:|")
	fmt.Printf("| full snapshot | %s | %s | %s | %s |\n", secs(fullTook), mib(uint64(full.Bytes)), mib(raw), mib(fullHeap))
	fmt.Printf("| incremental after %d Fäden spun | %s | %s | %s | %s |\n", m, secs(incTook), mib(uint64(inc.Bytes)), mib(uncompressed(e, inc)), mib(incHeap))
	fmt.Printf("| restore of the chain into an empty database (%d Knoten) | %s | | | %s |\n\n", restored, secs(restoreTook), mib(restoreHeap))
}

// heapPeak starts sampling the Go heap; the function it returns stops and reports the peak's
// growth over the start.
func heapPeak() func() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, top := ms.HeapInuse, ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapInuse)
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return top - base
	}
}

// uncompressed is the size of a snapshot's document: its gzip file read through.
func uncompressed(e *env, r snapshot.Record) uint64 {
	f := must(e.inst.Snapshots.Opener(r)())
	defer f.Close()
	doc, err := snapshot.Read(f, func(string, snapshot.Object) error { return nil })
	check(err)
	return uint64(doc.Bytes)
}

func must[T any](v T, err error) T {
	check(err)
	return v
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
func mib(b uint64) string         { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// snapshotKey is the instance's public snapshot key (the one its actor publishes).
func (e *env) snapshotKey(ctx context.Context) ed25519.PublicKey {
	pub, err := snapshot.NewKeys(e.inst.Pool, e.inst.Clock).Public(ctx)
	check(err)
	return pub
}

// adminExec runs a statement on the server's maintenance database (CREATE/DROP DATABASE).
func (e *env) adminExec(ctx context.Context, sql string) {
	conn, err := pgx.Connect(ctx, e.adminURL)
	check(err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	check(err)
}

// urlOf is the run's database URL with another database's name.
func (e *env) urlOf(db string) string {
	u, err := url.Parse(e.dbURL)
	check(err)
	u.Path = "/" + db
	return u.String()
}
