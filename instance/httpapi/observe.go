package httpapi

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"time"
)

// What the operators see of each request: its id in every log line about it, and the
// metrics (docs/OPERATIONS.md, "Metrics and logs").

// Observer hears of every request the server answered, for the metrics (instance/metrics).
// route is the mux pattern that matched ("" when the request was refused before routing):
// never the path, so that the metrics' series stay as few as the routes. It is called on the
// request's goroutine after the answer: it must be quick.
type Observer interface {
	Request(route, method string, status int, took time.Duration)
	// Socket says a WebSocket on the route opened (open) or closed.
	Socket(route string, open bool)
}

// RequestIDHeader carries a request's id: set by nginx ($request_id), echoed in every answer.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// requestCtx is a request's context with its id: a context of its own rather than
// context.WithValue, which would allocate twice (the value boxed, the context), and the id's
// array is the response header's value as well.
type requestCtx struct {
	context.Context
	id [1]string
}

func (c *requestCtx) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// RequestID is the id of the request ctx belongs to ("" outside one).
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestCtx); ok {
		return c.id[0]
	}
	return ""
}

// requestID is the id nginx gave the request when the peer is a trusted proxy and the id is
// plain (it goes into logs), else a new one.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); id != "" && plainID(id) {
		if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && s.limits.trusted(peer.Addr().Unmap()) {
			return id
		}
	}
	return newRequestID()
}

// newRequestID is 128 random bits in hex, as nginx's $request_id. Not a secret, only unique:
// the runtime's fast generator suffices (a counter would tell clients how busy we are).
func newRequestID() string {
	var b [16]byte
	var out [32]byte
	for i, v := range [2]uint64{rand.Uint64(), rand.Uint64()} {
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	hex.Encode(out[:], b[:])
	return string(out[:])
}

func plainID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// requestIDHandler adds the request's id to every record logged with its context (the
// *Context methods of slog.Logger), whatever the format.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// WithRequestIDs is a logger whose records carry the request id of their context. The
// instance hands it to the API; whoever logs about a request with its context gets the id.
func WithRequestIDs(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(requestIDHandler); ok {
		return l
	}
	return slog.New(requestIDHandler{l.Handler()})
}

// SlowRequest is how long a request (not a WebSocket) may take before it is logged at info;
// quicker ones are logged at debug only (nginx's access log has every request, with the same
// id).
const SlowRequest = time.Second

// ServeHTTP of routeMux notes the request the mux routes on the recorder: the mux sets its
// Pattern there, which the metrics read after the answer and when a WebSocket opens.
func (m *routeMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.routed = r
	}
	m.ServeMux.ServeHTTP(w, r)
}

// route is the pattern that matched the request, "" when none did (refused before routing).
func (r *statusRecorder) route() string {
	if r.routed == nil {
		return ""
	}
	return r.routed.Pattern
}

// metricsNotHere answers /metrics on the public listener: the metrics have a listener of
// their own (serve --metrics-listen), which nginx does not proxy.
func metricsNotHere(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "404 page not found: the metrics are served on the metrics listener (--metrics-listen)", http.StatusNotFound)
}
