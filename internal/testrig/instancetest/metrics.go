package instancetest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are one scrape of an instance's /metrics, parsed.
type Metrics map[string]*dto.MetricFamily

// ScrapeMetrics reads the instance's metrics as Prometheus would, through their handler (the
// listener of their own is serve's; see instance.ServeMetrics).
func (i *Instance) ScrapeMetrics(t testing.TB) Metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	i.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("instancetest: /metrics: %d %s", rec.Code, rec.Body)
	}
	return ParseMetrics(t, rec.Body.String())
}

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(t testing.TB, text string) Metrics {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("instancetest: parse metrics: %v", err)
	}
	return fams
}

// Value is the value of the series of name with these labels (name=value pairs; labels not
// named may be anything), and whether there is one: a counter's or gauge's value, a
// histogram's count. Several matching series are summed.
func (m Metrics) Value(name string, labels ...string) (float64, bool) {
	f, ok := m[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
series:
	for _, s := range f.Metric {
		for k := 0; k+1 < len(labels); k += 2 {
			matched := false
			for _, l := range s.Label {
				if l.GetName() == labels[k] && l.GetValue() == labels[k+1] {
					matched = true
				}
			}
			if !matched {
				continue series
			}
		}
		found = true
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum, found
}
