package instance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// archiveInto makes the embedded cluster archive its WAL into the repository (pgBackRest's
// archive-push) and, with wal "sync", stream it there too, each commit waiting for the
// stream (docs/plans/operations.md, decision 1).
func archiveInto(opts *pgcluster.Options, repo pgbackrest.Repo, wal string) error {
	if _, err := pgbackrest.Binary(); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return err
	}
	owner, err := pgcluster.ServerOwner()
	if err != nil {
		return err
	}
	// The directories and a first configuration before the server starts: archive-push and
	// the stream write there as the server's user. The socket is added once it runs. An
	// existing configuration stays until then: a backup of the running server may be reading it.
	if _, err := os.Stat(repo.ConfigPath()); err != nil {
		if err := repo.WriteConfig(pgbackrest.Cluster{DataDir: dataDir, User: owner.Name()}); err != nil {
			return err
		}
	}
	if opts.Settings == nil {
		opts.Settings = map[string]string{}
	}
	if err := markHistoryReady(dataDir, owner); err != nil {
		return err
	}
	opts.Settings["archive_mode"] = "on"
	opts.Settings["archive_command"] = repo.ArchiveCommand()
	// A quiet instance's last writes reach the archive within a minute even without the
	// stream (--backup-wal archive).
	opts.Settings["archive_timeout"] = "60"
	opts.Settings["wal_level"] = "replica"
	opts.Settings["max_wal_senders"] = "10"
	opts.Env = append(opts.Env, repo.Env()...)
	switch wal {
	case "", backup.WALSync:
		opts.WALStream = &pgcluster.WALStream{Dir: repo.StreamDir(), Slot: backup.StreamSlot, Sync: true}
	case backup.WALArchive:
	default:
		return fmt.Errorf("--backup-wal must be sync or archive, not %q", wal)
	}
	return nil
}

// clusterForBackup is the embedded cluster as pgBackRest sees it.
func (d *Database) clusterForBackup() pgbackrest.Cluster {
	c := d.cluster
	return pgbackrest.Cluster{DataDir: c.DataDir(), SocketDir: c.SocketDir(), Port: c.Port(), BinDir: c.BinDir(),
		User: c.Owner().Name()}
}

// BackupCluster is the embedded cluster as pgBackRest sees it; false for a server of its own
// (whose backups its own host takes, docs/OPERATIONS.md).
func (d *Database) BackupCluster() (pgbackrest.Cluster, bool) {
	if d.cluster == nil {
		return pgbackrest.Cluster{}, false
	}
	return d.clusterForBackup(), true
}

// BackupStatus is the backups' status (backup.Status) for this instance's database and
// repository.
func (d *Database) BackupStatus(ctx context.Context, cfg DBConfig, now time.Time) (backup.Report, error) {
	wal := cfg.BackupWAL
	if wal == "" {
		wal = backup.WALSync
	}
	if d.cluster == nil {
		wal = backup.WALArchive // a server of its own: the stream is its host's business
	}
	return backup.Status(ctx, d.Pool, cfg.Backup, wal, now)
}

// saveSnapshot copies each snapshot file into the backup repository as it is taken; nil
// without a repository.
func (c Config) saveSnapshot() func(paths ...string) error {
	repo := c.DB.Backup
	if repo == nil {
		return nil
	}
	return func(paths ...string) error {
		for _, p := range paths {
			if err := repo.SaveSnapshot(p); err != nil {
				return err
			}
		}
		return nil
	}
}

// backupScheduler is the nightly backup's scheduler: nil unless a time, a repository and the
// embedded cluster are there (an external server's host runs pgBackRest itself).
func (i *Instance) backupScheduler(cfg Config, db *Database, log *slog.Logger) *backup.Scheduler {
	pg, ok := db.BackupCluster()
	if cfg.BackupAt <= 0 || cfg.DB.Backup == nil {
		return nil
	}
	if !ok {
		log.Warn("--backup-at is ignored: the database is a server of its own; run pgBackRest on its host (docs/OPERATIONS.md)")
		return nil
	}
	loc := cfg.DelegationBatch.Location
	if loc == nil {
		loc = time.UTC
	}
	return backup.NewScheduler(*cfg.DB.Backup, pg, cfg.BackupAt, loc, i.Clock, log)
}

// BackupStatus is the status of this instance's backups (GET /api/admin/backup).
func (i *Instance) BackupStatus(ctx context.Context) (backup.Report, error) {
	return i.db.BackupStatus(ctx, i.cfg.DB, i.Clock.Now())
}

// WALStreamState is the WAL stream's state for /readyz: "ok", "down" (a repository with
// --backup-wal sync, and no stream: writes wait) or "off"; an unreachable database is "down"
// only when the stream is expected.
func (i *Instance) WALStreamState(ctx context.Context) string {
	wal := i.cfg.DB.BackupWAL
	if wal == "" {
		wal = backup.WALSync
	}
	expected := i.cfg.DB.Backup != nil && wal == backup.WALSync && i.db.cluster != nil
	st, err := backup.StreamState(ctx, i.Pool, expected, wal)
	if err != nil {
		if expected {
			return "down"
		}
		return "off"
	}
	return st
}

// markHistoryReady has the archiver take the timeline history files in pg_wal/ that it never
// took: restore --to promotes the restored cluster with archiving off (it must not write into a
// repository whose timeline may still be a live source's), so its new timeline's history file
// was not marked for archiving then. Without it in the archive, a later restore from a backup
// of the old timeline cannot follow onto the new one: it replays the old timeline only and
// loses everything written since. archive-push of a history file the archive has already is
// a no-op (same content).
func markHistoryReady(dataDir string, owner pgcluster.Owner) error {
	wal := filepath.Join(dataDir, "pg_wal")
	histories, err := filepath.Glob(filepath.Join(wal, "*.history"))
	if err != nil || len(histories) == 0 {
		return err
	}
	status := filepath.Join(wal, "archive_status")
	for _, h := range histories {
		name := filepath.Base(h)
		if !historyFile.MatchString(name) {
			continue
		}
		done, ready := filepath.Join(status, name+".done"), filepath.Join(status, name+".ready")
		if _, err := os.Stat(done); err == nil {
			continue
		}
		if _, err := os.Stat(ready); err == nil {
			continue
		}
		if err := os.WriteFile(ready, nil, 0o600); err != nil {
			return fmt.Errorf("backup: mark %s for archiving: %w", name, err)
		}
		if err := owner.ChownOne(ready); err != nil {
			return err
		}
	}
	return nil
}

var historyFile = regexp.MustCompile(`^[0-9A-F]{8}\.history$`)
