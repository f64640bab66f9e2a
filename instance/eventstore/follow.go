package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultPollInterval is how often a Store looks for a new log head. A follower learns of a
// committed event within about one interval (plus the time until older transactions finish).
const DefaultPollInterval = 50 * time.Millisecond

// Store reads the log and wakes followers when it grows. Appending needs no Store: it happens
// in the writer's own transaction through Append.
type Store struct {
	pool     *pgxpool.Pool
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	head    Position
	changed chan struct{} // closed and replaced whenever head moves

	followers tracker // where the named followers are (lag.go)
}

// NewStore returns a Store reading from pool. Run must be running for Wait and Follow to wake
// up on new events.
func NewStore(pool *pgxpool.Pool, pollInterval time.Duration, log *slog.Logger) *Store {
	if pollInterval <= 0 {
		pollInterval = DefaultPollInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, interval: pollInterval, log: log, changed: make(chan struct{})}
}

const eventColumns = `tx, id, at, type, version, coalesce(actor_id, '00000000-0000-0000-0000-000000000000'),
       coalesce(subject_id, '00000000-0000-0000-0000-000000000000'), payload, coalesce(h3_index, 0),
       coalesce(causation_id, 0), coalesce(correlation_id, id), public`

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	err := row.Scan(&e.Position.Tx, &e.Position.ID, &e.At, &e.Type, &e.Version, &e.ActorID, &e.SubjectID,
		&e.Payload, &e.Cell, &e.CausationID, &e.CorrelationID, &e.Public)
	e.At = e.At.UTC()
	return e, err
}

// Read returns up to limit events after the position, in log order. It only returns events
// below the horizon (see the package documentation), so a later Read from the last returned
// position never misses one.
func (s *Store) Read(ctx context.Context, after Position, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `
SELECT `+eventColumns+`
FROM events
WHERE (tx, id) > ($1::bigint, $2::bigint) AND tx < events_horizon()
ORDER BY tx, id
LIMIT $3`, after.Tx, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read: %w", err)
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read: %w", err)
	}
	return evs, nil
}

// Head is the position of the last event a follower can read now.
func (s *Store) Head(ctx context.Context) (Position, error) {
	var p Position
	err := s.pool.QueryRow(ctx, `
SELECT tx, id FROM events
WHERE tx < events_horizon()
ORDER BY tx DESC, id DESC
LIMIT 1`).Scan(&p.Tx, &p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: head: %w", err)
	}
	return p, nil
}

// Back is the position n events before the readable head (the zero Position when the log is
// shorter): where a follower starts that wants the recent past as well as what comes. It walks
// n entries of the position index, whatever the events' types.
func (s *Store) Back(ctx context.Context, n int) (Position, error) {
	var p Position
	err := s.pool.QueryRow(ctx, `
SELECT tx, id FROM events
WHERE tx < events_horizon()
ORDER BY tx DESC, id DESC
OFFSET $1 LIMIT 1`, n).Scan(&p.Tx, &p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: back: %w", err)
	}
	return p, nil
}

// Run polls the log head until ctx ends, waking followers whenever it moves. A database that
// cannot be reached is logged once, when it goes and when it is back; the poll goes on.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	failing := false
	for {
		err := s.poll(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			s.log.Warn("event log: cannot read the head; followers wait until it is back", "err", err)
		case err == nil && failing:
			failing = false
			s.log.Info("event log: readable again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Store) poll(ctx context.Context) error {
	h, err := s.Head(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.After(s.head) {
		s.head = h
		s.followers.moved(h, time.Now())
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return nil
}

// signal returns the last head seen and a channel closed when it next moves.
func (s *Store) signal() (Position, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, s.changed
}

// Follow calls fn with every event after the position, in log order and in batches of at most
// batch events, waiting for new ones as they commit, until ctx ends or fn fails. Each event is
// passed exactly once. The position of the last event of each batch is where a restarted
// follower resumes.
func (s *Store) Follow(ctx context.Context, after Position, batch int, fn func(context.Context, []Event) error) error {
	for {
		// Take the wake-up channel before reading: a head that moves after the read closes it.
		_, changed := s.signal()
		evs, err := s.Read(ctx, after, batch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if len(evs) > 0 {
			if err := fn(ctx, evs); err != nil {
				return err
			}
			after = evs[len(evs)-1].Position
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(time.Second):
			// A safety net only: Run wakes us long before this when it is running.
		}
	}
}

// FollowTypes is Follow for a consumer that cares about a few event types only: fn gets the
// events of those types, in log order, each exactly once. The others are never sent from the
// database (the live map and the chat would otherwise read every event of the log).
func (s *Store) FollowTypes(ctx context.Context, after Position, batch int, types []string, fn func(context.Context, []Event) error) error {
	return s.FollowTypesAs(ctx, "", after, batch, types, fn)
}

// FollowTypesAs is FollowTypes under a name: the metrics show how far behind the log the
// follower is (Followers). "" is no name.
func (s *Store) FollowTypesAs(ctx context.Context, follower string, after Position, batch int, types []string,
	fn func(context.Context, []Event) error) error {
	head, _ := s.signal()
	s.followers.note(follower, after)
	// A follower that stopped (its process lost the delivery lock to another replica, say)
	// is no longer behind anything: the metrics leave it out until it follows again.
	defer s.followers.forget(follower)
	for {
		// Everything up to a head is final (below the horizon), so reading the range
		// (after, head] with a filter misses nothing, and the position may then move to the
		// head even when nothing in the range matched. The head is the one Run last saw;
		// without Run, the safety net below asks for it.
		for head.After(after) {
			rows, err := s.pool.Query(ctx, `
SELECT `+eventColumns+`
FROM events
WHERE (tx, id) > ($1::bigint, $2::bigint) AND (tx, id) <= ($3::bigint, $4::bigint) AND type = ANY($5)
ORDER BY tx, id
LIMIT $6`, after.Tx, after.ID, head.Tx, head.ID, types, batch)
			var evs []Event
			if err == nil {
				evs, err = pgx.CollectRows(rows, scanEvent)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("eventstore: read: %w", err)
			}
			if len(evs) > 0 {
				if err := fn(ctx, evs); err != nil {
					return err
				}
			}
			if len(evs) < batch {
				after = head
			} else {
				after = evs[len(evs)-1].Position
			}
			s.followers.note(follower, after)
		}
		var changed <-chan struct{}
		if head, changed = s.signal(); head.After(after) {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			head, _ = s.signal()
		case <-time.After(time.Second):
			// A safety net only, as in Follow.
			h, err := s.Head(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			head = h
		}
	}
}

// retryDelay is how long a follower that runs as long as the process waits before it tries
// the log again after a failure (the database is away, say).
const retryDelay = time.Second

// HeadWhenReadable is Head for a follower starting up: it waits until the log can be read. It
// fails only when ctx ends.
func (s *Store) HeadWhenReadable(ctx context.Context, follower string) (Position, error) {
	for logged := false; ; logged = true {
		h, err := s.Head(ctx)
		if err == nil || ctx.Err() != nil {
			return h, ctx.Err()
		}
		if !logged {
			s.log.Warn("event log: cannot read the head; retrying", "follower", follower, "err", err)
		}
		select {
		case <-ctx.Done():
			return Position{}, ctx.Err()
		case <-time.After(retryDelay):
		}
	}
}

// KeepFollowingTypes is FollowTypes for a follower that runs as long as the process and must
// outlive a database outage: when reading the log or fn fails, it logs (once per outage),
// waits, and goes on after the last batch fn took, so that nothing is skipped. fn must take a
// batch wholly or fail without effect. It returns only when ctx ends, with its error.
func (s *Store) KeepFollowingTypes(ctx context.Context, follower string, after Position, batch int, types []string,
	fn func(context.Context, []Event) error) error {
	failing := false
	for {
		err := s.FollowTypesAs(ctx, follower, after, batch, types, func(ctx context.Context, evs []Event) error {
			if err := fn(ctx, evs); err != nil {
				return err
			}
			after = evs[len(evs)-1].Position
			if failing {
				failing = false
				s.log.Info("event log: following again", "follower", follower)
			}
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !failing {
			failing = true
			s.log.Warn("event log: cannot follow; retrying", "follower", follower, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryDelay):
		}
	}
}

// ErrHorizonHeldBack is returned by CatchUp when a long-running transaction keeps the log's
// horizon from reaching the present.
var ErrHorizonHeldBack = errors.New("eventstore: a long-running transaction holds the log horizon back")

// CatchUp waits until every transaction that had begun when it was called has ended, so that
// a Read after it sees every event committed before the call. A consumer that must not decide
// on stale information (is this delegator idle?) calls it first. It gives up after maxWait
// (zero or less: only when ctx ends).
func (s *Store) CatchUp(ctx context.Context, maxWait time.Duration) error {
	// Taking a transaction id of our own marks the present: every transaction that began
	// before has a smaller one. (A snapshot's xmax would not do: it is the latest completed
	// id + 1, and a transaction still running can sit at or above it.) Both sides are raw
	// transaction ids, so the log's offset (positions.go) plays no part.
	var target uint64
	if err := s.pool.QueryRow(ctx, `SELECT pg_current_xact_id()`).Scan(&target); err != nil {
		return fmt.Errorf("eventstore: catch up: %w", err)
	}
	deadline := time.Now().Add(maxWait)
	for {
		var xmin uint64
		if err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())`).Scan(&xmin); err != nil {
			return fmt.Errorf("eventstore: catch up: %w", err)
		}
		if xmin > target {
			return nil
		}
		if maxWait > 0 && time.Now().After(deadline) {
			return ErrHorizonHeldBack
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
