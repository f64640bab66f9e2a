package httpapi_test

import (
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/metrics"
)

func benchDeps() httpapi.Deps { return httpapi.Deps{RateLimits: httpapi.RateLimits{Off: true}} }

// BenchmarkServeHTTPMetrics is BenchmarkServeHTTP with the metrics observing.
func BenchmarkServeHTTPMetrics(b *testing.B) {
	d := benchDeps()
	d.Observer = metrics.New(metrics.Sources{})
	benchServe(b, httpapi.New(d))
}
