// Package database opens the connection pool, applies the schema, and runs transactions.
package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/weltgewebe/weltgewebe/migrations"
)

// Open connects a pool to url and checks that the server answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: parse url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "weltgewebe"
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: connect: %w", err)
	}
	return pool, nil
}

// migrationLock is the advisory lock key held while migrating, so that replicas starting at
// the same time apply each migration once.
const migrationLock = 0x77676d6967 // "wgmig"

// Migrate brings the schema up to date: the instance's own migrations, then River's job tables.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("database: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("database: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return fmt.Errorf("database: migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("database: migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("database: migrate river: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("database: migrate river: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("river migration applied", "version", v.Version)
	}
	return nil
}

// Querier is what both a pool and a transaction can do; reads that may run inside a write's
// transaction take one.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Earliest runs a query that selects one nullable timestamp (a min(...) over due times) and
// returns it, and whether there was one.
func Earliest(ctx context.Context, q Querier, sql string, args ...any) (time.Time, bool, error) {
	var t *time.Time
	if err := q.QueryRow(ctx, sql, args...).Scan(&t); err != nil {
		return time.Time{}, false, err
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return t.UTC(), true, nil
}

// Unreachable reports whether err says that the server could not be reached or went away, as
// opposed to a statement that failed: the database is unavailable, not the request wrong.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up; that says nothing about the server
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Connection exceptions, and a server shutting down or starting up.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var oe *net.OpError
	return errors.As(err, &ce) || errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

// OnDomain is the SQL condition that the IRI in column col is on the domain given as $1 or on
// a subdomain of it, on any port. What a blocked domain sent is found by the host in the IRIs
// themselves, so that nothing depends on which of its actors we happened to fetch; every
// owner of such rows forgets them with it.
func OnDomain(col string) string {
	host := fmt.Sprintf(`lower(split_part(split_part(split_part(%s, '://', 2), '/', 1), ':', 1))`, col)
	return fmt.Sprintf(`(%[1]s = $1 OR right(%[1]s, length($1) + 1) = '.' || $1)`, host)
}

// Migration states, as GET /readyz reports them.
const (
	MigrationsCurrent = "current" // the database has exactly the migrations this binary knows
	MigrationsBehind  = "behind"  // some of this binary's migrations are not applied yet
	MigrationsAhead   = "ahead"   // a newer binary migrated the database past what this one knows
)

// latestMigration is the highest version among the embedded migrations (the number a file's
// name starts with).
var latestMigration = sync.OnceValue(func() int64 {
	var latest int64
	names, _ := fs.Glob(migrations.FS, "*.sql")
	for _, n := range names {
		digits, _, _ := strings.Cut(n, "_")
		if v, err := strconv.ParseInt(digits, 10, 64); err == nil {
			latest = max(latest, v)
		}
	}
	return latest
})

// MigrationState compares the database's applied migrations with this binary's: one indexed
// read of goose's table, cheap enough for a readiness probe every few seconds.
func MigrationState(ctx context.Context, q Querier) (string, error) {
	var applied int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&applied)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
			return MigrationsBehind, nil
		}
		return "", fmt.Errorf("database: migration state: %w", err)
	}
	switch latest := latestMigration(); {
	case applied < latest:
		return MigrationsBehind, nil
	case applied > latest:
		return MigrationsAhead, nil
	}
	return MigrationsCurrent, nil
}
