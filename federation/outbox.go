package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// outboxScope says which public events make an actor's outbox: everything for the Ortsweberei,
// what a resident did for a resident, what happened to an Antrag (and its Abstimmung) for the
// Antrag's actor.
func (s *Service) outboxScope(ctx context.Context, r *http.Request) (eventstore.Scope, string, error) {
	p := strings.TrimSuffix(r.URL.Path, "/outbox")
	switch {
	case p == iri.GroupPath:
		return eventstore.Scope{}, p, nil
	case p == iri.InstancePath:
		return eventstore.Scope{None: true}, p, nil
	case strings.HasPrefix(p, "/ap/users/"):
		acc, err := s.svc.Accounts.GetByHandle(ctx, r.PathValue("handle"))
		if err != nil {
			return eventstore.Scope{}, "", iri.NotFoundOr(err)
		}
		return eventstore.Scope{Actor: acc.ID}, p, nil
	default:
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return eventstore.Scope{}, "", iri.ErrNotFound
		}
		a, err := s.svc.Antraege.Get(ctx, id)
		if err != nil {
			return eventstore.Scope{}, "", iri.NotFoundOr(err)
		}
		subjects := []uuid.UUID{id}
		if a.AbstimmungID != nil {
			subjects = append(subjects, *a.AbstimmungID)
		}
		return eventstore.Scope{Subjects: subjects}, p, nil
	}
}

const outboxPageSize = 20

func (s *Service) outbox(r *http.Request) (any, error) {
	ctx := r.Context()
	scope, path, err := s.outboxScope(ctx, r)
	if err != nil {
		return nil, err
	}
	// The count and the pages read the same events: those with a form, less what is hidden.
	if scope, err = s.convert.Hidden(ctx, scope); err != nil {
		return nil, err
	}
	id := s.iri.Of(path + "/outbox")
	q := r.URL.Query()
	if q.Get("page") == "" && q.Get("before") == "" {
		total, err := s.svc.Events.CountPublic(ctx, scope)
		if err != nil {
			return nil, err
		}
		return &vocab.OrderedCollection{Context: vocab.Context, ID: id, Type: "OrderedCollection", TotalItems: &total, First: id + "?page=true"}, nil
	}
	before := eventstore.Position{}
	if b := q.Get("before"); b != "" {
		if before, err = eventstore.ParsePosition(b); err != nil {
			return nil, iri.ErrNotFound
		}
	}
	evs, err := s.svc.Events.PublicBefore(ctx, scope, before, outboxPageSize)
	if err != nil {
		return nil, err
	}
	page := &vocab.OrderedCollectionPage{Context: vocab.Context, ID: id + "?" + q.Encode(), Type: "OrderedCollectionPage",
		PartOf: id, OrderedItems: []json.RawMessage{}}
	h := s.convert.Handles()
	for _, e := range evs {
		act, err := s.convert.ActivityFor(ctx, h, e)
		if errors.Is(err, iri.ErrNotFound) || errors.Is(err, iri.ErrGone) {
			continue // no ActivityStreams form, or hidden by moderation
		}
		if err != nil {
			return nil, fmt.Errorf("federation: outbox item %v: %w", e.Position, err)
		}
		b, err := json.Marshal(act)
		if err != nil {
			return nil, err
		}
		page.OrderedItems = append(page.OrderedItems, b)
	}
	if len(evs) == outboxPageSize {
		page.Next = id + "?before=" + evs[len(evs)-1].Position.String()
	}
	return page, nil
}

func (s *Service) followers(r *http.Request) (any, error) {
	p := strings.TrimSuffix(r.URL.Path, "/followers")
	_, key, err := s.actors.PathFor(r.Context(), s.iri.Of(p))
	if err != nil {
		return nil, err
	}
	n, err := s.actors.CountFollowers(r.Context(), key)
	if err != nil {
		return nil, err
	}
	// Only the number: who follows whom from the Fediverse is theirs to show.
	return &vocab.OrderedCollection{Context: vocab.Context, ID: s.iri.Of(p + "/followers"), Type: "OrderedCollection", TotalItems: &n}, nil
}

func (s *Service) following(r *http.Request) (any, error) {
	p := strings.TrimSuffix(r.URL.Path, "/following")
	var n int
	if p == iri.GroupPath {
		var err error
		if n, err = s.actors.CountFollowing(r.Context()); err != nil {
			return nil, err
		}
	}
	return &vocab.OrderedCollection{Context: vocab.Context, ID: s.iri.Of(p + "/following"), Type: "OrderedCollection", TotalItems: &n}, nil
}
