// Package httpapi is the instance's HTTP API. Handlers only decode the request, call the
// domain package that decides, and encode the answer; every error goes out as
// {"error":{"code":…,"message":…}} through one function (respond.Error).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/adressen"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/chat"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/drill"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/stream"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
)

// Deps are the services the API calls.
type Deps struct {
	Pool         *pgxpool.Pool
	Accounts     *account.Service
	Knoten       *knoten.Service
	Ortsweberei  *ortsweberei.Service
	Adressen     *adressen.Service
	Antraege     *antrag.Service
	Abstimmungen *abstimmung.Service
	Delegations  *delegation.Service
	Federation   Fediverse // nil: the instance does not federate
	// Nachbarn lists and shows our neighbours' Anträge beside ours (nil: ours only).
	Nachbarn *nachbarn.Service
	Chat     *chat.Service
	// Konto is the Ortskonto: donations, the balance, the journal (nil: no routes).
	Konto *ortskonto.Service
	// Bank configures the treasurer's CAMT import and journal exports (bank.go).
	Bank Bank
	// Snapshots are served read-only under /snapshots/ (snapshots.go; nil: no routes).
	Snapshots *snapshot.Service
	// MapFeed serves the WebSocket /ws/map; ChatHub the chat rooms' /ws/chat and
	// /ws/streams/{id}/chat.
	MapFeed *mapfeed.Feed
	ChatHub *chat.Hub
	// Timeline answers GET /api/timeline (nil: 404 timeline_off).
	Timeline *timeline.Service
	// Moderation: reports, the queue, actions, the public log, appeals, address blocks
	// (moderation.go; nil: no routes).
	Moderation *moderation.Service
	Log        *slog.Logger
	// SecureCookies marks the session cookie Secure even on plain-HTTP requests (the instance
	// sits behind a TLS-terminating proxy). Requests that arrive over TLS, or with
	// X-Forwarded-Proto: https, get Secure cookies regardless.
	SecureCookies bool
	// RateLimits of logins, registrations and writes (ratelimit.go).
	RateLimits RateLimits
	// Limits, when set, are the limiter to use (shared with the federation's inboxes); nil: one
	// made from RateLimits.
	Limits *Limiter
	// IPBlocks are the admins' address blocks (moderation): writes and registrations from a
	// blocked address are refused with 403 ip_blocked. nil: none.
	IPBlocks moderation.IPBlocks
	// Captcha guards registration and logins after failures, as its options say (captcha.go);
	// nil: neither takes a captcha.
	Captcha *captcha.Service
	// Dev, when set, adds the dev-only routes (the movable clock).
	Dev *DevDeps
	// Web serves everything outside /api/ (the web app).
	Web http.Handler
	// PublicURL is where residents reach the instance; its origin may send writes (see guard).
	PublicURL string
	// RequestTimeout bounds each request's work (default DefaultRequestTimeout; negative: none).
	RequestTimeout time.Duration

	// Backup reads the backups' status for admins (GET /api/admin/backup; nil: no route).
	Backup func(context.Context) (backup.Report, error)

	// Wortfilter is the word list admins edit (nil: no routes).
	Wortfilter *wortfilter.Service

	// Streams are the Partizipartei's livestreams (streams.go; nil: no routes).
	Streams *stream.Service
	// RTMPSecret is the secret nginx-rtmp's callbacks carry (docs/STREAMS.md); empty: every
	// broadcast is refused.
	RTMPSecret string
	// Drills are the restore drills' reports in the backup repository (drills.go; nil: no
	// routes), published at /api/betrieb/drills.
	Drills *drill.Reports

	// HLSDir, when set, is the HLS directory of the ingest this instance runs itself (serve
	// --ingest): served at /hls/ (hls.go). Empty: nginx in front serves /hls/.
	HLSDir string
}

// DevDeps are what the dev routes need.
type DevDeps struct {
	Clock  *clock.Dev
	RunDue func(context.Context) error
}

// Server is the API's http.Handler.
type Server struct {
	Deps
	mux    *routeMux
	limits *Limiter
	// refusedIngest throttles the warnings about refused broadcasts (streams.go).
	refusedIngest throttledLog
	handler       http.Handler // mux behind the limits by address, behind the guard
}

// New returns the API handler.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{Deps: d, mux: &routeMux{ServeMux: http.NewServeMux()}, limits: d.Limits}
	if s.limits == nil {
		s.limits = newLimiter(d.RateLimits)
	}
	s.routes()
	s.handler = s.guard(s.limitByIP(s.mux))
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /livez", s.livez)

	s.handle("GET /api/captcha", s.getCaptcha)
	s.handle("POST /api/auth/register", s.register)
	s.handle("POST /api/auth/login", s.login)
	s.handle("POST /api/auth/logout", s.logout)
	s.handle("GET /api/me", s.authed(s.me))
	s.handle("GET /api/session", s.session)
	s.handle("PATCH /api/me", s.authed(s.updateMe))
	s.handle("GET /api/accounts/{id}", s.profile)
	s.handle("GET /api/admin/accounts", s.authed(s.listResidents))
	if s.Backup != nil {
		s.handle("GET /api/admin/backup", s.authed(s.backupStatus))
	}
	s.handle("POST /api/admin/accounts/{id}/verify", s.authed(s.verify))
	s.handle("PUT /api/admin/accounts/{id}/roles/{role}", s.authed(s.grantRole))
	s.handle("DELETE /api/admin/accounts/{id}/roles/{role}", s.authed(s.revokeRole))

	s.handle("GET /api/ortsweberei", s.getOrtsweberei)
	s.handle("PUT /api/admin/ortsweberei", s.authed(s.setOrtsweberei))
	s.handle("GET /api/adressen", s.searchAdressen)

	s.handle("POST /api/knoten", s.authed(s.placeKnoten))
	s.handle("GET /api/knoten", s.listKnoten)
	s.handle("GET /api/knoten/{id}", s.getKnoten)
	s.handle("GET /api/knoten/{id}/faeden", s.listFaeden)
	s.handle("GET /api/timeline", s.getTimeline)
	s.handle("POST /api/faeden", s.authed(s.spinFaden))
	s.handle("POST /api/faeden/{id}/twist", s.authed(s.twistFaden))
	s.handle("POST /api/faeden/{id}/untwist", s.authed(s.untwistFaden))

	s.handle("POST /api/antraege", s.authed(s.fileAntrag))
	s.handle("GET /api/antraege", s.listAntraege)
	s.handle("GET /api/antraege/{id}", s.getAntrag)
	s.handle("POST /api/antraege/{id}/einspruch", s.authed(s.objectAntrag))
	s.handle("POST /api/antraege/{id}/withdraw", s.authed(s.withdrawAntrag))
	if s.Konto != nil {
		s.handle("POST /api/auszahlungen/{id}/status", s.authed(s.auszahlungStatus))
	}
	s.handle("GET /api/abstimmungen/{id}", s.getAbstimmung)
	s.handle("POST /api/abstimmungen/{id}/vote", s.authed(s.vote))
	s.handle("POST /api/delegationen", s.authed(s.requestDelegation))
	s.handle("GET /api/delegationen", s.listDelegationen)
	s.handle("GET /api/delegationen/effective", s.effectiveDelegationen)
	s.handle("GET /api/delegationen/{id}", s.getDelegation)
	s.handle("DELETE /api/delegationen/{id}", s.authed(s.revokeDelegation))

	if s.Konto != nil {
		s.handle("GET /api/konto", s.getKonto)
		s.handle("GET /api/konto/journal", s.getJournal)
		s.handle("PUT /api/admin/konto", s.authed(s.setKonto))
		s.handle("POST /api/spenden", s.authed(s.donate))
		s.handle("GET /api/spenden", s.authed(s.listSpenden))
		s.handle("GET /api/me/spenden", s.authed(s.mySpenden))
		s.handle("GET /api/spenden/{id}", s.authed(s.getSpende))
		s.handle("POST /api/spenden/{id}/status", s.authed(s.transitionSpende))
	}

	if s.MapFeed != nil {
		s.handle("GET /api/map/cells", s.mapCells)
		s.mux.Handle("GET /ws/map", s.MapFeed)
	}
	if s.Chat != nil {
		s.handle("GET /api/chat", s.listChat)
		s.handle("POST /api/chat", s.authed(s.writeChat))
		s.handle("DELETE /api/admin/chat/{id}", s.authed(s.removeChat))
		if s.Streams != nil {
			s.handle("GET /api/streams/{id}/chat", s.listChat)
			s.handle("POST /api/streams/{id}/chat", s.authed(s.writeChat))
			s.handle("PUT /api/streams/{id}/chat/{message}/vote", s.authed(s.voteChat))
		}
	}
	if s.ChatHub != nil {
		s.handle("GET /ws/chat", s.chatSocket)
		if s.Streams != nil {
			s.handle("GET /ws/streams/{id}/chat", s.chatSocket)
		}
	}

	s.bankRoutes()
	s.snapshotRoutes()
	s.drillRoutes()
	if s.Wortfilter != nil {
		s.handle("GET /api/admin/wortfilter", s.authed(s.getWortfilter))
		s.handle("PUT /api/admin/wortfilter", s.authed(s.setWortfilter))
	}
	s.moderationRoutes()
	s.streamRoutes()
	if s.HLSDir != "" {
		s.mux.Handle("/hls/", getOnly(http.HandlerFunc(s.hls)))
	}

	if s.Dev != nil {
		s.handle("GET /api/dev/clock", s.getClock)
		s.handle("POST /api/dev/clock", s.advanceClock)
	}
	s.handle("POST /api/admin/federation/neighbours", s.authed(s.federate))
	s.handle("GET /api/admin/federation/blocks", s.authed(s.listBlocks))
	s.handle("POST /api/admin/federation/blocks", s.authed(s.block))
	s.handle("DELETE /api/admin/federation/blocks/{domain}", s.authed(s.unblock))
	if s.Federation != nil {
		s.Federation.Register(s.mux.ServeMux)
	}

	s.mux.HandleFunc("/api/", s.noRoute) // the API answers in JSON even where it has no route
	if s.Web != nil {
		s.mux.Handle("/", getOnly(s.Web))
	}
}

type handlerFunc func(http.ResponseWriter, *http.Request) error

func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			respond.Error(w, r, s.Log, err)
		}
	}))
}

// ServeHTTP answers the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r, cancel := s.withDeadline(r)
	defer cancel()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			s.Log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", p)
			if rec.status == 0 {
				respond.JSON(rec, http.StatusInternalServerError, respond.ErrorBody{Error: respond.ErrorDetail{Code: "internal", Message: "Something went wrong on our side; it has been logged."}})
			}
		}
		if s.Log.Enabled(r.Context(), slog.LevelDebug) { // the arguments cost allocations on every request
			s.Log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start))
		}
	}()
	s.handler.ServeHTTP(rec, r)
}

// noRoute tells a 404 from a 405 the way the mux would, but in JSON.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != "/api/" && m != r.Method {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		respond.JSON(w, http.StatusMethodNotAllowed, respond.ErrorBody{Error: respond.ErrorDetail{Code: "method_not_allowed",
			Message: "This path does not take " + r.Method + "; it takes " + strings.Join(allowed, ", ") + "."}})
		return
	}
	respond.JSON(w, http.StatusNotFound, respond.ErrorBody{Error: respond.ErrorDetail{Code: "no_such_route", Message: "There is no API route " + r.URL.Path + "."}})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Pool.Ping(ctx); err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(respond.RetryAfterSeconds(outage.RetryAfter)))
		respond.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
		return
	}
	respond.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// pathID reads the {id} path segment. A malformed id cannot name anything: notFound.
func pathID(r *http.Request, notFound error) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, notFound
	}
	return id, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing, hijacking for
// WebSockets).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}
