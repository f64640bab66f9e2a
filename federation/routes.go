package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/inbox"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
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
		mux.HandleFunc("POST "+p, s.inbox.Handle)
	}

	s.registerContent(mux)
}

func (s *Service) actorHandler(get func(context.Context, *http.Request) (*vocab.Actor, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := get(r.Context(), r)
		if err != nil && errors.Is(iri.NotFoundOr(err), iri.ErrNotFound) {
			inbox.WriteError(w, http.StatusNotFound, "not_found", "No such actor.")
			return
		}
		if err != nil {
			inbox.ServerError(s.log, w, r, err)
			return
		}
		writeAP(w, http.StatusOK, a)
	}
}

func writeAP(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ActivityJSON+"; charset=utf-8")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
