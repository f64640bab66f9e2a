package delegation

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

// SnapshotSections are the delegations' share of a snapshot: every delegation and request,
// ended ones too. All of it is public by design (docs/GOVERNANCE.md: who delegated to whom is
// part of every vote's record; every delegation event is public). Not in it: account_activity,
// the last write of each account, which is caught up from every event an account wrote,
// private ones too (a donation); a restored active delegation keeps the idle expiry it had.
func SnapshotSections() []snapshot.Section { return []snapshot.Section{section{}} }

// SnapshotDelegation is a delegation in a snapshot: the API's Delegation with the accounts by
// id (their names are the Garnrollen's) and the order of requests within a daily batch.
type SnapshotDelegation struct {
	ID            uuid.UUID     `json:"id"`
	From          snapshotNamed `json:"from"`
	To            snapshotNamed `json:"to"`
	State         string        `json:"state"`
	RequestedAt   time.Time     `json:"requested_at"`
	RequestSeq    int64         `json:"request_seq"`
	EffectiveAt   time.Time     `json:"effective_at"`
	EndsAt        *time.Time    `json:"ends_at"`
	IdleExpiresAt *time.Time    `json:"idle_expires_at"`
	EndedAt       *time.Time    `json:"ended_at"`
	EndReason     *string       `json:"end_reason"`
}

type snapshotNamed struct {
	ID uuid.UUID `json:"id"`
}

type section struct{}

func (section) Name() string { return "delegationen" }

var events = []string{DelegationAngefragt.Name(), DelegationWirksam.Name(), DelegationAbgelehnt.Name(),
	DelegationWiderrufen.Name(), DelegationBeendet.Name(), DelegationAbgelaufen.Name()}

// Touched: the delegation an event is about, and the one a new delegation replaced.
func (section) Touched(e eventstore.Event) []string {
	for _, k := range events {
		if e.Type != k {
			continue
		}
		var p struct {
			DelegationID uuid.UUID  `json:"delegation_id"`
			Replaces     *uuid.UUID `json:"replaces"`
		}
		if json.Unmarshal(e.Payload, &p) != nil || p.DelegationID == uuid.Nil {
			return nil
		}
		ids := []string{p.DelegationID.String()}
		if p.Replaces != nil {
			ids = append(ids, p.Replaces.String())
		}
		return ids
	}
	return nil
}

func (section) Dump(ctx context.Context, q database.Querier, ids []string, emit func(snapshot.Object) error) error {
	all, uuids := snapshot.IDs(ids)
	rows, err := q.Query(ctx, `
SELECT id, from_id, to_id, state, requested_at, request_seq, effective_at, ends_at, idle_expires_at, ended_at, end_reason
FROM delegationen WHERE $1 OR id = ANY($2) ORDER BY id`, all, uuids)
	if err != nil {
		return fmt.Errorf("delegation: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d SnapshotDelegation
		if err := rows.Scan(&d.ID, &d.From.ID, &d.To.ID, &d.State, &d.RequestedAt, &d.RequestSeq, &d.EffectiveAt, &d.EndsAt,
			&d.IdleExpiresAt, &d.EndedAt, &d.EndReason); err != nil {
			return fmt.Errorf("delegation: snapshot: %w", err)
		}
		d.RequestedAt, d.EffectiveAt = d.RequestedAt.UTC(), d.EffectiveAt.UTC()
		d.EndsAt, d.IdleExpiresAt, d.EndedAt = utc(d.EndsAt), utc(d.IdleExpiresAt), utc(d.EndedAt)
		if err := snapshot.Emit(emit, d.ID.String(), d); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("delegation: snapshot: %w", err)
	}
	return nil
}

// Restore keeps each request's place in its batch (request_seq, written by COPY into the
// identity column) and moves the sequence past it, so that later requests sort after.
func (section) Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(snapshot.Object, error) bool)) error {
	_, err := snapshot.CopyFrom(ctx, tx, objects, "delegationen",
		[]string{"id", "from_id", "to_id", "state", "requested_at", "request_seq", "effective_at", "ends_at", "idle_expires_at",
			"ended_at", "end_reason"},
		func(d SnapshotDelegation) ([]any, error) {
			return []any{d.ID, d.From.ID, d.To.ID, d.State, d.RequestedAt, d.RequestSeq, d.EffectiveAt, d.EndsAt, d.IdleExpiresAt,
				d.EndedAt, d.EndReason}, nil
		})
	if err != nil {
		return fmt.Errorf("delegation: restore: %w", err)
	}
	if _, err := tx.Exec(ctx, `
SELECT setval(pg_get_serial_sequence('delegationen', 'request_seq'), max(request_seq)) FROM delegationen HAVING count(*) > 0`); err != nil {
		return fmt.Errorf("delegation: restore: %w", err)
	}
	return nil
}

func (section) Tables() []snapshot.Table {
	return []snapshot.Table{{Name: "delegationen", OrderBy: "id", Columns: []string{"id", "from_id", "to_id", "state",
		"requested_at", "request_seq", "effective_at", "ends_at", "idle_expires_at", "ended_at", "end_reason"}}}
}
