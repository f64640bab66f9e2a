package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/metrics"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

func scrape(t *testing.T, m *metrics.Metrics) instancetest.Metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return instancetest.ParseMetrics(t, rec.Body.String())
}

// The backup's gauges come from its status, which is read once however often Prometheus
// scrapes within BackupEvery; the ages are those of the scrape.
func TestBackupGauges(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	if _, ok := scrape(t, m)["weltgewebe_backup_last_success_age_seconds"]; ok {
		t.Fatal("backup gauges without a backup status")
	}
	reads := 0
	m.SetBackup(func(context.Context) (metrics.Backup, error) {
		reads++
		return metrics.Backup{LastSuccess: time.Now().Add(-2 * time.Hour), LastArchived: time.Now().Add(-time.Minute),
			ArchiveFailures: 3, ArchiveLagBytes: 1024, Stream: "ok", StreamLagBytes: 4096}, nil
	})
	s := scrape(t, m)
	scrape(t, m)
	if reads != 1 {
		t.Errorf("the status was read %d times for two scrapes, want once", reads)
	}
	if age, _ := s.Value("weltgewebe_backup_last_success_age_seconds"); age < 7199 || age > 7300 {
		t.Errorf("last backup %v s ago, want 2 h", age)
	}
	if age, _ := s.Value("weltgewebe_backup_archive_age_seconds"); age < 59 || age > 160 {
		t.Errorf("last archive %v s ago, want a minute", age)
	}
	for name, want := range map[string]float64{"weltgewebe_backup_archive_failures_total": 3, "weltgewebe_backup_wal_stream_up": 1,
		"weltgewebe_backup_wal_stream_lag_bytes": 4096, "weltgewebe_backup_archive_lag_bytes": 1024} {
		if got, _ := s.Value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.SetBackup(func(context.Context) (metrics.Backup, error) { return metrics.Backup{Stream: "down"}, nil })
	s = scrape(t, m)
	if up, ok := s.Value("weltgewebe_backup_wal_stream_up"); !ok || up != 0 {
		t.Errorf("stream down: up = %v (%v), want 0", up, ok)
	}
	if _, ok := s.Value("weltgewebe_backup_last_success_age_seconds"); ok {
		t.Error("an age of a backup that was never made")
	}
}

// A request's series are by route, method (bounded) and status; an upgrade to a WebSocket is
// counted but not timed, and its socket is counted by kind while it is open.
func TestRequestsAndSockets(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	m.Request("GET /api/knoten/{id}", "GET", 200, 3*time.Millisecond)
	m.Request("GET /api/knoten/{id}", "GET", 200, 300*time.Millisecond)
	m.Request("", "BREW", 403, time.Millisecond)
	m.Socket("GET /ws/map", true)
	m.Request("GET /ws/map", "GET", 101, time.Hour)
	s := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"weltgewebe_http_requests_total", []string{"route", "GET /api/knoten/{id}", "status", "200"}, 2},
		{"weltgewebe_http_request_duration_seconds", []string{"route", "GET /api/knoten/{id}"}, 2},
		{"weltgewebe_http_requests_total", []string{"route", "unrouted", "method", "OTHER", "status", "403"}, 1},
		{"weltgewebe_http_requests_total", []string{"route", "GET /ws/map", "status", "101"}, 1},
		{"weltgewebe_http_request_duration_seconds", []string{"route", "GET /ws/map"}, 0},
		{"weltgewebe_websocket_connections", []string{"kind", "map"}, 1},
		{"weltgewebe_websocket_connections", []string{"kind", "chat"}, 0},
	} {
		if got, _ := s.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	m.Socket("GET /ws/map", false)
	if got, _ := scrape(t, m).Value("weltgewebe_websocket_connections", "kind", "map"); got != 0 {
		t.Errorf("%v map sockets after it closed", got)
	}
}

// A remote server names its own host, and any may follow a local actor: the deliveries' host
// label stays bounded however many hosts there are, the first ones by name, the rest as other.
func TestDeliveryHostsBounded(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	m.Delivered("nachbar.example", "delivered")
	for i := range 5 * metrics.MaxDeliveryHosts {
		m.Delivered(fmt.Sprintf("h%d.attacker.example", i), "failed")
	}
	m.Delivered("nachbar.example", "delivered")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	series := strings.Count(rec.Body.String(), "\nweltgewebe_federation_deliveries_total{")
	if series > metrics.MaxDeliveryHosts+2 {
		t.Errorf("%d delivery series for %d hosts, want at most %d", series, 5*metrics.MaxDeliveryHosts+1, metrics.MaxDeliveryHosts+2)
	}
	s := scrape(t, m)
	if got, _ := s.Value("weltgewebe_federation_deliveries_total", "host", "nachbar.example", "result", "delivered"); got != 2 {
		t.Errorf("the first host's deliveries: %v, want 2", got)
	}
	if got, _ := s.Value("weltgewebe_federation_deliveries_total", "host", metrics.OtherHost, "result", "failed"); got != float64(4*metrics.MaxDeliveryHosts+1) {
		t.Errorf("deliveries to the hosts beyond the bound: %v, want %d", got, 4*metrics.MaxDeliveryHosts+1)
	}
}

// The cost the metrics add to each request (docs/BENCHMARKS.md, "Metrics middleware").
func BenchmarkRequest(b *testing.B) {
	m := metrics.New(metrics.Sources{})
	b.ReportAllocs()
	for b.Loop() {
		m.Request("GET /api/knoten/{id}", "GET", 200, 3*time.Millisecond)
	}
}

func BenchmarkRequestParallel(b *testing.B) {
	m := metrics.New(metrics.Sources{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request("GET /api/knoten/{id}", "GET", 200, 3*time.Millisecond)
		}
	})
}
