// Package metrics is what the instance tells Prometheus (docs/OPERATIONS.md, "Metrics and
// logs"): requests by route and status with their latency, WebSockets, deliveries per host
// and failed jobs, counted as they happen; the event log's head and its followers' lag, the
// job queue's depth, the database pool and the backup, read when Prometheus scrapes.
//
// Every name starts with weltgewebe_. Labels are bounded: a route is the mux pattern, never
// the path; a delivery's host is one we federate with (blocked hosts get none); queues, job
// kinds and followers are the code's own. The Go runtime's and the process's standard
// metrics (go_*, process_*) come beside them.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/jobs"
)

// Sources are what is read at scrape time. Each may be nil: its metrics are then left out.
type Sources struct {
	Events *eventstore.Store
	Pool   *pgxpool.Pool
	Log    *slog.Logger
}

// Jobs is the job queue as the metrics read it (*jobs.Runner).
type Jobs interface {
	Depths(context.Context) ([]jobs.Depth, error)
}

// Backup is what the backup reports of itself (the backup repository's status).
type Backup struct {
	// LastSuccess is when the last backup (full, differential or incremental) finished;
	// zero: none yet.
	LastSuccess time.Time
	// LastArchived is when the last WAL segment was archived (pg_stat_archiver); zero: none.
	LastArchived time.Time
	// ArchiveFailures counts failed archive attempts (pg_stat_archiver's failed_count).
	ArchiveFailures int64
	// ArchiveLagBytes is the WAL written since the end of the last archived segment: what
	// only the server's disk (and the stream) holds. Negative: unknown.
	ArchiveLagBytes int64
	// Stream is the synchronous WAL stream: "ok", "down" or "off"; StreamLagBytes how far its
	// flushed WAL is behind the server's (when ok).
	Stream         string
	StreamLagBytes int64
}

// BackupStatus reads the backup's status; the instance sets it when a repository is
// configured (nil: no backup metrics). It may be slow (it runs `pgbackrest info`): the
// metrics ask it at most every BackupEvery and keep the answer; the ages are computed at
// each scrape from the times it gave.
type BackupStatus func(context.Context) (Backup, error)

// BackupEvery is how long a backup status is kept.
const BackupEvery = 30 * time.Second

// scrapeTimeout bounds the queries one scrape makes (the job queue's depth, the backup).
const scrapeTimeout = 3 * time.Second

// Metrics are one instance's metrics, in a registry of their own.
type Metrics struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	sockets    *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
	jobFails   *prometheus.CounterVec

	// hosts are the deliveries' host label values so far (at most MaxDeliveryHosts).
	hostsMu sync.Mutex
	hosts   map[string]struct{}

	// routes caches the series of each (route, method, status): a request finds its counter
	// and histogram with one map read under a read lock, without WithLabelValues' hashing
	// and allocation.
	mu     sync.RWMutex
	routes map[routeKey]routeSeries

	// Set after New (the job runner is built after the services that count into the
	// metrics).
	lateMu sync.Mutex
	jobs   Jobs
	backup BackupStatus

	backupMu   sync.Mutex // held while the status is read: one read at a time
	lastBackup Backup
	lastErr    error
	lastAsked  time.Time
}

type routeKey struct {
	route, method string
	status        int
}

type routeSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer // nil for upgrades to WebSockets (their time is the socket's life)
}

// LatencyBuckets are the request duration histogram's buckets, in seconds: fine below the
// 200 ms the seed's phase gates ask of p95, coarse above a second.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10}

// SocketKinds name the WebSocket routes; another route that upgrades counts as its pattern.
var SocketKinds = map[string]string{
	"GET /ws/map":               "map",
	"GET /ws/chat":              "chat",
	"GET /ws/streams/{id}/chat": "stream_chat",
}

// New returns the metrics of an instance reading src.
func New(src Sources) *Metrics {
	if src.Log == nil {
		src.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), routes: map[routeKey]routeSeries{}, hosts: map[string]struct{}{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weltgewebe_http_requests_total",
		Help: "HTTP requests answered, by route (the mux pattern; unrouted when refused before routing), method and status.",
	}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "weltgewebe_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route and method (WebSocket upgrades are not in it).",
		Buckets: LatencyBuckets,
	}, []string{"route", "method"})
	m.sockets = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weltgewebe_websocket_connections",
		Help: "Open WebSocket connections by kind: map (the live map), chat, stream_chat.",
	}, []string{"kind"})
	for _, k := range SocketKinds {
		m.sockets.WithLabelValues(k) // shown at 0 before the first one opens
	}
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weltgewebe_federation_deliveries_total",
		Help: "ActivityPub POSTs to remote inboxes by host and result: delivered, refused (4xx: never retried), failed (retried).",
	}, []string{"host", "result"})
	m.jobFails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weltgewebe_river_job_failures_total",
		Help: "Failed job attempts in this process (errors, timeouts, panics, cancellations) by queue and kind.",
	}, []string{"queue", "kind"})
	m.collectors = []prometheus.Collector{m.requests, m.latency, m.sockets, m.deliveries, m.jobFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scraped{m: m, src: src}}
	m.reg.MustRegister(m.collectors...)
	return m
}

// Names are the names of every metric this package may export (a scrape shows those that
// have a value now: a counter by route only once a request came, the backup's only with a
// repository). The dashboard's test checks its queries against them.
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range m.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if sub := fqName.FindStringSubmatch(d.String()); sub != nil {
			names = append(names, sub[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// SetBackup gives the metrics the backup's status (nil: none).
func (m *Metrics) SetBackup(f BackupStatus) {
	m.lateMu.Lock()
	defer m.lateMu.Unlock()
	m.backup = f
	m.backupMu.Lock()
	defer m.backupMu.Unlock()
	m.lastAsked = time.Time{}
}

// backupNow is the backup's status, from the last BackupEvery or read now.
func (m *Metrics) backupNow(ctx context.Context, f BackupStatus, now time.Time) (Backup, error) {
	m.backupMu.Lock()
	defer m.backupMu.Unlock()
	if m.lastAsked.IsZero() || now.Sub(m.lastAsked) >= BackupEvery {
		m.lastBackup, m.lastErr = f(ctx)
		m.lastAsked = now
	}
	return m.lastBackup, m.lastErr
}

// SetJobs gives the metrics the job queue (nil: none).
func (m *Metrics) SetJobs(j Jobs) {
	m.lateMu.Lock()
	defer m.lateMu.Unlock()
	m.jobs = j
}

func (m *Metrics) late() (Jobs, BackupStatus) {
	m.lateMu.Lock()
	defer m.lateMu.Unlock()
	return m.jobs, m.backup
}

// Handler serves the metrics in Prometheus' formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 2})
}

// Registry is where the metrics are registered (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Unrouted is the route label of requests refused before routing (an empty label value would
// be no label at all to Prometheus).
const Unrouted = "unrouted"

// Request counts an answered request (httpapi.Observer).
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	if route == "" {
		route = Unrouted
	}
	k := routeKey{route: route, method: knownMethod(method), status: status}
	m.mu.RLock()
	s, ok := m.routes[k]
	m.mu.RUnlock()
	if !ok {
		s = m.series(k)
	}
	s.count.Inc()
	if s.latency != nil {
		s.latency.Observe(took.Seconds())
	}
}

func (m *Metrics) series(k routeKey) routeSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.routes[k]; ok {
		return s
	}
	s := routeSeries{count: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status))}
	if k.status != http.StatusSwitchingProtocols {
		s.latency = m.latency.WithLabelValues(k.route, k.method)
	}
	m.routes[k] = s
	return s
}

// knownMethod bounds the method label: a client may send any token as its method.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// Socket counts a WebSocket opening or closing (httpapi.Observer).
func (m *Metrics) Socket(route string, open bool) {
	kind, ok := SocketKinds[route]
	if !ok {
		kind = route
	}
	g := m.sockets.WithLabelValues(kind)
	if open {
		g.Inc()
	} else {
		g.Dec()
	}
}

// MaxDeliveryHosts bounds the host label of the deliveries: any server on the internet can
// follow a local actor (and so be delivered to) under a name of its choosing, and each new
// host would be a series for ever — memory for whoever makes up names. The first hosts keep
// their own series (an Ortsweberei's neighbours are a few dozen); the rest count as "other".
const MaxDeliveryHosts = 200

// OtherHost is the host label of the deliveries to hosts beyond MaxDeliveryHosts.
const OtherHost = "other"

// Delivered counts one POST to a remote inbox (federation.Config.Delivered).
func (m *Metrics) Delivered(host, result string) {
	m.hostsMu.Lock()
	if _, ok := m.hosts[host]; !ok {
		if len(m.hosts) < MaxDeliveryHosts {
			m.hosts[host] = struct{}{}
		} else {
			host = OtherHost
		}
	}
	m.hostsMu.Unlock()
	m.deliveries.WithLabelValues(host, result).Inc()
}

// JobFailed counts a failed job attempt (jobs.Options.Failed).
func (m *Metrics) JobFailed(queue, kind string) { m.jobFails.WithLabelValues(queue, kind).Inc() }

// scraped are the metrics read when Prometheus asks: nothing on the hot paths counts them.
type scraped struct {
	m   *Metrics
	src Sources
}

var (
	headDesc = prometheus.NewDesc("weltgewebe_eventlog_head_id",
		"Id of the newest readable event of the log (ids grow by one per event appended).", nil, nil)
	lagEventsDesc = prometheus.NewDesc("weltgewebe_eventlog_follower_lag_events",
		"About how many events of the log a follower of this process has not read yet (0: at the head).", []string{"follower"}, nil)
	lagSecondsDesc = prometheus.NewDesc("weltgewebe_eventlog_follower_lag_seconds",
		"How long ago the head moved past a follower's position (0: at the head).", []string{"follower"}, nil)
	jobsDesc = prometheus.NewDesc("weltgewebe_river_jobs",
		"Jobs in River's queue by queue and state (completed ones left out).", []string{"queue", "state"}, nil)
	scrapeErrDesc = prometheus.NewDesc("weltgewebe_metrics_scrape_errors",
		"1 when a source could not be read in this scrape (its metrics are missing), by source.", []string{"source"}, nil)
	poolConnsDesc = prometheus.NewDesc("weltgewebe_db_pool_connections",
		"Connections of the database pool by state: idle, in_use, constructing.", []string{"state"}, nil)
	poolMaxDesc = prometheus.NewDesc("weltgewebe_db_pool_max_connections",
		"The database pool's maximum size.", nil, nil)
	poolAcquiresDesc = prometheus.NewDesc("weltgewebe_db_pool_acquires_total",
		"Connections taken from the pool.", nil, nil)
	poolEmptyDesc = prometheus.NewDesc("weltgewebe_db_pool_empty_acquires_total",
		"Acquires that had to wait because no connection was idle.", nil, nil)
	poolWaitDesc = prometheus.NewDesc("weltgewebe_db_pool_acquire_wait_seconds_total",
		"Time spent waiting for a connection from the pool.", nil, nil)
	backupAgeDesc = prometheus.NewDesc("weltgewebe_backup_last_success_age_seconds",
		"Seconds since the last backup finished (absent while there is none).", nil, nil)
	archiveAgeDesc = prometheus.NewDesc("weltgewebe_backup_archive_age_seconds",
		"Seconds since the last WAL segment was archived (absent while there is none).", nil, nil)
	archiveLagDesc = prometheus.NewDesc("weltgewebe_backup_archive_lag_bytes",
		"Bytes of WAL written since the end of the last archived segment (only the server's disk and the stream hold them).", nil, nil)
	archiveFailDesc = prometheus.NewDesc("weltgewebe_backup_archive_failures_total",
		"Failed WAL archive attempts (pg_stat_archiver).", nil, nil)
	streamUpDesc = prometheus.NewDesc("weltgewebe_backup_wal_stream_up",
		"1 when the synchronous WAL stream into the backup repository runs, 0 when it is down (absent when off).", nil, nil)
	streamLagDesc = prometheus.NewDesc("weltgewebe_backup_wal_stream_lag_bytes",
		"Bytes of WAL the stream's flushed position is behind the server's.", nil, nil)
)

func (c *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{headDesc, lagEventsDesc, lagSecondsDesc, jobsDesc, scrapeErrDesc, poolConnsDesc,
		poolMaxDesc, poolAcquiresDesc, poolEmptyDesc, poolWaitDesc, backupAgeDesc, archiveAgeDesc, archiveLagDesc, archiveFailDesc,
		streamUpDesc, streamLagDesc} {
		ch <- d
	}
}

func (c *scraped) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	failed := func(source string, err error) {
		c.src.Log.Warn("metrics: cannot read "+source, "err", err)
		gauge(scrapeErrDesc, 1, source)
	}
	if e := c.src.Events; e != nil {
		gauge(headDesc, float64(e.LastHead().ID))
		for _, f := range e.Followers() {
			gauge(lagEventsDesc, float64(f.Events), f.Name)
			gauge(lagSecondsDesc, f.Behind.Seconds(), f.Name)
		}
	}
	if p := c.src.Pool; p != nil {
		st := p.Stat()
		gauge(poolConnsDesc, float64(st.IdleConns()), "idle")
		gauge(poolConnsDesc, float64(st.AcquiredConns()), "in_use")
		gauge(poolConnsDesc, float64(st.ConstructingConns()), "constructing")
		gauge(poolMaxDesc, float64(st.MaxConns()))
		counter(poolAcquiresDesc, float64(st.AcquireCount()))
		counter(poolEmptyDesc, float64(st.EmptyAcquireCount()))
		counter(poolWaitDesc, st.EmptyAcquireWaitTime().Seconds())
	}
	jobs, backup := c.m.late()
	if j := jobs; j != nil {
		if depths, err := j.Depths(ctx); err != nil {
			failed("jobs", err)
		} else {
			for _, d := range depths {
				gauge(jobsDesc, float64(d.Jobs), d.Queue, d.State)
			}
		}
	}
	if f := backup; f != nil {
		now := time.Now()
		if b, err := c.m.backupNow(ctx, f, now); err != nil {
			failed("backup", err)
		} else {
			if !b.LastSuccess.IsZero() {
				gauge(backupAgeDesc, max(now.Sub(b.LastSuccess).Seconds(), 0))
			}
			if !b.LastArchived.IsZero() {
				gauge(archiveAgeDesc, max(now.Sub(b.LastArchived).Seconds(), 0))
			}
			if b.ArchiveLagBytes >= 0 {
				gauge(archiveLagDesc, float64(b.ArchiveLagBytes))
			}
			counter(archiveFailDesc, float64(b.ArchiveFailures))
			switch b.Stream {
			case "ok":
				gauge(streamUpDesc, 1)
				gauge(streamLagDesc, float64(b.StreamLagBytes))
			case "down":
				gauge(streamUpDesc, 0)
			}
		}
	}
}
