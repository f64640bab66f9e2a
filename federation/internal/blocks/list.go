// Package blocks is defederation: the blocked domains (ap_domain_blocks), kept in memory for
// the inbox, and the admin's Block and Unblock with their events.
package blocks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// The inbox is the one federation path that runs at the Fediverse's pace rather than ours, so
// what it consults on every request lives in memory: the domain blocklist and the remote keys.
// PostgreSQL stays the truth for both; these are read-through copies.

// Blocks is the set of blocked domains, reloaded from the database when a lookup finds it
// older than blocklistFresh. A block made through this process takes effect at once (Block
// and Unblock reset it); one made by another process (the CLI, another replica) within
// blocklistFresh. Processing an activity asks the database itself (BlockedNow).
type Blocks struct {
	pool  *pgxpool.Pool
	clock clock.Clock // the instance clock: the events' times
	wall  clock.Clock

	snap   atomic.Pointer[blockSnapshot]
	reload sync.Mutex // one reload at a time; readers use the last snapshot meanwhile

	forget []Forgetter
	drop   func(domain string)
	log    Log // the public moderation log (nil: blocks are not entered)
}

type blockSnapshot struct {
	domains map[string]struct{}
	loaded  time.Time
}

const blocklistFresh = time.Second

// New returns the blocklist; events are dated by c, everything else by wall.
func New(pool *pgxpool.Pool, c, wall clock.Clock) *Blocks {
	return &Blocks{pool: pool, clock: c, wall: wall}
}

// Lookup reports whether host (with or without a port) or a domain it belongs to is blocked.
// When the list cannot be read and no earlier copy exists, it returns why, and the caller says
// "not now" rather than take it for a yes or a no.
func (b *Blocks) Lookup(ctx context.Context, host string) (bool, error) {
	host = iri.NormalHost(host)
	snap := b.snap.Load()
	if snap == nil || b.wall.Now().Sub(snap.loaded) >= blocklistFresh {
		var err error
		if snap, err = b.load(ctx); snap == nil {
			return false, err
		}
	}
	return matchesDomain(snap.domains, host), nil
}

// load reads the list again; when it cannot, it returns the last good copy, if any, and why.
func (b *Blocks) load(ctx context.Context) (*blockSnapshot, error) {
	b.reload.Lock()
	defer b.reload.Unlock()
	now := b.wall.Now()
	if snap := b.snap.Load(); snap != nil && now.Sub(snap.loaded) < blocklistFresh {
		return snap, nil // another caller reloaded it while this one waited
	}
	rows, err := b.pool.Query(ctx, `SELECT domain FROM ap_domain_blocks`)
	var list []string
	if err == nil {
		list, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return b.snap.Load(), fmt.Errorf("federation: blocklist: %w", err)
	}
	snap := &blockSnapshot{domains: make(map[string]struct{}, len(list)), loaded: now}
	for _, d := range list {
		snap.domains[d] = struct{}{}
	}
	b.snap.Store(snap)
	return snap, nil
}

// invalidate makes the next lookup read the list again.
func (b *Blocks) invalidate() {
	b.reload.Lock()
	b.snap.Store(nil)
	b.reload.Unlock()
}

// matchesDomain reports whether host or one of its parent domains is in the set.
func matchesDomain(set map[string]struct{}, host string) bool {
	for h := host; h != ""; {
		if _, ok := set[h]; ok {
			return true
		}
		_, rest, found := strings.Cut(h, ".")
		if !found {
			return false
		}
		h = rest
	}
	return false
}
