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
	s := NewService(pgtest.Pool(t), clock.System{}, nil)
	// A town's worth of Knoten, so that the planner weighs the indexes as it would in use. Their
	// creators are not accounts of this database: only the listing's plan matters here.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at)
SELECT gen_random_uuid(), 'idee', 'Knoten ' || md5(i::text), md5((-i)::text), point4326(12.3 + i / 1e5, 51.3), i,
       gen_random_uuid(), now(), now()
FROM generate_series(1, 20000) AS i`)
		return err
	})
	if err == nil {
		_, err = s.pool.Exec(ctx, `VACUUM ANALYZE knoten`) // as autovacuum would: GIN's pending list gone
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"garten", "Garten Kanal Hochbeete Beet Bank Brunnen Markt Fahrrad"} {
		sql, args, err := s.listStatement(Query{Text: text})
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
		_, _, err := s.listStatement(Query{Text: c.text})
		if f, ok := fault.As(err); !ok || f.Code != c.code || f.Kind != fault.Invalid {
			t.Errorf("search of %d characters: %v, want %s", len(c.text), err, c.code)
		}
	}
	// Repeated words count once; the longest allowed search is allowed.
	if _, _, err := s.listStatement(Query{Text: strings.Repeat("Garten garten ", 14)}); err != nil {
		t.Errorf("a search repeating one word: %v", err)
	}
}

// usesIndex reports whether an EXPLAIN (FORMAT JSON) plan searches the index with a condition
// (not merely scans it whole).
func usesIndex(plan []byte, index string) bool {
	var doc []struct{ Plan planNode }
	if json.Unmarshal(plan, &doc) != nil || len(doc) == 0 {
		return false
	}
	var walk func(n planNode) bool
	walk = func(n planNode) bool {
		if n.IndexName == index && n.IndexCond != "" {
			return true
		}
		for _, c := range n.Plans {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(doc[0].Plan)
}

type planNode struct {
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}
