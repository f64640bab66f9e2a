package knoten

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// HiddenAll, which every process runs at start and after each hide or show it reads in the
// log, reads the few hidden rows through their indexes: it never scans every Faden ever spun.
func TestHiddenAllReadsNoWholeTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService(pgtest.Pool(t), clock.System{}, nil)
	// A town's worth of Knoten with ten Fäden each, most of them expired; three Knoten and five
	// Fäden hidden. The creators are not accounts of this database: only the plan matters here.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, sql := range []string{`SET LOCAL session_replication_role = replica`, `
INSERT INTO knoten (id, type, title, geom, h3, created_by, created_at, last_activity_at)
SELECT gen_random_uuid(), 'idee', 'Knoten ' || i, point4326(12.3 + i / 1e5, 51.3), i, gen_random_uuid(), now(), now()
FROM generate_series(1, 20000) AS i`, `
INSERT INTO faeden (id, knoten_id, account_id, type, twisted, created_at, expires_at, expired_at)
SELECT gen_random_uuid(), k.id, gen_random_uuid(), 'gespraech', false, now(), now(), CASE WHEN i = 1 THEN NULL ELSE now() END
FROM knoten k, generate_series(1, 10) AS i`,
			`UPDATE knoten SET hidden_at = now() WHERE id IN (SELECT id FROM knoten ORDER BY id LIMIT 3)`,
			`UPDATE faeden SET hidden_at = now() WHERE id IN (SELECT id FROM faeden ORDER BY id DESC LIMIT 5)`} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		_, err = s.pool.Exec(ctx, `VACUUM ANALYZE knoten, faeden`)
	}
	if err != nil {
		t.Fatal(err)
	}
	var plan []byte
	if err := s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+hiddenAllSQL).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if scans := seqScans(t, plan); len(scans) > 0 {
		t.Errorf("HiddenAll scans %v whole:\n%s", scans, plan)
	}
	k, f, err := s.HiddenAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(k) != 3 || len(f) != 3*10+5 {
		t.Errorf("HiddenAll: %d Knoten and %d Fäden, want 3 and 35 (every Faden of a hidden Knoten, expired too, and those hidden on their own)", len(k), len(f))
	}
}

// seqScans lists the tables a plan reads whole.
func seqScans(t *testing.T, plan []byte) []string {
	t.Helper()
	type node struct {
		NodeType string `json:"Node Type"`
		Relation string `json:"Relation Name"`
		Plans    []node `json:"Plans"`
	}
	var doc []struct{ Plan node }
	if err := json.Unmarshal(plan, &doc); err != nil || len(doc) == 0 {
		t.Fatalf("plan: %v\n%s", err, plan)
	}
	var out []string
	var walk func(n node)
	walk = func(n node) {
		if n.NodeType == "Seq Scan" {
			out = append(out, n.Relation)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return out
}
