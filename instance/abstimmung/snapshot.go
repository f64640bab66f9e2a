package abstimmung

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

// SnapshotSections are the Abstimmungen's share of a snapshot. Every Abstimmung is in it, open
// ones too: the vote is by name and every Stimme is a public event the moment it is cast
// (StimmeAbgegeben), so an open Abstimmung's current Stimmen are as public as a closed one's.
// An open one has no tally yet (null): the count with delegation is the API's, at the
// instant it is asked; the frozen count of a closed one is kept as it was.
func SnapshotSections() []snapshot.Section { return []snapshot.Section{section{}} }

// SnapshotAbstimmung is an Abstimmung in a snapshot, with its current Stimmen (votes, by
// account id) and every cast and change in order (history).
type SnapshotAbstimmung struct {
	ID       uuid.UUID       `json:"id"`
	AntragID uuid.UUID       `json:"antrag_id"` // the subject
	KnotenID *uuid.UUID      `json:"knoten_id"`
	OpensAt  time.Time       `json:"opens_at"`
	ClosesAt time.Time       `json:"closes_at"`
	ClosedAt *time.Time      `json:"closed_at"`
	Result   *string         `json:"result"`
	Tally    json.RawMessage `json:"tally"` // frozen at the close; null while open
	Votes    []SnapshotVote  `json:"votes"`
	History  []SnapshotVote  `json:"history"`
}

// SnapshotVote is a Stimme: in votes the current one (cast_at its first cast, at its last
// change), in history one cast or change (seq its place in the Abstimmung's history).
type SnapshotVote struct {
	AccountID uuid.UUID  `json:"account_id"`
	Choice    string     `json:"choice"`
	At        time.Time  `json:"at"`
	CastAt    *time.Time `json:"cast_at,omitempty"`
	Seq       int64      `json:"seq,omitempty"`
}

type section struct{}

func (section) Name() string { return "abstimmungen" }

var events = []string{AbstimmungEroeffnet.Name(), StimmeAbgegeben.Name(), StimmeGeaendert.Name(), AbstimmungGeschlossen.Name()}

func (section) Touched(e eventstore.Event) []string {
	for _, k := range events {
		if e.Type == k {
			var p struct {
				AbstimmungID uuid.UUID `json:"abstimmung_id"`
			}
			if json.Unmarshal(e.Payload, &p) != nil || p.AbstimmungID == uuid.Nil {
				return nil
			}
			return []string{p.AbstimmungID.String()}
		}
	}
	return nil
}

func (section) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	// Votes and history as JSON built by the database: one row per Abstimmung, however many
	// voted. Times are written as UTC with microseconds, as Go writes them.
	rows, err := q.Query(ctx, `
SELECT a.id, a.subject_id, a.knoten_id, a.opens_at, a.closes_at, a.closed_at, a.result, a.tally,
       coalesce((SELECT json_agg(json_build_object('account_id', s.account_id, 'choice', s.choice,
                         'at', s.changed_at, 'cast_at', s.cast_at) ORDER BY s.account_id)
                 FROM stimmen s WHERE s.abstimmung_id = a.id), '[]'),
       coalesce((SELECT json_agg(json_build_object('account_id', v.account_id, 'choice', v.choice, 'at', v.at, 'seq', v.seq)
                         ORDER BY v.seq)
                 FROM stimmen_verlauf v WHERE v.abstimmung_id = a.id), '[]')
FROM abstimmungen a WHERE $1 OR a.id = ANY($2) ORDER BY a.id`, all, uuids)
	if err != nil {
		return fmt.Errorf("abstimmung: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a SnapshotAbstimmung
		var tally []byte
		var votes, history []byte
		if err := rows.Scan(&a.ID, &a.AntragID, &a.KnotenID, &a.OpensAt, &a.ClosesAt, &a.ClosedAt, &a.Result, &tally,
			&votes, &history); err != nil {
			return fmt.Errorf("abstimmung: snapshot: %w", err)
		}
		if err := json.Unmarshal(votes, &a.Votes); err != nil {
			return fmt.Errorf("abstimmung: snapshot votes: %w", err)
		}
		if err := json.Unmarshal(history, &a.History); err != nil {
			return fmt.Errorf("abstimmung: snapshot history: %w", err)
		}
		a.Tally = json.RawMessage("null")
		if tally != nil {
			a.Tally = tally
		}
		a.OpensAt, a.ClosesAt = a.OpensAt.UTC(), a.ClosesAt.UTC()
		if a.ClosedAt != nil {
			t := a.ClosedAt.UTC()
			a.ClosedAt = &t
		}
		for i := range a.Votes {
			a.Votes[i].At = a.Votes[i].At.UTC()
			if c := a.Votes[i].CastAt; c != nil {
				t := c.UTC()
				a.Votes[i].CastAt = &t
			}
		}
		for i := range a.History {
			a.History[i].At = a.History[i].At.UTC()
		}
		if err := snapshot.Emit(emit, a.ID.String(), a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("abstimmung: snapshot: %w", err)
	}
	return nil
}

// Restore writes the Abstimmungen, their Stimmen and their history, keeping each history
// entry's place (seq), and moves the history's sequence past the restored ones so that the
// next Stimme sorts after them.
func (section) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	var stimmen, verlauf [][]any
	_, err := snapshot.CopyFrom(ctx, tx, objects, "abstimmungen",
		[]string{"id", "subject_id", "knoten_id", "opens_at", "closes_at", "closed_at", "result", "tally"},
		func(a SnapshotAbstimmung) ([]any, error) {
			for _, v := range a.Votes {
				cast := v.At
				if v.CastAt != nil {
					cast = *v.CastAt
				}
				stimmen = append(stimmen, []any{a.ID, v.AccountID, v.Choice, cast, v.At})
			}
			for _, v := range a.History {
				verlauf = append(verlauf, []any{a.ID, v.Seq, v.AccountID, v.Choice, v.At})
			}
			var tally any
			if len(a.Tally) > 0 && string(a.Tally) != "null" {
				tally = string(a.Tally)
			}
			return []any{a.ID, a.AntragID, a.KnotenID, a.OpensAt, a.ClosesAt, a.ClosedAt, a.Result, tally}, nil
		})
	if err != nil {
		return fmt.Errorf("abstimmung: restore: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stimmen"}, []string{"abstimmung_id", "account_id", "choice", "cast_at", "changed_at"},
		pgx.CopyFromRows(stimmen)); err != nil {
		return fmt.Errorf("abstimmung: restore stimmen: %w", err)
	}
	// COPY writes the given seq into the identity column (as OVERRIDING SYSTEM VALUE would).
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

func (section) Tables() []snapshot.Table {
	return []snapshot.Table{
		{Name: "abstimmungen", OrderBy: "id", Columns: []string{"id", "subject_id", "knoten_id", "opens_at", "closes_at",
			"closed_at", "result", "tally"}},
		{Name: "stimmen", OrderBy: "abstimmung_id, account_id", Columns: []string{"abstimmung_id", "account_id", "choice",
			"cast_at", "changed_at"}},
		{Name: "stimmen_verlauf", OrderBy: "abstimmung_id, seq", Columns: []string{"abstimmung_id", "seq", "account_id",
			"choice", "at"}},
	}
}
