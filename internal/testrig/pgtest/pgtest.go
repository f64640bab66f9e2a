// Package pgtest gives each test a fresh, fully migrated PostgreSQL database of its own, so
// tests run in parallel against a real server.
//
// The server is one throwaway cluster per test binary, started on first use with the same code
// that runs the embedded cluster of `weltgewebe serve` (instance/pgcluster). The schema is
// migrated once into a template database; each test's database is a copy of it. Set
// WG_TEST_DATABASE_URL to a superuser connection string to use an existing server instead.
//
// A package using pgtest calls pgtest.Main from its TestMain so the cluster is stopped and
// removed when the tests end.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/migrations"
)

var (
	once     sync.Once
	server   *serverState
	setupErr error
	counter  atomic.Int64
)

type serverState struct {
	cluster  *pgcluster.Cluster // nil when WG_TEST_DATABASE_URL is used
	dir      string
	adminURL string
	template string
}

// Main runs the tests, then what after names (cleanups of the package's own), and then stops
// the cluster, if one was started.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	if server != nil && server.cluster != nil {
		_ = server.cluster.Stop()
		_ = os.RemoveAll(server.dir)
	}
	os.Exit(code)
}

// URL creates a fresh database for the test and returns its connection string. The database
// is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { server, setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	ctx := context.Background()
	name := fmt.Sprintf("wgt_%d_%d", os.Getpid(), counter.Add(1))
	conn, err := pgx.Connect(ctx, server.adminURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, server.template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, server.adminURL)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(server.adminURL, name)
}

// Pool is URL plus an open pool, closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := database.Open(context.Background(), URL(t), 8)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func setup() (*serverState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &serverState{}
	if u := os.Getenv("WG_TEST_DATABASE_URL"); u != "" {
		s.adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "wgtest-pg-")
		if err != nil {
			return nil, err
		}
		// The cluster may run as another user (postgres, when tests run as root).
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "data"), Throwaway: true})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s.cluster, s.dir, s.adminURL = c, dir, c.URL("postgres")
	}
	tmpl, err := ensureTemplate(ctx, s.adminURL)
	if err != nil {
		if s.cluster != nil {
			_ = s.cluster.Stop()
			_ = os.RemoveAll(s.dir)
		}
		return nil, err
	}
	s.template = tmpl
	return s, nil
}

// ensureTemplate creates the migrated template database, named after a hash of the migrations
// so that a shared server keeps one per schema version. Concurrent test binaries on a shared
// server serialise on an advisory lock.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	name := "wg_template_" + schemaHash()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7746578)`); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7746578)`) //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+building); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+building); err != nil {
		return "", err
	}
	pool, err := database.Open(ctx, withDatabase(adminURL, building), 2)
	if err != nil {
		return "", err
	}
	err = database.Migrate(ctx, pool, nil)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func schemaHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(migrations.FS, p)
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}
