package knoten

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are the map's share of a snapshot (docs/SNAPSHOTS.md, "Sections"): the
// Knoten, then the active Fäden that lead to them (restore order: a Faden needs its Knoten).
func SnapshotSections() []snapshot.Section {
	return []snapshot.Section{knotenSection{}, faedenSection{}}
}

// SnapshotKnoten is a Knoten in a snapshot: the fields of the API's Knoten (instance/wire), so
// the timeline hands it to the web app unchanged, and when it dissolved. Dissolved Knoten are
// kept: Anträge and Abstimmungen still name them, and what was once on the map stays public.
type SnapshotKnoten struct {
	ID             uuid.UUID  `json:"id"`
	Type           string     `json:"type"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Lat            float64    `json:"lat"`
	Lon            float64    `json:"lon"`
	H3             string     `json:"h3"`
	CreatedBy      uuid.UUID  `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	Permanent      bool       `json:"permanent"`
	GarnCount      int        `json:"garn_count"`
	DissolvesAt    *time.Time `json:"dissolves_at"`
	DissolvedAt    *time.Time `json:"dissolved_at"` // null while on the map
}

// SnapshotFaden is an active Faden (or Garn) in a snapshot: the API's Faden without the
// spinner's name and position, which belong to the Garnrolle (a rename would otherwise change
// every Faden the resident ever spun).
type SnapshotFaden struct {
	ID        uuid.UUID  `json:"id"`
	KnotenID  uuid.UUID  `json:"knoten_id"`
	AccountID uuid.UUID  `json:"account_id"`
	Type      string     `json:"type"`
	IsTwisted bool       `json:"is_twisted"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"` // null while twisted
}

var (
	knotenEvents = []string{KnotenGeknuepft.Name(), KnotenAufgeloest.Name()}
	fadenEvents  = []string{FadenGesponnen.Name(), FadenVerzwirnt.Name(), FadenEntzwirnt.Name(), FadenAbgelaufen.Name()}
)

func isOneOf(t string, kinds []string) bool {
	for _, k := range kinds {
		if k == t {
			return true
		}
	}
	return false
}

type knotenSection struct{}

func (knotenSection) Name() string { return "knoten" }

// Touched: a Knoten's own events, and every Faden event, which changes its Knoten's garn
// count, last activity and dissolve time (as the live map sees it, mapfeed's changeOf).
func (knotenSection) Touched(e eventstore.Event) []string {
	switch {
	case isOneOf(e.Type, knotenEvents):
		return []string{e.SubjectID.String()}
	case isOneOf(e.Type, fadenEvents):
		var p struct {
			KnotenID uuid.UUID `json:"knoten_id"`
		}
		if json.Unmarshal(e.Payload, &p) != nil || p.KnotenID == uuid.Nil {
			return nil
		}
		return []string{p.KnotenID.String()}
	}
	return nil
}

func (knotenSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	// A uuid sorts as its lowercase text does, so the primary key gives the snapshot's order.
	rows, err := q.Query(ctx, `
SELECT id, type, title, description, ST_Y(geom), ST_X(geom), h3, created_by, created_at, last_activity_at,
       garn_count, dissolves_at, dissolved_at
FROM knoten WHERE $1 OR id = ANY($2) ORDER BY id`, all, uuids)
	if err != nil {
		return fmt.Errorf("knoten: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k SnapshotKnoten
		var cell int64
		if err := rows.Scan(&k.ID, &k.Type, &k.Title, &k.Description, &k.Lat, &k.Lon, &cell, &k.CreatedBy, &k.CreatedAt,
			&k.LastActivityAt, &k.GarnCount, &k.DissolvesAt, &k.DissolvedAt); err != nil {
			return fmt.Errorf("knoten: snapshot: %w", err)
		}
		k.H3, k.Permanent = geo.CellHex(cell), k.GarnCount > 0
		k.CreatedAt, k.LastActivityAt = k.CreatedAt.UTC(), k.LastActivityAt.UTC()
		k.DissolvesAt, k.DissolvedAt = snapshot.UTC(k.DissolvesAt), snapshot.UTC(k.DissolvedAt)
		if err := snapshot.Emit(emit, k.ID.String(), k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("knoten: snapshot: %w", err)
	}
	return nil
}

// Restore copies the Knoten into a staging table (COPY cannot write a geometry from Go
// values) and moves them into knoten with their points in one statement.
func (knotenSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	if _, err := tx.Exec(ctx, `
CREATE TEMP TABLE knoten_restore (
    id uuid, type text, title text, description text, lat double precision, lon double precision, h3 bigint,
    created_by uuid, created_at timestamptz, last_activity_at timestamptz, garn_count integer,
    dissolves_at timestamptz, dissolved_at timestamptz
) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("knoten: restore: %w", err)
	}
	_, err := snapshot.CopyFrom(ctx, tx, objects, "knoten_restore",
		[]string{"id", "type", "title", "description", "lat", "lon", "h3", "created_by", "created_at", "last_activity_at",
			"garn_count", "dissolves_at", "dissolved_at"},
		func(k SnapshotKnoten) ([]any, error) {
			cell, err := geo.ParseCell(k.H3)
			if err != nil {
				return nil, fmt.Errorf("knoten: restore %s: %w", k.ID, err)
			}
			return []any{k.ID, k.Type, k.Title, k.Description, k.Lat, k.Lon, int64(cell), k.CreatedBy, k.CreatedAt,
				k.LastActivityAt, k.GarnCount, k.DissolvesAt, k.DissolvedAt}, nil
		})
	if err != nil {
		return fmt.Errorf("knoten: restore: %w", err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, garn_count,
                    dissolves_at, dissolved_at)
SELECT id, type, title, description, ST_SetSRID(ST_MakePoint(lon, lat), 4326), h3, created_by, created_at,
       last_activity_at, garn_count, dissolves_at, dissolved_at
FROM knoten_restore`); err != nil {
		return fmt.Errorf("knoten: restore: %w", err)
	}
	return nil
}

func (knotenSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "knoten", OrderBy: "id", Columns: []string{"id", "type", "title", "description", "geom", "h3",
		"created_by", "created_at", "last_activity_at", "garn_count", "dissolves_at", "dissolved_at"}}}
}

type faedenSection struct{}

func (faedenSection) Name() string { return "faeden" }

func (faedenSection) Touched(e eventstore.Event) []string {
	if isOneOf(e.Type, fadenEvents) {
		return []string{e.SubjectID.String()}
	}
	return nil
}

// activeFaden is the rows a snapshot holds: a Faden the sweep has ended is gone from the map.
const activeFaden = `expired_at IS NULL`

func (faedenSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	rows, err := q.Query(ctx, `
SELECT id, knoten_id, account_id, type, twisted, created_at, expires_at
FROM faeden WHERE `+activeFaden+` AND ($1 OR id = ANY($2)) ORDER BY id`, all, uuids)
	if err != nil {
		return fmt.Errorf("knoten: snapshot faeden: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f SnapshotFaden
		if err := rows.Scan(&f.ID, &f.KnotenID, &f.AccountID, &f.Type, &f.IsTwisted, &f.CreatedAt, &f.ExpiresAt); err != nil {
			return fmt.Errorf("knoten: snapshot faeden: %w", err)
		}
		f.CreatedAt, f.ExpiresAt = f.CreatedAt.UTC(), snapshot.UTC(f.ExpiresAt)
		if err := snapshot.Emit(emit, f.ID.String(), f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("knoten: snapshot faeden: %w", err)
	}
	return nil
}

func (faedenSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	_, err := snapshot.CopyFrom(ctx, tx, objects, "faeden",
		[]string{"id", "knoten_id", "account_id", "type", "twisted", "created_at", "expires_at"},
		func(f SnapshotFaden) ([]any, error) {
			return []any{f.ID, f.KnotenID, f.AccountID, f.Type, f.IsTwisted, f.CreatedAt, f.ExpiresAt}, nil
		})
	if err != nil {
		return fmt.Errorf("knoten: restore faeden: %w", err)
	}
	return nil
}

func (faedenSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "faeden", OrderBy: "id", Where: activeFaden,
		Columns: []string{"id", "knoten_id", "account_id", "type", "twisted", "created_at", "expires_at"}}}
}
