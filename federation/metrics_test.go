package federation_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Each delivery shows in the metrics under its host: a dead host's as failed (and its job as
// a failed attempt, waiting to be retried), a live one's as delivered.
func TestDeliveryMetricsPerHost(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	live := startFake(t, "127.0.0.14", func(int, *http.Request) (int, http.Header) { return http.StatusAccepted, nil })
	ln, err := net.Listen("tcp", "127.0.0.15:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &fakeServer{URL: "http://" + ln.Addr().String()}
	ln.Close() // nobody answers there any more
	follow(t, inst, live, 1)
	follow(t, inst, dead, 1)
	inst.VerifiedResident("Jana", lat, lon).Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201)

	liveHost, deadHost := strings.TrimPrefix(live.URL, "http://"), strings.TrimPrefix(dead.URL, "http://")
	var m instancetest.Metrics
	waitFor(t, "a failed delivery to the dead host and a delivered one to the live host", patience, func() bool {
		m = inst.ScrapeMetrics(t)
		failed, _ := m.Value("weltgewebe_federation_deliveries_total", "host", deadHost, "result", "failed")
		delivered, _ := m.Value("weltgewebe_federation_deliveries_total", "host", liveHost, "result", "delivered")
		return failed >= 1 && delivered >= 1
	})
	if n, _ := m.Value("weltgewebe_federation_deliveries_total", "host", liveHost, "result", "failed"); n != 0 {
		t.Errorf("%v failed deliveries to the live host", n)
	}
	waitFor(t, "the dead host's job counted as failed and waiting for its retry", patience, func() bool {
		m = inst.ScrapeMetrics(t)
		fails, _ := m.Value("weltgewebe_river_job_failures_total", "queue", "federation_delivery", "kind", "federation_deliver")
		retryable, _ := m.Value("weltgewebe_river_jobs", "queue", "federation_delivery", "state", "retryable")
		return fails >= 1 && retryable >= 1
	})
}
