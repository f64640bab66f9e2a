package actors

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
)

// PathFor maps a local actor IRI to its path, checking it exists: iri.ErrNotFound when it does
// not, another error when that could not be found out.
func (s *Service) PathFor(ctx context.Context, actorIRI string) (path, followKey string, err error) {
	p, ok := s.iri.Local(actorIRI)
	if !ok {
		return "", "", iri.ErrNotFound
	}
	switch {
	case p == iri.GroupPath:
		return p, "ortsweberei", nil
	case p == iri.InstancePath:
		return p, "instance", nil
	case strings.HasPrefix(p, "/ap/users/"):
		if _, err := s.accounts.GetByHandle(ctx, strings.TrimPrefix(p, "/ap/users/")); err != nil {
			return "", "", iri.NotFoundOr(err)
		}
		return p, iri.UserFollowKey(p), nil
	case strings.HasPrefix(p, "/ap/antraege/") && strings.HasSuffix(p, "/actor"):
		id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(p, "/ap/antraege/"), "/actor"))
		if err != nil {
			return "", "", iri.ErrNotFound
		}
		if _, err := s.antraege.Get(ctx, id); err != nil {
			return "", "", iri.NotFoundOr(err)
		}
		return p, "antrag:" + id.String(), nil
	}
	return "", "", iri.ErrNotFound
}

// ForUsername finds the local actor a WebFinger name stands for: "" when there is none,
// an error when that could not be found out.
func (s *Service) ForUsername(ctx context.Context, user string) (string, error) {
	switch u := strings.ToLower(user); {
	case u == "ortsweberei":
		return s.iri.Group(), nil
	case u == "instance":
		return s.iri.Of(iri.InstancePath), nil
	case strings.HasPrefix(u, "antrag-"):
		id, err := uuid.Parse(strings.TrimPrefix(u, "antrag-"))
		if err != nil {
			return "", nil
		}
		if _, err := s.antraege.Get(ctx, id); err != nil {
			return "", ignoreNotFound(err)
		}
		return s.iri.AntragActor(id), nil
	default:
		acc, err := s.accounts.GetByHandle(ctx, user)
		if err == nil {
			return s.iri.User(acc.Handle), nil
		}
		if err := ignoreNotFound(err); err != nil {
			return "", err
		}
		// The host itself names the instance actor too (Mastodon's own instance actor is
		// host@host), unless a resident's handle came out as the host: handles are made
		// without knowing it, and the instance actor stays instance@host.
		if u == strings.ToLower(s.iri.Host()) {
			return s.iri.Of(iri.InstancePath), nil
		}
		return "", nil
	}
}

// ignoreNotFound is nil for an error that says the thing does not exist, and err for any other.
func ignoreNotFound(err error) error {
	if err = iri.NotFoundOr(err); errors.Is(err, iri.ErrNotFound) {
		return nil
	}
	return err
}

// UsernameOf is the preferredUsername of a local actor, by its IRI: "" when it has none.
func (s *Service) UsernameOf(ctx context.Context, actorIRI string) (string, error) {
	p, _ := s.iri.Local(actorIRI)
	switch {
	case p == iri.GroupPath:
		return "ortsweberei", nil
	case p == iri.InstancePath:
		return "instance", nil
	case strings.HasPrefix(p, "/ap/users/"):
		acc, err := s.accounts.GetByHandle(ctx, strings.TrimPrefix(p, "/ap/users/"))
		if err != nil {
			return "", ignoreNotFound(err)
		}
		return acc.Handle, nil
	case strings.HasSuffix(p, "/actor"):
		return "antrag-" + strings.TrimSuffix(strings.TrimPrefix(p, "/ap/antraege/"), "/actor"), nil
	}
	return "", nil
}
