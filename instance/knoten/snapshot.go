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
	// Hidden marks the stub a snapshot keeps of a hidden Knoten (hiddenStub): no content, only
	// what a restore needs so that the Anträge and Abstimmungen naming it still restore.
	Hidden bool `json:"hidden,omitempty"`
}

// hiddenStub is what a snapshot holds of a Knoten the moderators hid: its id, creator and
// creation time, and, as its dissolution, when it was hidden — so that every reader of
// snapshots that leaves dissolved Knoten off the map (the timeline, a neighbour's mirror)
// leaves it off too. Its type, texts and place are not public while it is hidden.
func hiddenStub(id, createdBy uuid.UUID, createdAt, hiddenAt time.Time) SnapshotKnoten {
	at := hiddenAt.UTC()
	return SnapshotKnoten{ID: id, CreatedBy: createdBy, CreatedAt: createdAt.UTC(), LastActivityAt: createdAt.UTC(),
		DissolvedAt: &at, Hidden: true}
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
	knotenEvents = []string{KnotenGeknuepft.Name(), KnotenAufgeloest.Name(), KnotenVerborgen.Name(), KnotenWiederhergestellt.Name()}
	fadenEvents  = []string{FadenGesponnen.Name(), FadenVerzwirnt.Name(), FadenEntzwirnt.Name(), FadenAbgelaufen.Name(),
		FadenVerborgen.Name(), FadenWiederhergestellt.Name()}
)

// FaedenWith returns the Fäden a Knoten's hiding or showing again takes with it (the map
// feed removes or redraws them with their Knoten); nil for any other event.
func FaedenWith(e eventstore.Event) []uuid.UUID {
	switch {
	case KnotenVerborgen.Is(e):
		p, err := KnotenVerborgen.Decode(e)
		if err != nil {
			return nil
		}
		return p.FadenIDs
	case KnotenWiederhergestellt.Is(e):
		p, err := KnotenWiederhergestellt.Decode(e)
		if err != nil {
			return nil
		}
		ids := make([]uuid.UUID, len(p.Faeden))
		for i, f := range p.Faeden {
			ids[i] = f.ID
		}
		return ids
	}
	return nil
}

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

// Touched: a Knoten's own events (its hiding and showing again among them), and every Faden
// event, which changes its Knoten's garn count, last activity and dissolve time (as the live
// map sees it, mapfeed's changeOf).
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
	return dumpKnoten(ctx, q, all, uuids, func(k SnapshotKnoten) error { return snapshot.Emit(emit, k.ID.String(), k) })
}

// dumpKnoten reads Knoten (all, or those of ids) as a snapshot holds them, in id order: a
// hidden one as its stub.
func dumpKnoten(ctx context.Context, q database.Querier, all bool, ids []uuid.UUID, emit func(SnapshotKnoten) error) error {
	// A uuid sorts as its lowercase text does, so the primary key gives the snapshot's order.
	rows, err := q.Query(ctx, `
SELECT id, type, title, description, ST_Y(geom), ST_X(geom), h3, created_by, created_at, last_activity_at,
       garn_count, dissolves_at, dissolved_at, hidden_at
FROM knoten WHERE $1 OR id = ANY($2) ORDER BY id`, all, ids)
	if err != nil {
		return fmt.Errorf("knoten: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k SnapshotKnoten
		var cell int64
		var hiddenAt *time.Time
		if err := rows.Scan(&k.ID, &k.Type, &k.Title, &k.Description, &k.Lat, &k.Lon, &cell, &k.CreatedBy, &k.CreatedAt,
			&k.LastActivityAt, &k.GarnCount, &k.DissolvesAt, &k.DissolvedAt, &hiddenAt); err != nil {
			return fmt.Errorf("knoten: snapshot: %w", err)
		}
		if hiddenAt != nil {
			k = hiddenStub(k.ID, k.CreatedBy, k.CreatedAt, *hiddenAt)
		} else {
			k.H3, k.Permanent = geo.CellHex(cell), k.GarnCount > 0
			k.CreatedAt, k.LastActivityAt = k.CreatedAt.UTC(), k.LastActivityAt.UTC()
			k.DissolvesAt, k.DissolvedAt = snapshot.UTC(k.DissolvesAt), snapshot.UTC(k.DissolvedAt)
		}
		if err := emit(k); err != nil {
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
    dissolves_at timestamptz, dissolved_at timestamptz, hidden boolean
) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("knoten: restore: %w", err)
	}
	_, err := snapshot.CopyFrom(ctx, tx, objects, "knoten_restore",
		[]string{"id", "type", "title", "description", "lat", "lon", "h3", "created_by", "created_at", "last_activity_at",
			"garn_count", "dissolves_at", "dissolved_at", "hidden"},
		func(k SnapshotKnoten) ([]any, error) {
			if k.Hidden {
				// A stub (hiddenStub): restored hidden and dissolved, without content or place,
				// so that what names it restores; showing it again shows nothing.
				return []any{k.ID, "", "", "", 0.0, 0.0, int64(0), k.CreatedBy, k.CreatedAt,
					k.CreatedAt, 0, nil, k.DissolvedAt, true}, nil
			}
			cell, err := geo.ParseCell(k.H3)
			if err != nil {
				return nil, fmt.Errorf("knoten: restore %s: %w", k.ID, err)
			}
			return []any{k.ID, k.Type, k.Title, k.Description, k.Lat, k.Lon, int64(cell), k.CreatedBy, k.CreatedAt,
				k.LastActivityAt, k.GarnCount, k.DissolvesAt, k.DissolvedAt, false}, nil
		})
	if err != nil {
		return fmt.Errorf("knoten: restore: %w", err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, garn_count,
                    dissolves_at, dissolved_at, hidden_at)
SELECT id, type, title, description, ST_SetSRID(ST_MakePoint(lon, lat), 4326), h3, created_by, created_at,
       last_activity_at, garn_count, dissolves_at, dissolved_at, CASE WHEN hidden THEN dissolved_at END
FROM knoten_restore`); err != nil {
		return fmt.Errorf("knoten: restore: %w", err)
	}
	return nil
}

// Tables: a hidden Knoten's row is not public (its snapshot object is a stub, restored
// without content), so the rows compared are the shown ones.
func (knotenSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "knoten", OrderBy: "id", Where: "hidden_at IS NULL", Columns: []string{"id", "type", "title", "description", "geom", "h3",
		"created_by", "created_at", "last_activity_at", "garn_count", "dissolves_at", "dissolved_at"}}}
}

type faedenSection struct{}

func (faedenSection) Name() string { return "faeden" }

// Touched: a Faden's own events, and a Knoten's hiding or showing again, which takes its
// Fäden with it.
func (faedenSection) Touched(e eventstore.Event) []string {
	if isOneOf(e.Type, fadenEvents) {
		return []string{e.SubjectID.String()}
	}
	var ids []string
	for _, id := range FaedenWith(e) {
		ids = append(ids, id.String())
	}
	return ids
}

// activeFaden is the rows a snapshot holds: a Faden the sweep has ended is gone from the map,
// and a hidden one, or one whose Knoten is hidden, is not public.
const activeFaden = `expired_at IS NULL AND hidden_at IS NULL AND knoten_id NOT IN (SELECT id FROM knoten WHERE hidden_at IS NOT NULL)`

func (faedenSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	return dumpFaeden(ctx, q, `$1 OR id = ANY($2)`, []any{all, uuids}, func(f SnapshotFaden) error {
		return snapshot.Emit(emit, f.ID.String(), f)
	})
}

// dumpFaeden reads the Fäden a snapshot holds that match cond (over args), in id order.
func dumpFaeden(ctx context.Context, q database.Querier, cond string, args []any, emit func(SnapshotFaden) error) error {
	rows, err := q.Query(ctx, `
SELECT id, knoten_id, account_id, type, twisted, created_at, expires_at
FROM faeden WHERE `+activeFaden+` AND (`+cond+`) ORDER BY id`, args...)
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
		if err := emit(f); err != nil {
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
