package knoten_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// BenchmarkSnapshotRestoreKnoten restores WG_BENCH_KNOTEN (default 100,000) Knoten through
// the section's Restore (COPY into a staging table, one INSERT … SELECT with the indexes) into
// an empty database, and dumps them again: the restore's share of a million-Knoten map.
//
//	WG_BENCH_KNOTEN=1000000 go test ./instance/knoten/ -run '^$' -bench SnapshotRestore -benchtime 1x
func BenchmarkSnapshotRestoreKnoten(b *testing.B) {
	n := 100_000
	if s := os.Getenv("WG_BENCH_KNOTEN"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	creator := uuid.New()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	objects := func(yield func(snapshot.Object, error) bool) {
		for i := range n {
			p := geo.Point{Lat: 51.30 + float64(i%1000)*0.0001, Lon: 12.30 + float64(i/1000%1000)*0.0001}
			cell, _ := p.Cell()
			k := knoten.SnapshotKnoten{ID: uuid.NewSHA1(uuid.Nil, []byte(strconv.Itoa(i))), Type: "idee",
				Title: fmt.Sprintf("Knoten %d", i), Lat: p.Lat, Lon: p.Lon, H3: geo.CellHex(cell), CreatedBy: creator,
				CreatedAt: at, LastActivityAt: at, GarnCount: 1, Permanent: true}
			j, _ := json.Marshal(k)
			if !yield(snapshot.Object{ID: k.ID.String(), JSON: j}, nil) {
				return
			}
		}
	}
	for b.Loop() {
		b.StopTimer()
		pool := pgtest.Pool(b)
		if _, err := pool.Exec(ctx, `INSERT INTO accounts (id, handle, name, email, password_hash, created_at)
VALUES ($1, 'bench', 'Bench', 'bench@restored.invalid', 'x', now())`, creator); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return knoten.SnapshotSections()[0].Restore(ctx, tx, objects)
		})
		if err != nil {
			b.Fatal(err)
		}
		restored := time.Since(start)
		start = time.Now()
		dumped := 0
		err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			return knoten.SnapshotSections()[0].Dump(ctx, tx, nil, func(snapshot.Object) error { dumped++; return nil })
		})
		if err != nil || dumped != n {
			b.Fatalf("dumped %d of %d: %v", dumped, n, err)
		}
		b.ReportMetric(restored.Seconds(), "s/restore")
		b.ReportMetric(time.Since(start).Seconds(), "s/dump")
	}
}
