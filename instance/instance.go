// Package instance assembles one Weltgewebe instance: its database (its own embedded
// PostgreSQL cluster unless given a server), the domain services, the job runner, and the
// HTTP API. cmd/weltgewebe and the tests both start instances through here.
package instance

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/adressen"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/chat"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/drill"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/jobs"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/stream"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
	"github.com/weltgewebe/weltgewebe/instance/webrat"
	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
	"github.com/weltgewebe/weltgewebe/web"
)

// Config is an instance's configuration.
type Config struct {
	DB DBConfig
	// Dev enables the movable clock (POST /api/dev/clock) and fast job pick-up. For local use
	// and tests only.
	Dev bool
	// PublicURL is where residents and the Fediverse reach the instance: every ActivityPub IRI
	// starts with it. An https URL makes session cookies Secure.
	PublicURL string
	// AuthorizedFetch makes ActivityPub objects answer signed requests only.
	AuthorizedFetch bool
	// FederationAllowHosts may be contacted although they are loopback or private addresses.
	FederationAllowHosts []string
	// FederationRootCAs, when set, are the only certificate authorities federation trusts;
	// nil means the system's. Tests use it to run peers over TLS with a test CA.
	FederationRootCAs *x509.CertPool
	// Name and Bounds (GeoJSON) of the Ortsweberei; applied at start when set.
	Name   string
	Bounds json.RawMessage
	// SweepInterval is how often the expiry sweeps run (default 10 s).
	SweepInterval time.Duration
	// PollInterval is how often followers look for new events (default 100 ms).
	PollInterval time.Duration
	// VoteDuration is how long an Abstimmung runs (default 7 days).
	VoteDuration time.Duration
	// DelegationBatch is when delegation changes take effect each day (default 03:00 UTC).
	DelegationBatch delegation.Batch
	// MapFeed tunes the live map (batch interval, limits); zero values take its defaults.
	MapFeed mapfeed.Options
	// RateLimits of logins, registrations and writes; the zero value is httpapi.DefaultRules.
	RateLimits httpapi.RateLimits
	// Edge: the guests' captcha (on unless CaptchaOff: WG_CAPTCHA=off; Captcha says where, at
	// registration and logins after failures by default) and the admins' address blocks (nil:
	// none), docs/MODERATION.md "Protection at the edge".
	CaptchaOff bool
	Captcha    captcha.Options
	IPBlocks   moderation.IPBlocks
	// Accounts tune the password hashers, the login lockout and the mailer; zero values take
	// their defaults.
	Accounts account.Options
	// Basemap is a PMTiles file the web app draws under the map (served at
	// /tiles/basemap.pmtiles); empty: the app's built-in outline.
	Basemap string
	// Bank configures the treasurer's CAMT import and the journal exports (the Ortsweberei's
	// time zone, DATEV); a nil Timezone is DelegationBatch's.
	Bank httpapi.Bank
	// RequestTimeout bounds each HTTP request's work, its database statements included
	// (default httpapi.DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Snapshots configure the signed snapshots (docs/SNAPSHOTS.md).
	Snapshots SnapshotConfig
	// RTMPSecret is the secret nginx-rtmp's on_publish and on_publish_done calls carry
	// (docs/STREAMS.md); empty: every broadcast is refused.
	RTMPSecret string
	// HLSDir is the HLS directory of the ingest serve runs itself (--ingest), served at /hls/;
	// empty: nginx in front serves /hls/ (production).
	HLSDir string
	// BackupAt is the local time of day (in DelegationBatch's zone) of the scheduled backup
	// (serve --backup-at); 0: none. Only with DB.Backup and the embedded cluster (backup.go).
	BackupAt time.Duration
	// ChatCatchUp is how many frames of messages and removals the chat keeps for sockets that
	// reconnect with a cursor, and how many events of the log it reads back at start to fill
	// them (docs/STREAMS.md); 0: chat.DefaultCatchUp.
	ChatCatchUp int
	Log         *slog.Logger
}

// SnapshotConfig says where the snapshots go, when they are taken and how long the event log
// keeps what they cover.
type SnapshotConfig struct {
	// Dir holds the files; default <DB.DataDir>/snapshots (data/snapshots with neither a data
	// directory nor a database URL, as the embedded cluster's default). Replicas share it.
	Dir string
	// Schedule: a full snapshot daily at Full (default 02:00), incrementals every Every
	// (default 4 h) after it, in Location (default DelegationBatch's, the Ortsweberei's zone).
	Schedule snapshot.Schedule
	// Retention of covered events (0: 30 days; negative: kept for ever).
	Retention time.Duration
	// MaxMirrorBytes bounds one neighbour's snapshot file that this instance mirrors
	// (0: 512 MiB); the mirrors are kept in <Dir>/mirrors/<host>/.
	MaxMirrorBytes int64
	// MirrorTimelineReads is how many GET /mirrors/{host}/timeline are read at once (0: 1);
	// each parses a whole mirrored snapshot, so more are answered 503 mirror_busy.
	MirrorTimelineReads int
}

// snapshotDir is the configured snapshot directory, or the default beside the database.
func (c Config) snapshotDir() string {
	switch {
	case c.Snapshots.Dir != "":
		return c.Snapshots.Dir
	case c.DB.DataDir != "":
		return filepath.Join(c.DB.DataDir, "snapshots")
	default:
		return filepath.Join("data", "snapshots")
	}
}

// DBConfig says where the database is.
type DBConfig struct {
	// URL of a PostgreSQL server with PostGIS. Empty: run an embedded cluster in DataDir.
	URL      string
	DataDir  string
	PGBinDir string
	MaxConns int32
	// NoMigrate leaves the schema as it is (for restoring a backup into a new cluster).
	NoMigrate bool
	// Backup is the backup repository (--backup-repo; nil: none). With the embedded cluster,
	// PostgreSQL archives its WAL into it, and with BackupWAL "sync" (the default) streams it
	// there as well and acknowledges a commit only once the stream has it (backup.go).
	Backup    *pgbackrest.Repo
	BackupWAL string
}

// Database is an open database and, when embedded, the cluster it lives in.
type Database struct {
	Pool    *pgxpool.Pool
	URL     string
	cluster *pgcluster.Cluster
}

// ToolDir is where pg_dump and pg_restore of the embedded cluster's version are; empty when
// the database is a server of its own (use the tools on PATH).
func (d *Database) ToolDir() string {
	if d.cluster == nil {
		return ""
	}
	return d.cluster.BinDir()
}

// OpenDatabase connects to the configured server, or starts the embedded cluster (creating it
// on first use), and brings the schema up to date.
func OpenDatabase(ctx context.Context, cfg DBConfig, log *slog.Logger) (*Database, error) {
	db := &Database{}
	url := cfg.URL
	if url == "" {
		dir := cfg.DataDir
		if dir == "" {
			dir = "data"
		}
		opts := pgcluster.Options{DataDir: dir, BinDir: cfg.PGBinDir, Logger: log}
		if cfg.Backup != nil {
			if err := archiveInto(&opts, *cfg.Backup, cfg.BackupWAL); err != nil {
				return nil, err
			}
		}
		c, err := pgcluster.Start(ctx, opts)
		if err != nil {
			return nil, err
		}
		db.cluster = c
		if cfg.Backup != nil {
			// Now with the socket the server has: pgBackRest's backups connect to it.
			if err := cfg.Backup.WriteConfig(db.clusterForBackup()); err != nil {
				_ = c.Stop()
				return nil, err
			}
			if err := cfg.Backup.EnsureStanza(ctx, db.clusterForBackup()); err != nil {
				_ = c.Stop()
				return nil, err
			}
		}
		url = c.URL("postgres")
	}
	maxConns := cfg.MaxConns
	if maxConns == 0 {
		maxConns = 20
	}
	db.URL = url
	pool, err := database.Open(ctx, url, maxConns)
	if err == nil {
		db.Pool = pool
		if !cfg.NoMigrate {
			err = Migrate(ctx, pool, log)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Migrate brings the schema up to date and makes sure that new log positions sort after the
// database's (they would not after a restore from another cluster, see eventstore). Every
// process that may append runs it before anything else.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if err := database.Migrate(ctx, pool, log); err != nil {
		return err
	}
	return eventstore.KeepPositionsAhead(ctx, pool, log)
}

// Close disconnects and stops the embedded cluster, if there is one.
func (d *Database) Close() error {
	if d.Pool != nil {
		d.Pool.Close()
	}
	if d.cluster != nil {
		return d.cluster.Stop()
	}
	return nil
}

// Instance is a running Weltgewebe instance.
type Instance struct {
	cfg          Config
	db           *Database
	Log          *slog.Logger
	Pool         *pgxpool.Pool
	Clock        clock.Clock
	DevClock     *clock.Dev // nil unless Dev
	Events       *eventstore.Store
	Accounts     *account.Service
	Ortsweberei  *ortsweberei.Service
	Adressen     *adressen.Service
	Knoten       *knoten.Service
	Delegations  *delegation.Service
	Abstimmungen *abstimmung.Service
	Antraege     *antrag.Service
	Nachbarn     *nachbarn.Service
	Federation   *federation.Service
	Chat         *chat.Service
	Konto        *ortskonto.Service
	Snapshots    *snapshot.Service
	MapFeed      *mapfeed.Feed
	ChatHub      *chat.Hub
	Timeline     *timeline.Service
	Wortfilter   *wortfilter.Service
	Moderation   *moderation.Service // reports, actions, the public log, appeals, address blocks
	Streams      *stream.Service     // the Partizipartei's livestreams
	Jobs         *jobs.Runner
	Handler      http.Handler

	hiddenNow hiddenNow         // what the timeline leaves out (moderation_timeline.go)
	backups   *backup.Scheduler // nil without BackupAt
}

// Open prepares an instance: database, services, jobs, HTTP handler. Serve runs it.
func Open(ctx context.Context, cfg Config) (*Instance, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := OpenDatabase(ctx, cfg.DB, log)
	if err != nil {
		return nil, err
	}
	inst, err := assemble(ctx, cfg, db, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	return inst, nil
}

func assemble(ctx context.Context, cfg Config, db *Database, log *slog.Logger) (*Instance, error) {
	ownOrigin := cfg.PublicURL // the default below names no origin residents use
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://localhost"
		log.Warn("no public URL configured: federation will name this instance http://localhost; set --public-url")
	}
	i := &Instance{cfg: cfg, db: db, Log: log, Pool: db.Pool, Clock: clock.System{}}
	if cfg.Dev {
		i.DevClock = clock.NewDev()
		i.Clock = i.DevClock
	}
	i.Events = eventstore.NewStore(db.Pool, cfg.PollInterval, log)
	// The word filter (moderation.TextFilter) comes first: the content packages check with it.
	wf, err := wortfilter.New(ctx, db.Pool, i.Clock, i.Events, log)
	if err != nil {
		return nil, err
	}
	i.Wortfilter = wf
	i.Ortsweberei = ortsweberei.NewService(db.Pool, i.Clock)
	i.Adressen = adressen.NewService(db.Pool, i.Clock, i.Ortsweberei)
	accountOpts := cfg.Accounts
	if accountOpts.Log == nil {
		accountOpts.Log = log
	}
	i.Accounts = account.NewService(db.Pool, i.Clock, i.Ortsweberei, accountOpts)
	// Moderation before the content packages, which take it as their Holder; their Content is
	// registered at the end of assemble (moderationContents, instance/moderation.go).
	i.Moderation = moderation.NewService(db.Pool, i.Clock, i.Accounts, moderation.Options{BaseURL: cfg.PublicURL, Events: i.Events, Log: log,
		PlainHTTP: cfg.Dev}) // as federation.Config.Dev: plain http peers are reached only then
	i.Knoten = knoten.NewService(db.Pool, i.Clock, i.Ortsweberei)
	i.Knoten.SetModeration(i.Wortfilter, i.Moderation) // a new Knoten's texts: blocked, or held for review
	i.Delegations = delegation.NewService(db.Pool, i.Clock, i.Accounts, i.Events, cfg.DelegationBatch)
	if cfg.Dev {
		i.Delegations.WaitForHorizon(0) // bounded by the job's timeout
	}
	i.Abstimmungen = abstimmung.NewService(db.Pool, i.Clock, i.Knoten, cfg.VoteDuration)
	i.Antraege = antrag.NewService(db.Pool, i.Clock, i.Abstimmungen, i.Knoten)
	i.Antraege.SetModeration(i.Wortfilter, i.Moderation)
	i.Nachbarn = nachbarn.NewService(db.Pool, i.Clock, i.Antraege)
	webratSweep := webrat.NewSweep(i.Clock, i.Delegations, i.Antraege)
	snapshotKeys := snapshot.NewKeys(db.Pool, i.Clock)
	// Edge (docs/MODERATION.md): one limiter for the API and the inboxes; the captcha.
	limits := httpapi.NewLimiter(cfg.RateLimits)
	var captchas *captcha.Service
	if !cfg.CaptchaOff {
		captchas = captcha.New(db.Pool, i.Clock, cfg.Captcha)
	}
	fed, err := federation.New(db.Pool, i.Clock, federation.Services{Events: i.Events, Accounts: i.Accounts, Knoten: i.Knoten,
		Ortsweberei: i.Ortsweberei, Antraege: i.Antraege, Abstimmungen: i.Abstimmungen, Delegations: i.Delegations,
		Nachbarn: i.Nachbarn, SnapshotKeys: snapshotKeys},
		federation.Config{BaseURL: cfg.PublicURL, AuthorizedFetch: cfg.AuthorizedFetch, AllowHosts: cfg.FederationAllowHosts,
			RootCAs: cfg.FederationRootCAs, Dev: cfg.Dev, Log: log,
			// The neighbours' snapshots are kept beside our own (docs/SNAPSHOTS.md, "Mirrors").
			MirrorDir: filepath.Join(cfg.snapshotDir(), "mirrors"), MaxMirrorBytes: cfg.Snapshots.MaxMirrorBytes,
			MirrorTimelineReads: cfg.Snapshots.MirrorTimelineReads, InboxLimit: limits.InboxLimit})
	if err != nil {
		return nil, err
	}
	i.Federation = fed
	// Federation and moderation (docs/MODERATION.md): incoming Flags are filed as reports, a
	// forwarded report leaves as a Flag, a domain block is an entry of the public log.
	var _ federation.ModerationLog = i.Moderation // SetModeration finds the log by its type: say so at compile time
	fed.SetModeration(i.Moderation)
	i.Moderation.SetForwarder(fed)
	feedOpts := cfg.MapFeed
	feedOpts.Log = log
	i.MapFeed = mapfeed.New(db.Pool, i.Events, i.Knoten, i.Accounts, feedOpts)
	i.Chat = chat.NewService(db.Pool, i.Clock)
	i.Chat.SetModeration(i.Wortfilter, i.Moderation)
	i.Konto = ortskonto.NewService(db.Pool, i.Clock, i.Ortsweberei)
	// An Antrag's payout is recorded, reserved or lapses in the Antrag's own transactions.
	i.Antraege.SetHooks(antrag.Hooks{
		Filed: func(ctx context.Context, tx *database.Tx, a antrag.Antrag, betrag int64, at time.Time) ([]eventstore.Draft, error) {
			return i.Konto.RequestTx(ctx, tx, a.ApplicantID, a.ID, a.Title, betrag, at)
		},
		Decided: func(ctx context.Context, tx *database.Tx, d antrag.Decision) ([]eventstore.Draft, error) {
			return i.Konto.AntragDecidedTx(ctx, tx, d.AntragID, d.Status == antrag.Angenommen, d.Status, d.At)
		},
		Retitled: i.Konto.AntragRetitledTx,
	})
	i.Streams = stream.NewService(db.Pool, i.Clock)
	i.ChatHub = chat.NewHub(i.Chat, i.Events, i.Streams, cfg.ChatCatchUp, log)
	schedule := cfg.Snapshots.Schedule
	if schedule.Location == nil {
		schedule.Location = cfg.DelegationBatch.Location
	}
	i.Snapshots = snapshot.NewService(db.Pool, i.Clock, snapshotKeys, snapshot.Options{
		Dir: cfg.snapshotDir(), Instance: fed.GroupIRI(), Sections: SnapshotSections(), Schedule: schedule,
		Retention: cfg.Snapshots.Retention, Log: log,
		// A full snapshot, once recorded, is announced to the neighbours in the same transaction.
		Recorded: fed.AnnounceSnapshot,
		Saved:    cfg.saveSnapshot(),
	})
	fed.SetSnapshots(i.Snapshots)
	// The timeline reads the map of a past day from the snapshots, in the schedule's zone.
	tz := schedule.Location
	if tz == nil {
		tz, _ = time.LoadLocation("Europe/Berlin")
	}
	i.Timeline = timeline.NewService(db.Pool, i.Clock, tz, snapshotSource{i.Snapshots}, i.Events, replayers(), log)
	i.Timeline.Retention = cfg.Snapshots.Retention
	i.Timeline.Hidden = i.hidden // what the moderators hid is not in any moment (instance/moderation_timeline.go)
	if i.Timeline.Retention == 0 {
		i.Timeline.Retention = snapshot.DefaultRetention
	}
	if cfg.Dev {
		// The dev clock jumps days in a second: every query sees the snapshots taken so far.
		i.Timeline.SyncEvery, i.Timeline.WaitForSync = 0, true
	}

	if err := i.Ortsweberei.Ensure(ctx, cfg.Name, cfg.Bounds); err != nil {
		return nil, fmt.Errorf("instance: configured Ortsweberei: %w", err)
	}

	sweepEvery := cfg.SweepInterval
	if sweepEvery == 0 {
		sweepEvery = 10 * time.Second
	}
	// The snapshot sweep asks two cheap questions (is the last slot taken?) when nothing is
	// due; a minute is close enough to 02:00.
	snapshotEvery := max(sweepEvery, time.Minute)
	i.backups = i.backupScheduler(cfg, db, log)
	runner, err := jobs.New(db.Pool, jobs.Options{
		Sweeps: []jobs.Sweep{
			// The nightly backup (backup.go): the job asks whether it is due, Serve takes it.
			{Name: "backup", Interval: time.Minute, Run: func(ctx context.Context) error {
				if i.backups == nil {
					return nil
				}
				return i.backups.Sweep(ctx)
			}},
			{Name: "faeden-knoten", Interval: sweepEvery, Run: func(ctx context.Context) error {
				res, err := i.Knoten.Sweep(ctx)
				if res.Expired+res.Dissolved > 0 {
					log.Info("expiry sweep", "faeden_expired", res.Expired, "knoten_dissolved", res.Dissolved)
				}
				return err
			}},
			{Name: "webrat", Interval: sweepEvery, Run: webratSweep.Run},
			// A live stream whose broadcast nginx stopped reporting goes offline (STREAMS.md).
			{Name: "streams", Interval: sweepEvery, Run: func(ctx context.Context) error {
				n, err := i.Streams.Sweep(ctx, stream.Silence)
				if n > 0 {
					log.Info("stream sweep: broadcasts no longer reported taken offline", "streams", n)
				}
				return err
			}},
			{Name: "sessions", Interval: time.Hour, Run: func(ctx context.Context) error {
				_, err := i.Accounts.SweepSessions(ctx)
				if err == nil {
					_, err = i.Accounts.SweepLoginFailures(ctx)
				}
				if err == nil {
					_, err = i.Accounts.SweepDevices(ctx)
				}
				return err
			}},
			{Name: "mail-outbox", Interval: time.Hour, Run: func(ctx context.Context) error {
				_, err := i.Accounts.SweepMail(ctx)
				return err
			}},
			{Name: "snapshots", Interval: snapshotEvery, Run: i.Snapshots.Sweep},
			{Name: "captcha", Interval: 10 * time.Minute, Run: func(ctx context.Context) error {
				if captchas == nil {
					return nil
				}
				_, err := captchas.Sweep(ctx)
				return err
			}},
			// The neighbours' daily snapshots an announcement did not bring (docs/FEDERATION.md).
			{Name: "mirrors", Interval: max(snapshotEvery, time.Hour), Run: fed.CatchUpMirrors},
			// New snapshots go into the timeline's history as they come, not at the first query.
			{Name: "timeline", Interval: snapshotEvery, Run: i.Timeline.Sync},
			{Name: "federation-retention", Interval: 10 * time.Minute, Run: func(ctx context.Context) error {
				_, err := fed.SweepInbox(ctx)
				if err == nil {
					_, err = fed.SweepOutgoing(ctx)
				}
				return err
			}},
		},
		AddWorkers: fed.AddWorkers,
		Queues:     federation.Queues(),
		Fast:       cfg.Dev,
		Log:        log,
	})
	if err != nil {
		return nil, err
	}
	i.Jobs = runner
	fed.SetRiver(runner.Client())

	i.Moderation.Register(i.moderationContents()...)

	// The admins' address blocks are the moderation's, unless the config names others (tests).
	var ipBlocks moderation.IPBlocks = i.Moderation
	if cfg.IPBlocks != nil {
		ipBlocks = cfg.IPBlocks
	}
	deps := httpapi.Deps{
		Pool: db.Pool, Accounts: i.Accounts, Knoten: i.Knoten, Ortsweberei: i.Ortsweberei, Adressen: i.Adressen,
		Antraege: i.Antraege, Abstimmungen: i.Abstimmungen, Delegations: i.Delegations, Federation: fed, Nachbarn: i.Nachbarn, Log: log,
		Chat: i.Chat, MapFeed: i.MapFeed, ChatHub: i.ChatHub, Konto: i.Konto, Bank: cfg.Bank, Snapshots: i.Snapshots, Timeline: i.Timeline,
		Moderation:    i.Moderation,
		SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://"),
		RateLimits:    cfg.RateLimits,
		Limits:        limits, IPBlocks: ipBlocks, Captcha: captchas,
		RequestTimeout: cfg.RequestTimeout,
		Web:            web.Handler(web.Options{Basemap: cfg.Basemap, Dev: cfg.Dev}),
		PublicURL:      ownOrigin,
		Wortfilter:     i.Wortfilter,
		Backup:         i.BackupStatus,
		Streams:        i.Streams,
		RTMPSecret:     cfg.RTMPSecret,
		HLSDir:         cfg.HLSDir,
	}
	if cfg.DB.Backup != nil {
		// The restore drills' reports in the repository, public (docs/OPERATIONS.md).
		deps.Drills = &drill.Reports{Dir: cfg.DB.Backup.DrillsDir()}
	}
	if deps.Bank.Timezone == nil {
		deps.Bank.Timezone = cfg.DelegationBatch.Location
	}
	if cfg.Dev {
		deps.Dev = &httpapi.DevDeps{Clock: i.DevClock, RunDue: runner.RunDue}
	}
	i.Handler = httpapi.New(deps)
	return i, nil
}

// Serve runs the instance on ln until ctx ends, then shuts down gracefully: no new requests,
// running requests and jobs finish (up to 15 s), followers stop.
func (i *Instance) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           i.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(i.Log.Handler(), slog.LevelWarn),
	}
	if err := i.Jobs.Start(ctx); err != nil {
		return fmt.Errorf("instance: start jobs: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	if c := i.db.cluster; c != nil {
		// The embedded server is ours: nobody else would start it again if it died. The
		// instance does, and meanwhile answers 503 and reports itself not ready, as it does
		// while an external server is away; its followers carry on where they were.
		g.Go(func() error { return c.Keep(gctx) })
	}
	if i.backups != nil {
		g.Go(func() error { return i.backups.Run(gctx) })
	}
	g.Go(func() error { return i.Events.Run(gctx) })
	g.Go(func() error { return i.Federation.RunDelivery(gctx) })
	g.Go(func() error { return i.MapFeed.Run(gctx) })
	g.Go(func() error { return i.ChatHub.Run(gctx) })
	g.Go(func() error { return i.Wortfilter.Run(gctx) })
	g.Go(func() error { return i.followHidden(gctx) })
	g.Go(func() error { return i.Moderation.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		return errors.Join(srv.Shutdown(shutdownCtx), i.Jobs.Stop(shutdownCtx))
	})
	return g.Wait()
}

// Close releases the database (and stops the embedded cluster). Call it after Serve returns.
func (i *Instance) Close() error { return i.db.Close() }
