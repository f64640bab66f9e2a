package instance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// The metrics are on a listener of their own and not on the public one; requests are counted
// by route and status with their latency, the followers and the sockets show up; every
// answer carries a request id, which the request's log lines (JSON) carry too.
func TestMetricsAndRequestIDs(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	inst := instancetest.Start(t, instancetest.Options{
		RateLimits: &httpapi.RateLimits{Off: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		Log:        slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- inst.ServeMetrics(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("metrics listener: %v", err)
		}
	})

	if res := inst.Client().Get("/metrics"); res.Status != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %d, want 404", res.Status)
	}

	c := inst.Client()
	for range 3 {
		c.Get("/api/knoten/not-a-knoten").Expect(t, http.StatusNotFound)
	}
	c.Get("/api/ortsweberei").Expect(t, http.StatusOK)

	res, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics on the metrics listener: %d", res.StatusCode)
	}
	m := instancetest.ParseMetrics(t, string(body))
	if n, _ := m.Value("weltgewebe_http_requests_total", "route", "GET /api/knoten/{id}", "method", "GET", "status", "404"); n != 3 {
		t.Errorf("requests GET /api/knoten/{id} 404: %v, want 3", n)
	}
	if n, _ := m.Value("weltgewebe_http_requests_total", "route", "GET /api/ortsweberei", "status", "200"); n != 1 {
		t.Errorf("requests GET /api/ortsweberei 200: %v, want 1", n)
	}
	if n, _ := m.Value("weltgewebe_http_request_duration_seconds", "route", "GET /api/knoten/{id}"); n != 3 {
		t.Errorf("latency observations of GET /api/knoten/{id}: %v, want 3", n)
	}
	for _, path := range []string{"/api/knoten/", "not-a-knoten"} {
		if strings.Contains(string(body), path+`"`) || strings.Contains(string(body), "not-a-knoten") {
			t.Errorf("a path is a label value (%s): routes only", path)
		}
	}
	for _, f := range []string{"mapfeed", "chat", "wortfilter", "federation-delivery"} {
		if _, ok := m.Value("weltgewebe_eventlog_follower_lag_events", "follower", f); !ok {
			t.Errorf("no lag of the follower %s in\n%s", f, grepLines(string(body), "eventlog"))
		}
	}
	if _, ok := m.Value("weltgewebe_db_pool_connections", "state", "idle"); !ok {
		t.Error("no pool connections")
	}
	checkDashboard(t, inst, m)

	t.Run("sockets", func(t *testing.T) {
		sockets := func() float64 {
			n, _ := inst.ScrapeMetrics(t).Value("weltgewebe_websocket_connections", "kind", "map")
			return n
		}
		if n := sockets(); n != 0 {
			t.Fatalf("%v map sockets before one opened", n)
		}
		conn := instancetest.DialMap(t, inst.URL)
		if n := sockets(); n != 1 { // the hello came: the socket is open and counted
			t.Fatalf("%v map sockets with one open", n)
		}
		conn.Close()
		instancetest.WaitFor(t, "the map socket to be counted closed", func() bool { return sockets() == 0 })
	})

	t.Run("request ids", func(t *testing.T) {
		// From the trusted proxy: its id is taken, echoed, and in the request's log line.
		req, _ := http.NewRequest(http.MethodGet, inst.URL+"/api/knoten/not-a-knoten", nil)
		req.Header.Set("X-Request-Id", "nginx-1f2e3d")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Request-Id"); got != "nginx-1f2e3d" {
			t.Errorf("X-Request-Id from the trusted proxy answered as %q", got)
		}
		instancetest.WaitFor(t, "the request's log line with its id", func() bool {
			return logs.hasLine(func(l map[string]any) bool {
				return l["msg"] == "request" && l["request_id"] == "nginx-1f2e3d" && l["route"] == "GET /api/knoten/{id}" && l["status"] == 404.0
			})
		})
		// From anyone else, and a malformed one from the proxy: a new id of our own.
		for _, tc := range []struct{ peer, id string }{{"192.0.2.7:4242", "forged"}, {"127.0.0.1:4242", "two words"}} {
			r := httptest.NewRequest(http.MethodGet, "/api/ortsweberei", nil)
			r.RemoteAddr, r.Header["X-Request-Id"] = tc.peer, []string{tc.id}
			w := httptest.NewRecorder()
			inst.Handler.ServeHTTP(w, r)
			if got := w.Header().Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
				t.Errorf("from %s with %q: X-Request-Id %q, want a new 32-hex id", tc.peer, tc.id, got)
			}
		}
		// An error logged about a request carries its id.
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/ortsweberei", nil)
		inst.Handler.ServeHTTP(w, r)
		id := w.Header().Get("X-Request-Id")
		instancetest.WaitFor(t, "a log line with a generated id", func() bool {
			return logs.hasLine(func(l map[string]any) bool { return l["request_id"] == id })
		})
	})
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// hasLine reports whether a JSON log line satisfies ok.
func (b *syncBuffer) hasLine(ok func(map[string]any) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && ok(l) {
			return true
		}
	}
	return false
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Every metric the sample Grafana dashboard queries is one the instance exports, and what a
// running instance sends is among those.
func checkDashboard(t *testing.T, inst *instancetest.Instance, scraped instancetest.Metrics) {
	exported := map[string]bool{}
	for _, n := range inst.Metrics.Names() {
		exported[n] = true
	}
	for n := range scraped {
		if !exported[n] {
			t.Errorf("the scrape has %s, which Metrics.Names does not list", n)
		}
	}
	for _, n := range []string{"weltgewebe_http_requests_total", "weltgewebe_http_request_duration_seconds", "weltgewebe_websocket_connections",
		"weltgewebe_eventlog_follower_lag_seconds", "weltgewebe_db_pool_connections", "process_cpu_seconds_total", "go_goroutines"} {
		if _, ok := scraped[n]; !ok {
			t.Errorf("a running instance does not send %s", n)
		}
	}
	raw, err := os.ReadFile("../deploy/grafana/weltgewebe.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/weltgewebe.json: %v", err)
	}
	name := regexp.MustCompile(`\b(?:weltgewebe|process|go)_[a-z_]+\b`)
	queried := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				queried++
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && exported[b] {
						base = b
					}
				}
				if !exported[base] {
					t.Errorf("dashboard panel %q queries %s, which the instance does not export", p.Title, n)
				}
			}
		}
	}
	if queried < 20 {
		t.Errorf("found %d metric names in the dashboard's queries: not reading it right", queried)
	}
}
