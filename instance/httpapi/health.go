package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// Health tells GET /readyz what the database alone cannot: whether this replica is shutting
// down, and how the backup's WAL stream is.
type Health struct {
	// Draining reports that the process is shutting down (SIGTERM): /readyz answers 503
	// "draining" from that moment on, before the listener closes. nil: never.
	Draining func() bool
	// WALStream is the state of the backup's synchronous WAL stream (docs/OPERATIONS.md,
	// "Backup and restore"): WALStreamOK, WALStreamDown (commits wait for it: not ready) or
	// WALStreamOff. nil: off.
	WALStream func(ctx context.Context) string
}

// The WAL stream's states in /readyz.
const (
	WALStreamOK   = "ok"
	WALStreamDown = "down"
	WALStreamOff  = "off"
)

// Readiness is GET /readyz's answer.
type Readiness struct {
	Status     string `json:"status"`     // ready, not_ready or draining
	Database   string `json:"database"`   // ok or unreachable
	Migrations string `json:"migrations"` // current, behind or ahead; unknown while the database is unreachable
	WALStream  string `json:"wal_stream"` // ok, down or off
}

// livez (also GET /healthz) answers 200 while the process serves, whatever the database does:
// a liveness probe that restarted the instance during a database outage would only add a
// restart to the outage. Load balancers and orchestrators ask /readyz whether to send
// requests here.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	respond.JSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// readyz says whether this replica should be sent requests: 200 only when its database answers,
// the schema is the one this binary knows, the WAL stream (when the backup has one) runs and the
// process is not shutting down; 503 with the same JSON otherwise, so that a look at the body
// says why.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready := Readiness{Status: "ready", Database: "ok", Migrations: "unknown", WALStream: WALStreamOff}
	if s.Health.Draining != nil && s.Health.Draining() {
		// Asked no further: a draining replica is out, whatever its database says, and the
		// answer must not wait for a database that may be going away too.
		ready.Status, ready.Database = "draining", "unknown"
		respond.JSON(w, http.StatusServiceUnavailable, ready)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if m, err := database.MigrationState(ctx, s.Pool); err != nil {
		ready.Status, ready.Database = "not_ready", "unreachable"
	} else if ready.Migrations = m; m != database.MigrationsCurrent {
		ready.Status = "not_ready"
	}
	if s.Health.WALStream != nil {
		if ready.WALStream = s.Health.WALStream(ctx); ready.WALStream == WALStreamDown {
			ready.Status = "not_ready"
		}
	}
	if ready.Status != "ready" {
		if ready.Database == "unreachable" {
			w.Header().Set("Retry-After", strconv.Itoa(respond.RetryAfterSeconds(outage.RetryAfter)))
		}
		respond.JSON(w, http.StatusServiceUnavailable, ready)
		return
	}
	respond.JSON(w, http.StatusOK, ready)
}
