package actors

import (
	"crypto"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/weltgewebe/weltgewebe/instance/clock"
)

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
