// Package inbox takes activities and processes them: the signed POST (handler.go), the group
// commit into ap_inbox (intake.go), the River job that processes each actor's activities in
// order (worker.go, kind federation_inbox), what each activity does (process.go) and how long
// what arrived is kept (retention.go).
package inbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/internal/actors"
	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/mirror"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
)

// Services are the domain services processing reads from.
type Services struct {
	Antraege *antrag.Service
	Nachbarn *nachbarn.Service // what a neighbour's Antrag means here: what is counted, what is kept
}

// Config is what the inbox needs.
type Config struct {
	Pool        *pgxpool.Pool
	Clock, Wall clock.Clock // the instance clock (what arrived when, retention); real time (signatures)
	IRI         iri.Base
	Services    Services
	Blocks      *blocks.Blocks
	Fetch       *fetch.Fetcher
	Actors      *actors.Service
	Convert     *convert.Converter
	Delivery    *delivery.Service
	// Mirror keeps the snapshots neighbours announce.
	Mirror *mirror.Service
	// MaxSkew is how far a signed request's Date, or a Stimme's published, may be from now.
	MaxSkew time.Duration
	// Limit, when set, is asked for each activity whose signature checked out, with the
	// signing key's host: an error (429 rate_limited with Retry-After) refuses it, and the
	// sender retries later, as Mastodon and GoToSocial do on a 429.
	Limit func(host string) error
	Log   *slog.Logger
}

// Service is the inbox. One is built per process: the group commit, the actors' locks and
// what this process processed last of each actor are this process's.
type Service struct {
	pool     *pgxpool.Pool
	clock    clock.Clock
	wall     clock.Clock
	iri      iri.Base
	svc      Services
	blocks   *blocks.Blocks
	fetch    *fetch.Fetcher
	actors   *actors.Service
	convert  *convert.Converter
	delivery *delivery.Service
	mirror   *mirror.Service
	maxSkew  time.Duration
	limit    func(host string) error
	log      *slog.Logger
	river    *river.Client[pgx.Tx]
	intake   *intake
	reports  Reports // files the reports of incoming Flags (nil: Flags are acknowledged and dropped)
	// Each actor's activities are processed one at a time, in order (worker.go).
	actorLocks    [actorLockStripes]sync.Mutex
	processedUpTo *lru.Cache[string, int64]    // actor → the seq of its activity processed last here
	failedHere    *lru.Cache[string, struct{}] // activities whose processing failed here, until one succeeds
}

// New returns the inbox; SetRiver must be called before it takes activities.
func New(c Config) *Service {
	s := &Service{pool: c.Pool, clock: c.Clock, wall: c.Wall, iri: c.IRI, svc: c.Services, blocks: c.Blocks, fetch: c.Fetch,
		actors: c.Actors, convert: c.Convert, delivery: c.Delivery, mirror: c.Mirror, maxSkew: c.MaxSkew, limit: c.Limit, log: c.Log}
	s.intake = newIntake(s)
	// Far more actors than jobs can have in hand at once (32 workers × 256 activities).
	s.processedUpTo, _ = lru.New[string, int64](1 << 15)
	s.failedHere, _ = lru.New[string, struct{}](1 << 12)
	return s
}

// SetReports names, once at assembly, where incoming Flags are filed.
func (s *Service) SetReports(r Reports) { s.reports = r }

// SetRiver gives the inbox the job queue it queues processing in.
func (s *Service) SetRiver(c *river.Client[pgx.Tx]) { s.river = c }

// AddWorker registers the inbox worker.
func (s *Service) AddWorker(workers *river.Workers) { river.AddWorker(workers, &inboxWorker{s: s}) }

// ForgetDomainTx: activities of a blocked domain taken but not processed yet are not
// processed (the worker finds no body).
func (s *Service) ForgetDomainTx(_ context.Context, tx *database.Tx, domain string) error {
	tx.Defer(`UPDATE ap_inbox SET body = NULL WHERE body IS NOT NULL AND `+database.OnDomain("actor"), domain)
	return nil
}
