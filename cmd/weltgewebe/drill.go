package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/drill"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

const drillUsage = `usage: weltgewebe drill --backup-repo DIR [database flags of the source] [--report FILE] [--keep DIR]

The restore drill: proves that the backup repository alone brings the instance back.
  1. On the running instance (the source): every table is locked IN SHARE MODE for a moment
     (writes wait, measured), a restore point drill-<time> is set, and a fingerprint taken —
     every table's row count, a SHA-256 over its rows in key order, the event log's head and a
     hash over it.
  2. In a fresh directory with nothing but the repository, as on a bare server: restore to
     that restore point, start the cluster, take the same fingerprint, compare; the event log
     must be gap-free (every position the source had, every object's history whole).
  3. A timed report (text and JSON: each phase, the repository's bytes, the WAL replayed, the
     result) is printed and written to DIR/drills/, where serve --backup-repo publishes it
     (GET /api/betrieb/drills).
Exits 0 only when everything matched. Run it monthly (docs/OPERATIONS.md, "Restore drill").

flags:
`

func drillCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("drill", stderr, drillUsage)
	db := &dbFlags{}
	db.register(fs)
	reportFile := fs.String("report", "", "also write the JSON report to this file")
	keep := fs.String("keep", "", "restore into this (empty or new) directory and keep it, instead of a temporary one removed afterwards")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long (the seed's limit for a restore is an hour)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || db.repo() == nil {
		fs.Usage()
		return fmt.Errorf("drill needs --backup-repo (the source's repository) and no arguments")
	}
	repo, err := openRepo(db.repo().Dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r := runDrill(ctx, repo, db, *keep, stderr)
	if err := r.Write(repo.DrillsDir()); err != nil {
		fmt.Fprintf(stderr, "weltgewebe: drill: %v\n", err)
	}
	if *reportFile != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*reportFile, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "weltgewebe: drill: %v\n", err)
		}
	}
	fmt.Fprint(stdout, r.Text())
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(repo.DrillsDir(), r.Name+".json"))
	if !r.Passed {
		return fmt.Errorf("the drill failed")
	}
	return nil
}

// runDrill runs the drill's three phases and returns the report; a step that fails ends the
// drill with the report's Error set.
func runDrill(ctx context.Context, repo pgbackrest.Repo, db *dbFlags, keep string, stderr io.Writer) *drill.Report {
	began := time.Now()
	r := &drill.Report{Name: began.UTC().Format(drill.NameLayout), Started: began.UTC().Truncate(time.Second)}
	r.RestorePoint = "drill-" + r.Name
	phase := func(name string, since time.Time) time.Time {
		r.Phase(name, time.Since(since))
		return time.Now()
	}
	fail := func(err error) *drill.Report {
		r.Error = err.Error()
		r.Passed = false
		r.TotalSeconds = time.Since(began).Seconds()
		if n, err := pgbackrest.DirBytes(repo.Dir); err == nil {
			r.RepositoryBytes = n
		}
		return r
	}

	// 1. The source.
	cfg := db.config()
	cfg.NoMigrate = true
	src, err := instance.OpenDatabase(ctx, cfg, quietLogger(stderr))
	if err != nil {
		return fail(fmt.Errorf("the source: %w", err))
	}
	defer src.Close()
	locker, err := pgx.Connect(ctx, src.URL)
	if err != nil {
		return fail(fmt.Errorf("the source: %w", err))
	}
	defer locker.Close(context.Background())
	reader, err := pgx.Connect(ctx, src.URL)
	if err != nil {
		return fail(fmt.Errorf("the source: %w", err))
	}
	defer reader.Close(context.Background())
	if err := drill.Canonical(ctx, reader); err != nil {
		return fail(err)
	}
	t := time.Now()
	mark, err := drill.MarkSource(ctx, locker, reader, r.RestorePoint)
	if err != nil {
		return fail(err)
	}
	r.LSN = mark.LSN
	// The restore starts from a backup that ended before the restore point's segment: the
	// newest one may have begun after it (the nightly backup, finishing while the source is
	// fingerprinted) and never reach it.
	var segment string
	if err := locker.QueryRow(ctx, `SELECT pg_walfile_name($1::pg_lsn)`, mark.LSN).Scan(&segment); err != nil {
		return fail(fmt.Errorf("the source: %w", err))
	}
	r.WritesWaitedMS = float64(mark.Stall().Microseconds()) / 1000
	t = phase("mark the source", t)
	source, err := drill.Take(ctx, reader)
	_, _ = reader.Exec(ctx, `ROLLBACK`) // ends the imported snapshot's transaction either way
	if err != nil {
		return fail(err)
	}
	t = phase("fingerprint the source", t)
	if r.Durable, err = drill.WaitDurable(ctx, locker, mark.LSN); err != nil {
		return fail(err)
	}
	t = phase("WAL to the repository", t)

	// 2. A bare directory with nothing but the repository.
	dir := keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "weltgewebe-drill-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	// The cluster's user (postgres, when this runs as root) must enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	rc, err := recoverInto(ctx, repo, pgbackrest.Target{Name: r.RestorePoint, Segment: segment}, filepath.Join(dir, "data"), db.pgBin, stderr)
	if err != nil {
		return fail(fmt.Errorf("restore: %w", err))
	}
	defer rc.stop(context.Background())
	r.Phase("restore from the repository", rc.restore)
	r.Phase("recover and promote", rc.recovery)
	r.RestoreSeconds = (rc.restore + rc.recovery).Seconds()
	t = time.Now()
	if rc.startLSN != "" {
		_ = rc.conn.QueryRow(ctx, `SELECT ($1::pg_lsn - $2::pg_lsn)::bigint`, mark.LSN, rc.startLSN).Scan(&r.WALReplayedBytes)
	}
	restored, err := fingerprintAt(ctx, rc.cluster.URL(source.Database))
	if err != nil {
		return fail(fmt.Errorf("the restored database: %w", err))
	}
	phase("fingerprint the restored", t)

	// 3. The verdict.
	r.Judge(source, restored)
	r.TotalSeconds = time.Since(began).Seconds()
	if n, err := pgbackrest.DirBytes(repo.Dir); err == nil {
		r.RepositoryBytes = n
	}
	return r
}

// fingerprintAt takes the fingerprint of the database at url in a transaction of its own.
func fingerprintAt(ctx context.Context, url string) (drill.Fingerprint, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return drill.Fingerprint{}, err
	}
	defer conn.Close(context.Background())
	if err := drill.Canonical(ctx, conn); err != nil {
		return drill.Fingerprint{}, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return drill.Fingerprint{}, err
	}
	defer tx.Rollback(context.Background())
	return drill.Take(ctx, conn)
}
