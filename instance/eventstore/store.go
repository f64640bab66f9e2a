// Package eventstore is the instance's event log: every write appends events here, in the same
// transaction as the projection update that the write makes, and followers (the live map feed,
// federation, snapshots) read the log in order.
//
// # Reading by position without gaps
//
// Event ids come from a sequence, and sequence values commit out of order: a transaction that
// took id 5 may commit after one that took id 6. A follower that remembers "I have read up to
// id 6" would skip 5 forever. So each event also stores the id of its writing transaction
// (pg_current_xact_id()), and a follower reads only events whose transaction is older than the
// oldest transaction still running (pg_snapshot_xmin of the current snapshot). Below that
// horizon nothing can appear any more: every transaction there has committed or aborted. The
// position of an event is the pair (transaction id, event id), and the log is read in that
// order: events of later-visible transactions always sort after everything already read.
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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	tx, err1 := strconv.ParseUint(a, 10, 64)
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
	CausationID   int64
	CorrelationID int64
	Public        bool
}

// Append writes drafts as one command at time at, inside tx, and returns their ids in order.
// The first draft (and any draft whose Header.Cause is 0) is a root: its correlation id is its
// own id. Others point at their cause and share its correlation id.
func Append(ctx context.Context, tx pgx.Tx, at time.Time, drafts ...Draft) ([]int64, error) {
	n := len(drafts)
	if n == 0 {
		return nil, nil
	}
	var (
		types    = make([]string, n)
		versions = make([]int32, n)
		actors   = make([]*uuid.UUID, n)
		subjects = make([]*uuid.UUID, n)
		payloads = make([]string, n)
		cells    = make([]*int64, n)
		causes   = make([]int32, n)
		roots    = make([]int32, n)
		public   = make([]bool, n)
	)
	for i, d := range drafts {
		if d.meta == nil {
			return nil, errors.New("eventstore: draft without kind")
		}
		b, err := json.Marshal(d.payload)
		if err != nil {
			return nil, fmt.Errorf("eventstore: encode %s: %w", d.meta.Name, err)
		}
		c := d.header.Cause
		if c < 0 || c > i {
			return nil, fmt.Errorf("eventstore: draft %d (%s) names cause %d, which is not an earlier draft", i+1, d.meta.Name, c)
		}
		types[i], versions[i], public[i], payloads[i] = d.meta.Name, int32(d.meta.Version), d.meta.Public, string(b)
		if d.header.Actor != uuid.Nil {
			actors[i] = &d.header.Actor
		}
		if d.header.Subject != uuid.Nil {
			subjects[i] = &d.header.Subject
		}
		if d.header.Cell != 0 {
			cells[i] = &d.header.Cell
		}
		causes[i] = int32(c)
		if c == 0 {
			roots[i] = int32(i + 1)
		} else {
			roots[i] = roots[c-1]
		}
	}

	// One statement for the whole command. The sorted subquery hands out ids in draft order.
	const q = `
WITH input AS (
    SELECT s.*, nextval('events_id_seq') AS id
    FROM (
        SELECT * FROM unnest($2::text[], $3::int[], $4::uuid[], $5::uuid[], $6::jsonb[], $7::bigint[], $8::int[], $9::int[], $10::bool[])
            WITH ORDINALITY AS t(type, version, actor_id, subject_id, payload, h3_index, cause, root, public, ord)
        ORDER BY ord
    ) s
)
INSERT INTO events (id, at, type, version, actor_id, subject_id, payload, h3_index, causation_id, correlation_id, public)
SELECT i.id, $1, i.type, i.version, i.actor_id, i.subject_id, i.payload, i.h3_index, c.id, r.id, i.public
FROM input i
LEFT JOIN input c ON c.ord = i.cause
JOIN input r ON r.ord = i.root
ORDER BY i.ord
RETURNING id`
	rows, err := tx.Query(ctx, q, at, types, versions, actors, subjects, payloads, cells, causes, roots, public)
	if err != nil {
		return nil, fmt.Errorf("eventstore: append: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("eventstore: append: %w", err)
	}
	// Ids were handed out in draft order, so ascending ids are the drafts' order.
	slices.Sort(ids)
	if len(ids) != n {
		return nil, fmt.Errorf("eventstore: append wrote %d of %d events", len(ids), n)
	}
	return ids, nil
}
