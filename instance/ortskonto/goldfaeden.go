package ortskonto

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// The live map's Goldfäden (docs/MAPFEED.md). The map feed asks for them here and never reads
// the tables: what a Goldfaden is, and that an anonymous donation is none, is decided in this
// file only.

// Goldfaden is a visible donation as the map draws it: a thread from the donor's Garnrolle to
// the Ortskonto. A failed donation is none; a reversed one still is (struck through).
type Goldfaden struct {
	ID              uuid.UUID
	AccountID       uuid.UUID
	AccountName     string
	AccountPosition *geo.Point // the donor's public position; nil when not on the map
	KontoPosition   geo.Point
	KontoCell       int64 // resolution 15, like a Knoten's: the cell the Goldfaden belongs to
	Status          string
	AmountCents     int64
	CreatedAt       time.Time
}

// GoldfadenQuery says which Goldfäden to read; the parts are alternatives (any matches).
type GoldfadenQuery struct {
	Spans  []geo.Span  // those whose Ortskonto position lies in one of the spans (a cell's state)
	IDs    []uuid.UUID // these donations, if they are Goldfäden
	Donors []uuid.UUID // those of these donors (to redraw them when a donor moves or is renamed)
	All    bool        // every one (the Ortskonto moved)
}

// Goldfaeden reads Goldfäden, oldest first. q may be a snapshot the caller reads more in.
func Goldfaeden(ctx context.Context, q database.Querier, gq GoldfadenQuery) ([]Goldfaden, error) {
	if !gq.All && len(gq.Spans) == 0 && len(gq.IDs) == 0 && len(gq.Donors) == 0 {
		return nil, nil
	}
	los, his := make([]int64, len(gq.Spans)), make([]int64, len(gq.Spans))
	for i, s := range gq.Spans {
		los[i], his[i] = s.Lo, s.Hi
	}
	ids, donors := gq.IDs, gq.Donors
	if ids == nil {
		ids = []uuid.UUID{}
	}
	if donors == nil {
		donors = []uuid.UUID{}
	}
	// Only visible donations, whatever was asked: an anonymous donor is never drawn, and an
	// anonymous donation's id is never named on the map, not even as removed.
	rows, err := q.Query(ctx, `
SELECT s.id, s.account_id, a.name, CASE WHEN a.on_map THEN ST_Y(a.position) END, CASE WHEN a.on_map THEN ST_X(a.position) END,
       k.lat, k.lon, k.position_h3, s.status, s.amount_cents, s.created_at
FROM spenden s JOIN accounts a ON a.id = s.account_id CROSS JOIN ortskonto k
WHERE s.visible AND s.status <> 'failed' AND k.position_h3 IS NOT NULL
  AND ($1 OR s.id = ANY($2) OR s.account_id = ANY($3)
       OR EXISTS (SELECT FROM unnest($4::bigint[], $5::bigint[]) AS r(lo, hi) WHERE k.position_h3 BETWEEN r.lo AND r.hi))
ORDER BY s.created_at, s.id`, gq.All, ids, donors, los, his)
	if err != nil {
		return nil, fmt.Errorf("ortskonto: goldfaeden: %w", err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Goldfaden, error) {
		var g Goldfaden
		var lat, lon *float64
		err := r.Scan(&g.ID, &g.AccountID, &g.AccountName, &lat, &lon, &g.KontoPosition.Lat, &g.KontoPosition.Lon, &g.KontoCell,
			&g.Status, &g.AmountCents, &g.CreatedAt)
		if lat != nil && lon != nil {
			g.AccountPosition = &geo.Point{Lat: *lat, Lon: *lon}
		}
		g.CreatedAt = g.CreatedAt.UTC()
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("ortskonto: goldfaeden: %w", err)
	}
	return gs, nil
}

// KontoCell is the cell of the Ortskonto's position (resolution 15), 0 while it has none.
func KontoCell(ctx context.Context, q database.Querier) (int64, error) {
	var cell *int64
	err := q.QueryRow(ctx, `SELECT position_h3 FROM ortskonto`).Scan(&cell)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && cell == nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ortskonto: cell: %w", err)
	}
	return *cell, nil
}
