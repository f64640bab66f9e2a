package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/weltgewebe/weltgewebe/instance"
	backups "github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// dbFlags are the database flags every command shares. The backup flags are among them: a
// command that starts the embedded cluster (serve is not running) must archive its WAL into
// the repository as serve does, or the repository's WAL has a gap.
type dbFlags struct {
	url, dataDir, pgBin string
	backupRepo          string
	backupWAL           walMode
	retentionDays       positiveInt
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.url, "database-url", envOr("DATABASE_URL", ""), "PostgreSQL server with PostGIS (env DATABASE_URL); empty: run an embedded cluster in --data-dir")
	fs.StringVar(&d.dataDir, "data-dir", envOr("WG_DATA_DIR", "data"), "directory of the embedded PostgreSQL cluster (env WG_DATA_DIR)")
	fs.StringVar(&d.pgBin, "pg-bin", envOr("WG_PG_BIN", ""), "directory with the PostgreSQL server binaries (default: newest /usr/lib/postgresql/*/bin)")
	fs.StringVar(&d.backupRepo, "backup-repo", envOr("WG_BACKUP_REPO", ""), "backup repository directory (pgBackRest; docs/OPERATIONS.md): the embedded cluster archives and streams its WAL there; set it for every command, or the repository's WAL has a gap (env WG_BACKUP_REPO; encryption: env WG_BACKUP_CIPHER_PASS; S3: env WG_BACKUP_S3_*)")
	d.backupWAL = walMode(envOr("WG_BACKUP_WAL", backups.WALSync))
	fs.Var(&d.backupWAL, "backup-wal", "with --backup-repo: sync (a commit waits until its WAL is in the repository's stream: nothing acknowledged is lost) or archive (no stream: up to 60 s of writes lost with the server's disk) (env WG_BACKUP_WAL)")
	d.retentionDays = positiveInt(pgbackrest.DefaultRetentionDays)
	if v, ok := os.LookupEnv("WG_BACKUP_RETENTION_DAYS"); ok {
		_ = d.retentionDays.Set(v) // checked again below when it is wrong
	}
	fs.Var(&d.retentionDays, "backup-retention-days", "days full backups are kept (with the WAL they need) (env WG_BACKUP_RETENTION_DAYS)")
}

// walMode is --backup-wal's value.
type walMode string

func (m *walMode) String() string { return string(*m) }
func (m *walMode) Set(s string) error {
	if s != backups.WALSync && s != backups.WALArchive {
		return fmt.Errorf("want sync or archive, not %q", s)
	}
	*m = walMode(s)
	return nil
}

type positiveInt int

func (n *positiveInt) String() string { return strconv.Itoa(int(*n)) }
func (n *positiveInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return fmt.Errorf("want a positive number, not %q", s)
	}
	*n = positiveInt(v)
	return nil
}

// command makes the flag set of a command, with the database flags registered.
func command(name string, stderr io.Writer) (*flag.FlagSet, *dbFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := &dbFlags{}
	db.register(fs)
	return fs, db
}

// quietLogger logs warnings and errors only: for commands whose output is their result.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (d *dbFlags) config() instance.DBConfig {
	return instance.DBConfig{URL: d.url, DataDir: d.dataDir, PGBinDir: d.pgBin, Backup: d.repo(), BackupWAL: string(d.backupWAL)}
}

// repo is the configured backup repository, nil when none. Its secrets come from the
// environment only (a flag's value is visible in the process list).
func (d *dbFlags) repo() *pgbackrest.Repo {
	if d.backupRepo == "" {
		return nil
	}
	dir, err := filepath.Abs(d.backupRepo)
	if err != nil {
		dir = d.backupRepo
	}
	return repoWithSecrets(dir, int(d.retentionDays))
}

// repoWithSecrets is the repository at dir with the secrets from the environment: the cipher
// pass and the S3 bucket and keys. Every command that runs pgBackRest on the repository needs
// all of them — serve's pgbackrest.conf names repo2 when S3 is configured, and pgBackRest then
// refuses any command (restore, info, archive-get) without repo2's keys.
func repoWithSecrets(dir string, retentionDays int) *pgbackrest.Repo {
	r := &pgbackrest.Repo{Dir: dir, RetentionDays: retentionDays, CipherPass: os.Getenv("WG_BACKUP_CIPHER_PASS")}
	if bucket := os.Getenv("WG_BACKUP_S3_BUCKET"); bucket != "" {
		r.S3 = &pgbackrest.S3{Bucket: bucket, Endpoint: os.Getenv("WG_BACKUP_S3_ENDPOINT"), Region: os.Getenv("WG_BACKUP_S3_REGION"),
			Key: os.Getenv("WG_BACKUP_S3_KEY"), Secret: os.Getenv("WG_BACKUP_S3_SECRET")}
	}
	return r
}

func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	fs, db := command("migrate", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	d, err := instance.OpenDatabase(ctx, db.config(), log) // opening migrates
	if err != nil {
		return err
	}
	log.Info("schema is up to date")
	return d.Close()
}
