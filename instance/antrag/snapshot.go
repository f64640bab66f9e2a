package antrag

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are the Anträge's share of a snapshot: the Anträge with their status and
// deadlines, then their Einsprüche (restore order: an Einspruch needs its Antrag, an Antrag
// its Abstimmung, so abstimmung's section restores before these).
//
// Fediverse replies (antrag_kommentare) and poll votes (antrag_fremdstimmen) are not in it:
// their events are private (what arrived from elsewhere, and who voted in an anonymous poll).
//
// Hidden is not public (docs/MODERATION.md): a hidden Antrag is in it without its title and
// text, a hidden Einspruch without its reason (their process goes on, and what refers to them
// must restore), both with hidden_at; held ones, never public, are not in it at all.
func SnapshotSections() []snapshot.Section {
	return []snapshot.Section{antraegeSection{}, einsprueheSection{}}
}

// SnapshotNamed is an account named by a snapshot object: its id only. Its name is the
// Garnrolle's (section "garnrollen"), so that a rename changes one object, not every Antrag.
type SnapshotNamed struct {
	ID uuid.UUID `json:"id"`
}

// SnapshotAntrag is an Antrag in a snapshot: the fields of the API's Antrag
// (GET /api/antraege/{id}) besides the applicant's name, the Einsprüche (their own section)
// and the payout (the Ortskonto's).
type SnapshotAntrag struct {
	ID               uuid.UUID     `json:"id"`
	Title            string        `json:"title"`
	DetailsMD        string        `json:"details_md"`
	DetailsHTML      string        `json:"details_html"`
	AmountCents      *int64        `json:"amount_cents"`
	Applicant        SnapshotNamed `json:"applicant"`
	KnotenID         *uuid.UUID    `json:"knoten_id"`
	OpenedAt         time.Time     `json:"opened_at"`
	DecisionDeadline time.Time     `json:"decision_deadline"`
	Extended         bool          `json:"extended"`
	Status           string        `json:"status"`
	DecidedAt        *time.Time    `json:"decided_at"`
	AbstimmungID     *uuid.UUID    `json:"abstimmung_id"`
	EinspruchCount   int           `json:"einspruch_count"`
	HiddenAt         *time.Time    `json:"hidden_at,omitempty"` // hidden by a moderator: title and text are ""
}

// SnapshotEinspruch is an Einspruch in a snapshot; its id is "<antrag_id>/<account_id>".
type SnapshotEinspruch struct {
	ID        string     `json:"id"`
	AntragID  uuid.UUID  `json:"antrag_id"`
	AccountID uuid.UUID  `json:"account_id"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	HiddenAt  *time.Time `json:"hidden_at,omitempty"` // hidden by a moderator: reason is ""
}

var antragEvents = []string{AntragGestellt.Name(), EinspruchErhoben.Name(), AntragFristVerlaengert.Name(),
	AntragZurAbstimmung.Name(), AntragAngenommen.Name(), AntragAbgelehnt.Name(), AntragZurueckgezogen.Name(),
	AntragVerborgen.Name(), AntragWiederhergestellt.Name()}

type antragRef struct {
	AntragID  uuid.UUID `json:"antrag_id"`
	AccountID uuid.UUID `json:"account_id"`
}

type antraegeSection struct{}

func (antraegeSection) Name() string { return "antraege" }

func (antraegeSection) Touched(e eventstore.Event) []string {
	if !contains(antragEvents, e.Type) {
		return nil
	}
	var p antragRef
	if json.Unmarshal(e.Payload, &p) != nil || p.AntragID == uuid.Nil {
		return nil
	}
	return []string{p.AntragID.String()}
}

func (antraegeSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	rows, err := q.Query(ctx, `
SELECT a.id, `+publicTitle+`, `+publicDetails+`, a.amount_cents, a.applicant_id, a.knoten_id, a.opened_at, a.decision_deadline,
       a.extended, a.status, a.decided_at, a.abstimmung_id,
       (SELECT count(*) FROM einsprueche e WHERE e.antrag_id = a.id AND NOT e.held), a.hidden_at
FROM antraege a WHERE ($1 OR a.id = ANY($2)) AND NOT a.held ORDER BY a.id`, all, uuids)
	if err != nil {
		return fmt.Errorf("antrag: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a SnapshotAntrag
		if err := rows.Scan(&a.ID, &a.Title, &a.DetailsMD, &a.AmountCents, &a.Applicant.ID, &a.KnotenID, &a.OpenedAt,
			&a.DecisionDeadline, &a.Extended, &a.Status, &a.DecidedAt, &a.AbstimmungID, &a.EinspruchCount, &a.HiddenAt); err != nil {
			return fmt.Errorf("antrag: snapshot: %w", err)
		}
		a.DetailsHTML = RenderMarkdown(a.DetailsMD)
		a.OpenedAt, a.DecisionDeadline, a.DecidedAt, a.HiddenAt = a.OpenedAt.UTC(), a.DecisionDeadline.UTC(), snapshot.UTC(a.DecidedAt), snapshot.UTC(a.HiddenAt)
		if err := snapshot.Emit(emit, a.ID.String(), a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("antrag: snapshot: %w", err)
	}
	return nil
}

func (antraegeSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	_, err := snapshot.CopyFrom(ctx, tx, objects, "antraege",
		[]string{"id", "applicant_id", "knoten_id", "title", "details_md", "amount_cents", "opened_at", "decision_deadline",
			"extended", "status", "decided_at", "abstimmung_id", "hidden_at"},
		func(a SnapshotAntrag) ([]any, error) {
			return []any{a.ID, a.Applicant.ID, a.KnotenID, a.Title, a.DetailsMD, a.AmountCents, a.OpenedAt, a.DecisionDeadline,
				a.Extended, a.Status, a.DecidedAt, a.AbstimmungID, a.HiddenAt}, nil
		})
	if err != nil {
		return fmt.Errorf("antrag: restore: %w", err)
	}
	return nil
}

func (antraegeSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "antraege", OrderBy: "id", Where: "NOT held", Columns: []string{"id", "applicant_id", "knoten_id",
		publicTitle, publicDetails, "amount_cents", "opened_at", "decision_deadline", "extended", "status", "decided_at", "abstimmung_id",
		"hidden_at"}}}
}

// The words of hidden content, as a snapshot holds them: none.
const (
	publicTitle   = `CASE WHEN hidden_at IS NULL THEN title ELSE '' END`
	publicDetails = `CASE WHEN hidden_at IS NULL THEN details_md ELSE '' END`
	publicReason  = `CASE WHEN hidden_at IS NULL THEN reason ELSE '' END`
)

type einsprueheSection struct{}

func (einsprueheSection) Name() string { return "einsprueche" }

func (einsprueheSection) Touched(e eventstore.Event) []string {
	if e.Type != EinspruchErhoben.Name() && e.Type != EinspruchVerborgen.Name() && e.Type != EinspruchWiederhergestellt.Name() {
		return nil
	}
	var p antragRef
	if json.Unmarshal(e.Payload, &p) != nil || p.AntragID == uuid.Nil || p.AccountID == uuid.Nil {
		return nil
	}
	return []string{snapshot.PairID(p.AntragID, p.AccountID)}
}

func (einsprueheSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, antraege, accounts := snapshot.PairIDs(ids)
	// Every uuid's text has the same length, so (antrag, account) sorts as "<antrag>/<account>".
	rows, err := q.Query(ctx, `
SELECT antrag_id, account_id, `+publicReason+`, created_at, hidden_at FROM einsprueche
WHERE ($1 OR (antrag_id, account_id) IN (SELECT * FROM unnest($2::uuid[], $3::uuid[]))) AND NOT held
ORDER BY antrag_id, account_id`, all, antraege, accounts)
	if err != nil {
		return fmt.Errorf("antrag: snapshot einsprueche: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e SnapshotEinspruch
		if err := rows.Scan(&e.AntragID, &e.AccountID, &e.Reason, &e.CreatedAt, &e.HiddenAt); err != nil {
			return fmt.Errorf("antrag: snapshot einsprueche: %w", err)
		}
		e.ID, e.CreatedAt, e.HiddenAt = e.AntragID.String()+"/"+e.AccountID.String(), e.CreatedAt.UTC(), snapshot.UTC(e.HiddenAt)
		if err := snapshot.Emit(emit, e.ID, e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("antrag: snapshot einsprueche: %w", err)
	}
	return nil
}

func (einsprueheSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	_, err := snapshot.CopyFrom(ctx, tx, objects, "einsprueche", []string{"antrag_id", "account_id", "reason", "created_at", "hidden_at"},
		func(e SnapshotEinspruch) ([]any, error) {
			return []any{e.AntragID, e.AccountID, e.Reason, e.CreatedAt, e.HiddenAt}, nil
		})
	if err != nil {
		return fmt.Errorf("antrag: restore einsprueche: %w", err)
	}
	return nil
}

func (einsprueheSection) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "einsprueche", OrderBy: "antrag_id, account_id", Where: "NOT held",
		Columns: []string{"antrag_id", "account_id", publicReason, "created_at", "hidden_at"}}}
}
