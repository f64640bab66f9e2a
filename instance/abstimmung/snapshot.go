package abstimmung

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are the Abstimmungen's share of a snapshot: the Abstimmungen, then their
// Stimmen (restore order: a Stimme needs its Abstimmung). Every Abstimmung is in it, open ones
// too: the vote is by name and every Stimme is a public event the moment it is cast
// (StimmeAbgegeben), so an open Abstimmung's Stimmen are as public as a closed one's. An open
// one has no tally yet (null): the count with delegation is the API's, at the instant it is
// asked; the frozen count of a closed one is kept as it was. The Stimmen are a section of
// their own, one object per voter, so that no object grows with the number of voters beyond
// the frozen tally (a snapshot's object is bounded, docs/SNAPSHOTS.md).
func SnapshotSections() []snapshot.Section { return []snapshot.Section{section{}, stimmenSection{}} }

// SnapshotAbstimmung is an Abstimmung in a snapshot.
type SnapshotAbstimmung struct {
	ID       uuid.UUID       `json:"id"`
	AntragID uuid.UUID       `json:"antrag_id"` // the subject
	KnotenID *uuid.UUID      `json:"knoten_id"`
	OpensAt  time.Time       `json:"opens_at"`
	ClosesAt time.Time       `json:"closes_at"`
	ClosedAt *time.Time      `json:"closed_at"`
	Result   *string         `json:"result"`
	Tally    json.RawMessage `json:"tally"` // frozen at the close; null while open
}

// SnapshotStimme is a voter's Stimme in an Abstimmung, id "<abstimmung_id>/<account_id>": the
// current choice (cast_at its first cast, at its last change) and every cast and change of it
// in order (seq: its place in the Abstimmung's whole history).
type SnapshotStimme struct {
	ID           string         `json:"id"`
	AbstimmungID uuid.UUID      `json:"abstimmung_id"`
	AccountID    uuid.UUID      `json:"account_id"`
	Choice       string         `json:"choice"`
	CastAt       time.Time      `json:"cast_at"`
	At           time.Time      `json:"at"`
	History      []SnapshotCast `json:"history"`
}

// SnapshotCast is one cast or change of a Stimme.
type SnapshotCast struct {
	Seq    int64     `json:"seq"`
	Choice string    `json:"choice"`
	At     time.Time `json:"at"`
}

type section struct{}

func (section) Name() string { return "abstimmungen" }

var (
	abstimmungEvents = []string{AbstimmungEroeffnet.Name(), AbstimmungGeschlossen.Name()}
	stimmeEvents     = []string{StimmeAbgegeben.Name(), StimmeGeaendert.Name()}
)

type ref struct {
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
	AccountID    uuid.UUID `json:"account_id"`
}

func (section) Touched(e eventstore.Event) []string {
	if !slices.Contains(abstimmungEvents, e.Type) {
		return nil
	}
	var p ref
	if json.Unmarshal(e.Payload, &p) != nil || p.AbstimmungID == uuid.Nil {
		return nil
	}
	return []string{p.AbstimmungID.String()}
}

func (section) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	rows, err := q.Query(ctx, `
SELECT id, subject_id, knoten_id, opens_at, closes_at, closed_at, result, tally
FROM abstimmungen WHERE $1 OR id = ANY($2) ORDER BY id`, all, uuids)
	if err != nil {
		return fmt.Errorf("abstimmung: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a SnapshotAbstimmung
		var tally []byte
		if err := rows.Scan(&a.ID, &a.AntragID, &a.KnotenID, &a.OpensAt, &a.ClosesAt, &a.ClosedAt, &a.Result, &tally); err != nil {
			return fmt.Errorf("abstimmung: snapshot: %w", err)
		}
		a.Tally = json.RawMessage("null")
		if tally != nil {
			a.Tally = tally
		}
		a.OpensAt, a.ClosesAt, a.ClosedAt = a.OpensAt.UTC(), a.ClosesAt.UTC(), snapshot.UTC(a.ClosedAt)
		if err := snapshot.Emit(emit, a.ID.String(), a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("abstimmung: snapshot: %w", err)
	}
	return nil
}

func (section) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	_, err := snapshot.CopyFrom(ctx, tx, objects, "abstimmungen",
		[]string{"id", "subject_id", "knoten_id", "opens_at", "closes_at", "closed_at", "result", "tally"},
		func(a SnapshotAbstimmung) ([]any, error) {
			var tally any
			if len(a.Tally) > 0 && string(a.Tally) != "null" {
				tally = string(a.Tally)
			}
			return []any{a.ID, a.AntragID, a.KnotenID, a.OpensAt, a.ClosesAt, a.ClosedAt, a.Result, tally}, nil
		})
	if err != nil {
		return fmt.Errorf("abstimmung: restore: %w", err)
	}
	return nil
}

func (section) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "abstimmungen", OrderBy: "id", Columns: []string{"id", "subject_id", "knoten_id", "opens_at",
		"closes_at", "closed_at", "result", "tally"}}}
}

type stimmenSection struct{}

func (stimmenSection) Name() string { return "stimmen" }

func (stimmenSection) Touched(e eventstore.Event) []string {
	if !slices.Contains(stimmeEvents, e.Type) {
		return nil
	}
	var p ref
	if json.Unmarshal(e.Payload, &p) != nil || p.AbstimmungID == uuid.Nil || p.AccountID == uuid.Nil {
		return nil
	}
	return []string{snapshot.PairID(p.AbstimmungID, p.AccountID)}
}

func (stimmenSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, abst, accounts := snapshot.PairIDs(ids)
	// Every uuid's text has the same length, so (abstimmung, account) sorts as the id does.
	// The history as JSON built by the database: one row per Stimme.
	rows, err := q.Query(ctx, `
SELECT s.abstimmung_id, s.account_id, s.choice, s.cast_at, s.changed_at,
       coalesce((SELECT json_agg(json_build_object('seq', v.seq, 'choice', v.choice, 'at', v.at) ORDER BY v.seq)
                 FROM stimmen_verlauf v WHERE v.abstimmung_id = s.abstimmung_id AND v.account_id = s.account_id), '[]')
FROM stimmen s
WHERE $1 OR (s.abstimmung_id, s.account_id) IN (SELECT * FROM unnest($2::uuid[], $3::uuid[]))
ORDER BY s.abstimmung_id, s.account_id`, all, abst, accounts)
	if err != nil {
		return fmt.Errorf("abstimmung: snapshot stimmen: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s SnapshotStimme
		var history []byte
		if err := rows.Scan(&s.AbstimmungID, &s.AccountID, &s.Choice, &s.CastAt, &s.At, &history); err != nil {
			return fmt.Errorf("abstimmung: snapshot stimmen: %w", err)
		}
		if err := json.Unmarshal(history, &s.History); err != nil {
			return fmt.Errorf("abstimmung: snapshot stimmen: %w", err)
		}
		for i := range s.History {
			s.History[i].At = s.History[i].At.UTC()
		}
		s.ID, s.CastAt, s.At = s.AbstimmungID.String()+"/"+s.AccountID.String(), s.CastAt.UTC(), s.At.UTC()
		if err := snapshot.Emit(emit, s.ID, s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("abstimmung: snapshot stimmen: %w", err)
	}
	return nil
}

// Restore writes the Stimmen and their history, keeping each history entry's place (seq,
// written by COPY into the identity column), and moves the history's sequence past the
// restored ones so that the next Stimme sorts after them.
func (stimmenSection) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	var verlauf [][]any
	_, err := snapshot.CopyFrom(ctx, tx, objects, "stimmen", []string{"abstimmung_id", "account_id", "choice", "cast_at", "changed_at"},
		func(s SnapshotStimme) ([]any, error) {
			for _, c := range s.History {
				verlauf = append(verlauf, []any{s.AbstimmungID, c.Seq, s.AccountID, c.Choice, c.At})
			}
			return []any{s.AbstimmungID, s.AccountID, s.Choice, s.CastAt, s.At}, nil
		})
	if err != nil {
		return fmt.Errorf("abstimmung: restore stimmen: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stimmen_verlauf"}, []string{"abstimmung_id", "seq", "account_id", "choice", "at"},
		pgx.CopyFromRows(verlauf)); err != nil {
		return fmt.Errorf("abstimmung: restore stimmen_verlauf: %w", err)
	}
	if _, err := tx.Exec(ctx, `
SELECT setval(pg_get_serial_sequence('stimmen_verlauf', 'seq'), max(seq)) FROM stimmen_verlauf HAVING count(*) > 0`); err != nil {
		return fmt.Errorf("abstimmung: restore stimmen_verlauf: %w", err)
	}
	return nil
}

func (stimmenSection) Tables() []snapshot.Table {
	return []snapshot.Table{
		{Name: "stimmen", OrderBy: "abstimmung_id, account_id", Columns: []string{"abstimmung_id", "account_id", "choice",
			"cast_at", "changed_at"}},
		{Name: "stimmen_verlauf", OrderBy: "abstimmung_id, seq", Columns: []string{"abstimmung_id", "seq", "account_id",
			"choice", "at"}},
	}
}
