// Package adressen is the offline address index: addresses (street, house number, postcode,
// town → a point), streets and named places read from an OpenStreetMap extract, and the
// prefix search over them that registration and "Knoten knüpfen" use instead of coordinates.
//
// The index is replaced as a whole by an import (Import; `weltgewebe adressen import`), one
// event per import, never one per row. Search is a read of the projection: every prefix of every
// normalised word is stored (normalize.go), so a query is an array containment the GIN index
// answers, ranked by an exact house number first and then by the rank given at import (shorter
// labels first).
package adressen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Kinds of entries.
const (
	KindAddress = "address" // a house number on a street
	KindStreet  = "street"  // a street by its name: one point on it
	KindPlace   = "place"   // a named place (quarter, square) or landmark
)

// Search limits (docs/API.md).
const (
	MaxQueryLen  = 100
	DefaultLimit = 8
	MaxLimit     = 20
)

// Adresse is one entry of the index, as a search finds it.
type Adresse struct {
	Kind        string
	Label       string // how it reads: "Boulevard des Moulins 12, 98000 Monaco"
	Street      string
	HouseNumber string
	Postcode    string
	City        string
	Name        string // of a place
	Point       geo.Point
	// Inside says whether the point lies within the Ortsweberei's bounds (true without bounds).
	Inside bool
}

// ImportiertV1 is the payload of AdressenImportiert.
type ImportiertV1 struct {
	File      string  `json:"file"`   // the extract's file name, without its directory
	SHA256    string  `json:"sha256"` // of the file's bytes
	Bounds    *string `json:"bounds"` // the clip as GeoJSON, or null
	Addresses int     `json:"addresses"`
	Streets   int     `json:"streets"`
	Places    int     `json:"places"`
}

// Importiert: the address index was replaced by what an OpenStreetMap extract holds.
var Importiert = eventstore.Define[ImportiertV1]("AdressenImportiert", 1, eventstore.Private,
	"The address index was replaced from an OpenStreetMap extract.")

// Area tells which points lie within the Ortsweberei's bounds (the ortsweberei service).
type Area interface {
	ContainsEach(ctx context.Context, q database.Querier, points []geo.Point) ([]bool, error)
}

// Service searches and replaces the index.
type Service struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	area  Area
}

// NewService returns the address service.
func NewService(pool *pgxpool.Pool, c clock.Clock, area Area) *Service {
	return &Service{pool: pool, clock: c, area: area}
}

// Search finds up to limit entries of which each of q's words begins a word, the best first:
// an address whose house number is a word of q, then streets and places, then addresses,
// shorter labels first. limit 0 means DefaultLimit.
func (s *Service) Search(ctx context.Context, q string, limit int) ([]Adresse, error) {
	q = strings.TrimSpace(q)
	if n := utf8.RuneCountInString(q); n == 0 || n > MaxQueryLen {
		return nil, &fault.Error{Kind: fault.Malformed, Code: "invalid_query", Field: "q",
			Message: fmt.Sprintf("The search must be 1 to %d characters.", MaxQueryLen)}
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, ErrInvalidLimit
	}
	ws := QueryWords(q)
	if len(ws) == 0 {
		return []Adresse{}, nil // punctuation only: nothing to look for
	}
	var exact []string
	for _, w := range ws {
		if w[0] >= '0' && w[0] <= '9' {
			exact = append(exact, houseNumberTerm(w))
		}
	}
	var out []Adresse
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		// The plan is made for these words (a generic plan cannot tell "l" from
		// "lindenstrasse"), and never a sequential scan in the hope of meeting enough matches
		// early: for words that exclude each other it reads the whole table. Without
		// sequential scans every plan looks expensive, which would switch on JIT compilation:
		// 80 ms to save nothing.
		tx.Defer(`SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('enable_seqscan', 'off', true),
	set_config('jit', 'off', true)`)
		rows, err := tx.Query(ctx, searchSQL, ws, exact, limit)
		if err != nil {
			return fmt.Errorf("adressen: search: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Adresse, error) {
			var a Adresse
			err := r.Scan(&a.Kind, &a.Label, &a.Street, &a.HouseNumber, &a.Postcode, &a.City, &a.Name, &a.Point.Lat, &a.Point.Lon)
			return a, err
		})
		if err != nil || len(out) == 0 {
			return err
		}
		points := make([]geo.Point, len(out))
		for i, a := range out {
			points[i] = a.Point
		}
		inside, err := s.area.ContainsEach(ctx, tx, points)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Inside = inside[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Adresse{}
	}
	return out, nil
}

// searchSQL finds the best matches without sorting all of them, whose number grows with the
// index (half of it begins with "s"):
//   - top: the matches among the 2000 best ranked entries (streets and places first), in rank
//     order: exact for a query that matches several of them. The planner walks them in rank
//     order for a broad query, or takes the GIN index's few matches for a specific one;
//     either way it reads at most 2000 rows;
//   - more: only when top found too few, up to 500 matches from the GIN index, the
//     best of them. All of them when there are no more (a specific query); a sample of a
//     broad query otherwise, from which the table's order (it is written in rank order) takes
//     the better ranked first;
//   - exact: the matches whose house number is one of the words, first.
//
// $1 the words, $2 the house-number terms of the words that begin with a digit, $3 the limit.
const searchSQL = `
WITH top AS (
    SELECT * FROM adressen WHERE terms @> $1::text[] AND ord < 2000 ORDER BY ord LIMIT $3),
more AS (
    SELECT * FROM (SELECT * FROM adressen WHERE terms @> $1::text[] LIMIT 500) m
    WHERE (SELECT count(*) FROM top) < $3
    ORDER BY ord LIMIT $3),
exact AS (
    SELECT * FROM (SELECT * FROM adressen WHERE cardinality($2::text[]) > 0 AND terms @> $1::text[] AND terms && $2::text[] LIMIT 500) e
    ORDER BY ord LIMIT $3)
SELECT kind, label, street, housenumber, postcode, city, name, lat, lon FROM (
    SELECT DISTINCT ON (ord) * FROM (
        SELECT *, 0 AS r FROM exact UNION ALL SELECT *, 1 FROM top UNION ALL SELECT *, 1 FROM more) u
    ORDER BY ord, r) d
ORDER BY r, ord
LIMIT $3`

// ErrInvalidLimit refuses a limit outside 1..MaxLimit.
var ErrInvalidLimit = &fault.Error{Kind: fault.Malformed, Code: "invalid_limit", Field: "limit",
	Message: fmt.Sprintf("limit must be a whole number from 1 to %d.", MaxLimit)}

// Empty reports whether the index holds nothing (no import yet).
func (s *Service) Empty(ctx context.Context) (bool, error) {
	var any bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM adressen)`).Scan(&any); err != nil {
		return false, fmt.Errorf("adressen: empty: %w", err)
	}
	return !any, nil
}

// Source is where the index came from: the last import.
type Source struct {
	File      string
	SHA256    string
	Bounds    *string
	Addresses int
	Streets   int
	Places    int
}

// source reads the last import's record; ok is false before the first.
func source(ctx context.Context, q database.Querier) (Source, bool, error) {
	var src Source
	err := q.QueryRow(ctx, `SELECT file, sha256, bounds, addresses, streets, places FROM adressen_quelle`).
		Scan(&src.File, &src.SHA256, &src.Bounds, &src.Addresses, &src.Streets, &src.Places)
	if errors.Is(err, pgx.ErrNoRows) {
		return Source{}, false, nil
	}
	if err != nil {
		return Source{}, false, fmt.Errorf("adressen: source: %w", err)
	}
	return src, true, nil
}

// Source returns the last import's record; ok is false before the first.
func (s *Service) Source(ctx context.Context) (Source, bool, error) { return source(ctx, s.pool) }
