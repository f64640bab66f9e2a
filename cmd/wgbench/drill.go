package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/drill"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// drillRun is the cluster of -only drill: embedded, archiving into a backup repository and
// streaming its WAL there synchronously, as serve --backup-repo runs it.
type drillRun struct {
	db   *instance.Database
	repo pgbackrest.Repo
	dir  string // holds data/, repo/ and the built binary
}

// openDrillCluster starts the benchmark's cluster as serve --backup-repo does.
func openDrillCluster(ctx context.Context, dir string) *drillRun {
	repo := pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	d, err := instance.OpenDatabase(ctx, instance.DBConfig{DataDir: filepath.Join(dir, "data"), Backup: &repo, BackupWAL: "sync", NoMigrate: true},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	check(err)
	pg, _ := d.BackupCluster()
	pgDataDir = pg.DataDir
	return &drillRun{db: d, repo: repo, dir: dir}
}

// benchDrill: the restore drill (weltgewebe drill) on an instance of -drill-knoten Knoten and
// -drill-events events. The fill goes through the domain's own append path
// (eventstore.AppendEach, a thousand events a transaction) and the Knoten through COPY, as
// the other measurements fill the map; with -drill-backup before, the base backup is taken of
// the empty instance, so that the restore replays the WAL of every event (the worst case: a
// month without a base backup); with after, it is taken of the filled one (a nightly backup).
func benchDrill(ctx context.Context, e *env, cfg config, run *drillRun) {
	pg, ok := run.db.BackupCluster()
	if !ok {
		log.Fatal("drill: the cluster is not the embedded one")
	}
	backup := func() time.Duration {
		start := time.Now()
		_, err := run.repo.Backup(ctx, pg, "full")
		check(err)
		return time.Since(start)
	}
	var before time.Duration
	if cfg.drillBackup == "before" {
		before = backup()
		log.Printf("drill: base backup of the empty instance in %s", before.Round(time.Millisecond))
	}

	log.Printf("drill: filling %d Knoten and %d events", cfg.drillKnoten, cfg.drillEvents)
	start := time.Now()
	ids, points := fillKnoten(ctx, e, cfg.drillKnoten)
	events := fillEvents(ctx, e, ids, points, cfg.drillEvents)
	fill := time.Since(start)
	log.Printf("drill: filled in %s", fill.Round(time.Second))
	var after time.Duration
	if cfg.drillBackup != "before" {
		after = backup()
		log.Printf("drill: base backup of the filled instance in %s", after.Round(time.Second))
	}
	var dbBytes int64
	check(e.inst.Pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&dbBytes))

	bin := filepath.Join(run.dir, "weltgewebe")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/weltgewebe").CombinedOutput(); err != nil {
		log.Fatalf("drill: build: %v\n%s", err, out)
	}
	load0 := loadavg()
	reportFile := filepath.Join(run.dir, "drill.json")
	cmd := exec.Command(bin, "drill", "--database-url", e.dbURL, "--backup-repo", run.repo.Dir, "--report", reportFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, os.Stderr), os.Stderr
	if err := cmd.Run(); err != nil {
		log.Printf("drill: %v", err)
	}
	load1 := loadavg()
	b, err := os.ReadFile(reportFile)
	check(err)
	var r drill.Report
	check(json.Unmarshal(b, &r))

	fmt.Println("## Restore drill")
	fmt.Println()
	fmt.Printf("`weltgewebe drill` against an instance of %d Knoten and %d events (%s in the database), its embedded cluster\n", cfg.drillKnoten, events, mb(dbBytes))
	fmt.Println("archiving into a pgBackRest repository and streaming its WAL there synchronously (serve --backup-repo).")
	if cfg.drillBackup == "before" {
		fmt.Printf("Base backup taken of the empty instance (%s), so the restore replays the WAL of every event: the worst case.\n", secs(before))
	} else {
		fmt.Printf("Base backup taken of the filled instance (%s), as the nightly backup would be.\n", secs(after))
	}
	fmt.Printf("Filled in %s (Knoten by COPY, events through eventstore.AppendEach, 1000 a transaction). Load average %s before the drill, %s after.\n\n", secs(fill), load0, load1)
	fmt.Println("| phase | seconds |")
	fmt.Println("|---|--:|")
	for _, p := range r.Phases {
		fmt.Printf("| %s | %.1f |\n", p.Name, p.Seconds)
	}
	fmt.Printf("| **total** | **%.1f** |\n\n", r.TotalSeconds)
	fmt.Printf("Restore (repository to an answering, promoted database): **%.1f s**; repository %s; WAL replayed %s; writes waited %.1f ms; result: %s.\n\n",
		r.RestoreSeconds, mb(r.RepositoryBytes), mb(r.WALReplayedBytes), r.WritesWaitedMS, map[bool]string{true: "passed", false: "FAILED " + r.Error}[r.Passed])
}

func mb(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// fillKnoten puts n Knoten on the map by COPY and returns their ids and points.
func fillKnoten(ctx context.Context, e *env, n int) ([]uuid.UUID, []geo.Point) {
	rng := rand.New(rand.NewPCG(18, 18))
	ids, points := make([]uuid.UUID, n), make([]geo.Point, n)
	rows := make([][]any, n)
	for i := range n {
		ids[i] = uuid.New()
		points[i] = geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
		c, err := points[i].Cell()
		check(err)
		rows[i] = []any{ids[i], points[i].Lat, points[i].Lon, c}
	}
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE drill_staging (id uuid, lat float8, lon float8, h3 bigint)`)
	check(err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"drill_staging"}, []string{"id", "lat", "lon", "h3"}, pgx.CopyFromRows(rows))
	check(err)
	_, err = conn.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
SELECT id, 'idee', 'Drill ' || row_number() OVER (), '', point4326(lon, lat), h3, $1, $2, $2, $2::timestamptz + interval '7 days'
FROM drill_staging`, e.resident, e.inst.Clock.Now())
	check(err)
	_, err = conn.Exec(ctx, `DROP TABLE drill_staging`)
	check(err)
	return ids, points
}

// fillEvents appends total events: each Knoten's KnotenGeknuepft and its creator's
// FadenGesponnen, then Fäden spun, twisted and expired at random Knoten.
func fillEvents(ctx context.Context, e *env, ids []uuid.UUID, points []geo.Point, total int) int {
	rng := rand.New(rand.NewPCG(18, 19))
	now := e.inst.Clock.Now()
	exp := now.Add(7 * 24 * time.Hour)
	n := 0
	next := func() eventstore.Draft {
		defer func() { n++ }()
		if n < 2*len(ids) {
			i := n / 2
			cell, _ := points[i].Cell()
			if n%2 == 0 {
				return knoten.KnotenGeknuepft.New(eventstore.Header{Actor: e.resident, Subject: ids[i], Cell: cell}, knoten.KnotenGeknuepftV1{
					KnotenID: ids[i], Type: "idee", Title: fmt.Sprintf("Drill %d", i+1), Lat: points[i].Lat, Lon: points[i].Lon,
					H3: fmt.Sprintf("%x", cell), CreatedBy: e.resident})
			}
			f := uuid.New()
			return knoten.FadenGesponnen.New(eventstore.Header{Actor: e.resident, Subject: f, Cell: cell},
				knoten.FadenGesponnenV1{FadenID: f, KnotenID: ids[i], AccountID: e.resident, Type: "beitrag", ExpiresAt: &exp})
		}
		i := rng.IntN(len(ids))
		cell, _ := points[i].Cell()
		f := uuid.New()
		switch x := rng.IntN(100); {
		case x < 70:
			return knoten.FadenGesponnen.New(eventstore.Header{Actor: e.resident, Subject: f, Cell: cell},
				knoten.FadenGesponnenV1{FadenID: f, KnotenID: ids[i], AccountID: e.resident, Type: "gespraech", ExpiresAt: &exp})
		case x < 85:
			return knoten.FadenVerzwirnt.New(eventstore.Header{Actor: e.resident, Subject: f}, knoten.FadenVerzwirntV1{FadenID: f, KnotenID: ids[i]})
		default:
			return knoten.FadenAbgelaufen.New(eventstore.Header{Subject: f}, knoten.FadenAbgelaufenV1{FadenID: f, KnotenID: ids[i], ExpiredAt: now})
		}
	}
	const perTx = 1000
	for n < total {
		check(database.InTx(ctx, e.inst.Pool, func(tx *database.Tx) error {
			drafts := make([]eventstore.Draft, 0, perTx)
			for len(drafts) < perTx && n < total {
				drafts = append(drafts, next())
			}
			return eventstore.AppendEach(tx, now, drafts...)
		}))
		if n%100_000 == 0 {
			log.Printf("drill: %d events", n)
		}
	}
	return n
}
