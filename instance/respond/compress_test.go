package respond_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/respond"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "GZip": true, "x-gzip": true, "gzip, deflate, br, zstd": true, "br;q=1.0, gzip;q=0.8": true,
		"*": true, "identity": false, "br": false, "gzip;q=0": false, "gzip; q=0.000": false, "*;q=0": false,
		"*, gzip;q=0": false, "gzip;q=0, *": false, "identity;q=1, *;q=0.1": true, "gzip;q=nonsense": false, "gzip;q=2": false,
	} {
		if got := respond.AcceptsGzip([]string{header}); got != want {
			t.Errorf("Accept-Encoding %q: accepts gzip %v, want %v", header, got, want)
		}
	}
	if !respond.AcceptsGzip([]string{"br", "gzip"}) {
		t.Error("gzip in the second of two Accept-Encoding headers not seen")
	}
}

// BenchmarkJSONCompressible shows what compressing a listing costs, by its size: a listing
// of n Knoten-like objects, answered plain and gzip-compressed.
func BenchmarkJSONCompressible(b *testing.B) {
	for _, n := range []int{3, 40, 400} {
		var sb strings.Builder
		sb.WriteString(`{"knoten":[`)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"id":"019a%04x-6b1c-7d2e-8f30-1a2b3c4d5e6f","type":"idee","title":"Knoten %d","lat":51.%06d,"lon":12.%06d,"permanent":false,"garn_count":0}`,
				i, i, 336000+i*37, 334000+i*53)
		}
		sb.WriteString("]}\n")
		body := []byte(sb.String())
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("%dB-%s", len(body), enc), func(b *testing.B) {
				r := httptest.NewRequest(http.MethodGet, "/api/knoten", nil)
				r.Header.Set("Accept-Encoding", enc)
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					respond.JSONCompressible(httptest.NewRecorder(), r, http.StatusOK, body)
				}
			})
		}
	}
}
