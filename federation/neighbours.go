package federation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// ErrNotOrtsweberei is returned when a neighbour to federate with is not a Weltgewebe Ortsweberei.
var ErrNotOrtsweberei = errors.New("federation: that is not the Ortsweberei of a Weltgewebe instance")

// Federate makes this Ortsweberei and a neighbouring one follow each other: ours follows theirs
// now, and theirs follows back when it accepts. target is the neighbour's base URL
// (https://nachbar.example), its handle (ortsweberei@nachbar.example) or its actor's URL.
func (s *Service) Federate(ctx context.Context, target string) (string, error) {
	iri, err := s.resolveTarget(ctx, target)
	if err != nil {
		return "", err
	}
	a, err := s.remoteActor(ctx, iri, true)
	if err != nil {
		return "", err
	}
	if !a.IsOrtsweberei() {
		return "", ErrNotOrtsweberei
	}
	return a.IRI, s.follow(ctx, a)
}

func (s *Service) resolveTarget(ctx context.Context, target string) (string, error) {
	target = strings.TrimSpace(strings.TrimPrefix(target, "@"))
	if u, err := url.Parse(target); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		if u.Path == "" || u.Path == "/" {
			return s.fetch.WebFinger(ctx, u.Scheme, "ortsweberei", u.Host)
		}
		return target, nil
	}
	if user, host, ok := strings.Cut(target, "@"); ok && user != "" && host != "" {
		scheme := "https"
		if s.cfg.Dev {
			scheme = "http" // local test setups run without TLS
		}
		return s.fetch.WebFinger(ctx, scheme, user, host)
	}
	return "", fmt.Errorf("federation: %q is neither a URL nor user@host", target)
}

// follow has our Ortsweberei follow a remote actor (once).
func (s *Service) follow(ctx context.Context, a *remoteActor) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.followTx(ctx, tx, a) })
}

// followTx records the follow, its event and the delivery of the Follow in tx: all three
// commit together, so a follow is never recorded without its Follow on the way, nor sent
// without being recorded.
func (s *Service) followTx(ctx context.Context, tx *database.Tx, a *remoteActor) error {
	followID := s.iri.Group() + "#follows/" + uuid.NewString()
	tag, err := tx.Exec(ctx, `INSERT INTO ap_following (remote, follow_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		a.IRI, followID, s.wall.Now())
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if err := eventstore.Append(tx, s.clock.Now(), NachbarAngefragt.New(eventstore.Header{}, NachbarV1{Neighbour: a.IRI, FollowID: followID})); err != nil {
		return err
	}
	return s.delivery.EnqueueTx(ctx, tx, iri.GroupPath, a.Inbox, vocab.Activity{Context: vocab.Context, ID: followID, Type: "Follow",
		Actor: s.iri.Group(), Object: a.IRI, To: []string{a.IRI}})
}
