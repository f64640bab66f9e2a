package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// benchBackup (-only backup): what the synchronous WAL stream costs the append benchmark's
// domain write (a Faden spun), and how far the archive and the stream lag under that load.
// Two embedded clusters side by side, as serve starts them: one without a repository, one
// with `--backup-repo` and `--backup-wal sync`; the same writes in alternating one-second slots
// (ratios per round, their median, as the append measurement). Then a full backup of the
// benchmark's data and the repository's size.
func benchBackup(ctx context.Context, cfg config) {
	tmp, err := os.MkdirTemp("", "wgbench-backup-")
	check(err)
	check(os.Chmod(tmp, 0o755))
	defer os.RemoveAll(tmp)
	repo := &pgbackrest.Repo{Dir: filepath.Join(tmp, "repo")}
	plainDB, err := instance.OpenDatabase(ctx, instance.DBConfig{DataDir: filepath.Join(tmp, "plain"), NoMigrate: true}, nil)
	check(err)
	defer plainDB.Close()
	syncDB, err := instance.OpenDatabase(ctx, instance.DBConfig{DataDir: filepath.Join(tmp, "sync"), NoMigrate: true,
		Backup: repo, BackupWAL: backup.WALSync}, nil)
	check(err)
	defer syncDB.Close()
	plain := newEnv(ctx, plainDB.URL, false, false)
	defer plain.close(ctx)
	synced := newEnv(ctx, syncDB.URL, false, false)
	defer synced.close(ctx)

	spinner := func(e *env) func(int) error {
		targets := make([]uuid.UUID, cfg.workers)
		for i := range targets {
			k, _, err := e.inst.Knoten.Place(ctx, e.resident, knoten.Placement{Type: "idee", Title: fmt.Sprintf("Bench %d", i), Point: leipzig})
			check(err)
			targets[i] = k.ID
		}
		return func(w int) error {
			_, err := e.inst.Knoten.Spin(ctx, e.resident, knoten.Spinning{KnotenID: targets[w], Type: "gespraech"})
			return err
		}
	}
	spinPlain, spinSync := spinner(plain), spinner(synced)

	// The lags, sampled while the synchronous cluster takes writes.
	var mu sync.Mutex
	var maxStream, maxArchive int64
	var maxArchiveAge time.Duration
	sample := func(stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			r, err := backup.Status(ctx, syncDB.Pool, nil, backup.WALSync, time.Now())
			if err != nil {
				continue
			}
			mu.Lock()
			maxStream = max(maxStream, r.Stream.LagBytes)
			maxArchive = max(maxArchive, r.Archive.LagBytes)
			if r.Archive.LastAt != nil {
				maxArchiveAge = max(maxArchiveAge, time.Since(*r.Archive.LastAt))
			}
			mu.Unlock()
		}
	}

	fmt.Println("## Backups: the synchronous WAL stream's cost, the lags, the repository")
	fmt.Println()
	fmt.Println("Two embedded clusters side by side: one without a repository, one as `serve --backup-repo DIR")
	fmt.Println("--backup-wal sync` runs it (archive_command = pgBackRest's archive-push, pg_receivewal")
	fmt.Println("--synchronous into DIR/wal-stream, a commit acknowledged once the stream has flushed it). The")
	fmt.Println("append measurement's domain write (a Faden spun: one transaction, an event) in alternating")
	fmt.Println("one-second slots; the ratio is the median of the per-round ratios. The lags are sampled every")
	fmt.Println("100 ms during the synchronous slots: the stream's (WAL written but not flushed by")
	fmt.Println("pg_receivewal), and the archive's (WAL past the last archived segment's end: what only the")
	fmt.Println("server's disk and the stream hold, at most a segment, 16 MB, or archive_timeout, 60 s).")
	fmt.Println()
	fmt.Println("| writers | no repository: Fäden/s | sync stream: Fäden/s | ratio | max stream lag | max archive lag | oldest unarchived |")
	fmt.Println("|--:|--:|--:|--:|--:|--:|--:|")
	rounds := max(3, int(cfg.duration/time.Second))
	for _, workers := range []int{1, cfg.workers} {
		maxStream, maxArchive, maxArchiveAge = 0, 0, 0
		var p, s float64
		var ratios []float64
		for i := range rounds {
			var rp, rs float64
			run := func() {
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { sample(stop); close(done) }()
				rs = rate(workers, time.Second, spinSync)
				close(stop)
				<-done
			}
			if i%2 == 0 {
				rp = rate(workers, time.Second, spinPlain)
				run()
			} else {
				run()
				rp = rate(workers, time.Second, spinPlain)
			}
			p, s = p+rp, s+rs
			ratios = append(ratios, rs/rp)
		}
		n := float64(rounds)
		fmt.Printf("| %d | %.0f | %.0f | %.2f× | %s | %s | %s |\n", workers, p/n, s/n, median(ratios),
			sizeText(maxStream), sizeText(maxArchive), maxArchiveAge.Round(time.Second))
	}
	fmt.Println()

	pg, _ := syncDB.BackupCluster()
	var dbBytes int64
	check(syncDB.Pool.QueryRow(ctx, `SELECT sum(pg_database_size(oid))::bigint FROM pg_database`).Scan(&dbBytes))
	start := time.Now()
	b, err := repo.Backup(ctx, pg, "full")
	check(err)
	took := time.Since(start)
	info, err := repo.Info(ctx)
	check(err)
	stream, _ := pgbackrest.DirBytes(repo.StreamDir())
	fmt.Printf("A full backup of the synchronous cluster afterwards (its databases: %s): %s in %s (pgBackRest's\n", sizeText(dbBytes), b.Label, took.Round(100*time.Millisecond))
	fmt.Printf("own figure: %s of files, %s in the repository, zstd); the repository then holds %s (backup and\n", sizeText(b.Size), sizeText(b.RepoSize), sizeText(info.RepoBytes))
	fmt.Printf("archived WAL, %s … %s), the stream's directory %s.\n", info.ArchiveMin, info.ArchiveMax, sizeText(stream))
	fmt.Println()
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
