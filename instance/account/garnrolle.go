package account

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Garnrolle is a resident as the live map shows them: at the public position, never the home.
type Garnrolle struct {
	ID       uuid.UUID
	Name     string
	Verified bool
	Position *geo.Point // nil: not on the map
	Cell     int64      // the position's resolution-15 cell; 0 when not on the map
}

const garnrolleColumns = `id, name, verified_at IS NOT NULL,
       CASE WHEN on_map THEN ST_Y(position) END, CASE WHEN on_map THEN ST_X(position) END,
       CASE WHEN on_map THEN coalesce(position_h3, 0) ELSE 0 END`

func scanGarnrolle(r pgx.CollectableRow) (Garnrolle, error) {
	var g Garnrolle
	var lat, lon *float64
	err := r.Scan(&g.ID, &g.Name, &g.Verified, &lat, &lon, &g.Cell)
	if lat != nil && lon != nil {
		g.Position = &geo.Point{Lat: *lat, Lon: *lon}
	}
	return g, err
}

// GarnrollenIn returns the residents whose public position lies in any of the spans, each once.
// q may be a transaction (see knoten.InCells).
func (s *Service) GarnrollenIn(ctx context.Context, q database.Querier, spans []geo.Span) ([]Garnrolle, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	los, his := make([]int64, len(spans)), make([]int64, len(spans))
	for i, sp := range spans {
		los[i], his[i] = sp.Lo, sp.Hi
	}
	rows, err := q.Query(ctx, `
SELECT DISTINCT ON (id) `+garnrolleColumns+`
FROM accounts JOIN unnest($1::bigint[], $2::bigint[]) AS r(lo, hi) ON position_h3 BETWEEN r.lo AND r.hi
WHERE on_map AND position IS NOT NULL`, los, his)
	if err != nil {
		return nil, fmt.Errorf("account: garnrollen in cells: %w", err)
	}
	gs, err := pgx.CollectRows(rows, scanGarnrolle)
	if err != nil {
		return nil, fmt.Errorf("account: garnrollen in cells: %w", err)
	}
	return gs, nil
}

// Garnrollen returns the accounts as the map shows them now, on the map or not.
func (s *Service) Garnrollen(ctx context.Context, ids []uuid.UUID) ([]Garnrolle, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+garnrolleColumns+` FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("account: garnrollen: %w", err)
	}
	gs, err := pgx.CollectRows(rows, scanGarnrolle)
	if err != nil {
		return nil, fmt.Errorf("account: garnrollen: %w", err)
	}
	return gs, nil
}
