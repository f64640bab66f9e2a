// Package actors is who is on the other end: remote actors (ap_actors: fetched, cached,
// refetched after a day), their keys (the HTTP signature resolver, with a cache in memory),
// object proofs by them, the names of our local actors, and follows both ways (ap_followers,
// ap_following) with their events.
package actors

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
)

// Config is what the actors need.
type Config struct {
	Pool        *pgxpool.Pool
	Clock, Wall clock.Clock // the instance clock (events); real time (fetches, signatures, TTLs)
	IRI         iri.Base
	Accounts    *account.Service
	Antraege    *antrag.Service
	Blocks      *blocks.Blocks
	Fetch       *fetch.Fetcher
	Delivery    *delivery.Service
	// Dev: handles are looked up over plain http (local test setups).
	Dev bool
	// MaxSkew is how far a signed request's Date may be from now.
	MaxSkew time.Duration
}

// Service is the actors. One is built per process: the remote keys it keeps in memory are
// this process's.
type Service struct {
	pool     *pgxpool.Pool
	clock    clock.Clock
	wall     clock.Clock
	iri      iri.Base
	accounts *account.Service
	antraege *antrag.Service
	blocks   *blocks.Blocks
	fetch    *fetch.Fetcher
	delivery *delivery.Service
	pubkeys  *keyCache
	dev      bool
	maxSkew  time.Duration
}

// New returns the actors.
func New(c Config) *Service {
	return &Service{pool: c.Pool, clock: c.Clock, wall: c.Wall, iri: c.IRI, accounts: c.Accounts, antraege: c.Antraege,
		blocks: c.Blocks, fetch: c.Fetch, delivery: c.Delivery, pubkeys: newKeyCache(c.Wall), dev: c.Dev, maxSkew: c.MaxSkew}
}

// Verify checks an incoming request's HTTP signature, made for a request to us: the signed
// Host is our public URL's, whatever Host header arrived.
func (s *Service) Verify(r *http.Request, body []byte) (httpsig.Result, error) {
	return httpsig.Verify(r.Context(), r, body, s.iri.Host(), s.wall.Now(), s.maxSkew, s.resolveKey)
}

// ForgetDomainTx removes a blocked domain's actors, with their follows of us and ours of them.
func (s *Service) ForgetDomainTx(_ context.Context, tx *database.Tx, domain string) error {
	tx.Defer(`DELETE FROM ap_actors WHERE `+database.OnDomain("iri"), domain)
	return nil
}

// DropKeys forgets the keys of a domain held in memory (it was blocked).
func (s *Service) DropKeys(domain string) { s.pubkeys.dropHost(domain) }

// SetKeyRefetchClock replaces the wall clock that paces remote key refetches (tests).
func (s *Service) SetKeyRefetchClock(now func() time.Time) {
	s.pubkeys.mu.Lock()
	s.pubkeys.now = now
	s.pubkeys.mu.Unlock()
}

// ForgetKeys empties the keys held in memory, as a restart or the hour they are kept does (tests).
func (s *Service) ForgetKeys() { s.pubkeys.lru.Purge() }
