package ortskonto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are the Ortskonto's share of a snapshot: its public state (one object, the
// balance with its bank settings and place, as GET /api/konto shows them), then the visible
// donations as Goldfäden. Nothing of an anonymous donation is in it, not even its id: it is
// in the balance's sums and counts only (docs/PRIVACY.md). Not in it either: the booking
// journal, the bank statements, the payouts' records and the treasurer's notes.
func SnapshotSections() []snapshot.Section {
	return []snapshot.Section{kontoSection{}, goldfaedenSection{}}
}

// SnapshotKontoID is the id of the one object of the section "ortskonto".
const SnapshotKontoID = "ortskonto"

// SnapshotKonto is the Ortskonto in a snapshot: the fields of GET /api/konto (balance and
// derived sums, counts, bank, position) and when it was set up.
type SnapshotKonto struct {
	ID             string         `json:"id"`
	BalanceCents   int64          `json:"balance_cents"`
	PendingCents   int64          `json:"pending_cents"`
	ReservedCents  int64          `json:"reserved_cents"`
	AvailableCents int64          `json:"available_cents"`
	SettledCents   int64          `json:"settled_cents"`
	ReversedCents  int64          `json:"reversed_cents"`
	PaidCents      int64          `json:"paid_cents"`
	Counts         snapshotCounts `json:"counts"`
	Bank           *snapshotBank  `json:"bank"`
	Position       *geo.Point     `json:"position"`
	H3             string         `json:"h3"` // the position's cell; "" without one
	ConfiguredAt   *time.Time     `json:"configured_at"`
}

type snapshotCounts struct {
	Initiated int64 `json:"initiated"`
	Pending   int64 `json:"pending"`
	Settled   int64 `json:"settled"`
	Failed    int64 `json:"failed"`
	Reversed  int64 `json:"reversed"`
}

type snapshotBank struct {
	Empfaenger string `json:"empfaenger"`
	IBAN       string `json:"iban"`
	BIC        string `json:"bic"`
}

// SnapshotGoldfaden is a visible donation in a snapshot: what GET /api/konto shows of it
// (the donor by id: the name is the Garnrolle's) and when its state last changed. A failed
// donation is no Goldfaden, as on the map.
type SnapshotGoldfaden struct {
	ID          uuid.UUID `json:"id"`
	AccountID   uuid.UUID `json:"account_id"`
	Status      string    `json:"status"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	Message     string    `json:"message"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

var (
	spendeEvents = []string{SpendeInitiiert.Name(), SpendeEingegangen.Name(), SpendeGebucht.Name(),
		SpendeFehlgeschlagen.Name(), SpendeStorniert.Name()}
	kontoEvents = append([]string{OrtskontoEingerichtet.Name(), KontoauszugImportiert.Name(), AuszahlungBeantragt.Name(),
		AuszahlungBewilligt.Name(), AuszahlungGeleistet.Name(), AuszahlungAbgebrochen.Name(), AuszahlungEntfallen.Name()},
		spendeEvents...)
)

type kontoSection struct{}

func (kontoSection) Name() string { return "ortskonto" }

// Touched: every event of the Ortskonto may move the balance, an anonymous donation's too;
// the balance object is all such an event touches.
func (kontoSection) Touched(e eventstore.Event) []string {
	if slices.Contains(kontoEvents, e.Type) {
		return []string{SnapshotKontoID}
	}
	return nil
}

func (kontoSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	if ids != nil && !slices.Contains(ids, SnapshotKontoID) {
		return nil
	}
	k, err := (&Service{}).KontoTx(ctx, q)
	if err != nil {
		return fmt.Errorf("ortskonto: snapshot: %w", err)
	}
	o := SnapshotKonto{ID: SnapshotKontoID, BalanceCents: k.BalanceCents(), PendingCents: k.PendingCents,
		ReservedCents: k.ReservedCents, AvailableCents: k.AvailableCents(), SettledCents: k.SettledCents,
		ReversedCents: k.ReversedCents, PaidCents: k.PaidCents, Counts: snapshotCounts(k.Counts), Position: k.Position}
	if k.Bank != nil {
		o.Bank = &snapshotBank{Empfaenger: k.Bank.Empfaenger, IBAN: k.Bank.IBAN, BIC: k.Bank.BIC}
	}
	if k.PositionCell != 0 {
		o.H3 = geo.CellHex(k.PositionCell)
	}
	if k.ConfiguredAt != nil {
		t := k.ConfiguredAt.UTC()
		o.ConfiguredAt = &t
	}
	return snapshot.Emit(emit, SnapshotKontoID, o)
}

// Restore sets the balance row (the migration made it, empty). The sums and counts are
// restored as they were, anonymous donations included, although only the visible donations'
// rows come back: the balance is public, the anonymous donations behind it are not.
func (kontoSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	for obj, err := range objects {
		if err != nil {
			return err
		}
		var k SnapshotKonto
		if err := json.Unmarshal(obj.JSON, &k); err != nil {
			return fmt.Errorf("ortskonto: restore: %w", err)
		}
		var empf, iban, bic *string
		if k.Bank != nil {
			empf, iban, bic = &k.Bank.Empfaenger, &k.Bank.IBAN, &k.Bank.BIC
		}
		var lat, lon *float64
		var cell *int64
		if k.Position != nil {
			lat, lon = &k.Position.Lat, &k.Position.Lon
			if k.H3 != "" {
				c, err := geo.ParseCell(k.H3)
				if err != nil {
					return fmt.Errorf("ortskonto: restore: %w", err)
				}
				n := int64(c)
				cell = &n
			}
		}
		tag, err := tx.Exec(ctx, `
UPDATE ortskonto SET empfaenger = $1, iban = $2, bic = nullif($3, ''), lat = $4, lon = $5, position_h3 = $6, configured_at = $7,
       settled_cents = $8, reversed_cents = $9, pending_cents = $10, reserved_cents = $11, paid_cents = $12,
       initiated_count = $13, pending_count = $14, settled_count = $15, failed_count = $16, reversed_count = $17`,
			empf, iban, bic, lat, lon, cell, k.ConfiguredAt, k.SettledCents, k.ReversedCents, k.PendingCents, k.ReservedCents,
			k.PaidCents, k.Counts.Initiated, k.Counts.Pending, k.Counts.Settled, k.Counts.Failed, k.Counts.Reversed)
		if err != nil {
			return fmt.Errorf("ortskonto: restore: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errors.New("ortskonto: restore: no balance row (schema not migrated?)")
		}
	}
	return nil
}

func (kontoSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "ortskonto", OrderBy: "singleton", Columns: []string{"empfaenger", "iban", "bic", "lat", "lon",
		"position_h3", "configured_at", "settled_cents", "reversed_cents", "pending_cents", "reserved_cents", "paid_cents",
		"initiated_count", "pending_count", "settled_count", "failed_count", "reversed_count"}}}
}

type goldfaedenSection struct{}

func (goldfaedenSection) Name() string { return "goldfaeden" }

// goldfaden is the rows a snapshot holds: visible donations that did not fail.
const goldfaden = `visible AND status <> 'failed'`

// Touched names a donation only when its event shows it visible: SpendeInitiiert says so in
// its payload, a later step by the Ortskonto's cell in its header (package ortskonto puts it on
// visible donations' events only). An anonymous donation's id is never returned: it would
// appear in the next snapshot's "gone". (A visible donation's step while the Ortskonto has no
// place carries no cell and is missed by the incremental; the next full snapshot has it.)
func (goldfaedenSection) Touched(e eventstore.Event) []string {
	if !slices.Contains(spendeEvents, e.Type) {
		return nil
	}
	var p struct {
		SpendeID uuid.UUID `json:"spende_id"`
		Visible  bool      `json:"visible"`
	}
	if json.Unmarshal(e.Payload, &p) != nil || p.SpendeID == uuid.Nil {
		return nil
	}
	if e.Cell == 0 && !(e.Type == SpendeInitiiert.Name() && p.Visible) {
		return nil
	}
	return []string{p.SpendeID.String()}
}

func (goldfaedenSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	rows, err := q.Query(ctx, `
SELECT id, account_id, status, amount_cents, currency, message, created_at, updated_at
FROM spenden WHERE `+goldfaden+` AND ($1 OR id = ANY($2)) ORDER BY id`, all, uuids)
	if err != nil {
		return fmt.Errorf("ortskonto: snapshot goldfaeden: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g SnapshotGoldfaden
		if err := rows.Scan(&g.ID, &g.AccountID, &g.Status, &g.AmountCents, &g.Currency, &g.Message, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return fmt.Errorf("ortskonto: snapshot goldfaeden: %w", err)
		}
		g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
		if err := snapshot.Emit(emit, g.ID.String(), g); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ortskonto: snapshot goldfaeden: %w", err)
	}
	return nil
}

// Restore brings the visible donations back as donations, with a new reference: the old one
// (the Verwendungszweck the donor was told) is private and not in the snapshot. A restored
// donation still waiting for its transfer is therefore not matched by a bank import; the
// treasurer steps it by hand (docs/SNAPSHOTS.md).
func (goldfaedenSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	_, err := snapshot.CopyFrom(ctx, tx, objects, "spenden",
		[]string{"id", "account_id", "reference", "amount_cents", "currency", "visible", "message", "status", "created_at", "updated_at"},
		func(g SnapshotGoldfaden) ([]any, error) {
			return []any{g.ID, g.AccountID, newReference(), g.AmountCents, g.Currency, true, g.Message, g.Status, g.CreatedAt, g.UpdatedAt}, nil
		})
	if err != nil {
		return fmt.Errorf("ortskonto: restore goldfaeden: %w", err)
	}
	return nil
}

func (goldfaedenSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "spenden", OrderBy: "id", Where: goldfaden, Columns: []string{"id", "account_id",
		"amount_cents", "currency", "visible", "message", "status", "created_at", "updated_at"}}}
}
