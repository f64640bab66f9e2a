package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/weltgewebe/weltgewebe/instance"
)

// backup writes a pg_dump (custom format) of the instance's database. It works while serve
// runs: with the embedded cluster it uses the running server.
func backup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("backup", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: weltgewebe backup [database flags] FILE")
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
	fmt.Fprintf(stdout, "backup written to %s\n", out)
	return nil
}

// restore loads a backup into the database, replacing what is there, and then brings the
// schema up to date (the backup may come from an older version). With --from-snapshots it
// rebuilds the public state in an empty database from signed snapshots instead
// (restore_snapshots.go).
func restore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("restore", stderr)
	fromSnapshots := fs.String("from-snapshots", "", "rebuild the public state in an EMPTY database from the snapshots in this directory, or at this URL (an instance's /snapshots/ index)")
	key := fs.String("key", "", "with --from-snapshots: the snapshot key as a Multikey (z6Mk…); default: fetched from the instance actor the snapshots name")
	maxBytes := fs.Int64("max-bytes", defaultMaxDownloadBytes, "with --from-snapshots URL: the most one downloaded file may have (bytes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fromSnapshots != "" {
		if fs.NArg() != 0 {
			return errors.New("usage: weltgewebe restore [database flags] --from-snapshots DIR|URL [--key MULTIKEY] [--max-bytes N]")
		}
		if *maxBytes <= 0 {
			return errors.New("restore: --max-bytes must be positive")
		}
		return restoreFromSnapshots(ctx, *fromSnapshots, *key, *maxBytes, db, stdout, stderr)
	}
	if fs.NArg() != 1 {
		return errors.New("usage: weltgewebe restore [database flags] FILE | --from-snapshots DIR|URL [--key MULTIKEY]")
	}
	in, err := filepath.Abs(fs.Arg(0))
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
	fmt.Fprintf(stdout, "restored %s\n", fs.Arg(0))
	return nil
}

func tool(d *instance.Database, name string) string {
	if dir := d.ToolDir(); dir != "" {
		return filepath.Join(dir, name)
	}
	return name
}
