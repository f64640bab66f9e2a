package knoten

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// The live map's reads (instance/mapfeed): the Knoten of whole H3 cells, and objects by id as
// they stand now. Like every read they apply the rules at the instant of the read.

// InCells returns the Knoten on the map in any of the ranges (each once), and the active Fäden
// and Garn that lead to them with the spinner's name and public position. q may be a
// transaction, so that the caller knows which snapshot of the map it read.
func (s *Service) InCells(ctx context.Context, q database.Querier, ranges []geo.Span) ([]Knoten, []Faden, error) {
	if len(ranges) == 0 {
		return nil, nil, nil
	}
	los, his := make([]int64, len(ranges)), make([]int64, len(ranges))
	for i, r := range ranges {
		los[i], his[i] = r.Lo, r.Hi
	}
	now := s.clock.Now()
	rows, err := q.Query(ctx, `
SELECT `+knotenColumns+`
FROM knoten JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON h3 BETWEEN r.lo AND r.hi
WHERE `+alive+` AND `+shown, now, los, his)
	if err != nil {
		return nil, nil, fmt.Errorf("knoten: in cells: %w", err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Knoten, error) { return scanKnoten(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("knoten: in cells: %w", err)
	}
	seen := make(map[uuid.UUID]bool, len(ks))
	ids := make([]uuid.UUID, 0, len(ks))
	out := ks[:0]
	for _, k := range ks {
		if !seen[k.ID] { // ranges of a cell and of its parent both match
			seen[k.ID] = true
			ids = append(ids, k.ID)
			out = append(out, k)
		}
	}
	fs, err := s.mapFaeden(ctx, q, `f.knoten_id = ANY($2)`, now, ids)
	return out, fs, err
}

// Current returns those of the given Knoten and Fäden that are on the map now. An id not
// returned has dissolved or expired, was hidden (a Faden: or its Knoten was), or never was.
func (s *Service) Current(ctx context.Context, knotenIDs, fadenIDs []uuid.UUID) ([]Knoten, []Faden, error) {
	now := s.clock.Now()
	var ks []Knoten
	if len(knotenIDs) > 0 {
		rows, err := s.pool.Query(ctx, `SELECT `+knotenColumns+` FROM knoten WHERE id = ANY($2) AND `+alive+` AND `+shown, now, knotenIDs)
		if err != nil {
			return nil, nil, fmt.Errorf("knoten: current: %w", err)
		}
		if ks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Knoten, error) { return scanKnoten(r) }); err != nil {
			return nil, nil, fmt.Errorf("knoten: current: %w", err)
		}
	}
	var fs []Faden
	if len(fadenIDs) > 0 {
		var err error
		if fs, err = s.mapFaeden(ctx, s.pool, `f.id = ANY($2)`, now, fadenIDs); err != nil {
			return nil, nil, err
		}
	}
	return ks, fs, nil
}

// FaedenOf returns the active Fäden and Garn the accounts spun, for redrawing them when a
// spinner moves or changes name.
func (s *Service) FaedenOf(ctx context.Context, accounts []uuid.UUID) ([]Faden, error) {
	if len(accounts) == 0 {
		return nil, nil
	}
	return s.mapFaeden(ctx, s.pool, `f.account_id = ANY($2)`, s.clock.Now(), accounts)
}

// mapFaeden reads active Fäden matching cond (whose one argument is $2) with what the map
// draws them with: neither they nor their Knoten hidden.
func (s *Service) mapFaeden(ctx context.Context, q database.Querier, cond string, now time.Time, arg []uuid.UUID) ([]Faden, error) {
	rows, err := q.Query(ctx, `
SELECT `+fadenColumns+`, a.name, CASE WHEN a.on_map THEN ST_Y(a.position) END,
       CASE WHEN a.on_map THEN ST_X(a.position) END, k.h3
FROM faeden f JOIN accounts a ON a.id = f.account_id JOIN knoten k ON k.id = f.knoten_id
WHERE `+cond+` AND f.expired_at IS NULL AND (f.twisted OR f.expires_at > $1) AND f.hidden_at IS NULL AND k.hidden_at IS NULL
ORDER BY f.created_at, f.id`, now, arg)
	if err != nil {
		return nil, fmt.Errorf("knoten: map faeden: %w", err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Faden, error) {
		var name string
		var lat, lon *float64
		var cell int64
		f, err := scanFaden(r, &name, &lat, &lon, &cell)
		f.AccountName, f.KnotenCell = name, cell
		if lat != nil && lon != nil {
			f.AccountPosition = &geo.Point{Lat: *lat, Lon: *lon}
		}
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("knoten: map faeden: %w", err)
	}
	return fs, nil
}
