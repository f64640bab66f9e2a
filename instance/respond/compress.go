package respond

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"

	// klauspost's gzip writes the same format as compress/gzip, 1.6–2.2× as fast at the
	// fastest level (docs/BENCHMARKS.md, "Knoten in a box").
	"github.com/klauspost/compress/gzip"
)

// GzipMin is the smallest answer JSONCompressible compresses. Below it the answer fits into
// one TCP segment (a 1500-byte MTU less the headers), so compressing it cannot save a round
// trip on any link, and costs CPU (docs/BENCHMARKS.md, "Knoten in a box").
const GzipMin = 1400

// JSONCompressible answers like JSONBytes, gzip-compressed (at the fastest level) when the
// request accepts gzip and b is at least GzipMin long. Only answers that can be large use it:
// a proxy in front that compresses too (nginx's gzip) passes an answer that arrives
// compressed on as it is.
func JSONCompressible(w http.ResponseWriter, r *http.Request, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if len(b) >= GzipMin && AcceptsGzip(r.Header.Values("Accept-Encoding")) {
		z := gzipPool.Get().(*gzipBuffer)
		defer func() {
			if z.buf.Cap() <= maxPooledGzip { // one huge listing does not pin its buffer
				gzipPool.Put(z)
			}
		}()
		z.buf.Reset()
		z.w.Reset(&z.buf)
		_, _ = z.w.Write(b) // into memory: cannot fail
		_ = z.w.Close()
		h.Set("Content-Encoding", "gzip")
		b = z.buf.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

const maxPooledGzip = 1 << 20

type gzipBuffer struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

// A gzip.Writer holds about 800 KB of state: kept for the next answer, not made per request.
// Its output buffer is kept with it up to maxPooledGzip.
var gzipPool = sync.Pool{New: func() any {
	z := &gzipBuffer{}
	z.w, _ = gzip.NewWriterLevel(&z.buf, gzip.BestSpeed) // a valid level: no error
	return z
}}

// AcceptsGzip reports whether Accept-Encoding header values accept gzip (RFC 9110, 12.5.3):
// "gzip" (or "x-gzip") or "*" with a quality above zero, where a named coding's quality
// overrides the wildcard's.
func AcceptsGzip(values []string) bool {
	named, wildcard := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			for param := range strings.SplitSeq(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0 // an unreadable weight accepts nothing
					}
					q = f
				}
			}
			switch c := strings.TrimSpace(coding); {
			case strings.EqualFold(c, "gzip"), strings.EqualFold(c, "x-gzip"):
				named = max(named, q)
			case c == "*":
				wildcard = max(wildcard, q)
			}
		}
	}
	if named >= 0 {
		return named > 0
	}
	return wildcard > 0
}
