package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/weltgewebe/weltgewebe/instance"
	backups "github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// backup takes a pgBackRest backup of the embedded cluster into the repository
// (docs/OPERATIONS.md, "Backup and restore"); `backup status` says what the repository holds.
// It works while serve runs (it uses the running server).
func backup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return backupStatus(ctx, args[1:], stdout, stderr)
	}
	fs, db := command("backup", stderr)
	kind := fs.String("type", "", "full, diff (what changed since the last full one) or incr (since the last backup); default: full when none is younger than 7 days, else diff (as the nightly backup)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weltgewebe backup [--type full|diff|incr] --backup-repo DIR [database flags]
       weltgewebe backup status [--json] [--backup-repo DIR] [database flags]

Takes a backup of the embedded cluster with pgBackRest into the repository (creating its stanza
first when it has none) and prints what it made. The WAL between backups is archived (and, with
--backup-wal sync, streamed) by the cluster itself; a restore needs one backup and that WAL.
The pg_dump export of the database is "weltgewebe export database FILE".

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup takes no file: the pg_dump export is now \"weltgewebe export database %s\"", fs.Arg(0))
	}
	if *kind != "" && *kind != "full" && *kind != "diff" && *kind != "incr" {
		return fmt.Errorf("--type must be full, diff or incr, not %q", *kind)
	}
	cfg := db.config()
	if cfg.Backup == nil {
		return errors.New("backup: no repository: set --backup-repo DIR (env WG_BACKUP_REPO)")
	}
	if cfg.URL != "" {
		return errors.New("backup: the database is a server of its own: run pgBackRest on its host (docs/OPERATIONS.md, \"An external server\")")
	}
	cfg.NoMigrate = true
	d, err := instance.OpenDatabase(ctx, cfg, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	pg, _ := d.BackupCluster()
	if *kind == "" {
		info, err := cfg.Backup.Info(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		if *kind = backups.Due(info.Backups, now, now); *kind == "" {
			*kind = "diff"
		}
	}
	b, err := cfg.Backup.Backup(ctx, pg, *kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s (%s): database %s, added %s to the repository, took %s; restorable from %s\n",
		b.Label, b.Type, bytesText(b.Size), bytesText(b.RepoDelta), b.Duration().Round(time.Second), b.Stop.Format(time.RFC3339))
	return nil
}

// backupStatus prints backups.Status: the repository's backups, the archive and the stream.
func backupStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("backup status", stderr)
	asJSON := fs.Bool("json", false, "print the status as JSON (as GET /api/admin/backup answers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup status takes no arguments, got %q", fs.Args())
	}
	cfg := db.config()
	cfg.NoMigrate = true
	d, err := instance.OpenDatabase(ctx, cfg, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.BackupStatus(ctx, cfg, time.Now().UTC())
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printStatus(stdout, r)
	return nil
}

func printStatus(w io.Writer, r backups.Report) {
	at := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05 MST")
	}
	if r.Configured {
		fmt.Fprintf(w, "repository:   %s (%s in it, %d backups; WAL %s)\n", r.Repo, bytesText(r.RepoBytes), r.Backups, r.WAL)
	} else {
		fmt.Fprintf(w, "repository:   none configured (--backup-repo)\n")
	}
	for _, k := range pgbackrest.Kinds {
		if b := r.Last[k]; b != nil {
			fmt.Fprintf(w, "last %-5s    %s, took %s, database %s, %s in the repository\n", k+":", at(&b.Stop),
				b.Duration().Round(time.Second), bytesText(b.Size), bytesText(b.RepoSize))
		} else if r.Configured {
			fmt.Fprintf(w, "last %-5s    none\n", k+":")
		}
	}
	fmt.Fprintf(w, "archive:      mode %s, last %s at %s, %d failures", r.Archive.Mode, orNone(r.Archive.LastWAL), at(r.Archive.LastAt), r.Archive.Failed)
	if r.Archive.LastFailedWAL != "" {
		fmt.Fprintf(w, " (last %s at %s)", r.Archive.LastFailedWAL, at(r.Archive.LastFailedAt))
	}
	fmt.Fprintf(w, ", %s not archived yet\n", bytesText(r.Archive.LagBytes))
	fmt.Fprintf(w, "stream:       %s", r.Stream.State)
	if r.Stream.State == "ok" {
		fmt.Fprintf(w, " (%s, %s behind)", r.Stream.SyncState, bytesText(r.Stream.LagBytes))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "restorable:   from %s to %s\n", at(r.OldestRestorePoint), at(r.NewestRestorePoint))
	if r.Error != "" {
		fmt.Fprintf(w, "error:        %s\n", r.Error)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// bytesText is n in B, kB, MB or GB (powers of 1000, one decimal).
func bytesText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// exportDatabase writes a pg_dump (custom format) of the instance's database: a copy to move
// or inspect, not a backup (it has nothing written after it). It works while serve runs.
func exportDatabase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("export database", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: weltgewebe export database [database flags] FILE")
	}
	out := fs.Arg(0)
	cfg := db.config()
	cfg.NoMigrate = true
	d, err := instance.OpenDatabase(ctx, cfg, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, tool(d, "pg_dump"), "--format=custom", "--file="+abs, "--dbname="+d.URL)
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_dump: %w", err)
	}
	fmt.Fprintf(stdout, "database exported to %s\n", out)
	return nil
}

// restore loads an export (export database) into the database, replacing what is there, and
// then brings the schema up to date (the export may come from an older version). With
// --from-snapshots it rebuilds the public state in an empty database from signed snapshots
// instead (restore_snapshots.go). A restore from the backup repository is restore --to
// (restore_to.go).
func restore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("restore", stderr)
	fromExport := fs.String("from-export", "", "replace the database with this export (weltgewebe export database FILE), then migrate it")
	fromSnapshots := fs.String("from-snapshots", "", "rebuild the public state in an EMPTY database from the snapshots in this directory, or at this URL (an instance's /snapshots/ index)")
	key := fs.String("key", "", "with --from-snapshots: the snapshot key as a Multikey (z6Mk…); default: fetched from the instance actor the snapshots name")
	maxBytes := fs.Int64("max-bytes", defaultMaxDownloadBytes, "with --from-snapshots URL: the most one downloaded file may have (bytes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fromSnapshots != "" {
		if fs.NArg() != 0 || *fromExport != "" {
			return errors.New("usage: weltgewebe restore [database flags] --from-snapshots DIR|URL [--key MULTIKEY] [--max-bytes N]")
		}
		if *maxBytes <= 0 {
			return errors.New("restore: --max-bytes must be positive")
		}
		return restoreFromSnapshots(ctx, *fromSnapshots, *key, *maxBytes, db, stdout, stderr)
	}
	if *fromExport == "" {
		if fs.NArg() == 1 {
			// The meaning of "restore FILE" changed (it is not the repository's restore): say so.
			return fmt.Errorf("restore: to load the export %s, say so: weltgewebe restore --from-export %s", fs.Arg(0), fs.Arg(0))
		}
		return errors.New("usage: weltgewebe restore [database flags] --from-export FILE | --from-snapshots DIR|URL [--key MULTIKEY] | --to latest|TIME|name:NAME (see -h)")
	}
	if fs.NArg() != 0 {
		return errors.New("usage: weltgewebe restore [database flags] --from-export FILE")
	}
	return restoreFromExport(ctx, *fromExport, db, stdout, stderr)
}

// restoreFromExport loads a pg_dump export, replacing the database, and migrates it.
func restoreFromExport(ctx context.Context, file string, db *dbFlags, stdout, stderr io.Writer) error {
	in, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	if _, err := os.Stat(in); err != nil {
		return err
	}
	log := quietLogger(stderr)
	cfg := db.config()
	cfg.NoMigrate = true
	d, err := instance.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	cmd := exec.CommandContext(ctx, tool(d, "pg_restore"), "--clean", "--if-exists", "--no-owner",
		"--single-transaction", "--exit-on-error", "--dbname="+d.URL, in)
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_restore: %w", err)
	}
	if err := instance.Migrate(ctx, d.Pool, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s\n", file)
	return nil
}

func tool(d *instance.Database, name string) string {
	if dir := d.ToolDir(); dir != "" {
		return filepath.Join(dir, name)
	}
	return name
}
