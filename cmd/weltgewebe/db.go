package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/weltgewebe/weltgewebe/instance"
)

// dbFlags are the database flags every command shares.
type dbFlags struct {
	url, dataDir, pgBin string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.url, "database-url", envOr("DATABASE_URL", ""), "PostgreSQL server with PostGIS (env DATABASE_URL); empty: run an embedded cluster in --data-dir")
	fs.StringVar(&d.dataDir, "data-dir", envOr("WG_DATA_DIR", "data"), "directory of the embedded PostgreSQL cluster (env WG_DATA_DIR)")
	fs.StringVar(&d.pgBin, "pg-bin", envOr("WG_PG_BIN", ""), "directory with the PostgreSQL server binaries (default: newest /usr/lib/postgresql/*/bin)")
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
	return instance.DBConfig{URL: d.url, DataDir: d.dataDir, PGBinDir: d.pgBin}
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
