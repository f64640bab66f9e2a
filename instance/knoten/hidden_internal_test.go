package knoten

import (
	"context"
	"testing"
)

// HiddenAll, which every process runs at start and after each hide or show it reads in the
// log, reads the few hidden rows through their indexes: it never scans every Faden ever spun.
func TestHiddenAllReadsNoWholeTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Ten Fäden to each Knoten, most of them expired; three Knoten and five Fäden hidden.
	s := town(t, `
INSERT INTO faeden (id, knoten_id, account_id, type, twisted, created_at, expires_at, expired_at)
SELECT gen_random_uuid(), k.id, gen_random_uuid(), 'gespraech', false, now(), now(), CASE WHEN i = 1 THEN NULL ELSE now() END
FROM knoten k, generate_series(1, 10) AS i`,
		`UPDATE knoten SET hidden_at = now() WHERE id IN (SELECT id FROM knoten ORDER BY id LIMIT 3)`,
		`UPDATE faeden SET hidden_at = now() WHERE id IN (SELECT id FROM faeden ORDER BY id DESC LIMIT 5)`)
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
	nodes := planNodes(plan)
	if len(nodes) == 0 {
		t.Fatalf("no plan: %s", plan)
	}
	var out []string
	for _, n := range nodes {
		if n.NodeType == "Seq Scan" {
			out = append(out, n.Relation)
		}
	}
	return out
}
