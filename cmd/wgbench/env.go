package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
)

// env is one fresh database with a running instance on it (in dev mode only when the sweep
// measurement, which moves the clock, is asked for), plus a resident to act as.
type env struct {
	adminURL, dbName string
	dbURL            string // the run's database
	inst             *instance.Instance
	url              string // the instance's HTTP base URL
	resident         uuid.UUID
	snapshotDir      string
	stop             func()
}

var leipzig = geo.Point{Lat: 51.34, Lon: 12.37}

// With stream (the livestream measurement, run alone) the instance takes nginx-rtmp's callbacks
// and believes X-Forwarded-For from 127.0.0.1, where the benchmark's nginx proxies from: the
// viewers' addresses, not nginx's, meet the limits per address, as behind the production
// nginx (weltgewebe.service's --trusted-proxy).
func newEnv(ctx context.Context, adminURL string, dev, stream bool) *env {
	e := &env{adminURL: adminURL, dbName: fmt.Sprintf("wgbench_%d", time.Now().Unix())}
	var err error
	e.snapshotDir, err = os.MkdirTemp("", "wgbench-snapshots-")
	check(err)
	conn, err := pgx.Connect(ctx, adminURL)
	check(err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+e.dbName)
	check(err)
	conn.Close(ctx)

	u, err := url.Parse(adminURL)
	check(err)
	u.Path = "/" + e.dbName
	e.dbURL = u.String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	e.url = "http://" + ln.Addr().String()
	cfg := instance.Config{
		DB: instance.DBConfig{URL: u.String(), MaxConns: 40},
		// The inbox takes signatures made for its public URL's host only.
		PublicURL: e.url,
		// Production mode, as an instance runs, unless a measurement needs the movable clock
		// (the sweep); the federation measurements' peers are on loopback and allowed by name.
		Dev:                  dev,
		FederationAllowHosts: []string{"127.0.0.2", "127.0.0.3"},
		SweepInterval:        time.Hour, // the sweep measurement runs it by hand
		// The set-ups register residents through the API; the captcha is measured on its own.
		CaptchaOff: true,
		// The default limits (the flood measures them), but for the inbox's per host: the inbox
		// measurement is two peers sending as fast as the inbox takes.
		RateLimits: httpapi.RateLimits{Rules: noInboxLimit()},
		// Not data/snapshots in the working directory (the default without a data directory).
		Snapshots: instance.SnapshotConfig{Dir: e.snapshotDir},
	}
	if stream {
		cfg.RTMPSecret = benchRTMPSecret
		cfg.RateLimits = httpapi.RateLimits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	}
	e.inst, err = instance.Open(ctx, cfg)
	check(err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.inst.Serve(runCtx, ln) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			log.Printf("serve: %v", err)
		}
	}
	a, err := e.inst.Accounts.Register(ctx, account.Registration{Name: "Bench", Address: "Benchstraße 1", Home: leipzig,
		Email: "bench@example.org", Password: "bench password"})
	check(err)
	e.resident = a.ID
	return e
}

// verifiedResident registers a resident and has an admin verify them, so they may file Anträge.
func (e *env) verifiedResident(ctx context.Context) account.Account {
	suffix := uuid.NewString()[:8]
	admin, err := e.inst.Accounts.CreateAdmin(ctx, "Bench Admin", "admin-"+suffix+"@example.org", "bench password")
	check(err)
	a, err := e.inst.Accounts.Register(ctx, account.Registration{Name: "Bench " + suffix, Address: "Benchstraße 2", Home: leipzig,
		Email: "resident-" + suffix + "@example.org", Password: "bench password"})
	check(err)
	a, err = e.inst.Accounts.Verify(ctx, admin, a.ID)
	check(err)
	return a
}

func (e *env) pgVersion(ctx context.Context) string {
	var v string
	check(e.inst.Pool.QueryRow(ctx, "SHOW server_version").Scan(&v))
	return v
}

func (e *env) exec(ctx context.Context, sql string, args ...any) {
	if _, err := e.inst.Pool.Exec(ctx, sql, args...); err != nil {
		log.Fatalf("%v\n%s", err, sql)
	}
}

func (e *env) close(ctx context.Context) {
	e.stop()
	e.inst.Close()
	os.RemoveAll(e.snapshotDir)
	conn, err := pgx.Connect(ctx, e.adminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+e.dbName+" WITH (FORCE)")
}

func noInboxLimit() []httpapi.Rule {
	rules, err := httpapi.ParseRules("inbox/host=0/1s", httpapi.DefaultRules)
	check(err)
	return rules
}
