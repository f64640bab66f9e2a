package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// DefaultRequestTimeout bounds the work of one request, its database statements included: when
// the request's context ends, pgx sends the server a cancel request for the running statement
// and drops the connection, so a request cannot keep the database busy for minutes (a search
// with thousands of words did, with no deadline at all). Sweeps and jobs run on contexts of
// their own and are not bound by it.
const DefaultRequestTimeout = 10 * time.Second

// retryAfter is what a 503 asks the client to wait, in seconds: long enough for a database
// restart or failover to finish, short enough that a person retrying by hand is not held up.
const retryAfter = 5

var errRequestTimeout = errors.New("httpapi: the request ran past its deadline")

// withDeadline gives the request its deadline. WebSockets (long-lived by design, their database
// work runs in the hubs) and the dev clock (it waits for every sweep) go without.
func (s *Server) withDeadline(r *http.Request) (*http.Request, context.CancelFunc) {
	d := s.RequestTimeout
	if d == 0 {
		d = DefaultRequestTimeout
	}
	if d < 0 || strings.HasPrefix(r.URL.Path, "/ws/") || strings.HasPrefix(r.URL.Path, "/api/dev/") {
		return r, func() {}
	}
	ctx, cancel := context.WithTimeoutCause(r.Context(), d, errRequestTimeout)
	return r.WithContext(ctx), cancel
}

// unavailable answers 503 with Retry-After when err means the request could not be served for
// now: the database cannot be reached, or the request ran past its deadline. It reports
// whether it answered.
func unavailable(w http.ResponseWriter, r *http.Request, err error) bool {
	var body errorDetail
	switch {
	case errors.Is(context.Cause(r.Context()), errRequestTimeout):
		body = errorDetail{Code: "request_timeout", Message: "The request took too long and was stopped; try again later."}
	case database.Unreachable(err):
		body = errorDetail{Code: "database_unavailable", Message: "The database cannot be reached just now; try again in a few seconds."}
	default:
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeJSON(w, http.StatusServiceUnavailable, errorBody{body})
	return true
}

// livez answers 200 while the process serves, whatever the database does: a liveness probe that
// restarted the instance during a database outage would only add a restart to the outage.
// Load balancers ask /healthz, which is the readiness.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}
