package federation

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Register adds the federation routes to mux: discovery, actors, objects, collections, inboxes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/webfinger", s.webfinger)
	mux.HandleFunc("GET /.well-known/nodeinfo", s.nodeinfoLinks)
	mux.HandleFunc("GET /.well-known/host-meta", s.hostMeta)
	mux.HandleFunc("GET /nodeinfo/{version}", s.nodeinfo)
	mux.HandleFunc("GET /ns/v1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/ld+json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(vocab.ContextDocument())
	})

	// Actor and key documents are always served without a signature: Mastodon fetches them to
	// check signatures, and that fetch must not itself need one.
	mux.HandleFunc("GET /ap/instance", s.actorHandler(s.convert.InstanceActor))
	mux.HandleFunc("GET /ap/ortsweberei", s.actorHandler(s.convert.GroupActor))
	mux.HandleFunc("GET /ap/users/{handle}", s.actorHandler(func(ctx context.Context, r *http.Request) (*vocab.Actor, error) {
		return s.convert.UserActor(ctx, r.PathValue("handle"))
	}))
	mux.HandleFunc("GET /ap/antraege/{id}/actor", s.actorHandler(func(ctx context.Context, r *http.Request) (*vocab.Actor, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		return s.convert.AntragActor(ctx, id)
	}))

	// Inboxes: one handler for all, the shared one included.
	for _, p := range []string{iri.SharedInbox, "/ap/instance/inbox", "/ap/ortsweberei/inbox", "/ap/users/{handle}/inbox", "/ap/antraege/{id}/actor/inbox"} {
		mux.HandleFunc("POST "+p, s.inboxHandler)
	}

	// The neighbours' snapshots we mirror (snapshots.go), public like the origin's own.
	mux.HandleFunc("GET /mirrors/{host}/snapshots/{name...}", s.mirrorHandler)
	mux.HandleFunc("GET /mirrors/{host}/timeline", s.mirrorTimeline)

	s.registerContent(mux)
}

func (s *Service) actorHandler(get func(context.Context, *http.Request) (*vocab.Actor, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := get(r.Context(), r)
		if err != nil && errors.Is(iri.NotFoundOr(err), iri.ErrNotFound) {
			s.refuse(w, r, fault.NotFoundf("not_found", "No such actor."))
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeAP(w, http.StatusOK, a)
	}
}

// inboxHandler takes an activity (inbox.Handle) and answers what it refuses or fails at.
func (s *Service) inboxHandler(w http.ResponseWriter, r *http.Request) {
	err := s.inbox.Handle(w, r)
	if f, ok := err.(*fault.Error); ok {
		s.refuse(w, r, f)
	} else if err != nil {
		s.fail(w, r, err)
	}
}

// Every error answer of federation is written by respond.Error, the instance's one error
// writer, as the API's are: {"error": {"code", "message"}}. The message is fixed text for the
// code: what went wrong inside (a fetch's network error, where a redirect led) goes to the log,
// never to the requester, who could otherwise probe our network through us.

// refuse answers a request federation refuses, with the status of the refusal's kind. A 401
// names the scheme it wants (RFC 9110 §11.6.1: a 401 carries a challenge): an HTTP signature
// over the headers we check, Digest included for a body.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, f *fault.Error) {
	if f.Kind == fault.Unauthenticated {
		headers := "(request-target) host date"
		if r.Method == http.MethodPost {
			headers += " digest"
		}
		w.Header().Set("WWW-Authenticate", `Signature realm="`+s.Host()+`",headers="`+headers+`"`)
	}
	respond.Error(w, r, s.log, f)
}

// fail answers a request whose handling failed on our side, whatever err holds: an error that
// means "not now" (the database cannot be reached, the request ran out of time) is answered as
// the API answers it, 503 with Retry-After (outage.Fault): a server delivering to us keeps the
// activity and tries again later, where a 500 would say we have a bug. Anything else is a 500,
// logged here (as "federation: …"), never a refusal: a fault an owner returned deep down is no
// refusal of this request.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	if f, ok := outage.Fault(r.Context(), err); ok {
		respond.Error(w, r, s.log, f)
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error("federation: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	respond.Error(w, r, discardLog, errFailed) // logged above, with its cause
}

var (
	discardLog = slog.New(slog.DiscardHandler)
	errFailed  = errors.New("federation: request failed")
)

func writeAP(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ActivityJSON+"; charset=utf-8")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
