package knoten

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// A text search is answered by the trigram index, however many words it has (up to the bound),
// and a search beyond the bound is refused before it reaches the database.
func TestSearchUsesTheTrigramIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := town(t)
	for _, text := range []string{"garten", "Garten Kanal Hochbeete Beet Bank Brunnen Markt Fahrrad"} {
		sql, args, err := s.listStatement(Query{Text: text}, knotenColumns)
		if err != nil {
			t.Fatal(err)
		}
		var plan []byte
		if err := s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+sql, args...).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		if !usesIndex(plan, "knoten_text") {
			t.Errorf("search %q is not answered by the trigram index:\n%s", text, plan)
		}
	}

	for _, c := range []struct {
		text, code string
	}{
		{strings.Repeat("garten ", 2000), "search_too_long"},
		{"a b c d e f g h i", "too_many_search_words"},
		{strings.Repeat("ä", MaxSearchLength+1), "search_too_long"},
	} {
		_, _, err := s.listStatement(Query{Text: c.text}, knotenColumns)
		if f, ok := fault.As(err); !ok || f.Code != c.code || f.Kind != fault.Invalid {
			t.Errorf("search of %d characters: %v, want %s", len(c.text), err, c.code)
		}
	}
	// Repeated words count once; the longest allowed search is allowed.
	if _, _, err := s.listStatement(Query{Text: strings.Repeat("Garten garten ", 14)}, knotenColumns); err != nil {
		t.Errorf("a search repeating one word: %v", err)
	}
}

// usesIndex reports whether an EXPLAIN (FORMAT JSON) plan searches the index with a condition
// (not merely scans it whole).
// town is a Service on a database holding a town's worth of Knoten, so that the planner weighs
// the indexes as it would in use, and what the statements then add. Their creators are not
// accounts of this database: only plans matter here.
func town(t *testing.T, then ...string) *Service {
	t.Helper()
	ctx := context.Background()
	s := NewService(pgtest.Pool(t), clock.System{}, nil)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, sql := range append([]string{`SET LOCAL session_replication_role = replica`, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at)
SELECT gen_random_uuid(), 'idee', 'Knoten ' || md5(i::text), md5((-i)::text), point4326(12.3 + i / 1e5, 51.3), i,
       gen_random_uuid(), now(), now()
FROM generate_series(1, 20000) AS i`}, then...) {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		_, err = s.pool.Exec(ctx, `VACUUM ANALYZE knoten, faeden`) // as autovacuum would: GIN's pending list gone
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func usesIndex(plan []byte, index string) bool {
	for _, n := range planNodes(plan) {
		if n.IndexName == index && n.IndexCond != "" {
			return true
		}
	}
	return false
}

// planNodes lists every node of an EXPLAIN (FORMAT JSON) plan (none when it is no plan).
func planNodes(plan []byte) []planNode {
	var doc []struct{ Plan planNode }
	if json.Unmarshal(plan, &doc) != nil || len(doc) == 0 {
		return nil
	}
	var out []planNode
	var walk func(n planNode)
	walk = func(n planNode) {
		out = append(out, n)
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return out
}

type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}
