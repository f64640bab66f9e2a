// Package eventstore is the instance's event log: every write appends events here, in the same
// transaction as the projection update that the write makes, and followers (the live map feed,
// federation, snapshots) read the log in order.
//
// # Reading by position without gaps
//
// Event ids come from a sequence, and sequence values commit out of order: a transaction that
// took id 5 may commit after one that took id 6. A follower that remembers "I have read up to
// id 6" would skip 5 forever. So each event also stores the id of its writing transaction
// (pg_current_xact_id(), plus the database's offset: see positions.go), and a follower reads
// only events whose transaction is older than the oldest transaction still running
// (pg_snapshot_xmin of the current snapshot, plus the same offset). Below that horizon
// nothing can appear any more: every transaction there has committed or aborted. The position
// of an event is the pair (transaction id, event id), and the log is read in that order:
// events of later-visible transactions always sort after everything already read.
//
// The price: one long-running write transaction anywhere in the cluster holds the horizon back
// (delays, never loses). The embedded cluster caps idle open transactions at 60 s.
//
// # Waking followers
//
// No NOTIFY per append (every notifying commit serialises on a cluster-wide lock). Instead each
// process polls the log head — one indexed query every PollInterval — and wakes its local
// followers when it moves; replicas on the same database learn of each other's writes the same
// way.
package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Position is where an event sits in the log: its transaction, then its id.
// The zero Position is before the first event.
type Position struct {
	Tx uint64
	ID int64
}

// After reports whether p comes after q in the log.
func (p Position) After(q Position) bool {
	return p.Tx > q.Tx || (p.Tx == q.Tx && p.ID > q.ID)
}

// String is the position's opaque cursor form, "tx-id".
func (p Position) String() string {
	return strconv.FormatUint(p.Tx, 10) + "-" + strconv.FormatInt(p.ID, 10)
}

// ParsePosition reads a cursor made by String. The empty string is the zero Position.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Position{}, fmt.Errorf("eventstore: cursor %q is not of the form tx-id", s)
	}
	tx, err1 := strconv.ParseUint(a, 10, 63) // the log's tx is a bigint
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || id < 0 {
		return Position{}, fmt.Errorf("eventstore: cursor %q is not of the form tx-id", s)
	}
	return Position{Tx: tx, ID: id}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	*p = q
	return err
}

// Event is an appended event as read back from the log.
type Event struct {
	Position      Position
	At            time.Time
	Type          string
	Version       int
	ActorID       uuid.UUID
	SubjectID     uuid.UUID
	Payload       json.RawMessage
	Cell          int64
	CausationID   int64 // 0 for a root event
	CorrelationID int64 // the root event's id; a root's own id
	Public        bool
}

// Append queues drafts as one command in tx, at time at: the first draft is the command's root
// event, the others are caused by it (their causation and correlation ids are the root's id;
// a root's own are NULL). The events are written when tx next talks to the server, at the
// latest with its commit.
func Append(tx *database.Tx, at time.Time, drafts ...Draft) error {
	if len(drafts) == 0 {
		return nil
	}
	root, err := columnsOf(drafts[:1])
	if err != nil {
		return err
	}
	if h := drafts[0].header; len(drafts) == 1 && (h.CellFromTx || h.PayloadFromTx) {
		payload, cell, headerCell := "$6::jsonb", "$7::bigint", root.cells[0]
		if h.PayloadFromTx {
			payload = `$6::jsonb || coalesce(nullif(current_setting('` + TxPayloadSetting + `', true), ''), '{}')::jsonb`
		}
		if h.CellFromTx { // the header's cell is ignored: $7 is NULL
			cell, headerCell = `coalesce(nullif(current_setting('`+TxCellSetting+`', true), '')::bigint, $7::bigint)`, nil
		}
		tx.Defer(`
INSERT INTO events (at, type, version, actor_id, subject_id, payload, h3_index, public)
VALUES ($1, $2, $3, $4, $5, `+payload+`, `+cell+`, $8)`, at,
			root.types[0], root.versions[0], root.actors[0], root.subjects[0], root.payloads[0], headerCell, root.public[0])
		return nil
	}
	if len(drafts) == 1 {
		tx.Defer(`
INSERT INTO events (at, type, version, actor_id, subject_id, payload, h3_index, public)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, at, root.types[0], root.versions[0], root.actors[0], root.subjects[0],
			root.payloads[0], root.cells[0], root.public[0])
		return nil
	}
	for _, d := range drafts {
		if d.header.CellFromTx || d.header.PayloadFromTx {
			return errors.New("eventstore: a cell or payload from the transaction is for a command of one event")
		}
	}
	rest, err := columnsOf(drafts[1:])
	if err != nil {
		return err
	}
	// The root is inserted first (its id is read by the second insert), the rest in order.
	tx.Defer(`
WITH root AS (
    INSERT INTO events (at, type, version, actor_id, subject_id, payload, h3_index, public)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING id
)
INSERT INTO events (at, type, version, actor_id, subject_id, payload, h3_index, public, causation_id, correlation_id)
SELECT $1, t.*, root.id, root.id
FROM root, unnest($9::text[], $10::int[], $11::uuid[], $12::uuid[], $13::jsonb[], $14::bigint[], $15::bool[]) AS t`,
		at, root.types[0], root.versions[0], root.actors[0], root.subjects[0], root.payloads[0], root.cells[0], root.public[0],
		rest.types, rest.versions, rest.actors, rest.subjects, rest.payloads, rest.cells, rest.public)
	return nil
}

// AppendEach queues drafts as independent events, each its own root: the expiries a sweep
// records in one transaction, say.
func AppendEach(tx *database.Tx, at time.Time, drafts ...Draft) error {
	if len(drafts) == 0 {
		return nil
	}
	for _, d := range drafts {
		if d.header.CellFromTx || d.header.PayloadFromTx {
			return errors.New("eventstore: a cell or payload from the transaction is for a command of one event")
		}
	}
	c, err := columnsOf(drafts)
	if err != nil {
		return err
	}
	tx.Defer(`
INSERT INTO events (at, type, version, actor_id, subject_id, payload, h3_index, public)
SELECT $1, * FROM unnest($2::text[], $3::int[], $4::uuid[], $5::uuid[], $6::jsonb[], $7::bigint[], $8::bool[])`,
		at, c.types, c.versions, c.actors, c.subjects, c.payloads, c.cells, c.public)
	return nil
}

// columns are drafts column by column, as the statements above take them.
type columns struct {
	types    []string
	versions []int32
	actors   []pgtype.UUID // not uuid.UUID: pgx encodes its Valuer through text, on every append
	subjects []pgtype.UUID
	payloads []string
	cells    []*int64
	public   []bool
}

func columnsOf(drafts []Draft) (columns, error) {
	n := len(drafts)
	c := columns{
		types: make([]string, n), versions: make([]int32, n), actors: make([]pgtype.UUID, n),
		subjects: make([]pgtype.UUID, n), payloads: make([]string, n), cells: make([]*int64, n), public: make([]bool, n),
	}
	for i, d := range drafts {
		if d.meta == nil {
			return columns{}, errors.New("eventstore: draft without kind")
		}
		b, err := json.Marshal(d.payload)
		if err != nil {
			return columns{}, fmt.Errorf("eventstore: encode %s: %w", d.meta.Name, err)
		}
		c.types[i], c.versions[i], c.public[i], c.payloads[i] = d.meta.Name, int32(d.meta.Version), d.meta.Public, string(b)
		if d.header.Actor != uuid.Nil {
			c.actors[i] = pgtype.UUID{Bytes: d.header.Actor, Valid: true}
		}
		if d.header.Subject != uuid.Nil {
			c.subjects[i] = pgtype.UUID{Bytes: d.header.Subject, Valid: true}
		}
		if d.header.Cell != 0 {
			c.cells[i] = &d.header.Cell
		}
	}
	return c, nil
}
