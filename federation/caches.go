package federation

import (
	"context"
	"crypto"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// The inbox is the one federation path that runs at the Fediverse's pace rather than ours, so
// what it consults on every request lives in memory: the domain blocklist and the remote keys.
// PostgreSQL stays the truth for both; these are read-through copies.

// blocklist is the set of blocked domains, reloaded from the database when a lookup finds it
// older than blocklistFresh. A block made through this process takes effect at once (Block
// and Unblock reset it); one made by another process (the CLI, another replica) within
// blocklistFresh. Processing an activity asks the database itself (blockedNow).
type blocklist struct {
	pool *pgxpool.Pool
	wall clock.Clock

	snap   atomic.Pointer[blockSnapshot]
	reload sync.Mutex // one reload at a time; readers use the last snapshot meanwhile
}

type blockSnapshot struct {
	domains map[string]struct{}
	loaded  time.Time
}

const blocklistFresh = time.Second

func newBlocklist(pool *pgxpool.Pool, wall clock.Clock) *blocklist {
	return &blocklist{pool: pool, wall: wall}
}

// lookup reports whether host (with or without a port) or a domain it belongs to is blocked.
// When the list cannot be read and no earlier copy exists, it returns why, and the caller says
// "not now" rather than take it for a yes or a no.
func (b *blocklist) lookup(ctx context.Context, host string) (bool, error) {
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
func (b *blocklist) load(ctx context.Context) (*blockSnapshot, error) {
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
func (b *blocklist) invalidate() {
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

// keyCache holds parsed remote public keys by key id, each with the actor that owns it. An
// entry lives keyCacheTTL at most (the actor row behind it is refetched after actorTTL); a
// signature that does not verify with a cached key has the key fetched again, which is how
// key rotation reaches us. Anyone can send a bad signature naming someone else's key, so a key
// is refetched at most once per refetchEvery (on the wall clock): in between, the cached key
// is the answer.
type keyCache struct {
	lru *expirable.LRU[string, cachedKey]

	now       func() time.Time
	mu        sync.Mutex
	refetched map[string]time.Time // key id → last refetch
}

type cachedKey struct {
	pub   crypto.PublicKey
	owner string
	host  string
}

const (
	keyCacheSize = 10_000
	keyCacheTTL  = time.Hour
	refetchEvery = time.Minute
)

func newKeyCache(wall clock.Clock) *keyCache {
	return &keyCache{lru: expirable.NewLRU[string, cachedKey](keyCacheSize, nil, keyCacheTTL), now: wall.Now,
		refetched: map[string]time.Time{}}
}

// mayRefetch reports whether keyID may be fetched again now, and if so counts this as its
// refetch.
func (c *keyCache) mayRefetch(keyID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if last, ok := c.refetched[keyID]; ok && now.Sub(last) < refetchEvery {
		return false
	}
	if len(c.refetched) >= keyCacheSize {
		for id, last := range c.refetched {
			if now.Sub(last) >= refetchEvery {
				delete(c.refetched, id)
			}
		}
	}
	c.refetched[keyID] = now
	return true
}

func (c *keyCache) get(keyID string) (cachedKey, bool) { return c.lru.Get(keyID) }
func (c *keyCache) put(keyID string, k cachedKey)      { c.lru.Add(keyID, k) }
func (c *keyCache) drop(keyID string)                  { c.lru.Remove(keyID) }

// dropHost forgets the keys of a host (it was blocked).
func (c *keyCache) dropHost(domain string) {
	for _, id := range c.lru.Keys() {
		if k, ok := c.lru.Peek(id); ok && (k.host == domain || strings.HasSuffix(k.host, "."+domain)) {
			c.lru.Remove(id)
		}
	}
}
