package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/outage"
)

// DefaultRequestTimeout bounds the work of one request, its database statements included: when
// the request's context ends, pgx sends the server a cancel request for the running statement
// and drops the connection, so a request cannot keep the database busy for minutes (a search
// with thousands of words did, with no deadline at all). Sweeps and jobs run on contexts of
// their own and are not bound by it.
const DefaultRequestTimeout = 10 * time.Second

// withDeadline gives the request its deadline. WebSockets (long-lived by design, their database
// work runs in the hubs) and the dev clock (it waits for every sweep) go without.
func (s *Server) withDeadline(r *http.Request, ctx context.Context) (*http.Request, context.CancelFunc) {
	d := s.RequestTimeout
	if d == 0 {
		d = DefaultRequestTimeout
	}
	if d >= 0 && (r.URL.Path == "/api/konto/camt" || r.URL.Path == "/api/konto/export") {
		d = max(d, LongRequestTimeout)
	}
	if d < 0 || strings.HasPrefix(r.URL.Path, "/ws/") || strings.HasPrefix(r.URL.Path, "/api/dev/") {
		return r.WithContext(ctx), func() {}
	}
	ctx, cancel := outage.WithDeadline(ctx, d)
	return r.WithContext(ctx), cancel
}
