// Package ortskonto is the Ortsweberei's community account: its bank settings, the donations
// with their status machine, the balance (a projection updated in the same transaction as every
// event that moves money) and the booking journal. See docs/ORTSKONTO.md.
//
// Who gave is shown only when the donor chose a visible donation. An anonymous donor is known
// to the donor and the treasurer (the Kassenwart, or an admin) only: the types here carry the
// donor always, and every public surface must ask Visible (Spende.PublicDonor,
// Buchung.PublicDonor) before it names anyone.
package ortskonto

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Limits of a donation.
const (
	MinAmountCents = 1
	MaxAmountCents = 100_000_000 // 1,000,000 €
	MaxMessage     = 280         // characters
	Currency       = "EUR"
)

// Donor is who gave a donation.
type Donor struct {
	ID   uuid.UUID
	Name string
}

// Spende is a donation. Donor is always filled: callers show it only to the donor and the
// treasurer, or when Visible (PublicDonor).
type Spende struct {
	ID          uuid.UUID
	Reference   string // the Verwendungszweck, WG-XXXXX-XXXXX
	AmountCents int64
	Currency    string
	Visible     bool
	Status      string
	Message     string
	Note        string // the treasurer's note on the last step
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Donor       Donor
	// Ueberweisung is set by Donate: the transfer instructions as they were given.
	Ueberweisung *Ueberweisung
}

// PublicDonor is the donor as the public may see it: nil for an anonymous donation.
func (s Spende) PublicDonor() *Donor {
	if !s.Visible {
		return nil
	}
	d := s.Donor
	return &d
}

// Ueberweisung is what the donor transfers, and to whom.
type Ueberweisung struct {
	Empfaenger       string `json:"empfaenger"`
	IBAN             string `json:"iban"`
	BIC              string `json:"bic"`
	Verwendungszweck string `json:"verwendungszweck"`
	BetragCents      int64  `json:"betrag_cents"`
}

// Donation is what a resident asks to give.
type Donation struct {
	AmountCents int64
	Currency    string // "" is EUR
	Visible     bool
	Message     string
}

// Bank is the Ortskonto's bank account.
type Bank struct {
	Empfaenger string
	IBAN       string
	BIC        string // may be empty (SEPA transfers within the EEA need none)
}

// Settings are what an admin configures: the bank account and where the Ortskonto sits on the
// map (the far end of every Goldfaden).
type Settings struct {
	Empfaenger string
	IBAN       string
	BIC        string
	Position   geo.Point
}

// Counts are the number of donations in each state.
type Counts struct {
	Initiated, Pending, Settled, Failed, Reversed int64
}

// Konto is the balance row and the settings. ReservedCents and PaidCents are the payouts'
// (auszahlung.go) columns of the same row.
type Konto struct {
	Bank          *Bank      // nil until configured
	Position      *geo.Point // nil until configured
	PositionCell  int64      // the position's H3 cell (resolution 15); 0 until configured
	SettledCents  int64      // every donation ever booked, reversed ones included
	ReversedCents int64      // every booked donation returned since
	PendingCents  int64      // initiated and pending donations
	ReservedCents int64      // payouts approved, not yet paid
	PaidCents     int64      // payouts paid
	Counts        Counts
	ConfiguredAt  *time.Time
}

// BalanceCents is the money on the account: settled − reversed − paid.
func (k Konto) BalanceCents() int64 { return k.SettledCents - k.ReversedCents - k.PaidCents }

// AvailableCents is the balance less what approved payouts have reserved.
func (k Konto) AvailableCents() int64 { return k.BalanceCents() - k.ReservedCents }

// Bounds tells whether a point lies inside the Ortsweberei (instance/ortsweberei).
type Bounds interface {
	Contains(ctx context.Context, q database.Querier, p geo.Point) (bool, error)
}

// Service runs the Ortskonto's rules.
type Service struct {
	pool   *pgxpool.Pool
	clock  clock.Clock
	bounds Bounds
}

// NewService returns the Ortskonto service.
func NewService(pool *pgxpool.Pool, c clock.Clock, bounds Bounds) *Service {
	return &Service{pool: pool, clock: c, bounds: bounds}
}

// Errors a client may see.
var (
	ErrIllegalTransition = fault.Conflictf("illegal_transition", "The donation cannot move to this status from its current one.")
	ErrNotFound          = fault.NotFoundf("spende_not_found", "There is no such donation.")
	ErrNotConfigured     = fault.Conflictf("konto_not_configured", "The Ortskonto has no bank account yet; an admin must set it first.")
	ErrTreasurerRequired = fault.Forbiddenf("treasurer_required", "Only the Kassenwart (or an admin) can do this.")
)

// IsTreasurer reports whether the account may act as treasurer: admins always may.
func IsTreasurer(a account.Account) bool { return a.IsAdmin || a.Has(account.Kassenwart) }

// Konto returns the balance and the settings: one row, whatever the journal holds.
func (s *Service) Konto(ctx context.Context) (Konto, error) { return s.KontoTx(ctx, s.pool) }

// KontoTx is Konto inside a caller's transaction.
func (s *Service) KontoTx(ctx context.Context, q database.Querier) (Konto, error) {
	var r struct {
		Empfaenger, IBAN, BIC                                                  *string
		Lat, Lon                                                               *float64
		PositionH3                                                             *int64
		ConfiguredAt                                                           *time.Time
		SettledCents, ReversedCents, PendingCents, ReservedCents, PaidCents    int64
		InitiatedCount, PendingCount, SettledCount, FailedCount, ReversedCount int64
	}
	if err := q.QueryRow(ctx, `
SELECT empfaenger, iban, bic, lat, lon, position_h3, configured_at,
       settled_cents, reversed_cents, pending_cents, reserved_cents, paid_cents,
       initiated_count, pending_count, settled_count, failed_count, reversed_count
FROM ortskonto`).Scan(&r.Empfaenger, &r.IBAN, &r.BIC, &r.Lat, &r.Lon, &r.PositionH3, &r.ConfiguredAt,
		&r.SettledCents, &r.ReversedCents, &r.PendingCents, &r.ReservedCents, &r.PaidCents,
		&r.InitiatedCount, &r.PendingCount, &r.SettledCount, &r.FailedCount, &r.ReversedCount); err != nil {
		return Konto{}, fmt.Errorf("ortskonto: konto: %w", err)
	}
	k := Konto{
		SettledCents: r.SettledCents, ReversedCents: r.ReversedCents, PendingCents: r.PendingCents,
		ReservedCents: r.ReservedCents, PaidCents: r.PaidCents, ConfiguredAt: r.ConfiguredAt,
		Counts: Counts{Initiated: r.InitiatedCount, Pending: r.PendingCount, Settled: r.SettledCount,
			Failed: r.FailedCount, Reversed: r.ReversedCount},
	}
	if r.IBAN != nil {
		k.Bank = &Bank{Empfaenger: deref(r.Empfaenger), IBAN: *r.IBAN, BIC: deref(r.BIC)}
	}
	if r.Lat != nil && r.Lon != nil {
		k.Position = &geo.Point{Lat: *r.Lat, Lon: *r.Lon}
	}
	if r.PositionH3 != nil {
		k.PositionCell = *r.PositionH3
	}
	return k, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Configure sets the bank account and the Ortskonto's place; only admins may.
func (s *Service) Configure(ctx context.Context, by account.Account, set Settings) (Konto, error) {
	if !by.IsAdmin {
		return Konto{}, fault.Forbiddenf("admin_required", "Only an admin of this instance can set the Ortskonto.")
	}
	return s.configure(ctx, by.ID, set)
}

// Ensure sets the settings at start (the demo) unless they are set already; actor uuid.Nil.
func (s *Service) Ensure(ctx context.Context, set Settings) error {
	k, err := s.Konto(ctx)
	if err != nil || k.Bank != nil {
		return err
	}
	_, err = s.configure(ctx, uuid.Nil, set)
	return err
}

func (s *Service) configure(ctx context.Context, actor uuid.UUID, set Settings) (Konto, error) {
	set.Empfaenger = strings.TrimSpace(set.Empfaenger)
	set.IBAN = normalizeIBAN(set.IBAN)
	set.BIC = normalizeIBAN(set.BIC)
	// 70 characters: the SEPA limit of a creditor's name.
	if set.Empfaenger == "" || utf8.RuneCountInString(set.Empfaenger) > 70 || strings.ContainsFunc(set.Empfaenger, isControl) {
		return Konto{}, &fault.Error{Kind: fault.Malformed, Field: "empfaenger", Code: "invalid_empfaenger", Message: "The recipient's name must be 1 to 70 characters, without control characters."}
	}
	if !checkIBAN(set.IBAN) {
		return Konto{}, &fault.Error{Kind: fault.Malformed, Field: "iban", Code: "invalid_iban", Message: "This is not a valid IBAN (its check digits do not match)."}
	}
	if set.BIC != "" && !checkBIC(set.BIC) {
		return Konto{}, &fault.Error{Kind: fault.Malformed, Field: "bic", Code: "invalid_bic", Message: "This is not a valid BIC (8 or 11 letters and digits)."}
	}
	if !set.Position.Valid() {
		return Konto{}, &fault.Error{Kind: fault.Malformed, Field: "position", Code: "invalid_coordinates", Message: "lat must lie within ±90 and lon within ±180."}
	}
	cell, err := set.Position.Cell()
	if err != nil {
		return Konto{}, err
	}
	var k Konto
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		in, err := s.bounds.Contains(ctx, tx, set.Position)
		if err != nil {
			return err
		}
		if !in {
			return fault.Invalidf("position", "outside_ortsweberei", "This point lies outside the Ortsweberei's bounds.")
		}
		now := s.clock.Now()
		tx.Defer(`
UPDATE ortskonto SET empfaenger = $1, iban = $2, bic = nullif($3, ''), lat = $4, lon = $5, position_h3 = $6, configured_at = $7`,
			set.Empfaenger, set.IBAN, set.BIC, set.Position.Lat, set.Position.Lon, cell, now)
		if err := eventstore.Append(tx, now, OrtskontoEingerichtet.New(eventstore.Header{Actor: actor, Cell: cell},
			OrtskontoEingerichtetV1{Empfaenger: set.Empfaenger, IBAN: set.IBAN, BIC: set.BIC, Position: set.Position})); err != nil {
			return err
		}
		k, err = s.KontoTx(ctx, tx)
		return err
	})
	return k, err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// noRows maps pgx's "no rows" to err.
func noRows(e error, err error) error {
	if errors.Is(e, pgx.ErrNoRows) {
		return err
	}
	return e
}
