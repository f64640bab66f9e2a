package account

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are the accounts' share of a snapshot: the Garnrollen, what the public
// profile (GET /api/garnrollen/{id}) shows of every account. Restored first: everything else
// names its accounts.
func SnapshotSections() []snapshot.Section { return []snapshot.Section{garnrollenSection{}} }

// SnapshotGarnrolle is an account in a snapshot. Nothing private: no e-mail, address, home,
// radius, password, session, admin flag. The position is the public one, null while the
// resident is not on the map. verified_by is public (GarnrolleVerifiziert says it). Roles are
// shown (the profile shows who is Kassenwart) but not restored: see RestoredEmailDomain.
type SnapshotGarnrolle struct {
	ID         uuid.UUID    `json:"id"`
	Handle     string       `json:"handle"`
	Name       string       `json:"name"`
	Position   *snapshotPos `json:"position"`
	H3         string       `json:"h3"` // the position's cell; "" when not on the map
	Verified   bool         `json:"verified"`
	VerifiedAt *time.Time   `json:"verified_at"`
	VerifiedBy *uuid.UUID   `json:"verified_by"`
	Roles      []string     `json:"roles"`
	CreatedAt  time.Time    `json:"created_at"`
}

type snapshotPos struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// RestoredEmailDomain is the domain of the login a restored account gets: <id>@restored.invalid.
// A snapshot holds no e-mail and no password (docs/SNAPSHOTS.md, "What a snapshot cannot bring
// back"), yet an account must have both. ".invalid" is reserved (RFC 6761): no mail can reach
// it and nobody can own it, the id makes it unique and it cannot collide with a real address
// (registration keeps its own). The password hash is a well-formed argon2id string over a
// random key that no password was hashed into: a login is refused like any wrong password,
// after the same work. The account cannot log in until an admin gives it the resident's
// address again and the resident sets a password (not built yet).
const RestoredEmailDomain = "restored.invalid"

var garnrolleEvents = []string{GarnrolleAngelegt.Name(), GarnrolleVerifiziert.Name(), GarnrollePositioniert.Name(),
	GarnrolleUmbenannt.Name(), AdminAngelegt.Name()}

type garnrollenSection struct{}

func (garnrollenSection) Name() string { return "garnrollen" }

// Touched: the public Garnrolle events, and an admin's creation (an admin's account exists
// from then on and may be named by what they do; its being an admin is not in the object).
// A move (GarnrolleUmgezogen) touches nothing: what changes in public is announced by its
// GarnrollePositioniert.
func (garnrollenSection) Touched(e eventstore.Event) []string {
	for _, k := range garnrolleEvents {
		if e.Type == k {
			return []string{e.SubjectID.String()}
		}
	}
	return nil
}

func (garnrollenSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	rows, err := q.Query(ctx, `
SELECT a.id, a.handle, a.name, CASE WHEN a.on_map THEN ST_Y(a.position) END, CASE WHEN a.on_map THEN ST_X(a.position) END,
       CASE WHEN a.on_map THEN a.position_h3 END, a.verified_at, a.verified_by, a.created_at,
       coalesce((SELECT array_agg(r.rolle ORDER BY r.rolle) FROM account_rollen r WHERE r.account_id = a.id), '{}')
FROM accounts a WHERE $1 OR a.id = ANY($2) ORDER BY a.id`, all, uuids)
	if err != nil {
		return fmt.Errorf("account: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g SnapshotGarnrolle
		var lat, lon *float64
		var cell *int64
		if err := rows.Scan(&g.ID, &g.Handle, &g.Name, &lat, &lon, &cell, &g.VerifiedAt, &g.VerifiedBy, &g.CreatedAt, &g.Roles); err != nil {
			return fmt.Errorf("account: snapshot: %w", err)
		}
		if lat != nil && lon != nil {
			g.Position = &snapshotPos{Lat: *lat, Lon: *lon}
		}
		if cell != nil && *cell != 0 {
			g.H3 = geo.CellHex(*cell)
		}
		g.Verified, g.CreatedAt = g.VerifiedAt != nil, g.CreatedAt.UTC()
		if g.VerifiedAt != nil {
			t := g.VerifiedAt.UTC()
			g.VerifiedAt = &t
		}
		if err := snapshot.Emit(emit, g.ID.String(), g); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("account: snapshot: %w", err)
	}
	return nil
}

// unusableHash is a password hash in the form verifyPassword reads, over a random key: no
// password hashes to it (2⁻²⁵⁶), so the account cannot be logged into.
func unusableHash() (string, error) {
	salt, key := make([]byte, saltLen), make([]byte, argonKeyLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Restore creates an account for every Garnrolle, owning its public rows and nothing private:
// the login <id>@restored.invalid with an unusable password (RestoredEmailDomain), no address
// or home, not an admin, no roles. The public position is kept as it was (it is redrawn only
// when the resident sets a home again). Staged first: verified_by may name a later account,
// which one INSERT … SELECT checks at its end.
func (garnrollenSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	if _, err := tx.Exec(ctx, `
CREATE TEMP TABLE accounts_restore (
    id uuid, handle text, name text, password_hash text, lat double precision, lon double precision, h3 bigint,
    verified_at timestamptz, verified_by uuid, created_at timestamptz
) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("account: restore: %w", err)
	}
	_, err := snapshot.CopyFrom(ctx, tx, objects, "accounts_restore",
		[]string{"id", "handle", "name", "password_hash", "lat", "lon", "h3", "verified_at", "verified_by", "created_at"},
		func(g SnapshotGarnrolle) ([]any, error) {
			hash, err := unusableHash()
			if err != nil {
				return nil, err
			}
			var lat, lon *float64
			var cell *int64
			if g.Position != nil {
				lat, lon = &g.Position.Lat, &g.Position.Lon
				if g.H3 != "" {
					c, err := geo.ParseCell(g.H3)
					if err != nil {
						return nil, fmt.Errorf("account: restore %s: %w", g.ID, err)
					}
					n := int64(c)
					cell = &n
				}
			}
			return []any{g.ID, g.Handle, g.Name, hash, lat, lon, cell, g.VerifiedAt, g.VerifiedBy, g.CreatedAt}, nil
		})
	if err != nil {
		return fmt.Errorf("account: restore: %w", err)
	}
	// Not on the map is what a missing position means: the resident hid it, or never had a home.
	if _, err := tx.Exec(ctx, `
INSERT INTO accounts (id, handle, name, email, password_hash, is_admin, on_map, position, position_h3,
                      verified_at, verified_by, created_at)
SELECT id, handle, name, id::text || '@`+RestoredEmailDomain+`', password_hash, false, lat IS NOT NULL,
       CASE WHEN lat IS NOT NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END, h3, verified_at, verified_by, created_at
FROM accounts_restore`); err != nil {
		return fmt.Errorf("account: restore: %w", err)
	}
	return nil
}

// Tables: what a restore brings back of accounts. The position is public only while on the
// map (a hidden one is kept, private, for showing again: not in the snapshot).
func (garnrollenSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "accounts", OrderBy: "id", Columns: []string{"id", "handle", "name",
		"CASE WHEN on_map THEN position END", "CASE WHEN on_map THEN position_h3 END", "verified_at", "verified_by", "created_at"}}}
}

// HasAccounts reports whether any account exists: a database a snapshot may be restored into
// has none (every public object but the Ortsweberei's settings and the Ortskonto's balance
// belongs to an account).
func HasAccounts(ctx context.Context, q database.Querier) (bool, error) {
	var any bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts)`).Scan(&any); err != nil {
		return false, fmt.Errorf("account: any: %w", err)
	}
	return any, nil
}
