// Package instancetest starts real instances for black-box tests: a fresh database on the
// test cluster (see pgtest), the full instance in dev mode, serving HTTP on a loopback
// address. Tests talk to it over HTTP like any client; the pool is there for checks that only
// the database can answer ("nothing was written").
//
// Packages using it call pgtest.Main from TestMain.
package instancetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
)

// Instance is a running test instance.
type Instance struct {
	*instance.Instance
	URL         string
	DatabaseURL string // for commands that open the same instance (weltgewebe admin …)
	t           testing.TB
	admin       *account.Account
	exited      chan struct{}      // closed when Serve has returned
	transport   http.RoundTripper  // trusts the test CA when the instance serves https
	snapshotDir string             // the snapshot files, shared with its replicas
	captcha     bool               // registrations need the solved captcha (Options.Captcha)
	serveErr    error              // what Serve returned, once exited is closed
	stop        context.CancelFunc // ends Serve (Stop)
}

// Options tune a test instance.
type Options struct {
	Host            string // loopback address to listen on; default 127.0.0.1
	NoDev           bool   // run without --dev (no dev clock, no loopback federation)
	Name            string
	Bounds          json.RawMessage
	AuthorizedFetch bool
	AllowHosts      []string // federation peers allowed although on loopback
	// MapFeed tunes the live map; its batch interval defaults to 200 ms here.
	MapFeed mapfeed.Options
	// RateLimits, when set, are the instance's limits; without, they are off, since tests
	// register and log in many residents from one address.
	RateLimits *httpapi.RateLimits
	// Captcha turns the registration captcha on (off by default here, since tests register
	// many residents; production has it on). CaptchaOptions tune it (a small MaxNumber keeps
	// a test's solving quick).
	Captcha        bool
	CaptchaOptions captcha.Options
	// IPBlocks are the instance's address blocks (nil: none).
	IPBlocks moderation.IPBlocks
	// Accounts tune the password hashers, the lockout and the mailer.
	Accounts account.Options
	// Replica of another test instance: this one runs on the same database (a second
	// process of the same Ortsweberei).
	ReplicaOf *Instance
	// DatabaseURL, when set, is the database to run on instead of a fresh one on the test
	// cluster: one on a cluster the test runs itself (and stops, to see an outage).
	DatabaseURL string
	// DataDir, when set, runs the instance on an embedded cluster in this directory, as
	// `weltgewebe serve --data-dir` does.
	DataDir string
	// RequestTimeout bounds each request's work; zero means Patience. Not the instance's
	// default (10 s): on a busy machine a request that waits for a password hasher behind
	// twenty others can take longer, and a test that is not about the deadline must not meet
	// it. A test about the deadline sets it.
	RequestTimeout time.Duration
	// Log receives every record of the instance (all levels), besides the test log; see
	// LogCapture.
	Log slog.Handler
	// Basemap is a PMTiles file the instance serves to the web app, as `serve --basemap`.
	Basemap string
	// Bank configures the CAMT import and the journal exports (time zone, DATEV).
	Bank httpapi.Bank
	// TLS, when set, serves the instance over https with a certificate of this CA (its public
	// URL is https://host:port), and federation trusts this CA and no other: the way to test
	// against peers that, like GoToSocial, look accounts up over https only.
	TLS *testca.CA
	// SnapshotDir holds the instance's snapshots; default a directory of the test's own (a
	// replica shares its original's).
	SnapshotDir string
	// SnapshotSchedule and Retention, as instance.SnapshotConfig (zero: the defaults).
	SnapshotSchedule snapshot.Schedule
	Retention        time.Duration
	// MaxMirrorBytes bounds the neighbours' snapshot files it mirrors (0: the default).
	MaxMirrorBytes int64
	// RTMPSecret is the secret nginx-rtmp's callbacks must carry (empty: ingest off), as
	// `serve --rtmp-secret`.
	RTMPSecret string
	// ChatCatchUp is instance.Config's (0: the default).
	ChatCatchUp int
	// Timezone is the Ortsweberei's time zone, as `serve --timezone` sets it (the delegation
	// batch at 03:00 there, the snapshots' schedule, the timeline's dates, the bank's months);
	// nil: the instance's defaults.
	Timezone *time.Location
	// WALStream is instance.Config's: the backup's WAL stream as /readyz reports it (nil: off).
	WALStream func(ctx context.Context) string
}

// Start runs an instance for the test; it stops when the test ends.
func Start(t testing.TB, opts ...Options) *Instance {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	ctx := context.Background()
	ln, err := net.Listen("tcp", o.Host+":0")
	if err != nil {
		t.Fatalf("instancetest: listen: %v", err)
	}
	scheme := "http"
	var transport http.RoundTripper = http.DefaultTransport
	var rootCAs *x509.CertPool
	if o.TLS != nil {
		cfg, err := o.TLS.ServerConfig(o.Host)
		if err != nil {
			ln.Close()
			t.Fatalf("instancetest: %v", err)
		}
		ln = tls.NewListener(ln, cfg)
		scheme, transport, rootCAs = "https", o.TLS.Transport(), o.TLS.Pool()
	}
	db := instance.DBConfig{URL: o.DatabaseURL, DataDir: o.DataDir, MaxConns: 16}
	switch {
	case o.ReplicaOf != nil:
		db.URL = o.ReplicaOf.DatabaseURL
	case db.URL == "" && db.DataDir == "":
		db.URL = pgtest.URL(t)
	}
	publicURL := scheme + "://" + ln.Addr().String()
	if o.ReplicaOf != nil {
		publicURL = o.ReplicaOf.URL // one Ortsweberei, one name, however many processes
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = Patience
	}
	if o.MapFeed.Batch == 0 {
		o.MapFeed.Batch = 200 * time.Millisecond
	}
	limits := httpapi.RateLimits{Off: true}
	if o.RateLimits != nil {
		limits = *o.RateLimits
	}
	snapshotDir := o.SnapshotDir
	switch {
	case o.ReplicaOf != nil:
		snapshotDir = o.ReplicaOf.snapshotDir // one Ortsweberei, one snapshot directory
	case snapshotDir == "":
		snapshotDir = t.TempDir()
	}
	log := newTestLogger(t)
	if o.Log != nil {
		log = slog.New(slog.NewMultiHandler(log.Handler(), o.Log))
	}
	var batch delegation.Batch
	if o.Timezone != nil {
		batch = delegation.Batch{At: 3 * time.Hour, Location: o.Timezone} // as serve's default --delegation-batch
	}
	inst, err := instance.Open(ctx, instance.Config{
		DelegationBatch:      batch,
		DB:                   db,
		Dev:                  !o.NoDev,
		PublicURL:            publicURL,
		AuthorizedFetch:      o.AuthorizedFetch,
		FederationAllowHosts: o.AllowHosts,
		FederationRootCAs:    rootCAs,
		Name:                 o.Name,
		Bounds:               o.Bounds,
		PollInterval:         20 * time.Millisecond,
		// Sweeps run when a test moves the dev clock (and once at start), not on their own in
		// the middle of a test.
		SweepInterval:  time.Hour,
		MapFeed:        o.MapFeed,
		RateLimits:     limits,
		CaptchaOff:     !o.Captcha,
		Captcha:        o.CaptchaOptions,
		IPBlocks:       o.IPBlocks,
		Accounts:       o.Accounts,
		RequestTimeout: o.RequestTimeout,
		Log:            log,
		Basemap:        o.Basemap,
		Bank:           o.Bank,
		RTMPSecret:     o.RTMPSecret,
		ChatCatchUp:    o.ChatCatchUp,
		WALStream:      o.WALStream,
		Snapshots: instance.SnapshotConfig{Dir: snapshotDir, Schedule: o.SnapshotSchedule, Retention: o.Retention,
			MaxMirrorBytes: o.MaxMirrorBytes},
	})
	if err != nil {
		ln.Close()
		t.Fatalf("instancetest: open: %v", err)
	}
	if db.URL == "" {
		db.URL = inst.Pool.Config().ConnString() // the embedded cluster's
	}
	i := &Instance{Instance: inst, URL: scheme + "://" + ln.Addr().String(), DatabaseURL: db.URL, t: t, exited: make(chan struct{}),
		transport: transport, snapshotDir: snapshotDir, captcha: o.Captcha}
	runCtx, stop := context.WithCancel(ctx)
	i.stop = stop
	go func() {
		i.serveErr = inst.Serve(runCtx, ln)
		close(i.exited)
	}()
	t.Cleanup(func() {
		stop()
		<-i.exited
		if i.serveErr != nil {
			t.Errorf("instancetest: serve: %v", i.serveErr)
		}
		if err := inst.Close(); err != nil {
			t.Errorf("instancetest: close: %v", err)
		}
	})
	// Waits for the instance to answer, and for its delivery follower to have taken the log's
	// head as its start: what a test writes before that would never be delivered. The bound is
	// a safety net for a busy machine.
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := i.HTTPClient().Get(i.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK && i.deliveryStarted() && (o.ReplicaOf != nil || i.sweptAtStart()) {
				return i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instancetest: instance not healthy, delivering and swept once after 60s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sweptAtStart reports whether every sweep has run once since the start (River's leader
// enqueues them at once, but on a busy machine they may run a while later): a test that moves
// the dev clock "without running the sweeps" would otherwise meet a late start sweep that
// applies the new time. A second process (Options.ReplicaOf) is not the leader and enqueues
// none.
func (i *Instance) sweptAtStart() bool {
	names := i.Jobs.Sweeps()
	var n int
	err := i.Pool.QueryRow(context.Background(), `
SELECT count(DISTINCT args->>'name') FROM river_job
WHERE kind = 'sweep' AND state = 'completed' AND args->>'reason' = 'periodic' AND args->>'name' = ANY($1)`, names).Scan(&n)
	return err == nil && n == len(names)
}

// Stop ends the instance's server, as if its machine were gone: it answers no request
// afterwards (its listener is closed) and runs no job. Its database stays until the test ends.
func (i *Instance) Stop() {
	i.stop()
	<-i.exited
}

// Exited is closed when the instance has stopped serving before the test's end, which it
// must not do whatever its database does; ServeErr then says why.
func (i *Instance) Exited() <-chan struct{} { return i.exited }

// ServeErr is what Serve returned; nil while it serves.
func (i *Instance) ServeErr() error {
	select {
	case <-i.exited:
		return i.serveErr
	default:
		return nil
	}
}

func (i *Instance) deliveryStarted() bool {
	var n int
	err := i.Pool.QueryRow(context.Background(), `SELECT count(*) FROM event_cursors WHERE consumer = $1`, federation.DeliveryConsumer).Scan(&n)
	return err == nil && n == 1
}

// Client is one browser: its own cookie jar, so its own session.
type Client struct {
	t    testing.TB
	base string
	http *http.Client
	// ID and Email are the account the client registered, if it did.
	ID, Email string
	header    http.Header // sent with every request
}

// With returns the same browser (the same cookie jar) sending these headers as well, e.g. the
// Origin and Sec-Fetch-Site of a page on another site.
func (c *Client) With(h http.Header) *Client {
	d := *c
	d.header = h
	return &d
}

// Client returns a new client without a session.
func (i *Instance) Client() *Client {
	c := NewClient(i.t, i.URL)
	c.http.Transport = i.transport
	return c
}

// HTTPClient is a plain HTTP client for the instance: one that trusts its certificate when it
// serves https (Options.TLS).
func (i *Instance) HTTPClient() *http.Client {
	return &http.Client{Transport: i.transport, Timeout: 60 * time.Second}
}

// NewClient returns a new client without a session of the server at base, e.g. a `weltgewebe
// serve` the test runs.
func NewClient(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// On returns the same browser (the same cookie jar, so the same session) talking to another
// process of the same Ortsweberei (see Options.ReplicaOf): sessions live in the database.
func (c *Client) On(i *Instance) *Client {
	d := *c
	d.base = i.URL
	return &d
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	req    string
}

// Do sends a request. A string or []byte body is sent as-is with Content-Type
// application/json; any other non-nil body is encoded as JSON.
func (c *Client) Do(method, path string, body any) *Response {
	c.t.Helper()
	return c.DoWith(method, path, body, "application/json")
}

// DoWith is Do with an explicit Content-Type.
func (c *Client) DoWith(method, path string, body any, contentType string) *Response {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b, req: method + " " + path}
}

// Get, Post, Patch are shorthands for Do.
func (c *Client) Get(path string) *Response            { c.t.Helper(); return c.Do("GET", path, nil) }
func (c *Client) Post(path string, body any) *Response { c.t.Helper(); return c.Do("POST", path, body) }
func (c *Client) Patch(path string, body any) *Response {
	c.t.Helper()
	return c.Do("PATCH", path, body)
}

// Expect fails the test unless the response has the status; it returns the response.
func (r *Response) Expect(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body: %s", r.req, r.Status, status, r.Body)
	}
	return r
}

// JSON decodes the body into v.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON (%v): %s", r.req, err, r.Body)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// ErrorCode is the error code of an error response ("" if the body is not one).
func (r *Response) ErrorCode() string {
	var e struct {
		Error struct {
			Code, Message string
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

var seq atomic.Int64

// ResidentPassword is the password of the residents Resident registers.
const ResidentPassword = "correct horse battery"

// Resident registers a resident at (lat, lon), logs in, and returns the logged-in client.
func (i *Instance) Resident(name string, lat, lon float64) *Client {
	i.t.Helper()
	n := seq.Add(1)
	email := fmt.Sprintf("resident%d@example.org", n)
	c := i.Client()
	reg := map[string]any{
		"name": name, "address": fmt.Sprintf("Teststraße %d, 04177 Leipzig", n), "lat": lat, "lon": lon,
		"email": email, "password": ResidentPassword,
	}
	if i.captcha {
		reg["altcha"] = SolveCaptcha(i.t, c)
	}
	c.Post("/api/auth/register", reg).Expect(i.t, http.StatusAccepted)
	res := c.Post("/api/auth/login", map[string]any{"email": email, "password": ResidentPassword}).Expect(i.t, http.StatusOK)
	c.ID, c.Email = res.Map(i.t)["id"].(string), email
	return c
}

// SolveCaptcha fetches a challenge through c and solves it as the widget does: the payload a
// registration sends as "altcha".
func SolveCaptcha(t testing.TB, c *Client) string {
	t.Helper()
	var ch captcha.Challenge
	c.Get("/api/captcha").Expect(t, http.StatusOK).JSON(t, &ch)
	p, err := captcha.Solve(ch)
	if err != nil {
		t.Fatalf("instancetest: solve the captcha: %v", err)
	}
	return p
}

// Admin creates an admin account (as `weltgewebe admin create` does) and returns a logged-in
// client.
func (i *Instance) Admin() *Client {
	i.t.Helper()
	email := fmt.Sprintf("admin%d@example.org", seq.Add(1))
	a, err := i.Accounts.CreateAdmin(context.Background(), "Admin", email, "admin password")
	if err != nil {
		i.t.Fatal(err)
	}
	c := i.Client()
	c.ID = a.ID.String()
	c.Post("/api/auth/login", map[string]any{"email": email, "password": "admin password"}).Expect(i.t, http.StatusOK)
	return c
}

// Verify makes the client's account a verified resident, as an admin would.
func (i *Instance) Verify(c *Client) {
	i.t.Helper()
	ctx := context.Background()
	if i.admin == nil {
		a, err := i.Accounts.CreateAdmin(ctx, "Verifier", fmt.Sprintf("verifier%d@example.org", seq.Add(1)), "admin password")
		if err != nil {
			i.t.Fatal(err)
		}
		i.admin = &a
	}
	id, err := uuid.Parse(c.ID)
	if err != nil {
		i.t.Fatal(err)
	}
	if _, err := i.Accounts.Verify(ctx, *i.admin, id); err != nil {
		i.t.Fatal(err)
	}
}

// VerifiedResident is Resident plus Verify.
func (i *Instance) VerifiedResident(name string, lat, lon float64) *Client {
	i.t.Helper()
	c := i.Resident(name, lat, lon)
	i.Verify(c)
	return c
}

// Advance moves the dev clock forward ("168h", "7d", …) and returns the new time, after every
// sweep that became due has run.
func (i *Instance) Advance(d string) time.Time {
	i.t.Helper()
	res := i.Client().Post("/api/dev/clock", map[string]string{"advance": d}).Expect(i.t, http.StatusOK)
	var out struct {
		Now time.Time `json:"now"`
	}
	res.JSON(i.t, &out)
	return out.Now
}

// Count returns the number of rows a query counts, e.g. "SELECT count(*) FROM events".
func (i *Instance) Count(sql string, args ...any) int {
	i.t.Helper()
	var n int
	if err := i.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		i.t.Fatalf("count %q: %v", sql, err)
	}
	return n
}

// Rows is a fingerprint of everything the instance has written: row counts of the event log
// and of every domain table. Two equal fingerprints around a refused request mean it wrote
// nothing.
func (i *Instance) Rows() map[string]int {
	i.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"events", "accounts", "sessions", "ortsweberei", "knoten", "faeden",
		"antraege", "einsprueche", "abstimmungen", "stimmen", "stimmen_verlauf", "delegationen", "chat_nachrichten",
		"mail_outbox", "adressen", "adressen_quelle", "account_rollen", "spenden", "spenden_idempotenz", "buchungen"} {
		out[table] = i.Count("SELECT count(*) FROM " + table)
	}
	// Updates leave counts alone; the log would still grow, since every write appends.
	return out
}

// SetCookie puts a cookie into the client's jar, as a browser that was handed it would send.
func (c *Client) SetCookie(name, value string) {
	u, _ := url.Parse(c.base)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}
