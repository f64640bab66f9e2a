package ortsweberei

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are the Ortsweberei's share of a snapshot: its public settings, one object.
func SnapshotSections() []snapshot.Section { return []snapshot.Section{section{}} }

// SnapshotID is the id of the one object of the section "ortsweberei".
const SnapshotID = "ortsweberei"

// SnapshotOrtsweberei is the Ortsweberei in a snapshot: what GET /api/ortsweberei shows of it
// (name, bounds as GeoJSON MultiPolygon or null), and when it was last set.
type SnapshotOrtsweberei struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Bounds    json.RawMessage `json:"bounds"`
	UpdatedAt time.Time       `json:"updated_at"`
}

type section struct{}

func (section) Name() string { return "ortsweberei" }

func (section) Touched(e eventstore.Event) []string {
	if e.Type == Festgelegt.Name() {
		return []string{SnapshotID}
	}
	return nil
}

// boundsDigits: enough decimals for the stored doubles to come back exactly (the API's 7 would
// move a restored boundary by up to 5 mm, and the row would differ).
const boundsDigits = 15

func (section) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	if ids != nil && !containsID(ids) {
		return nil
	}
	var o SnapshotOrtsweberei
	var bounds []byte
	err := q.QueryRow(ctx, `SELECT name, ST_AsGeoJSON(bounds, $1), updated_at FROM ortsweberei`, boundsDigits).
		Scan(&o.Name, &bounds, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // never set: the default name, nothing to keep
	}
	if err != nil {
		return fmt.Errorf("ortsweberei: snapshot: %w", err)
	}
	o.ID, o.Bounds, o.UpdatedAt = SnapshotID, json.RawMessage("null"), o.UpdatedAt.UTC()
	if bounds != nil {
		o.Bounds = bounds
	}
	return snapshot.Emit(emit, SnapshotID, o)
}

func containsID(ids []string) bool {
	for _, id := range ids {
		if id == SnapshotID {
			return true
		}
	}
	return false
}

func (section) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	for obj, err := range objects {
		if err != nil {
			return err
		}
		var o SnapshotOrtsweberei
		if err := json.Unmarshal(obj.JSON, &o); err != nil {
			return fmt.Errorf("ortsweberei: restore: %w", err)
		}
		var geom *string
		if len(o.Bounds) > 0 && string(o.Bounds) != "null" {
			s := string(o.Bounds)
			geom = &s
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO ortsweberei (name, bounds, updated_at)
VALUES ($1, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($2::text), 4326)), $3)`, o.Name, geom, o.UpdatedAt); err != nil {
			return fmt.Errorf("ortsweberei: restore: %w", err)
		}
	}
	return nil
}

func (section) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "ortsweberei", OrderBy: "singleton", Columns: []string{"name", "bounds", "updated_at"}}}
}
