package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
)

// The cost of the middleware on every request (docs/BENCHMARKS.md, "Metrics middleware"):
// two routes that touch no database, one answered by a handler, one by the JSON error path.
func BenchmarkServeHTTP(b *testing.B) {
	benchServe(b, httpapi.New(benchDeps()))
}

type sink struct{ h http.Header }

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) Write(p []byte) (int, error) { return len(p), nil }
func (s *sink) WriteHeader(int)             {}

func benchServe(b *testing.B, h http.Handler) {
	for _, path := range []string{"/livez", "/api/knoten/not-a-knoten"} {
		b.Run(path, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			w := &sink{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}
