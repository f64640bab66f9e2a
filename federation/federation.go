// Package federation makes an Ortsweberei an ActivityPub node: its actors (the Ortsweberei's
// Group, a Person for every resident, a Service actor per Antrag that Fediverse users can follow
// on its own, and the instance's Application actor that signs fetches), WebFinger, NodeInfo, the
// signed inbox, the outbox (a paged view of the public event log), and durable delivery to
// followers through River.
//
// This package is the facade and the HTTP edge: federation.go (New, the wiring of the job
// packages, what the instance calls), routes.go, discovery.go (WebFinger, NodeInfo,
// host-meta), objects.go (objects, authorized fetch), outbox.go (outboxes and collections) and
// api.go (blocks and neighbours, for the admin API). The work is done in internal/: iri,
// keys, blocks, fetch, delivery, actors, convert (every conversion, in one place), inbox,
// publish and mirror (the neighbours' snapshots; snapshots.go is its edge). The types and context of our vocabulary are in package vocab; HTTP Signatures, the
// SSRF-guarded client and object integrity proofs in the module's internal/httpsig,
// internal/transport and internal/proof. docs/FEDERATION.md says what we send and accept.
package federation

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/internal/actors"
	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/forward"
	"github.com/weltgewebe/weltgewebe/federation/internal/inbox"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/keys"
	"github.com/weltgewebe/weltgewebe/federation/internal/mirror"
	"github.com/weltgewebe/weltgewebe/federation/internal/publish"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/stream"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/transport"
)

// Software is what NodeInfo names us.
const Software = "weltgewebe"

// Config configures federation.
type Config struct {
	// BaseURL is where the instance is reached, e.g. https://lindenau.example.org. Every IRI
	// we mint starts with it.
	BaseURL string
	// AuthorizedFetch makes objects and collections answer signed GETs only (actor and key
	// documents stay public, as Mastodon expects).
	AuthorizedFetch bool
	// AllowHosts may be contacted although they resolve to loopback or private addresses.
	AllowHosts []string
	// Dev allows plain http and loopback peers (serve --dev); never in production.
	Dev bool
	// MaxSkew is how far a signed request's Date may be from now (default 1 h).
	MaxSkew time.Duration
	// RootCAs, when set, are the only certificate authorities trusted when we fetch from or
	// deliver to other servers; nil means the system's (tests with peers over TLS).
	RootCAs *x509.CertPool
	// MirrorDir keeps the neighbours' snapshots this instance mirrors, one directory per origin
	// host ("": none are mirrored). instance.go sets <snapshot dir>/mirrors.
	MirrorDir string
	// MaxMirrorBytes bounds one mirrored snapshot file (0: 512 MiB).
	MaxMirrorBytes int64
	// MirrorTimelineReads is how many GET /mirrors/{host}/timeline are read at once; more
	// are answered 503 mirror_busy (0: 1). MirrorTimelineBytes bounds the JSON one such read
	// holds in memory (0: 64 MiB).
	MirrorTimelineReads int
	MirrorTimelineBytes int64
	// InboxLimit, when set, limits the activities one remote host delivers (the instance's
	// rate limits, ClassInbox): an error refuses the delivery with it (429 with Retry-After).
	InboxLimit func(host string) error
	// Delivered, when set, hears of each POST to a remote inbox: the host and "delivered",
	// "refused" or "failed" (the operators' metrics).
	Delivered func(host, result string)
	Log       *slog.Logger
}

// Services are the domain services federation reads from.
type Services struct {
	Events       *eventstore.Store
	Accounts     *account.Service
	Ortsweberei  *ortsweberei.Service
	Antraege     *antrag.Service
	Abstimmungen *abstimmung.Service
	Delegations  *delegation.Service
	// Knoten serves /ap/knoten/{id}. When not given, federation reads Knoten through a
	// service of its own on the same pool and clock (reads only).
	Knoten *knoten.Service
	// Nachbarn keeps what neighbours send (their Anträge, Stimmen, Einsprüche, delegations).
	// When not given, federation builds it on the same pool and clock.
	Nachbarn *nachbarn.Service
	// SnapshotKeys is the key that signs the Ortsweberei's snapshots, published on its Group
	// actor as "<actor>#snapshot-key" (nil: none published).
	SnapshotKeys convert.SnapshotKeys
	// Streams are the livestreams the Ortsweberei posts about to its followers. When not
	// given, federation reads them through a service of its own on the same pool and clock.
	Streams *stream.Service
}

// Service is the instance's federation.
type Service struct {
	cfg    Config
	iri    iri.Base // the IRIs we mint, under the base URL
	pool   *pgxpool.Pool
	clock  clock.Clock // the instance clock: publication times
	wall   clock.Clock // HTTP Date headers and their checks run on real time, whatever --dev does
	svc    Services
	client *transport.Client
	fetch  *fetch.Fetcher // GETs from other servers, signed by the instance actor
	// delivery sends activities to other servers' inboxes.
	delivery *delivery.Service
	keys     *keys.Store // our own actors' keys
	// blocks: the blocked domains, in memory for the inbox on every request.
	blocks *blocks.Blocks
	// convert: our objects as ActivityStreams, and back.
	convert *convert.Converter
	// actors: remote actors and their keys (kept in memory), local names, follows.
	actors *actors.Service
	// inbox: takes activities, and processes them in the background, each actor's in order.
	inbox *inbox.Service
	// publish: follows the log and queues what federates.
	publish *publish.Service
	// mirror: the neighbours' snapshots we keep.
	mirror *mirror.Service
	// forward: reports about remote accounts, sent to their servers as Flags.
	forward *forward.Service
	// snapshots: our own recorded snapshots (SetSnapshots), served as Snapshot objects.
	snapshots SnapshotRecords
	log       *slog.Logger
}

// New returns the federation service. SetRiver must be called before it delivers.
func New(pool *pgxpool.Pool, c clock.Clock, svc Services, cfg Config) (*Service, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("federation: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = u.String()
	if svc.Knoten == nil {
		svc.Knoten = knoten.NewService(pool, c, svc.Ortsweberei)
	}
	if svc.Streams == nil {
		svc.Streams = stream.NewService(pool, c)
	}
	if svc.Nachbarn == nil {
		svc.Nachbarn = nachbarn.NewService(pool, c, svc.Antraege)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = time.Hour
	}
	s := &Service{cfg: cfg, iri: iri.New(cfg.BaseURL, u.Host), pool: pool, clock: c, wall: clock.System{}, svc: svc, log: cfg.Log}
	s.client = transport.New(transport.Options{
		AllowHosts: cfg.AllowHosts, AllowLoopback: cfg.Dev, AllowHTTP: cfg.Dev,
		Timeout: 15 * time.Second, MaxBodyBytes: 1 << 20, UserAgent: "weltgewebe (+" + cfg.BaseURL + ")",
		RootCAs: cfg.RootCAs,
	})
	s.keys = keys.New(pool, s.wall)
	s.blocks = blocks.New(pool, c, s.wall)
	s.fetch = fetch.New(s.client, s.blocks, func(ctx context.Context) (func(*http.Request) error, error) {
		k, err := s.keys.Get(ctx, iri.InstancePath)
		if err != nil {
			return nil, err
		}
		return func(r *http.Request) error {
			return httpsig.Sign(r, nil, s.iri.Of(iri.InstancePath)+"#main-key", k.RSA, s.wall.Now())
		}, nil
	})
	s.delivery = delivery.New(pool, s.wall, s.client, s.keys, s.blocks, s.iri, s.log)
	s.delivery.Observe = cfg.Delivered
	s.convert = convert.New(s.iri, pool, c, s.keys, convert.Services{Events: svc.Events, Accounts: svc.Accounts,
		Ortsweberei: svc.Ortsweberei, Antraege: svc.Antraege, Abstimmungen: svc.Abstimmungen, Delegations: svc.Delegations,
		Knoten: svc.Knoten, SnapshotKeys: svc.SnapshotKeys, Streams: svc.Streams})
	s.actors = actors.New(actors.Config{Pool: pool, Clock: c, Wall: s.wall, IRI: s.iri, Accounts: svc.Accounts, Antraege: svc.Antraege,
		Blocks: s.blocks, Fetch: s.fetch, Delivery: s.delivery, Dev: cfg.Dev, MaxSkew: cfg.MaxSkew})
	// Snapshot files are far larger than any document and may come over a slow link: their
	// own client, with the same guard, bounded by the mirror job's timeout and MaxMirrorBytes.
	mirrorClient := transport.New(transport.Options{
		AllowHosts: cfg.AllowHosts, AllowLoopback: cfg.Dev, AllowHTTP: cfg.Dev,
		Timeout: time.Hour, MaxBodyBytes: 16 << 20, // an origin's index, read whole (the files are streamed)
		UserAgent: "weltgewebe (+" + cfg.BaseURL + ")", RootCAs: cfg.RootCAs,
	})
	s.mirror = mirror.New(mirror.Config{Pool: pool, Clock: c, Client: mirrorClient, Blocks: s.blocks, Keys: s.actors,
		Dir: cfg.MirrorDir, MaxBytes: cfg.MaxMirrorBytes, TimelineReads: cfg.MirrorTimelineReads,
		TimelineBytes: cfg.MirrorTimelineBytes, Log: s.log})
	s.inbox = inbox.New(inbox.Config{Mirror: s.mirror, Pool: pool, Clock: c, Wall: s.wall, IRI: s.iri,
		Services: inbox.Services{Antraege: svc.Antraege, Nachbarn: svc.Nachbarn},
		Blocks:   s.blocks, Fetch: s.fetch, Actors: s.actors, Convert: s.convert, Delivery: s.delivery, MaxSkew: cfg.MaxSkew, Limit: cfg.InboxLimit, Log: s.log})
	s.forward = forward.New(forward.Config{Pool: pool, IRI: s.iri, Fetch: s.fetch, Actors: s.actors, Delivery: s.delivery, Log: s.log})
	s.publish = publish.New(publish.Config{Pool: pool, Clock: c, Wall: s.wall, IRI: s.iri,
		Services: publish.Services{Events: svc.Events, Antraege: svc.Antraege, Abstimmungen: svc.Abstimmungen, Delegations: svc.Delegations},
		Keys:     s.keys, Actors: s.actors, Convert: s.convert, Delivery: s.delivery, Log: s.log})
	// What a block removes, in this order, in its transaction (the order of the statements
	// before the owners had them): the replies and poll votes on our Anträge, the neighbours'
	// Anträge and Stimmen, the actors, the inbox, the mirrored snapshots; then the domain's
	// keys in memory, and once committed the mirrored files.
	s.blocks.SetForgetting(s.actors.DropKeys, svc.Antraege, svc.Nachbarn, s.actors, s.inbox, s.mirror)
	return s, nil
}

// SetRiver gives federation the job queue it delivers through (the runner is built after the
// service, because it runs federation's workers).
func (s *Service) SetRiver(c *river.Client[pgx.Tx]) {
	s.delivery.SetRiver(c)
	s.inbox.SetRiver(c)
	s.mirror.SetRiver(c)
	s.forward.SetRiver(c)
}

// SweepOutgoing removes activities whose deliveries are long over.
func (s *Service) SweepOutgoing(ctx context.Context) (int64, error) {
	return s.delivery.SweepOutgoing(ctx)
}

// Host is the domain part of our Fediverse handles.
func (s *Service) Host() string { return s.iri.Host() }

// GroupIRI is the Ortsweberei's actor.
func (s *Service) GroupIRI() string { return s.iri.Group() }

// GroupHandle is the Ortsweberei's Fediverse address.
func (s *Service) GroupHandle() string { return "ortsweberei@" + s.iri.Host() }

// AntragIRI is an Antrag's Question object.
func (s *Service) AntragIRI(id uuid.UUID) string { return s.iri.Antrag(id) }

// AntragActorIRI is the actor a Fediverse user follows to follow one Antrag.
func (s *Service) AntragActorIRI(id uuid.UUID) string { return s.iri.AntragActor(id) }

// DeliveryConsumer is the delivery follower's name among the log's consumers (event_cursors).
const DeliveryConsumer = publish.Consumer

// RunDelivery follows the public event log and turns what federates into delivery jobs, until
// ctx ends. Among replicas one process does it; the others wait and take over when it stops.
func (s *Service) RunDelivery(ctx context.Context) error { return s.publish.Run(ctx) }

// MaxInboxBytes is the largest activity the inbox takes.
const MaxInboxBytes = inbox.MaxBytes

// InboxSweepResult says what a retention sweep of the inbox did.
type InboxSweepResult = inbox.SweepResult

// SweepInbox applies the inbox retention: bodies of processed activities are dropped, ids
// older than the dedup window are forgotten (instance.go runs it periodically).
func (s *Service) SweepInbox(ctx context.Context) (InboxSweepResult, error) {
	return s.inbox.Sweep(ctx)
}

// AddWorkers registers federation's River workers.
func (s *Service) AddWorkers(workers *river.Workers) {
	s.inbox.AddWorker(workers)
	s.delivery.AddWorker(workers)
	s.mirror.AddWorker(workers)
	s.forward.AddWorker(workers)
}

// Queues are the River queues federation works in.
func Queues() map[string]river.QueueConfig {
	// Both queues wait on the network or the database far more than on the CPU, and River
	// fetches at most MaxWorkers jobs per FetchCooldown: these bound a queue's throughput at a
	// few thousand jobs a second.
	return map[string]river.QueueConfig{
		inbox.Queue:    {MaxWorkers: 32, FetchCooldown: 10 * time.Millisecond},
		delivery.Queue: {MaxWorkers: 64, FetchCooldown: 10 * time.Millisecond},
		// A mirror job streams a whole snapshot to disk: two at a time are plenty.
		mirror.Queue: {MaxWorkers: 2},
	}
}

// ActivityJSON is the media type of ActivityStreams documents.
const ActivityJSON = iri.ActivityJSON
