// Command weltgewebe runs a Weltgewebe instance and administers it.
//
//	weltgewebe serve   [--dev [--demo]] [--listen :8080] [database flags] …
//	weltgewebe migrate [database flags]
//	weltgewebe backup  [--type full|diff|incr] --backup-repo DIR [database flags]
//	weltgewebe backup status [--json] [--backup-repo DIR] [database flags]
//	weltgewebe export database [database flags] FILE
//	weltgewebe restore [database flags] --from-export FILE
//	weltgewebe restore [database flags] --from-snapshots DIR|URL [--key MULTIKEY] [--max-bytes N]
//	weltgewebe restore --to latest|TIMESTAMP|name:NAME --backup-repo DIR --data-dir EMPTY [--snapshot-dir DIR]
//	weltgewebe drill   --backup-repo DIR [database flags] [--report FILE] [--keep DIR]
//	weltgewebe admin create --email E --password P --name N [database flags]
//	weltgewebe admin verify --by ADMIN --email E [database flags]
//	weltgewebe admin reclaim --email E --password P [database flags] ACCOUNT_ID
//	weltgewebe admin federate [--public-url URL] [database flags] NEIGHBOUR
//	weltgewebe admin block --by ADMIN [database flags] DOMAIN
//	weltgewebe adressen import [--bounds …] [database flags] REGION.osm.pbf
//	weltgewebe basemap build REGION.osm.pbf OUT.pmtiles [--bounds minlon,minlat,maxlon,maxlat]
//	weltgewebe export konto --month YYYY-MM --format csv|datev [database flags] > FILE
//	weltgewebe snapshot verify [--key MULTIKEY] FILE|URL
//
// Database flags: --database-url (or DATABASE_URL) names a PostgreSQL server with PostGIS;
// without one, the instance runs its own cluster in --data-dir (default ./data).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) && askedForHelp(os.Args[1:]) {
			return // the help was asked for and printed: not a failure (`make drill DRILLFLAGS=--help`)
		}
		var f *fault.Error
		if errors.As(err, &f) {
			fmt.Fprintf(os.Stderr, "weltgewebe: %s\n", f.Message)
		} else if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "weltgewebe: %v\n", err)
		}
		os.Exit(1)
	}
}

// askedForHelp tells a help the user asked for (-h, -help, --help before any "--") from the
// usage printed for a command used wrongly, which run reports as flag.ErrHelp too.
func askedForHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

const usage = `usage: weltgewebe <command> [flags]

commands:
  serve          run the instance (HTTP API, web app, timers)
  migrate        bring the database schema up to date
  backup [--type full|diff|incr]   take a pgBackRest backup into --backup-repo; works while serve runs
  backup status [--json]   the repository's backups, the WAL archive and stream, what a restore can reach
  export database FILE   write a copy of the database (pg_dump, custom format); works while serve runs
  restore --from-export FILE   replace the database with an export, then migrate it
  restore --from-snapshots DIR|URL [--key MULTIKEY]   rebuild the public state in an empty database from signed snapshots
  restore --to latest|TIMESTAMP|name:NAME --backup-repo DIR --data-dir EMPTY   restore from the backup repository to a point in time
  drill --backup-repo DIR   restore the live instance's repository into a scratch directory and prove it equal (a timed, published report)
  admin create   create an instance admin
  admin verify   verify a resident's account
  admin reclaim ACCOUNT_ID   give a restored account (restore --from-snapshots) its resident's login (--email, --password)
  admin federate NEIGHBOUR   federate with a neighbouring Ortsweberei (URL, handle or actor)
  admin block DOMAIN         defederate a domain
  adressen import REGION.osm.pbf [--bounds …]   replace the address index from an OpenStreetMap extract
  basemap build REGION.osm.pbf OUT.pmtiles   build the map from an OpenStreetMap extract
  export konto --month YYYY-MM --format csv|datev   the Ortskonto's booking journal of a month, to standard output
  snapshot verify FILE|URL [--key MULTIKEY]   check a snapshot's form, signatures and chain

Run "weltgewebe <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stderr)
	case "backup":
		return backup(ctx, args[1:], stdout, stderr)
	case "restore":
		if wantsRestoreTo(args[1:]) {
			return restoreTo(ctx, args[1:], stdout, stderr)
		}
		if len(args) == 2 && (args[1] == "-h" || args[1] == "--help" || args[1] == "-help") {
			fmt.Fprint(stderr, "restore --to latest|TIMESTAMP|name:NAME --backup-repo DIR --data-dir EMPTY: from the backup repository to a point in time (weltgewebe restore --to latest -h)\n\n")
		}
		return restore(ctx, args[1:], stdout, stderr)
	case "drill":
		return drillCmd(ctx, args[1:], stdout, stderr)
	case "basemap":
		return basemapCmd(ctx, args[1:], stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], stdout, stderr)
	case "snapshot":
		return snapshotCmd(ctx, args[1:], stdout, stderr)
	case "admin":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return flag.ErrHelp
		}
		switch args[1] {
		case "create":
			return adminCreate(ctx, args[2:], stdout, stderr)
		case "verify":
			return adminVerify(ctx, args[2:], stdout, stderr)
		case "reclaim":
			return adminReclaim(ctx, args[2:], stdout, stderr)
		case "federate":
			return adminFederate(ctx, args[2:], stdout, stderr)
		case "block":
			return adminBlock(ctx, args[2:], stdout, stderr)
		}
	case "adressen":
		if len(args) >= 2 && args[1] == "import" {
			return adressenImport(ctx, args[2:], stdout, stderr)
		}
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
