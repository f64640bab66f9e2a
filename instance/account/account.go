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
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	Roles           []string // given by admins (rollen.go); public
	// Sanctions (sanction.go): no writes until SuspendedUntil, none at all once BannedAt.
	SuspendedUntil *time.Time
	BannedAt       *time.Time
	SanctionReason string     // the reason of the sanction in force: the ban's while banned
	SanctionRef    *uuid.UUID // its entry in the moderation log
	// The suspension's own reason and entry, kept apart from a ban's: lifting a ban leaves a
	// suspension that still runs in force, with its reason.
	SuspensionReason string
	SuspensionRef    *uuid.UUID
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
	Roles     []string // who is Kassenwart is public
}

// Profile returns what anyone may see of the account.
func (a Account) Profile() Profile {
	p := Profile{ID: a.ID, Handle: a.Handle, Name: a.Name, Verified: a.Verified(), CreatedAt: a.CreatedAt, Roles: a.Roles}
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
	// Sessions, the lockout and the mail outbox run on wall-clock time, not the instance
	// clock, so that moving the dev clock forward a month neither logs everyone out, nor lifts
	// a lock, nor ages the outbox.
	wall    clock.Clock
	hashers *hashers
	lockout Lockout
	log     *slog.Logger
}

// Options tune the account service; zero values take the defaults.
type Options struct {
	// Hashers is how many password hashes may be computed at once (default DefaultHashers:
	// the number of CPUs less one); HashQueue how many requests may wait for one before the
	// next is answered ErrBusy (default 32 per hasher).
	Hashers, HashQueue int
	// Lockout after logins without success (default DefaultLockout).
	Lockout Lockout
	// Wall is the clock of sessions, the lockout and the mail outbox (default: the system
	// clock).
	Wall clock.Clock
	// OnHash, when set, is called on the hasher before each hash: tests hold hashers with it
	// to count how many run at once.
	OnHash func()
	Log    *slog.Logger
}

// DefaultHashers is the number of password hashes computed at once unless Options say
// otherwise: one per CPU less one (at least one). More than there are CPUs only make each
// slower, and the CPU left over keeps answering everything that is not a password.
func DefaultHashers() int { return max(1, runtime.NumCPU()-1) }

// NewService returns the account service; opts, if given, is one Options.
func NewService(pool *pgxpool.Pool, c clock.Clock, bounds Bounds, opts ...Options) *Service {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Hashers <= 0 {
		o.Hashers = DefaultHashers()
	}
	if o.HashQueue <= 0 {
		o.HashQueue = 32 * o.Hashers
	}
	if o.Lockout == (Lockout{}) {
		o.Lockout = DefaultLockout
	}
	if o.Wall == nil {
		o.Wall = clock.System{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, clock: c, bounds: bounds, wall: o.Wall,
		hashers: newHashers(o.Hashers, o.HashQueue, o.OnHash), lockout: o.Lockout, log: o.Log}
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

// ErrEmailTaken is Register's answer when the address has an account already. It never
// reaches a client: SignUp, which registration over HTTP uses, answers such a registration
// like any other and queues a notice to the address instead.
var ErrEmailTaken = fault.Conflictf("email_taken", "An account with this email address exists already.")

// Admit is asked by SignUp once a registration's input has passed the checks that need no
// database and before anything is done for it (the bounds' query, a hash, a transaction); an
// error from it ends the registration. The HTTP layer's rate limits use it, so that input the
// rules refuse does not count against them. emailKey is the address's EmailKey.
type Admit func(emailKey [sha256.Size]byte) error

// SignUp is registration as the public sees it: it creates the account and queues a welcome
// to the address, or — when the address has an account already — leaves that account alone and
// queues a notice that someone tried. Both ways take the same work (a hash, one transaction
// with one mail in it, a commit) and end the same for the caller, so that neither the answer
// nor its time tells whether an address is registered. Refusals of the input itself (a weak
// password, an address outside the Ortsweberei) come first and do not depend on the address
// being known.
func (s *Service) SignUp(ctx context.Context, r Registration, admit Admit) error {
	var m Mail
	_, err := s.register(ctx, r, admit, func(tx *database.Tx, a Account, created bool) error {
		m = takenMail(a.Email)
		if created {
			m = welcomeMail(a.Email, a.Name)
		}
		queueMail(tx, s.wall.Now(), m)
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("mail queued; no sender delivers it yet", "subject", m.Subject)
	return nil
}

// Register creates an unverified resident account, or answers ErrEmailTaken. It is for callers
// inside the instance (the demo, tools, tests); over HTTP, registration is SignUp.
func (s *Service) Register(ctx context.Context, r Registration) (Account, error) {
	return s.register(ctx, r, nil, func(_ *database.Tx, _ Account, created bool) error {
		if !created {
			return ErrEmailTaken
		}
		return nil
	})
}

// register checks r, asks admit, hashes the password and, in one transaction, inserts the
// account unless the address has one (created says which) and runs then, which commits with
// it or rolls it back.
func (s *Service) register(ctx context.Context, r Registration, admit Admit,
	then func(tx *database.Tx, a Account, created bool) error) (Account, error) {
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
		checkRadius(a.PositionRadiusM), checkPassword(r.Password, ownData{Name: a.Name, Email: a.Email, Address: a.Address})); err != nil {
		return Account{}, err
	}
	// Admitted before the bounds are checked: that takes a query, and a flood the limits
	// refuse should not get one.
	if admit != nil {
		key, err := EmailKey(a.Email)
		if err == nil {
			err = admit(key)
		}
		if err != nil {
			return Account{}, err
		}
	}
	if err := s.checkInside(ctx, s.pool, r.Home); err != nil {
		return Account{}, err
	}
	hash, err := s.hash(ctx, r.Password)
	if err != nil {
		return Account{}, err
	}
	pos, err := geo.RandomPointWithin(r.Home, float64(a.PositionRadiusM))
	if err != nil {
		return Account{}, err
	}
	a.Position = &pos
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		a.CreatedAt = s.clock.Now()
		created, err := insertAccount(ctx, tx, &a, hash)
		if err != nil {
			return err
		}
		if created {
			err = eventstore.Append(tx, a.CreatedAt, GarnrolleAngelegt.New(
				eventstore.Header{Actor: a.ID, Subject: a.ID, Cell: publicCell(a)},
				GarnrolleAngelegtV1{AccountID: a.ID, Handle: a.Handle, Name: a.Name, Position: a.Profile().Position}))
			if err != nil {
				return err
			}
		}
		return then(tx, a, created)
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
	if err := firstErr(checkName(a.Name), checkEmail(a.Email), checkPassword(password, ownData{Name: a.Name, Email: a.Email})); err != nil {
		return Account{}, err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return Account{}, err
	}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		a.CreatedAt = s.clock.Now()
		created, err := insertAccount(ctx, tx, &a, hash)
		if err != nil {
			return err
		}
		if !created {
			return ErrEmailTaken
		}
		return eventstore.Append(tx, a.CreatedAt, AdminAngelegt.New(
			eventstore.Header{Subject: a.ID}, AdminAngelegtV2{AccountID: a.ID, Handle: a.Handle, Name: a.Name}))
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

// MaxName is the limit of a resident's name in characters; the app takes it from
// GET /api/ortsweberei.
const MaxName = 100

func checkName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > MaxName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fault.Invalidf("name", "invalid_name", "The name must be 1 to %d characters, without control characters.", MaxName)
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
	if len(email) > MaxEmailLength {
		return errInvalidEmail
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return errInvalidEmail
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

// ResidentIDs returns the ids of every resident (an account with a home here), verified or
// not: what NodeInfo counts as the Ortsweberei's users. A town's residents, so a short list.
func (s *Service) ResidentIDs(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM accounts WHERE home IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("account: residents: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("account: residents: %w", err)
	}
	return ids, nil
}

// MaxListed is how many accounts Residents returns at most: an Ortsweberei is a town, and an
// admin's list of who waits for verification is read, not paged.
const MaxListed = 500

// Residents lists the residents (accounts with a home here) that are verified or not, oldest
// first, at most MaxListed: the admin's list of who waits for verification
// (GET /api/admin/accounts?verified=false), and the moderation panel's list of residents with
// their roles and sanctions. Admins and moderators may: a moderator warns, suspends and lifts
// suspensions of residents no report named (and what it lists is the public profile anyway).
func (s *Service) Residents(ctx context.Context, admin Account, verified bool) ([]Account, error) {
	if !admin.IsAdmin && !admin.Has(Moderator) {
		return nil, fault.Forbiddenf("moderator_required", "Only a moderator or an admin of this instance can list accounts.")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts
WHERE home IS NOT NULL AND (verified_at IS NOT NULL) = $1 ORDER BY created_at, id LIMIT $2`, verified, MaxListed)
	if err != nil {
		return nil, fmt.Errorf("account: residents: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("account: residents: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("account: residents: %w", err)
	}
	return out, nil
}
