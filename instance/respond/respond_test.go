package respond_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

type answer struct {
	status                 int
	contentType, cache, ra string
	code, message, field   string
	empty                  bool
}

func serve(t *testing.T, r *http.Request, log *slog.Logger, err error) answer {
	t.Helper()
	w := httptest.NewRecorder()
	respond.Error(w, r, log, err)
	a := answer{status: w.Code, contentType: w.Header().Get("Content-Type"), cache: w.Header().Get("Cache-Control"),
		ra: w.Header().Get("Retry-After"), empty: w.Body.Len() == 0}
	if !a.empty {
		var body struct {
			Error struct{ Code, Message, Field string }
		}
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("body %q: %v", w.Body.String(), err)
		}
		a.code, a.message, a.field = body.Error.Code, body.Error.Message, body.Error.Field
	}
	return a
}

// A client learns what went wrong from the status and the code alone, whichever handler refused:
// every kind has its status, a wait is said in whole seconds rounded up, and what is not a fault
// of the request is a 503 (not now) or a 500 (our bug) whose details stay in our log.
func TestError(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	get := httptest.NewRequest(http.MethodGet, "/api/x", nil)
	for kind, want := range map[fault.Kind]int{
		fault.Invalid: 422, fault.Malformed: 400, fault.TooLarge: 413, fault.Unauthenticated: 401,
		fault.Forbidden: 403, fault.NotFound: 404, fault.Gone: 410, fault.Conflict: 409,
		fault.Unsupported: 415, fault.RateLimited: 429, fault.Unavailable: 503, fault.Kind(99): 400,
	} {
		err := fmt.Errorf("wrapped: %w", &fault.Error{Kind: kind, Code: "some_code", Message: "Some message.", Field: "name"})
		got := serve(t, get, quiet, err)
		if got != (answer{status: want, contentType: "application/json; charset=utf-8", cache: "no-store",
			code: "some_code", message: "Some message.", field: "name"}) {
			t.Errorf("kind %d: %+v, want status %d", kind, got, want)
		}
	}

	limited := &fault.Error{Kind: fault.RateLimited, Code: "rate_limited", Message: "Slow down.", RetryAfter: 1001 * time.Millisecond}
	if got := serve(t, get, quiet, limited); got.status != 429 || got.ra != "2" {
		t.Errorf("rate limited: %+v, want 429 with Retry-After 2", got)
	}

	down := fmt.Errorf("load: %w", &pgconn.ConnectError{})
	if got := serve(t, get, quiet, down); got.status != 503 || got.code != "database_unavailable" || got.ra != "5" {
		t.Errorf("database unreachable: %+v, want 503 database_unavailable with Retry-After 5", got)
	}

	ctx, cancel := outage.WithDeadline(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if got := serve(t, get.WithContext(ctx), quiet, ctx.Err()); got.status != 503 || got.code != "request_timeout" || got.ra != "5" {
		t.Errorf("past the deadline: %+v, want 503 request_timeout with Retry-After 5", got)
	}

	var logged bytes.Buffer
	secret := errors.New("pq: relation secret_table does not exist")
	got := serve(t, get, slog.New(slog.NewTextHandler(&logged, nil)), secret)
	if got.status != 500 || got.code != "internal" || bytes.Contains([]byte(got.message), []byte("secret_table")) {
		t.Errorf("our failure: %+v, want a bare 500", got)
	}
	if !bytes.Contains(logged.Bytes(), []byte("secret_table")) {
		t.Errorf("our failure was not logged: %q", logged.String())
	}

	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if got := serve(t, get.WithContext(gone), quiet, secret); !got.empty || got.status != 200 {
		t.Errorf("client gone: %+v, want nothing written", got)
	}
}
