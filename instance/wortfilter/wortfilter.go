// Package wortfilter is the word filter (docs/MODERATION.md, "Word filter"): the Ortsweberei's
// list of words that are refused (block) or held for review (hold) in what residents write,
// and the check the content packages run on every text before they store it
// (moderation.TextFilter).
//
// The list is one row (table wortfilter), changed by admins as a whole and recorded as the
// private event WortfilterGeaendert in the same transaction. Each process holds the list
// compiled (Matcher) and checks from memory; a change through one replica reaches the others
// through the log (Run), within the followers' usual delay (tens of milliseconds).
package wortfilter

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// GeaendertV1 is the payload of WortfilterGeaendert: what one change added to and removed
// from each list, and the list's version after it.
type GeaendertV1 struct {
	Version int64 `json:"version"`
	Words   Diff  `json:"words"`
	Hold    Diff  `json:"hold"`
}

// Diff is a change of one list, entry by entry.
type Diff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// Geaendert: an admin changed the word list. Private: the list is the moderators' tool, and
// whoever knows it knows what to misspell.
var Geaendert = eventstore.Define[GeaendertV1]("WortfilterGeaendert", 1, eventstore.Private,
	"An admin changed the word filter's list.")

// Service keeps the word list and checks texts against it.
type Service struct {
	pool   *pgxpool.Pool
	clock  clock.Clock
	events *eventstore.Store
	log    *slog.Logger
	cur    atomic.Pointer[compiled]
}

// compiled is a version of the list and its matcher; replaced whole, never changed.
type compiled struct {
	version int64
	m       *Matcher
}

var _ moderation.TextFilter = (*Service)(nil)

// New returns the word filter with the stored list compiled. Run keeps it up to date with
// changes made through other processes.
func New(ctx context.Context, pool *pgxpool.Pool, c clock.Clock, events *eventstore.Store, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	go warmUp() // the fold table of the less common characters, before a check needs it
	s := &Service{pool: pool, clock: c, events: events, log: log}
	s.cur.Store(&compiled{version: -1})
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Check says what the list makes of the texts (moderation.TextFilter): block, hold or ""
// (let it through), with the entry that matched. It answers from memory, in microseconds,
// and is safe for concurrent use. A nil Service lets everything through.
func (s *Service) Check(texts ...string) moderation.Verdict {
	if s == nil {
		return moderation.Verdict{}
	}
	return s.cur.Load().m.Check(texts...)
}

// MayEdit says whether the account may read and change the list: only admins may.
func MayEdit(by account.Account) error {
	if !by.IsAdmin {
		return errAdminRequired
	}
	return nil
}

// Get returns the list as stored; only an admin may read it.
func (s *Service) Get(ctx context.Context, by account.Account) (List, error) {
	if err := MayEdit(by); err != nil {
		return List{}, err
	}
	l, _, err := read(ctx, s.pool, false)
	return l, err
}

var errAdminRequired = fault.Forbiddenf("admin_required", "Only an admin of this instance can see or change the word list.")

// Set replaces the list (see Clean for what is refused and how entries are kept) and returns
// it as stored; only an admin may. The change and its event commit together; the list applies
// in this process when Set returns, in the others when they have read the event. A list equal
// to the stored one changes nothing and records nothing.
func (s *Service) Set(ctx context.Context, by account.Account, l List) (List, error) {
	if err := MayEdit(by); err != nil {
		return List{}, err
	}
	l, err := Clean(l)
	if err != nil {
		return List{}, err
	}
	m := build(l, denseBudget)
	var version int64
	changed := false
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		old, _, err := read(ctx, tx, true)
		if err != nil {
			return err
		}
		if old.Equal(l) {
			return nil
		}
		now := s.clock.Now()
		if err := tx.QueryRow(ctx, `
UPDATE wortfilter SET words = $1, hold = $2, version = version + 1, updated_at = $3
RETURNING version`, l.Words, l.Hold, now).Scan(&version); err != nil {
			return fmt.Errorf("wortfilter: set: %w", err)
		}
		changed = true
		return eventstore.Append(tx, now, Geaendert.New(eventstore.Header{Actor: by.ID}, GeaendertV1{
			Version: version, Words: diff(old.Words, l.Words), Hold: diff(old.Hold, l.Hold)}))
	})
	if err != nil {
		return List{}, err
	}
	if changed {
		s.install(&compiled{version: version, m: m})
	}
	return l, nil
}

// read returns the stored list and its version, locking the row for a change (forUpdate).
func read(ctx context.Context, q database.Querier, forUpdate bool) (List, int64, error) {
	sql := `SELECT words, hold, version FROM wortfilter`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var l List
	var version int64
	if err := q.QueryRow(ctx, sql).Scan(&l.Words, &l.Hold, &version); err != nil {
		return List{}, 0, fmt.Errorf("wortfilter: read: %w", err)
	}
	return l, version, nil
}

// install makes c the list checked against, unless a newer version is already: a process
// that hears of its own change from the log, or of two changes out of order, never goes back.
func (s *Service) install(c *compiled) {
	for {
		old := s.cur.Load()
		if old.version >= c.version || s.cur.CompareAndSwap(old, c) {
			return
		}
	}
}

// reload compiles the stored list if it is newer than the one in use.
func (s *Service) reload(ctx context.Context) error {
	l, version, err := read(ctx, s.pool, false)
	if err != nil {
		return err
	}
	if version <= s.cur.Load().version {
		return nil
	}
	// The stored list was clean when it was written; Compile checks it again rather than
	// trust a row someone may have edited by hand.
	m, err := Compile(l)
	if err != nil {
		return fmt.Errorf("wortfilter: the stored list (version %d) is not valid: %w", version, err)
	}
	s.install(&compiled{version: version, m: m})
	return nil
}

// Version is the version of the list in use (0: never changed).
func (s *Service) Version() int64 { return s.cur.Load().version }

// Run follows the log for changes made through other processes until ctx ends, and compiles
// the list anew after each; while the database is away it waits and goes on where it was.
func (s *Service) Run(ctx context.Context) error {
	head, err := s.events.HeadWhenReadable(ctx, "wortfilter")
	if err != nil {
		return nil
	}
	// A change committed between New and here is in the table but before head.
	for err := s.reload(ctx); err != nil; err = s.reload(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("word filter: cannot read the list; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	_ = s.events.KeepFollowingTypes(ctx, "wortfilter", head, 100, []string{Geaendert.Name()},
		func(ctx context.Context, evs []eventstore.Event) error {
			for _, e := range evs {
				p, err := Geaendert.Decode(e)
				if err != nil || p.Version > s.Version() { // a later payload version: read the table
					return s.reload(ctx)
				}
			}
			return nil
		})
	return nil
}

// diff is what changed from old to new, entry by entry.
func diff(old, new []string) Diff {
	d := Diff{Added: []string{}, Removed: []string{}}
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, e := range list {
			m[e] = true
		}
		return m
	}
	inOld, inNew := in(old), in(new)
	for _, e := range new {
		if !inOld[e] {
			d.Added = append(d.Added, e)
		}
	}
	for _, e := range old {
		if !inNew[e] {
			d.Removed = append(d.Removed, e)
		}
	}
	return d
}
