// Package account is the Garnrolle: a resident's account, its private home and public map
// position, its sessions, and the admins who verify residents.
//
// The address and the home point are private forever. The public map position is a point
// drawn once, uniformly at random inside a radius around the home (default 250 m, 50 m–5 km,
// or not on the map at all), and reused until the home point or the radius changes: a fresh
// draw for every request would let anyone average the draws back to the home.
package account

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Position radius limits, in metres.
const (
	DefaultRadius = 250
	MinRadius     = 50
	MaxRadius     = 5000
)

// Account is everything the instance knows about an account, private parts included. Only
// the account itself (GET /api/me) may see it; everyone else gets Public.
type Account struct {
	ID              uuid.UUID
	Handle          string // the account's Fediverse name (handle@host): stable, unlike Name
	Name            string
	Email           string
	IsAdmin         bool
	Address         string     // private
	Home            *geo.Point // private; nil for admins without a home
	PositionRadiusM int
	OnMap           bool
	Position        *geo.Point // drawn around Home; shown only when OnMap
	VerifiedAt      *time.Time
	CreatedAt       time.Time
}

// Verified reports whether an admin has verified the account.
func (a Account) Verified() bool { return a.VerifiedAt != nil }

// Profile is the public view of an account.
type Profile struct {
	ID        uuid.UUID
	Handle    string
	Name      string
	Position  *geo.Point // nil when the account is not on the map
	Verified  bool
	CreatedAt time.Time
}

// Profile returns what anyone may see of the account.
func (a Account) Profile() Profile {
	p := Profile{ID: a.ID, Handle: a.Handle, Name: a.Name, Verified: a.Verified(), CreatedAt: a.CreatedAt}
	if a.OnMap {
		p.Position = a.Position
	}
	return p
}

// Bounds tells whether a point lies inside the Ortsweberei (see package ortsweberei).
type Bounds interface {
	Contains(ctx context.Context, q database.Querier, p geo.Point) (bool, error)
}

// Service runs the account rules.
type Service struct {
	pool   *pgxpool.Pool
	clock  clock.Clock
	bounds Bounds
	// Sessions expire on wall-clock time, not the instance clock, so that moving the dev clock
	// forward a month does not log everyone out.
	wall clock.Clock
}

// NewService returns the account service.
func NewService(pool *pgxpool.Pool, c clock.Clock, bounds Bounds) *Service {
	return &Service{pool: pool, clock: c, bounds: bounds, wall: clock.System{}}
}

// Registration is what a new resident tells us.
type Registration struct {
	Name            string
	Address         string
	Home            geo.Point
	Email           string
	Password        string
	PositionRadiusM *int // nil: DefaultRadius
	Hidden          bool // not on the map at all
}

// Register creates an unverified resident account.
func (s *Service) Register(ctx context.Context, r Registration) (Account, error) {
	a := Account{
		ID:              uuid.Must(uuid.NewV7()),
		Name:            strings.TrimSpace(r.Name),
		Email:           strings.TrimSpace(r.Email),
		Address:         strings.TrimSpace(r.Address),
		Home:            &r.Home,
		PositionRadiusM: DefaultRadius,
		OnMap:           !r.Hidden,
	}
	if r.PositionRadiusM != nil {
		a.PositionRadiusM = *r.PositionRadiusM
	}
	if err := firstErr(checkName(a.Name), checkAddress(a.Address), checkHome(r.Home), checkEmail(a.Email),
		checkPasswordRule(r.Password), checkRadius(a.PositionRadiusM)); err != nil {
		return Account{}, err
	}
	hash, err := hashPassword(r.Password)
	if err != nil {
		return Account{}, err
	}
	pos, err := geo.RandomPointWithin(r.Home, float64(a.PositionRadiusM))
	if err != nil {
		return Account{}, err
	}
	a.Position = &pos
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		if err := s.checkInside(ctx, tx, r.Home); err != nil {
			return err
		}
		a.CreatedAt = s.clock.Now()
		if err := insertAccount(ctx, tx, &a, hash); err != nil {
			return err
		}
		return eventstore.Append(tx, a.CreatedAt, GarnrolleAngelegt.New(
			eventstore.Header{Actor: a.ID, Subject: a.ID, Cell: publicCell(a)},
			GarnrolleAngelegtV1{AccountID: a.ID, Handle: a.Handle, Name: a.Name, Position: a.Profile().Position}))
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}

// CreateAdmin creates an instance admin. Admins have no home and are not on the map until
// they set one.
func (s *Service) CreateAdmin(ctx context.Context, name, email, password string) (Account, error) {
	a := Account{
		ID: uuid.Must(uuid.NewV7()), Name: strings.TrimSpace(name), Email: strings.TrimSpace(email),
		IsAdmin: true, PositionRadiusM: DefaultRadius, OnMap: true,
	}
	if err := firstErr(checkName(a.Name), checkEmail(a.Email), checkPasswordRule(password)); err != nil {
		return Account{}, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return Account{}, err
	}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		a.CreatedAt = s.clock.Now()
		if err := insertAccount(ctx, tx, &a, hash); err != nil {
			return err
		}
		return eventstore.Append(tx, a.CreatedAt, AdminAngelegt.New(
			eventstore.Header{Subject: a.ID}, AdminAngelegtV1{AccountID: a.ID, Name: a.Name}))
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}

// Get returns the account with the id.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Account, error) {
	return getAccount(ctx, s.pool, id, false)
}

// Changes to an account; nil fields stay as they are.
type Changes struct {
	Name            *string
	Address         *string
	Home            *geo.Point
	PositionRadiusM *int
	OnMap           *bool
}

// Update changes the account's own data. The public position is drawn anew only when the
// home point or the radius changes.
func (s *Service) Update(ctx context.Context, id uuid.UUID, c Changes) (Account, error) {
	var errs []error
	if c.Name != nil {
		*c.Name = strings.TrimSpace(*c.Name)
		errs = append(errs, checkName(*c.Name))
	}
	if c.Address != nil {
		*c.Address = strings.TrimSpace(*c.Address)
		errs = append(errs, checkAddress(*c.Address))
	}
	if c.Home != nil {
		errs = append(errs, checkHome(*c.Home))
	}
	if c.PositionRadiusM != nil {
		errs = append(errs, checkRadius(*c.PositionRadiusM))
	}
	if err := firstErr(errs...); err != nil {
		return Account{}, err
	}
	var a Account
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		a, err = getAccount(ctx, tx, id, true)
		if err != nil {
			return err
		}
		before := a
		hdr := eventstore.Header{Actor: a.ID, Subject: a.ID}
		var drafts []eventstore.Draft
		if c.Name != nil && *c.Name != a.Name {
			a.Name = *c.Name
			drafts = append(drafts, GarnrolleUmbenannt.New(hdr, GarnrolleUmbenanntV1{AccountID: a.ID, Name: a.Name}))
		}
		homeChanged := c.Home != nil && !samePoint(c.Home, a.Home)
		if homeChanged {
			if err := s.checkInside(ctx, tx, *c.Home); err != nil {
				return err
			}
			a.Home = c.Home
		}
		addressChanged := c.Address != nil && *c.Address != a.Address
		if addressChanged {
			a.Address = *c.Address
		}
		if homeChanged || addressChanged {
			drafts = append(drafts, GarnrolleUmgezogen.New(hdr, GarnrolleUmgezogenV1{AccountID: a.ID}))
		}
		radiusChanged := c.PositionRadiusM != nil && *c.PositionRadiusM != a.PositionRadiusM
		if radiusChanged {
			a.PositionRadiusM = *c.PositionRadiusM
		}
		if c.OnMap != nil {
			a.OnMap = *c.OnMap
		}
		// An address edit that keeps the home point keeps the drawn position too.
		if a.Home != nil && (homeChanged || radiusChanged || a.Position == nil) {
			p, err := geo.RandomPointWithin(*a.Home, float64(a.PositionRadiusM))
			if err != nil {
				return err
			}
			a.Position = &p
		}
		pub := a.Profile().Position
		if radiusChanged || a.OnMap != before.OnMap || !samePoint(pub, before.Profile().Position) {
			h := hdr
			h.Cell = publicCell(a)
			drafts = append(drafts, GarnrollePositioniert.New(h, GarnrollePositioniertV1{AccountID: a.ID, Position: pub}))
		}
		if len(drafts) == 0 {
			return nil // nothing changed, nothing to write
		}
		if err := updateAccount(tx, a); err != nil {
			return err
		}
		return eventstore.Append(tx, s.clock.Now(), drafts...)
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}

// Verify marks the account verified. Only admins may.
func (s *Service) Verify(ctx context.Context, admin Account, id uuid.UUID) (Account, error) {
	if !admin.IsAdmin {
		return Account{}, fault.Forbiddenf("admin_required", "Only an admin of this instance can verify accounts.")
	}
	var a Account
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		a, err = getAccount(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if a.Verified() {
			return fault.Conflictf("already_verified", "This account is already verified.")
		}
		now := s.clock.Now()
		a.VerifiedAt = &now
		tx.Defer(`UPDATE accounts SET verified_at = $2, verified_by = $3 WHERE id = $1`, id, now, admin.ID)
		return eventstore.Append(tx, now, GarnrolleVerifiziert.New(eventstore.Header{Actor: admin.ID, Subject: id},
			GarnrolleVerifiziertV1{AccountID: id, VerifiedBy: admin.ID}))
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}

func (s *Service) checkInside(ctx context.Context, q database.Querier, p geo.Point) error {
	in, err := s.bounds.Contains(ctx, q, p)
	if err != nil {
		return err
	}
	if !in {
		return fault.Invalidf("lat", "outside_ortsweberei", "This address lies outside the Ortsweberei; register with the instance of your own town.")
	}
	return nil
}

func publicCell(a Account) int64 {
	p := a.Profile().Position
	if p == nil {
		return 0
	}
	c, _ := p.Cell()
	return c
}

func samePoint(a, b *geo.Point) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func checkName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fault.Invalidf("name", "invalid_name", "The name must be 1 to 100 characters, without control characters.")
	}
	return nil
}

func checkAddress(addr string) error {
	if addr == "" || utf8.RuneCountInString(addr) > 300 {
		return fault.Invalidf("address", "invalid_address", "The address must be 1 to 300 characters.")
	}
	return nil
}

func checkHome(p geo.Point) error {
	if !p.Valid() {
		return fault.Invalidf("lat", "invalid_coordinates", "lat must lie within ±90 and lon within ±180.")
	}
	return nil
}

func checkEmail(email string) error {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return fault.Invalidf("email", "invalid_email", "That is not an email address.")
	}
	return nil
}

func checkPasswordRule(pw string) error {
	if utf8.RuneCountInString(pw) < 8 || len(pw) > 1024 {
		return fault.Invalidf("password", "invalid_password", "The password must have at least 8 characters (and at most 1024 bytes).")
	}
	return nil
}

func checkRadius(r int) error {
	if r < MinRadius || r > MaxRadius {
		return fault.Invalidf("position_radius_m", "invalid_position_radius",
			"The position radius must lie between %d and %d metres.", MinRadius, MaxRadius)
	}
	return nil
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// GetByEmail returns the account with the email address (case-insensitive).
func (s *Service) GetByEmail(ctx context.Context, email string) (Account, error) {
	a, _, err := getAccountByEmail(ctx, s.pool, strings.TrimSpace(email))
	return a, err
}

// Resident reports whether the account is a resident of the Ortsweberei: it registered with a
// home here. Admins created from the command line are not, until they set a home.
func (a Account) Resident() bool { return a.Home != nil }

// ErrNotVerifiedResident is the answer to an account that may not take part in the Webrat.
var ErrNotVerifiedResident = fault.Forbiddenf("verified_resident_required",
	"Only verified residents of this Ortsweberei can file Anträge, object, vote or delegate; ask an admin to verify your account.")

// CheckMayGovern returns ErrNotVerifiedResident unless the account is a verified resident: only
// they file Anträge, object, vote and delegate.
func (a Account) CheckMayGovern() error {
	if !a.Resident() || !a.Verified() {
		return ErrNotVerifiedResident
	}
	return nil
}

// GetByHandle returns the account with the handle (case-insensitive).
func (s *Service) GetByHandle(ctx context.Context, handle string) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(handle) = lower($1)`, handle))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("account: by handle: %w", err)
	}
	return a, nil
}
