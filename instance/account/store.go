package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// ErrNotFound is returned for an unknown account id.
var ErrNotFound = fault.NotFoundf("account_not_found", "There is no account with this id.")

// insertAccount inserts a, unless the address has an account already: created says which. A
// taken address is not an error here, so that the transaction goes on the same way (SignUp
// queues a mail either way and commits).
func insertAccount(ctx context.Context, tx *database.Tx, a *Account, passwordHash string) (created bool, err error) {
	posCell, err := cellOf(a.Position)
	if err != nil {
		return false, err
	}
	if a.Handle, err = freeHandle(ctx, tx, a.Name); err != nil {
		return false, err
	}
	rows, err := tx.Query(ctx, `
INSERT INTO accounts (id, handle, name, email, password_hash, is_admin, address, home,
                      position_radius_m, on_map, position, position_h3, created_at)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), point4326($8, $9), $10, $11, point4326($12, $13), $14, $15)
ON CONFLICT ((lower(email))) DO NOTHING
RETURNING true`,
		a.ID, a.Handle, a.Name, a.Email, passwordHash, a.IsAdmin, a.Address, lon(a.Home), lat(a.Home),
		a.PositionRadiusM, a.OnMap, lon(a.Position), lat(a.Position), posCell, a.CreatedAt)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&created}, func() error { return nil })
	}
	if err != nil {
		return false, fmt.Errorf("account: insert: %w", err)
	}
	return created, nil
}

func updateAccount(tx *database.Tx, a Account) error {
	posCell, err := cellOf(a.Position)
	if err != nil {
		return err
	}
	tx.Defer(`
UPDATE accounts SET name = $2, address = nullif($3, ''), home = point4326($4, $5),
       position_radius_m = $6, on_map = $7, position = point4326($8, $9), position_h3 = $10
WHERE id = $1`,
		a.ID, a.Name, a.Address, lon(a.Home), lat(a.Home), a.PositionRadiusM, a.OnMap,
		lon(a.Position), lat(a.Position), posCell)
	return nil
}

const accountColumns = `id, handle, name, email, is_admin, coalesce(address, ''), ST_Y(home), ST_X(home),
       position_radius_m, on_map, ST_Y(position), ST_X(position), verified_at, created_at,
       ARRAY(SELECT rolle FROM account_rollen r WHERE r.account_id = accounts.id ORDER BY rolle),
       suspended_until, banned_at, coalesce(sanction_reason, ''), sanction_ref, coalesce(suspension_reason, ''), suspension_ref`

// scanAccount reads accountColumns, then any extra columns into extra.
func scanAccount(row pgx.Row, extra ...any) (Account, error) {
	var a Account
	var homeLat, homeLon, posLat, posLon *float64
	dest := append([]any{&a.ID, &a.Handle, &a.Name, &a.Email, &a.IsAdmin, &a.Address, &homeLat, &homeLon,
		&a.PositionRadiusM, &a.OnMap, &posLat, &posLon, &a.VerifiedAt, &a.CreatedAt, &a.Roles,
		&a.SuspendedUntil, &a.BannedAt, &a.SanctionReason, &a.SanctionRef, &a.SuspensionReason, &a.SuspensionRef}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return Account{}, err
	}
	a.Home, a.Position = point(homeLat, homeLon), point(posLat, posLon)
	a.CreatedAt = a.CreatedAt.UTC()
	for _, t := range []**time.Time{&a.VerifiedAt, &a.SuspendedUntil, &a.BannedAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return a, nil
}

func getAccount(ctx context.Context, q database.Querier, id uuid.UUID, forUpdate bool) (Account, error) {
	sql := `SELECT ` + accountColumns + ` FROM accounts WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	a, err := scanAccount(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("account: get: %w", err)
	}
	return a, nil
}

func getAccountByEmail(ctx context.Context, q database.Querier, email string) (Account, string, error) {
	var hash string
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+`, password_hash FROM accounts WHERE lower(email) = lower($1)`, email), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, "", ErrNotFound
	}
	if err != nil {
		return Account{}, "", fmt.Errorf("account: get by email: %w", err)
	}
	return a, hash, nil
}

// freeHandle derives a handle from the name ("Jana Weber" → "jana.weber") and, when that is
// taken, adds a number ("jana.weber.2"). A handle is an ActivityPub preferredUsername and the
// local part of a WebFinger address, so it keeps to lower-case letters, digits and dots, and a
// reserved name gets a number too ("Ortsweberei" → "ortsweberei.2").
func freeHandle(ctx context.Context, q database.Querier, name string) (string, error) {
	base := slugify(name)
	// Two registrations of one name at once would both find it free, and the second insert
	// would fail on the unique index. The name is locked until the transaction ends: the second
	// waits, and then sees the first's handle.
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('account_handle:' || $1, 0))`, base); err != nil {
		return "", fmt.Errorf("account: handle lock: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT lower(handle) FROM accounts WHERE lower(handle) = $1 OR lower(handle) LIKE $1 || '.%'`, base)
	if err != nil {
		return "", fmt.Errorf("account: handle: %w", err)
	}
	taken := map[string]bool{}
	var h string
	if _, err := pgx.ForEachRow(rows, []any{&h}, func() error { taken[h] = true; return nil }); err != nil {
		return "", fmt.Errorf("account: handle: %w", err)
	}
	if !taken[base] && !reserved(base) {
		return base, nil
	}
	for n := 2; ; n++ {
		if c := fmt.Sprintf("%s.%d", base, n); !taken[c] {
			return c, nil
		}
	}
}

// reservedHandles are the names the instance's own Fediverse actors answer to (WebFinger's
// ortsweberei@host and instance@host) and the path names their IRIs use: a resident with one
// of them as handle could not be found through WebFinger, or would look like the instance.
var reservedHandles = map[string]bool{
	"ortsweberei": true, "instance": true, "antrag": true, "antraege": true, "users": true,
	"inbox": true, "outbox": true, "followers": true, "following": true, "actor": true,
}

// reserved reports whether a handle is kept for the instance's own actors: the names above,
// and antrag-{id}, the handle of an Antrag's actor.
func reserved(handle string) bool {
	h := strings.ToLower(handle)
	return reservedHandles[h] || strings.HasPrefix(h, "antrag-")
}

func slugify(name string) string {
	r := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "ae", "Ö", "oe", "Ü", "ue",
		"é", "e", "è", "e", "ê", "e", "á", "a", "à", "a", "ó", "o", "ò", "o", "í", "i", "ú", "u", "ç", "c", "ñ", "n")
	var b strings.Builder
	dot := false
	for _, c := range strings.ToLower(r.Replace(name)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
			dot = false
		case b.Len() > 0 && !dot:
			b.WriteByte('.')
			dot = true
		}
	}
	s := strings.Trim(b.String(), ".")
	if len(s) > 30 {
		s = strings.Trim(s[:30], ".")
	}
	if s == "" {
		s = "resident"
	}
	return s
}

// cellOf is the H3 cell of p, or nil for no point.
func cellOf(p *geo.Point) (*int64, error) {
	if p == nil {
		return nil, nil
	}
	c, err := p.Cell()
	return &c, err
}

func point(lat, lon *float64) *geo.Point {
	if lat == nil || lon == nil {
		return nil
	}
	return &geo.Point{Lat: *lat, Lon: *lon}
}

func lat(p *geo.Point) *float64 {
	if p == nil {
		return nil
	}
	return &p.Lat
}

func lon(p *geo.Point) *float64 {
	if p == nil {
		return nil
	}
	return &p.Lon
}
