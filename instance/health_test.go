package instance_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// /readyz tells a load balancer or Kubernetes whether to send requests to this replica, and its
// body says why not: the schema must be the one this binary knows (a newer replica that
// migrated further makes an old one "ahead"), and a backup WAL stream that is down (commits wait
// for it) makes the replica not ready. /healthz and /livez only say the process serves.
func TestReadyz(t *testing.T) {
	t.Parallel()
	var stream atomic.Value
	stream.Store(httpapi.WALStreamOff)
	inst := instancetest.Start(t, instancetest.Options{WALStream: func(context.Context) string { return stream.Load().(string) }})
	c := inst.Client()
	ready := func(wantStatus int, want httpapi.Readiness) {
		t.Helper()
		res := c.Get("/readyz")
		var got httpapi.Readiness
		if err := json.Unmarshal(res.Body, &got); err != nil || res.Status != wantStatus || got != want {
			t.Errorf("/readyz: %d %s, want %d %+v", res.Status, res.Body, wantStatus, want)
		}
	}
	ready(http.StatusOK, httpapi.Readiness{Status: "ready", Database: "ok", Migrations: "current", WALStream: "off"})
	stream.Store(httpapi.WALStreamOK)
	ready(http.StatusOK, httpapi.Readiness{Status: "ready", Database: "ok", Migrations: "current", WALStream: "ok"})
	stream.Store(httpapi.WALStreamDown)
	ready(http.StatusServiceUnavailable, httpapi.Readiness{Status: "not_ready", Database: "ok", Migrations: "current", WALStream: "down"})
	stream.Store(httpapi.WALStreamOK)

	ctx := context.Background()
	if _, err := inst.Pool.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`); err != nil {
		t.Fatal(err)
	}
	ready(http.StatusServiceUnavailable, httpapi.Readiness{Status: "not_ready", Database: "ok", Migrations: "ahead", WALStream: "ok"})
	if _, err := inst.Pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 99999`); err != nil {
		t.Fatal(err)
	}
	var latest int64
	if err := inst.Pool.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(ctx, `UPDATE goose_db_version SET is_applied = false WHERE version_id = $1`, latest); err != nil {
		t.Fatal(err)
	}
	ready(http.StatusServiceUnavailable, httpapi.Readiness{Status: "not_ready", Database: "ok", Migrations: "behind", WALStream: "ok"})
	if _, err := inst.Pool.Exec(ctx, `UPDATE goose_db_version SET is_applied = true WHERE version_id = $1`, latest); err != nil {
		t.Fatal(err)
	}
	ready(http.StatusOK, httpapi.Readiness{Status: "ready", Database: "ok", Migrations: "current", WALStream: "ok"})
	for _, alive := range []string{"/healthz", "/livez"} {
		if res := c.Get(alive); res.Status != http.StatusOK || string(res.Body) != `{"status":"alive"}`+"\n" && string(res.Body) != `{"status":"alive"}` {
			t.Errorf("%s: %d %s", alive, res.Status, res.Body)
		}
	}
}
