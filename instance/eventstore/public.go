package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Scope selects public events: by actor, by subjects, or all of them (the zero Scope).
type Scope struct {
	Actor    uuid.UUID
	Subjects []uuid.UUID
	None     bool // selects nothing
	// Types, when given, are the only event types selected (an outbox: those with an
	// ActivityStreams form).
	Types []string
	// Omit leaves out the events each names (an outbox: those about hidden content), so that a
	// count and the pages agree.
	Omit []Omit
	// Only keeps, of each type it names, the events whose payload has the named member true
	// (an outbox: of a livestream's go-lives only the first, which is its post).
	Only []Only
}

// Only names a type of which only the events with a true payload member are selected.
type Only struct {
	Type   string `json:"type"`
	Member string `json:"member"`
}

// Omit names events to leave out: those about Subject, by Actor when given (not uuid.Nil), of
// Types when given.
type Omit struct {
	Subject uuid.UUID `json:"subject"`
	Actor   uuid.UUID `json:"actor"`
	Types   []string  `json:"types"`
}

func (sc Scope) where(args *[]any) string {
	// The horizon as an init plan: computed once, not for every row a count scans.
	conds := []string{"public", "tx < (SELECT events_horizon())"}
	if sc.None {
		conds = append(conds, "false")
	}
	if sc.Actor != uuid.Nil {
		*args = append(*args, sc.Actor)
		conds = append(conds, fmt.Sprintf("actor_id = $%d", len(*args)))
	}
	if len(sc.Subjects) > 0 {
		*args = append(*args, sc.Subjects)
		conds = append(conds, fmt.Sprintf("subject_id = ANY($%d)", len(*args)))
	}
	if sc.Types != nil {
		*args = append(*args, sc.Types)
		conds = append(conds, fmt.Sprintf("type = ANY($%d)", len(*args)))
	}
	if len(sc.Omit) > 0 {
		// Few (what moderators hid): one jsonb argument rather than a statement per shape. The
		// CASE reads it only for events about an omitted subject, not for every row counted.
		subjects := make([]uuid.UUID, len(sc.Omit))
		for i, o := range sc.Omit {
			subjects[i] = o.Subject
		}
		*args = append(*args, subjects, sc.Omit)
		conds = append(conds, fmt.Sprintf(`CASE WHEN subject_id = ANY($%d) THEN NOT EXISTS (
  SELECT 1 FROM jsonb_to_recordset($%d::jsonb) AS o(subject uuid, actor uuid, types text[])
  WHERE o.subject = events.subject_id AND (o.actor = '00000000-0000-0000-0000-000000000000' OR o.actor = events.actor_id)
    AND (o.types IS NULL OR events.type = ANY(o.types))) ELSE true END`, len(*args)-1, len(*args)))
	}
	if len(sc.Only) > 0 {
		// As Omit: the payload is read only for events of the types named, not for every row.
		types := make([]string, len(sc.Only))
		for i, o := range sc.Only {
			types[i] = o.Type
		}
		*args = append(*args, types, sc.Only)
		conds = append(conds, fmt.Sprintf(`CASE WHEN type = ANY($%d) THEN NOT EXISTS (
  SELECT 1 FROM jsonb_to_recordset($%d::jsonb) AS o(type text, member text)
  WHERE o.type = events.type AND (events.payload->>o.member) IS DISTINCT FROM 'true') ELSE true END`, len(*args)-1, len(*args)))
	}
	return strings.Join(conds, " AND ")
}

// PublicBefore returns up to limit public events of the scope before the position (the zero
// Position: from the newest), newest first: an outbox page.
func (s *Store) PublicBefore(ctx context.Context, sc Scope, before Position, limit int) ([]Event, error) {
	var args []any
	where := sc.where(&args)
	if before != (Position{}) {
		args = append(args, before.Tx, before.ID)
		where += fmt.Sprintf(" AND (tx, id) < ($%d::bigint, $%d::bigint)", len(args)-1, len(args))
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE `+where+
		fmt.Sprintf(` ORDER BY tx DESC, id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("eventstore: public: %w", err)
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("eventstore: public: %w", err)
	}
	return evs, nil
}

// CountPublic counts the public events of the scope.
func (s *Store) CountPublic(ctx context.Context, sc Scope) (int, error) {
	var args []any
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE `+sc.where(&args), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("eventstore: count: %w", err)
	}
	return n, nil
}

// ErrNoEvent is returned for an unknown (or, when asked for public ones, private) event id.
var ErrNoEvent = errors.New("eventstore: no such event")

// ByID returns one event; publicOnly refuses private ones as if they did not exist.
func (s *Store) ByID(ctx context.Context, id int64, publicOnly bool) (Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1 AND (public OR NOT $2)`, id, publicOnly)
	if err != nil {
		return Event{}, fmt.Errorf("eventstore: by id: %w", err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, ErrNoEvent
	}
	if err != nil {
		return Event{}, fmt.Errorf("eventstore: by id: %w", err)
	}
	return e, nil
}

// SaveCursorNow stores a consumer's position at once, in q (a transaction of the caller's).
func SaveCursorNow(ctx context.Context, q database.Querier, consumer string, p Position, at time.Time) error {
	_, err := q.Exec(ctx, `
INSERT INTO event_cursors (consumer, tx, id, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer) DO UPDATE SET tx = excluded.tx, id = excluded.id, updated_at = excluded.updated_at`,
		consumer, p.Tx, p.ID, at)
	return err
}
