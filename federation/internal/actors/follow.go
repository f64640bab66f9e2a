package actors

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	a, err := s.Remote(ctx, iri, true)
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
		if s.dev {
			scheme = "http" // local test setups run without TLS
		}
		return s.fetch.WebFinger(ctx, scheme, user, host)
	}
	return "", fmt.Errorf("federation: %q is neither a URL nor user@host", target)
}

// follow has our Ortsweberei follow a remote actor (once).
func (s *Service) follow(ctx context.Context, a *Remote) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.FollowTx(ctx, tx, a) })
}

// FollowTx records the follow, its event and the delivery of the Follow in tx: all three
// commit together, so a follow is never recorded without its Follow on the way, nor sent
// without being recorded.
func (s *Service) FollowTx(ctx context.Context, tx *database.Tx, a *Remote) error {
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

// FollowsNeighbour reports whether the Group is a neighbour we follow. When the database cannot
// say, it returns why: the activity is tried again, not dropped as if from a stranger.
func (s *Service) FollowsNeighbour(ctx context.Context, group string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM ap_following WHERE remote = $1)`, group).Scan(&ok); err != nil {
		return false, fmt.Errorf("federation: whether we follow %s: %w", group, err)
	}
	return ok, nil
}

// AddFollowerTx records in tx that follower follows the local actor at path (whose follow key
// is key) by the Follow followID, with its event.
func (s *Service) AddFollowerTx(ctx context.Context, tx *database.Tx, path, key string, follower *Remote, followID string) error {
	tx.Defer(`
INSERT INTO ap_followers (local, follower, follow_id, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (local, follower) DO UPDATE SET follow_id = excluded.follow_id`, key, follower.IRI, followID, s.wall.Now())
	return eventstore.Append(tx, s.clock.Now(), FolgerHinzugefuegt.New(eventstore.Header{},
		FolgerV1{Local: s.iri.Of(path), Follower: follower.IRI}))
}

// RemoveFollower ends follower's follow of the local actor local (follow key key), with its
// event; nothing when there was none.
func (s *Service) RemoveFollower(ctx context.Context, key, local, follower string) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM ap_followers WHERE local = $1 AND follower = $2`, key, follower)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return eventstore.Append(tx, s.clock.Now(), FolgerEntfernt.New(eventstore.Header{},
			FolgerV1{Local: local, Follower: follower}))
	})
}

// Accept marks our follow followID of remote accepted. Only the followed actor accepts: the
// follow is looked up by the accepting actor and our Follow's id together, so an Accept from
// one server cannot accept a follow we sent to another.
func (s *Service) Accept(ctx context.Context, remote, followID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE ap_following SET accepted = true WHERE remote = $1 AND follow_id = $2`, remote, followID)
	return err
}

// CountFollowers is the number of followers of the local actor whose follow key is key.
func (s *Service) CountFollowers(ctx context.Context, key string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ap_followers WHERE local = $1`, key).Scan(&n)
	return n, err
}

// CountFollowing is the number of actors the Ortsweberei follows.
func (s *Service) CountFollowing(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ap_following`).Scan(&n)
	return n, err
}

// Follower is one follower of a local actor, as the delivery chooses its inboxes.
type Follower struct {
	Local string // whom it follows: "ortsweberei", "antrag:<id>", a resident's key
	Inbox string // where its activities go (its server's shared inbox if it has one)
	Actor Remote
}

// FollowersTx lists, in tx, the followers of the local actors whose follow keys are locals,
// ordered by inbox.
func (s *Service) FollowersTx(ctx context.Context, tx pgx.Tx, locals []string) ([]Follower, error) {
	rows, err := tx.Query(ctx, `
SELECT f.local, coalesce(a.shared_inbox, a.inbox), a.type
FROM ap_followers f JOIN ap_actors a ON a.iri = f.follower
WHERE f.local = ANY($1)
ORDER BY 2`, locals)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Follower, error) {
		var f Follower
		return f, r.Scan(&f.Local, &f.Inbox, &f.Actor.Type)
	})
}

// Neighbours lists the Ortswebereien we follow whose follow they accepted.
func (s *Service) Neighbours(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
SELECT f.remote FROM ap_following f JOIN ap_actors a ON a.iri = f.remote
WHERE f.accepted AND ((' ' || a.type || ' ') LIKE '% Ortsweberei %' OR a.type LIKE '%#Ortsweberei%') ORDER BY f.remote`)
	if err != nil {
		return nil, fmt.Errorf("federation: neighbours: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
