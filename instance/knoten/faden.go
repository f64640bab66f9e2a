package knoten

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Faden is a thread of engagement from an account to a Knoten. A twisted Faden is Garn.
type Faden struct {
	ID          uuid.UUID
	KnotenID    uuid.UUID
	AccountID   uuid.UUID
	AccountName string // filled in by listings
	Type        string
	Twisted     bool
	CreatedAt   time.Time
	ExpiresAt   *time.Time // nil while twisted
	Hidden      bool       // hidden by the moderators: only its spinner reads it (FaedenAs)

	// Filled in by the map's listings (cells.go): where the thread starts (the spinner's
	// public position, nil when not on the map) and the cell of the Knoten it leads to.
	AccountPosition *geo.Point
	KnotenCell      int64
}

// Errors a client can meet.
var (
	ErrFadenNotFound = fault.NotFoundf("faden_not_found", "There is no Faden with this id.")
	ErrFadenExpired  = fault.Gonef("faden_expired", "This Faden has expired.")
	ErrNotYourFaden  = fault.Forbiddenf("not_your_faden", "Only the account that spun a Faden can twist or untwist it.")
	ErrFadenHidden   = fault.Gonef("faden_hidden", "This Faden was hidden by the moderators.")
)

// Spinning is a new Faden.
type Spinning struct {
	KnotenID uuid.UUID
	Type     string
	Twisted  bool
}

// Spin spins a Faden of one of the types residents spin themselves: the resident's tap on a
// Knoten, in one round trip. The Knoten's check and update and the Faden (knoten_spin,
// migration 00046) travel with the event and the commit as one implicit transaction
// (database.InOneTrip); a refusal raises in the statement, so nothing is written, and names
// the error.
func (s *Service) Spin(ctx context.Context, actor uuid.UUID, sp Spinning) (Faden, error) {
	if !validFadenType(sp.Type) {
		return Faden{}, fault.Invalidf("type", "unknown_faden_type", "Unknown Faden type %q; known types: %s.", sp.Type, strings.Join(FadenTypes, ", "))
	}
	if !slices.Contains(SpinnableFadenTypes, sp.Type) {
		return Faden{}, fault.Invalidf("type", "reserved_faden_type",
			"A %q Faden is spun by its own feature, not directly; spin one of: %s.", sp.Type, strings.Join(SpinnableFadenTypes, ", "))
	}
	f := newFaden(actor, sp, s.clock.Now())
	var cell int64
	err := database.InOneTrip(ctx, s.pool, func(tx *database.Tx) error {
		tx.DeferRow(`SELECT cell FROM knoten_spin($1, $2, $3, $4, $5, $6, $7, true)`, spinArgs(f), &cell)
		return eventstore.Append(tx, f.CreatedAt, FadenGesponnen.New(eventstore.Header{Actor: actor, Subject: f.ID, CellFromTx: true}, spunPayload(f)))
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == sqlStateSpinRefused {
		return Faden{}, spinRefusal(f.KnotenID, pgErr.Message)
	}
	if err != nil {
		return Faden{}, fmt.Errorf("knoten: spin: %w", err)
	}
	return f, nil
}

// SpinTx spins a Faden of any known type inside the caller's transaction: the features that
// own the reserved types (Anträge, donations, …) spin theirs as part of their own writes. A
// refusal leaves the caller's transaction as it was, so that it may go on without the Faden.
func (s *Service) SpinTx(ctx context.Context, tx *database.Tx, actor uuid.UUID, sp Spinning) (Faden, error) {
	if !validFadenType(sp.Type) {
		return Faden{}, fault.Invalidf("type", "unknown_faden_type", "Unknown Faden type %q.", sp.Type)
	}
	f := newFaden(actor, sp, s.clock.Now())
	var cell *int64
	var refused *string
	err := tx.QueryRow(ctx, `SELECT cell, refused FROM knoten_spin($1, $2, $3, $4, $5, $6, $7, false)`, spinArgs(f)...).Scan(&cell, &refused)
	if err != nil {
		return Faden{}, fmt.Errorf("knoten: spin: %w", err)
	}
	if refused != nil {
		return Faden{}, spinRefusal(f.KnotenID, *refused)
	}
	return f, eventstore.Append(tx, f.CreatedAt, FadenGesponnen.New(eventstore.Header{Actor: actor, Subject: f.ID, Cell: *cell}, spunPayload(f)))
}

// sqlStateSpinRefused is what knoten_spin raises when the Knoten takes no Faden; the
// message is why (spinRefusal).
const sqlStateSpinRefused = "WGF01"

// spinRefusal is the error for knoten_spin's refusal.
func spinRefusal(knotenID uuid.UUID, refused string) error {
	switch refused {
	case "knoten_not_found":
		return ErrKnotenNotFound
	case "knoten_hidden":
		return ErrKnotenHidden
	case "knoten_dissolved":
		return ErrKnotenDissolved
	}
	return fmt.Errorf("knoten: spin: Knoten %s neither alive nor gone (%s)", knotenID, refused)
}

// newFaden is the Faden actor spins at now.
func newFaden(actor uuid.UUID, sp Spinning, now time.Time) Faden {
	f := Faden{ID: uuid.Must(uuid.NewV7()), KnotenID: sp.KnotenID, AccountID: actor, Type: sp.Type, Twisted: sp.Twisted, CreatedAt: now}
	if !f.Twisted {
		exp := now.Add(FadenLifetime)
		f.ExpiresAt = &exp
	}
	return f
}

// spinArgs are knoten_spin's arguments for f but the last. The ids go as bytes: uuid.UUID's
// Valuer goes through text.
func spinArgs(f Faden) []any {
	return []any{[16]byte(f.ID), [16]byte(f.KnotenID), [16]byte(f.AccountID), f.Type, f.Twisted, f.CreatedAt, f.ExpiresAt}
}

// Twist makes the actor's Faden Garn: it stops expiring and its Knoten becomes permanent.
func (s *Service) Twist(ctx context.Context, actor, fadenID uuid.UUID) (Faden, error) {
	return s.changeOwnFaden(ctx, actor, fadenID, func(tx *database.Tx, f *Faden, cell int64, now time.Time) error {
		if f.Twisted {
			return fault.Conflictf("already_twisted", "This Faden is already Garn.")
		}
		f.Twisted, f.ExpiresAt = true, nil
		tx.Defer(`UPDATE faeden SET twisted = true, expires_at = NULL WHERE id = $1`, f.ID)
		tx.Defer(`UPDATE knoten SET garn_count = garn_count + 1, dissolves_at = NULL, last_activity_at = $2 WHERE id = $1`, f.KnotenID, now)
		return eventstore.Append(tx, now, FadenVerzwirnt.New(eventstore.Header{Actor: actor, Subject: f.ID, Cell: cell},
			FadenVerzwirntV1{FadenID: f.ID, KnotenID: f.KnotenID}))
	})
}

// Untwist turns the actor's Garn back into a Faden that expires 7 days from now. When it was
// the Knoten's last Garn, the Knoten dissolves again once its last Faden expires.
func (s *Service) Untwist(ctx context.Context, actor, fadenID uuid.UUID) (Faden, error) {
	return s.changeOwnFaden(ctx, actor, fadenID, func(tx *database.Tx, f *Faden, cell int64, now time.Time) error {
		if !f.Twisted {
			return fault.Conflictf("not_twisted", "This Faden is not Garn; only Garn can be untwisted.")
		}
		exp := now.Add(FadenLifetime)
		f.Twisted, f.ExpiresAt = false, &exp
		tx.Defer(`UPDATE faeden SET twisted = false, expires_at = $2 WHERE id = $1`, f.ID, exp)
		// With its last Garn gone, the Knoten lives as long as its longest-lived active Faden
		// (this one among them: the statement above runs first).
		tx.Defer(`
UPDATE knoten SET garn_count = garn_count - 1, last_activity_at = $2,
       dissolves_at = CASE WHEN garn_count - 1 > 0 THEN NULL ELSE
           (SELECT max(expires_at) FROM faeden WHERE knoten_id = $1 AND expired_at IS NULL AND NOT twisted) END
WHERE id = $1`, f.KnotenID, now)
		return eventstore.Append(tx, now, FadenEntzwirnt.New(eventstore.Header{Actor: actor, Subject: f.ID, Cell: cell},
			FadenEntzwirntV1{FadenID: f.ID, KnotenID: f.KnotenID, ExpiresAt: exp}))
	})
}

// changeOwnFaden runs change in a transaction, on the actor's own active Faden, locked.
func (s *Service) changeOwnFaden(ctx context.Context, actor, fadenID uuid.UUID,
	change func(tx *database.Tx, f *Faden, cell int64, now time.Time) error) (Faden, error) {
	var f Faden
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		var cell int64
		var err error
		if f, cell, err = s.lockOwnFaden(ctx, tx, actor, fadenID, now); err != nil {
			return err
		}
		return change(tx, &f, cell, now)
	})
	return f, err
}

// lockOwnFaden locks a Faden's Knoten, then the Faden (always in that order, like SpinTx), and
// checks that the Faden is the actor's and still active.
func (s *Service) lockOwnFaden(ctx context.Context, tx *database.Tx, actor, fadenID uuid.UUID, now time.Time) (Faden, int64, error) {
	var knotenID uuid.UUID
	err := tx.QueryRow(ctx, `SELECT knoten_id FROM faeden WHERE id = $1`, fadenID).Scan(&knotenID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Faden{}, 0, ErrFadenNotFound
	}
	if err != nil {
		return Faden{}, 0, fmt.Errorf("knoten: faden: %w", err)
	}
	cell, err := lockKnoten(ctx, tx, knotenID, now)
	if errors.Is(err, ErrKnotenDissolved) {
		return Faden{}, 0, ErrFadenExpired // a dissolved Knoten has no active Faden left
	}
	if err != nil {
		return Faden{}, 0, err
	}
	var expiredAt *time.Time
	var hidden bool
	f, err := scanFaden(tx.QueryRow(ctx, `SELECT `+fadenColumns+`, f.expired_at, f.hidden_at IS NOT NULL FROM faeden f WHERE f.id = $1 FOR UPDATE`, fadenID),
		&expiredAt, &hidden)
	if err != nil {
		return Faden{}, 0, fmt.Errorf("knoten: faden: %w", err)
	}
	if f.AccountID != actor {
		return Faden{}, 0, ErrNotYourFaden
	}
	if hidden {
		return Faden{}, 0, ErrFadenHidden
	}
	if expiredAt != nil || (f.ExpiresAt != nil && !f.ExpiresAt.After(now)) {
		return Faden{}, 0, ErrFadenExpired
	}
	return f, cell, nil
}

// Faeden lists the active Fäden and Garn of a Knoten, oldest first.
func (s *Service) Faeden(ctx context.Context, knotenID uuid.UUID) ([]Faden, error) {
	return s.FaedenAs(ctx, knotenID, uuid.Nil)
}

// FaedenAs is Faeden as viewer (uuid.Nil: anyone) sees them: a hidden Knoten's creator still
// reads its Fäden, and a hidden Faden's spinner that Faden, marked Hidden.
func (s *Service) FaedenAs(ctx context.Context, knotenID, viewer uuid.UUID) ([]Faden, error) {
	now := s.clock.Now()
	if _, err := getKnoten(ctx, s.pool, knotenID, now, viewer); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
SELECT `+fadenColumns+`, a.name, f.hidden_at IS NOT NULL
FROM faeden f JOIN accounts a ON a.id = f.account_id
WHERE f.knoten_id = $1 AND f.expired_at IS NULL AND (f.twisted OR f.expires_at > $2)
  AND (f.hidden_at IS NULL OR f.account_id = $3)
ORDER BY f.created_at, f.id`, knotenID, now, viewer)
	if err != nil {
		return nil, fmt.Errorf("knoten: faeden: %w", err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Faden, error) {
		var name string
		var hidden bool
		f, err := scanFaden(r, &name, &hidden)
		f.AccountName, f.Hidden = name, hidden
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("knoten: faeden: %w", err)
	}
	return fs, nil
}

const fadenColumns = `f.id, f.knoten_id, f.account_id, f.type, f.twisted, f.created_at, f.expires_at`

func scanFaden(row pgx.Row, extra ...any) (Faden, error) {
	var f Faden
	err := row.Scan(append([]any{&f.ID, &f.KnotenID, &f.AccountID, &f.Type, &f.Twisted, &f.CreatedAt, &f.ExpiresAt}, extra...)...)
	f.CreatedAt = f.CreatedAt.UTC()
	if f.ExpiresAt != nil {
		t := f.ExpiresAt.UTC()
		f.ExpiresAt = &t
	}
	return f, err
}

func insertFaden(tx *database.Tx, f Faden) {
	tx.Defer(`
INSERT INTO faeden (id, knoten_id, account_id, type, twisted, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, f.KnotenID, f.AccountID, f.Type, f.Twisted, f.CreatedAt, f.ExpiresAt)
}

func spunPayload(f Faden) FadenGesponnenV1 {
	return FadenGesponnenV1{FadenID: f.ID, KnotenID: f.KnotenID, AccountID: f.AccountID, Type: f.Type, IsTwisted: f.Twisted, ExpiresAt: f.ExpiresAt}
}
