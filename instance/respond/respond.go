// Package respond writes the instance's HTTP answers: JSON, and every error as
// {"error":{"code":…,"message":…}} through one function (Error), which maps a fault.Kind to its
// status. It lives apart from httpapi so that every HTTP edge of the instance, the API's and
// ActivityPub's, can answer errors alike without importing each other.
package respond

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/outage"
)

// JSON answers with status and v as JSON. Nothing the API serves is for caches to keep: it is
// per person, or changes with the next event.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// JSONBytes answers with status and b, a JSON document the caller encoded itself (as JSON
// would: compact, a newline at the end), with JSON's headers.
func JSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ErrorBody is the one shape of every error answer: {"error":{"code":…,"message":…}}, so a
// client reads the code without knowing which route refused it.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error itself: a machine-readable code, a message a client may show or
// translate, and the request field at fault, when there is one.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf is the status for each fault.Kind; a Kind missing here answers 400.
var statusOf = map[fault.Kind]int{
	fault.Invalid:         http.StatusUnprocessableEntity,
	fault.Malformed:       http.StatusBadRequest,
	fault.TooLarge:        http.StatusRequestEntityTooLarge,
	fault.Unauthenticated: http.StatusUnauthorized,
	fault.Forbidden:       http.StatusForbidden,
	fault.NotFound:        http.StatusNotFound,
	fault.Gone:            http.StatusGone,
	fault.Conflict:        http.StatusConflict,
	fault.Unsupported:     http.StatusUnsupportedMediaType,
	fault.RateLimited:     http.StatusTooManyRequests,
	fault.Unavailable:     http.StatusServiceUnavailable,
}

// Error answers with the client-facing part of err; an error that means the request
// cannot be served now (the database is unreachable, the request ran out of time) with a 503
// (outage); and anything else with a bare 500.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	f, ok := fault.As(err)
	if !ok {
		f, ok = outage.Fault(r.Context(), err)
	}
	if ok {
		status := statusOf[f.Kind]
		if status == 0 {
			status = http.StatusBadRequest
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(f.RetryAfter)))
		}
		JSON(w, status, ErrorBody{ErrorDetail{Code: f.Code, Message: f.Message, Field: f.Field}})
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	JSON(w, http.StatusInternalServerError, ErrorBody{ErrorDetail{Code: "internal", Message: "Something went wrong on our side; it has been logged."}})
}

// RetryAfterSeconds rounds up: a client that waits the whole seconds it is told finds the limit
// lifted.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
