package knoten

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Pin is what the map needs to draw a listed Knoten: where it is, which picture, its label,
// and whether Garn holds it. The rest of the Knoten is read when its pin is opened (Get).
type Pin struct {
	ID        uuid.UUID
	Type      string
	Title     string
	Point     geo.Point
	GarnCount int
}

// Permanent reports whether Garn holds the Knoten, as Knoten.Permanent.
func (p Pin) Permanent() bool { return p.GarnCount > 0 }

// pinColumns are the columns of a Pin, in scanPin's order.
const pinColumns = `id, type, title, ST_Y(geom), ST_X(geom), garn_count`

// Pins is List, reading only what a Pin holds: the same Knoten in the same order, without
// the descriptions (up to 4000 characters each), creators and times that a map of pins never
// shows.
func (s *Service) Pins(ctx context.Context, q Query) ([]Pin, error) {
	sql, args, err := s.listStatement(q, pinColumns)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("knoten: pins: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Pin, error) {
		var p Pin
		err := r.Scan(uuidTarget{&p.ID}, &p.Type, &p.Title, &p.Point.Lat, &p.Point.Lon, &p.GarnCount)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("knoten: pins: %w", err)
	}
	return ps, nil
}

// uuidTarget scans a uuid column straight from its 16 bytes. Given a *uuid.UUID, pgx takes
// its database/sql Scan, which has pgx format the bytes as text and uuid parse them back: the
// largest part of reading a listing's rows (docs/BENCHMARKS.md, "Knoten in a box").
type uuidTarget struct{ id *uuid.UUID }

func (t uuidTarget) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		return errors.New("knoten: a uuid column is NULL")
	}
	*t.id = v.Bytes
	return nil
}
