package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/demo"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/nginxrtmp"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("serve", stderr)
	listen := fs.String("listen", envOr("WG_LISTEN", ":8080"), "address to serve HTTP on (env WG_LISTEN)")
	publicURL := fs.String("public-url", envOr("WG_PUBLIC_URL", ""), "the URL residents reach the instance at (env WG_PUBLIC_URL)")
	name := fs.String("name", envOr("WG_NAME", ""), "name of the Ortsweberei (env WG_NAME)")
	boundsFile := fs.String("bounds", envOr("WG_BOUNDS", ""), "GeoJSON file with the Ortsweberei's bounds polygon (env WG_BOUNDS)")
	dev := fs.Bool("dev", false, "development mode: movable clock at POST /api/dev/clock, plain-http and loopback federation peers; never in production")
	authorizedFetch := fs.Bool("authorized-fetch", envOr("WG_AUTHORIZED_FETCH", "") == "true", "ActivityPub objects answer signed requests only (env WG_AUTHORIZED_FETCH=true)")
	allowHosts := fs.String("federation-allow-hosts", envOr("WG_FEDERATION_ALLOW_HOSTS", ""), "comma-separated hosts that may be contacted although they are private or loopback addresses")
	seedDemo := fs.Bool("demo", false, "with --dev: seed a demo Ortsweberei into an empty instance, and its address index from --demo-extract into an empty index")
	demoExtract := fs.String("demo-extract", demo.Extract, "the OpenStreetMap extract of the demo's address index")
	sweepEvery := fs.Duration("sweep-interval", 10*time.Second, "how often the sweeps record what came due (expiries, deadlines, closes)")
	voteDuration := fs.Duration("vote-duration", abstimmung.DefaultDuration, "how long an Abstimmung runs")
	batchAt := fs.String("delegation-batch", envOr("WG_DELEGATION_BATCH", "03:00"), "local time of day at which delegation changes take effect (env WG_DELEGATION_BATCH)")
	timezone := fs.String("timezone", envOr("WG_TIMEZONE", "Europe/Berlin"), "the Ortsweberei's time zone, for the daily batch and the nightly snapshot (env WG_TIMEZONE)")
	snapshotDir := fs.String("snapshot-dir", envOr("WG_SNAPSHOT_DIR", ""), "directory of the signed snapshots, shared by all replicas (env WG_SNAPSHOT_DIR; default <data-dir>/snapshots)")
	snapshotAt := fs.String("snapshot-at", envOr("WG_SNAPSHOT_AT", "02:00"), "local time of day of the daily full snapshot (env WG_SNAPSHOT_AT)")
	backupAt := fs.String("backup-at", envOr("WG_BACKUP_AT", ""), "local time of day (in --timezone) of the nightly pgBackRest backup into --backup-repo, e.g. 01:30: full when none is younger than 7 days, else differential; a missed one is taken at start; empty: none (env WG_BACKUP_AT)")
	snapshotEvery := fs.String("snapshot-every", envOr("WG_SNAPSHOT_EVERY", snapshot.DefaultEvery.String()), "distance between incremental snapshots after the full one (env WG_SNAPSHOT_EVERY)")
	retentionFlag := fs.String("event-retention", envOr("WG_EVENT_RETENTION", snapshot.DefaultRetention.String()), "how long the event log keeps an event once a verified snapshot holds it, e.g. 720h; negative: for ever (env WG_EVENT_RETENTION)")
	mirrorMaxFlag := fs.String("mirror-max-bytes", envOr("WG_MIRROR_MAX_BYTES", "536870912"), "the largest snapshot file of a neighbour this instance mirrors, in bytes (env WG_MIRROR_MAX_BYTES)")
	mirrorReads := fs.Int("mirror-timeline-reads", 1, "how many timelines of mirrored neighbours (GET /mirrors/<host>/timeline) are read at once; each parses a whole snapshot, more are answered 503 mirror_busy")
	mapBatch := fs.Duration("map-batch", 2500*time.Millisecond, "how often the live map sends what changed (2s–3s)")
	basemap := fs.String("basemap", envOr("WG_BASEMAP", ""), "PMTiles file the web app draws as the map, served at /tiles/basemap.pmtiles (env WG_BASEMAP)")
	trustedProxies := fs.String("trusted-proxy", envOr("WG_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client, for the rate limits and the login lockout (env WG_TRUSTED_PROXIES)")
	rateLimits := fs.String("rate-limit", envOr("WG_RATE_LIMITS", ""), "changes to the rate limits table, comma-separated class/scope=burst/every, e.g. chat/account=40/1s (burst 0: the line off); see OPERATIONS.md (env WG_RATE_LIMITS)")
	rtmpSecret := fs.String("rtmp-secret", envOr("WG_RTMP_SECRET", ""), "the secret nginx-rtmp's on_publish/on_publish_done URLs carry (?secret=…), see docs/STREAMS.md; empty: every broadcast is refused (env WG_RTMP_SECRET)")
	ingestFlag := fs.String("ingest", envOr("WG_INGEST", ""), "run the livestream ingest as a child process: nginx with the RTMP module from deploy/nginx/weltgewebe.conf, broadcasters push to rtmp://HOST:PORT/live, the instance serves /hls/ (docs/STREAMS.md); rtmp=HOST:PORT or off; with --demo the default is rtmp=127.0.0.1:1935 when nginx and its RTMP module are installed (env WG_INGEST)")
	captchaFlag := fs.String("captcha", envOr("WG_CAPTCHA", "on"), "where the proof-of-work captcha is asked: off, on (= register,login-after-failures), or a list of register and login-after-failures or login (every login); see MODERATION.md (env WG_CAPTCHA)")
	logFormat := fs.String("log-format", envOr("WG_LOG_FORMAT", "text"), "log format: text or json")
	logLevel := fs.String("log-level", envOr("WG_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	datev := datevFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seedDemo && !*dev {
		return errors.New("--demo needs --dev: demo accounts have a published password")
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	batch, err := parseBatch(*batchAt, *timezone)
	if err != nil {
		return err
	}
	datevCfg, err := datev()
	if err != nil {
		return err
	}
	snapshotFull, err := time.Parse("15:04", *snapshotAt)
	if err != nil || snapshotFull.Hour()+snapshotFull.Minute() == 0 {
		return fmt.Errorf("--snapshot-at wants HH:MM after midnight, got %q", *snapshotAt)
	}
	var backupAtDur time.Duration
	if *backupAt != "" {
		t, err := time.Parse("15:04", *backupAt)
		if err != nil || t.Hour()+t.Minute() == 0 {
			return fmt.Errorf("--backup-at wants HH:MM after midnight, got %q", *backupAt)
		}
		if db.backupRepo == "" {
			return errors.New("--backup-at needs --backup-repo (env WG_BACKUP_REPO)")
		}
		backupAtDur = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	every, err := time.ParseDuration(*snapshotEvery)
	if err != nil || every < time.Hour {
		return fmt.Errorf("--snapshot-every wants a duration of at least 1h, got %q", *snapshotEvery)
	}
	retention, err := time.ParseDuration(*retentionFlag)
	if err != nil || retention == 0 {
		return fmt.Errorf("--event-retention wants a duration such as 720h (negative: for ever), got %q", *retentionFlag)
	}
	mirrorMax, err := strconv.ParseInt(*mirrorMaxFlag, 10, 64)
	if err != nil || mirrorMax < 1 {
		return fmt.Errorf("--mirror-max-bytes wants a positive number of bytes, got %q", *mirrorMaxFlag)
	}
	if *mirrorReads < 1 {
		return fmt.Errorf("--mirror-timeline-reads wants a positive number, got %d", *mirrorReads)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	if *publicURL == "" {
		*publicURL = "http://" + displayAddr(ln.Addr())
		log.Warn("no --public-url: the instance calls itself " + *publicURL + " towards the Fediverse")
	}
	cfg := instance.Config{DB: db.config(), Dev: *dev, PublicURL: *publicURL, Name: *name, SweepInterval: *sweepEvery,
		VoteDuration: *voteDuration, DelegationBatch: batch, MapFeed: mapfeed.Options{Batch: *mapBatch}, AuthorizedFetch: *authorizedFetch, Log: log,
		Bank: httpapi.Bank{Timezone: batch.Location, DATEV: datevCfg},
		Snapshots: instance.SnapshotConfig{Dir: *snapshotDir, Retention: retention, Schedule: snapshot.Schedule{
			Full: time.Duration(snapshotFull.Hour())*time.Hour + time.Duration(snapshotFull.Minute())*time.Minute, Every: every,
			Location: batch.Location}, MaxMirrorBytes: mirrorMax, MirrorTimelineReads: *mirrorReads}}
	if cfg.RateLimits.TrustedProxies, err = httpapi.ParseTrustedProxies(*trustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	if *rateLimits != "" {
		if cfg.RateLimits.Rules, err = httpapi.ParseRules(*rateLimits, httpapi.DefaultRules); err != nil {
			return fmt.Errorf("--rate-limit: %w", err)
		}
	}
	cfg.RTMPSecret = *rtmpSecret
	cfg.BackupAt = backupAtDur
	ingest, err := ingestPlan(*ingestFlag, *seedDemo, db.dataDir, log)
	if err != nil {
		return err
	}
	if ingest != nil {
		cfg.HLSDir = filepath.Join(ingest.Dir, "hls")
		ingest.Instance = callbackAddr(ln.Addr())
		if cfg.RTMPSecret == "" {
			// Only this process and its child nginx know it: nobody else can fake a callback.
			cfg.RTMPSecret = rand.Text()
		}
		ingest.Secret = cfg.RTMPSecret
	}
	if cfg.RTMPSecret == "" {
		log.Info("no --rtmp-secret: the livestream ingest refuses every broadcast")
	}
	captchaOn := false
	if cfg.Captcha, captchaOn, err = captcha.ParseMode(*captchaFlag); err != nil {
		return fmt.Errorf("--captcha: %w", err)
	}
	if cfg.CaptchaOff = !captchaOn; cfg.CaptchaOff {
		log.Warn("the captcha is off (--captcha=off / WG_CAPTCHA=off)")
	}
	for _, h := range strings.Split(*allowHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.FederationAllowHosts = append(cfg.FederationAllowHosts, h)
		}
	}
	if *basemap != "" {
		if _, err := os.Stat(*basemap); err != nil {
			return fmt.Errorf("--basemap: %w", err)
		}
		cfg.Basemap = *basemap
	}
	if *boundsFile != "" {
		b, err := os.ReadFile(*boundsFile)
		if err != nil {
			return fmt.Errorf("--bounds: %w", err)
		}
		cfg.Bounds = b
	}
	if *dev {
		log.Warn("development mode: the instance clock can be moved forward through /api/dev/clock")
	}

	inst, err := instance.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := inst.Close(); err != nil {
			log.Error("close", "err", err)
		}
	}()
	if *seedDemo {
		if _, err := os.Stat(*demoExtract); err != nil {
			log.Warn("no demo extract: the address search stays empty", "err", err)
		} else if imported, err := demo.Index(ctx, inst.Adressen, *demoExtract); err != nil {
			return err
		} else if imported {
			log.Info("demo address index imported", "extract", *demoExtract)
		}
		seeded, err := demo.Seed(ctx, demo.Services{Accounts: inst.Accounts, Knoten: inst.Knoten, Ortsweberei: inst.Ortsweberei,
			Antraege: inst.Antraege, Delegations: inst.Delegations, Konto: inst.Konto})
		if err != nil {
			return err
		}
		if seeded {
			log.Info("demo Ortsweberei seeded", "name", demo.Name)
		}
	}

	// The instance's own ingest stops before the instance: nginx ends the broadcasts, and
	// their publish_done callbacks still find the instance answering.
	serveCtx := ctx
	if ingest != nil {
		g, err := nginxrtmp.Start(ctx, ingest.Options)
		if err != nil && ingest.auto {
			log.Warn("no livestream ingest: nginx-rtmp did not start; the demo's streams cannot go live", "err", err)
		} else if err != nil {
			return fmt.Errorf("--ingest: %w", err)
		} else {
			defer g.Stop()
			var cancel context.CancelFunc
			serveCtx, cancel = context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			go func() {
				<-ctx.Done()
				g.Stop()
				cancel()
			}()
			fmt.Fprintf(stdout, "livestreams: broadcast to rtmp://%s/live with a stream's key (shown at /streams)\n", displayAddr(tcpAddr(ingest.RTMP)))
		}
	}

	fmt.Fprintf(stdout, "weltgewebe listening on http://%s\n", displayAddr(ln.Addr()))
	if *seedDemo {
		fmt.Fprintf(stdout, "demo login: %s / %s   (admin: %s / %s)\n", demo.ResidentEmail, demo.Password, demo.AdminEmail, demo.Password)
	}
	err = inst.Serve(serveCtx, ln)
	log.Info("stopped")
	return err
}

// ingestOptions are the ingest serve runs (--ingest), and whether the demo asked for it.
type ingestOptions struct {
	nginxrtmp.Options
	auto bool // --demo's default: its absence or failure is a warning, not an error
}

// ingestPlan reads --ingest: nil when no ingest runs. With --demo and no --ingest, the ingest
// runs when nginx and its RTMP module are installed, and the log says so when they are not.
func ingestPlan(flag string, demo bool, dataDir string, log *slog.Logger) (*ingestOptions, error) {
	o := &ingestOptions{Options: nginxrtmp.Options{Dir: filepath.Join(dataDir, "ingest"), Log: log}}
	switch {
	case flag == "off" || flag == "" && !demo:
		return nil, nil
	case flag == "":
		if _, err := nginxrtmp.Binary(); err != nil {
			log.Warn("no livestream ingest: the demo's streams cannot go live (bash scripts/deps.sh installs it)", "err", err)
			return nil, nil
		}
		o.RTMP, o.auto = "127.0.0.1:1935", true
	default:
		addr, ok := strings.CutPrefix(flag, "rtmp=")
		if _, _, err := net.SplitHostPort(addr); !ok || err != nil {
			return nil, fmt.Errorf("--ingest wants rtmp=HOST:PORT or off, got %q", flag)
		}
		o.RTMP = addr
	}
	return o, nil
}

// callbackAddr is where the child nginx reaches the instance: its listener, on loopback when
// it listens on every address.
func callbackAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// tcpAddr is host:port as a net.Addr (for displayAddr).
func tcpAddr(hostPort string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", hostPort)
	if err != nil {
		return &net.TCPAddr{}
	}
	return a
}

// parseBatch reads "HH:MM" in a time zone.
func parseBatch(at, zone string) (delegation.Batch, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return delegation.Batch{}, fmt.Errorf("--timezone: %w", err)
	}
	t, err := time.Parse("15:04", at)
	if err != nil {
		return delegation.Batch{}, fmt.Errorf("--delegation-batch wants HH:MM, got %q", at)
	}
	return delegation.Batch{At: time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, Location: loc}, nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return fmt.Sprintf("localhost:%d", tcp.Port)
}
