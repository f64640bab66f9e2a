// Package ortsweberei is the one local community an instance serves: its name and the polygon
// of its bounds. Knoten and homes outside the bounds are refused; with no bounds configured,
// every valid coordinate is inside.
package ortsweberei

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// DefaultName is the name until one is configured.
const DefaultName = "Ortsweberei"

// Ortsweberei is the community's public description.
type Ortsweberei struct {
	Name      string
	Bounds    json.RawMessage // GeoJSON MultiPolygon; nil when unbounded
	UpdatedAt *time.Time
}

// FestgelegtV1 is the payload of OrtswebereiFestgelegt.
type FestgelegtV1 struct {
	Name   string          `json:"name"`
	Bounds json.RawMessage `json:"bounds"` // GeoJSON MultiPolygon, or null
}

// Festgelegt: the name or bounds were set (by an admin, or from the configuration at start).
var Festgelegt = eventstore.Define[FestgelegtV1]("OrtswebereiFestgelegt", 1, eventstore.Public,
	"The Ortsweberei's name or bounds were set.")

// Service reads and sets the Ortsweberei.
type Service struct {
	pool  *pgxpool.Pool
	clock clock.Clock
}

// NewService returns the Ortsweberei service.
func NewService(pool *pgxpool.Pool, c clock.Clock) *Service { return &Service{pool: pool, clock: c} }

// Get returns the Ortsweberei.
func (s *Service) Get(ctx context.Context) (Ortsweberei, error) {
	var o Ortsweberei
	var bounds []byte
	err := s.pool.QueryRow(ctx, `SELECT name, ST_AsGeoJSON(bounds, 7), updated_at FROM ortsweberei`).Scan(&o.Name, &bounds, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Ortsweberei{Name: DefaultName}, nil
	}
	if err != nil {
		return Ortsweberei{}, fmt.Errorf("ortsweberei: get: %w", err)
	}
	if bounds != nil {
		o.Bounds = bounds
	}
	return o, nil
}

// Set changes the name and the bounds; only an admin may. bounds is a GeoJSON Polygon or
// MultiPolygon (or a Feature holding one), or nil / JSON null for no bounds.
func (s *Service) Set(ctx context.Context, by account.Account, name string, bounds json.RawMessage) (Ortsweberei, error) {
	if !by.IsAdmin {
		return Ortsweberei{}, fault.Forbiddenf("admin_required", "Only an admin of this instance can change the Ortsweberei.")
	}
	return s.set(ctx, by.ID, name, bounds)
}

// set records the change; actor is uuid.Nil when it comes from the configuration.
func (s *Service) set(ctx context.Context, actor uuid.UUID, name string, bounds json.RawMessage) (Ortsweberei, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 120 {
		return Ortsweberei{}, fault.Invalidf("name", "invalid_name", "The Ortsweberei's name must be 1 to 120 characters.")
	}
	geom, err := geometryOf(bounds)
	if err != nil {
		return Ortsweberei{}, err
	}
	var o Ortsweberei
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		if geom != nil {
			var valid, inRange bool
			var reason string
			err := tx.QueryRow(ctx, `
SELECT ST_IsValid(g), ST_IsValidReason(g),
       ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90 AND ST_YMax(g) <= 90
FROM (SELECT ST_GeomFromGeoJSON($1::text) AS g) s`, geom).Scan(&valid, &reason, &inRange)
			if err != nil {
				return boundsError(err)
			}
			if !valid {
				return invalidBounds("The bounds polygon is not valid: " + reason)
			}
			if !inRange {
				return invalidBounds("The bounds must use WGS84 longitude/latitude (within ±180/±90).")
			}
		}
		now := s.clock.Now()
		var out []byte
		err := tx.QueryRow(ctx, `
INSERT INTO ortsweberei (name, bounds, updated_at)
VALUES ($1, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($2::text), 4326)), $3)
ON CONFLICT (singleton) DO UPDATE SET name = excluded.name, bounds = excluded.bounds, updated_at = excluded.updated_at
RETURNING ST_AsGeoJSON(bounds, 7)`, name, geom, now).Scan(&out)
		if err != nil {
			return boundsError(err)
		}
		o = Ortsweberei{Name: name, UpdatedAt: &now}
		if out != nil {
			o.Bounds = out
		}
		return eventstore.Append(tx, now, Festgelegt.New(eventstore.Header{Actor: actor}, FestgelegtV1{Name: name, Bounds: o.Bounds}))
	})
	if err != nil {
		return Ortsweberei{}, err
	}
	return o, nil
}

// Ensure applies the configured name and bounds at start, writing only when they differ from
// what is stored. An empty name leaves the stored one.
func (s *Service) Ensure(ctx context.Context, name string, bounds json.RawMessage) error {
	cur, err := s.Get(ctx)
	if err != nil {
		return err
	}
	if name == "" {
		name = cur.Name
	}
	if bounds == nil {
		bounds = cur.Bounds
	}
	if name == cur.Name && cur.UpdatedAt != nil {
		same, err := s.sameBounds(ctx, cur.Bounds, bounds)
		if err != nil || same {
			return err
		}
	}
	if name == cur.Name && cur.UpdatedAt == nil && bounds == nil {
		return nil // defaults, nothing to record
	}
	_, err = s.set(ctx, uuid.Nil, name, bounds)
	return err
}

func (s *Service) sameBounds(ctx context.Context, a, b json.RawMessage) (bool, error) {
	ga, err := geometryOf(a)
	if err != nil {
		return false, err
	}
	gb, err := geometryOf(b)
	if err != nil {
		return false, err
	}
	if ga == nil || gb == nil {
		return ga == nil && gb == nil, nil
	}
	var same bool
	err = s.pool.QueryRow(ctx, `SELECT ST_Equals(ST_GeomFromGeoJSON($1::text), ST_GeomFromGeoJSON($2::text))`, ga, gb).Scan(&same)
	if err != nil {
		return false, boundsError(err)
	}
	return same, nil
}

// Contains reports whether p lies inside the bounds (on the edge counts as inside). It takes
// a Querier so that a write can check inside its own transaction.
func (s *Service) Contains(ctx context.Context, q database.Querier, p geo.Point) (bool, error) {
	var in bool
	err := q.QueryRow(ctx, `SELECT bounds IS NULL OR ST_Covers(bounds, point4326($1, $2)) FROM ortsweberei`, p.Lon, p.Lat).Scan(&in)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("ortsweberei: contains: %w", err)
	}
	return in, nil
}

// ContainsEach reports for each point whether it lies inside the bounds, in one query (an
// address search marks its matches).
func (s *Service) ContainsEach(ctx context.Context, q database.Querier, points []geo.Point) ([]bool, error) {
	out := make([]bool, len(points))
	lats, lons := make([]float64, len(points)), make([]float64, len(points))
	for i, p := range points {
		lats[i], lons[i] = p.Lat, p.Lon
	}
	rows, err := q.Query(ctx, `
SELECT p.i, o.bounds IS NULL OR ST_Covers(o.bounds, point4326(p.lon, p.lat))
FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lat, lon, i)
LEFT JOIN ortsweberei o ON true`, lats, lons)
	if err != nil {
		return nil, fmt.Errorf("ortsweberei: contains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var in bool
		if err := rows.Scan(&i, &in); err != nil {
			return nil, fmt.Errorf("ortsweberei: contains: %w", err)
		}
		out[i-1] = in
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ortsweberei: contains: %w", err)
	}
	return out, nil
}

// geometryOf extracts the geometry from GeoJSON bounds and checks its type; PostGIS checks
// the rest when it is stored.
func geometryOf(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var probe struct {
		Type     string          `json:"type"`
		Geometry json.RawMessage `json:"geometry"`
		Features []struct {
			Geometry json.RawMessage `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, invalidBounds("The bounds are not GeoJSON.")
	}
	switch probe.Type {
	case "Polygon", "MultiPolygon":
		return raw, nil
	case "Feature":
		return geometryOf(probe.Geometry)
	case "FeatureCollection":
		if len(probe.Features) != 1 {
			return nil, invalidBounds("A FeatureCollection as bounds must hold exactly one feature.")
		}
		return geometryOf(probe.Features[0].Geometry)
	}
	return nil, invalidBounds("The bounds must be a GeoJSON Polygon or MultiPolygon.")
}

func boundsError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "XX000" || pgErr.Code == "22023" || strings.HasPrefix(pgErr.Code, "22")) {
		return invalidBounds("PostGIS cannot read the bounds: " + pgErr.Message)
	}
	return fmt.Errorf("ortsweberei: %w", err)
}

func invalidBounds(msg string) error { return fault.Invalidf("bounds", "invalid_bounds", "%s", msg) }
