package actors

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Remote is what we keep of an actor on another server.
type Remote struct {
	IRI, Host, Type, Username, Name string
	Inbox, SharedInbox              string
	KeyID, PublicKeyPem             string
	Multikeys                       []vocab.Multikey
	Ortsweberei                     string
	Verified                        bool
	FetchedAt                       time.Time
}

// IsOrtsweberei reports whether the actor is another Weltgewebe instance's Ortsweberei.
func (a *Remote) IsOrtsweberei() bool {
	return strings.Contains(" "+a.Type+" ", " Ortsweberei ") || strings.Contains(a.Type, "#Ortsweberei")
}

// deliveryInbox is where activities for this actor go: its server's shared inbox if it has one.
func (a *Remote) deliveryInbox() string {
	if a.SharedInbox != "" {
		return a.SharedInbox
	}
	return a.Inbox
}

var (
	// errNotAnActor: the document came, and it is no actor we can use (it may be a key
	// document naming its owner: lookupKey).
	errNotAnActor = errors.New("federation: not an actor")
)

// actorTTL is how long a fetched actor (and its key) is trusted before it is fetched again.
const actorTTL = 24 * time.Hour

// Remote returns the actor, from the cache unless it is stale or refresh is asked for.
func (s *Service) Remote(ctx context.Context, actorIRI string, refresh bool) (*Remote, error) {
	if err := s.blocks.Check(ctx, iri.HostOf(actorIRI)); err != nil {
		return nil, err
	}
	if !refresh {
		a, err := s.cachedActor(ctx, actorIRI)
		if err == nil && s.wall.Now().Sub(a.FetchedAt) < actorTTL {
			return a, nil
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			// Whether we have it could not be found out: fetching it instead would blame the
			// other server for what happens next (the request's time running out, say).
			return nil, fmt.Errorf("federation: stored actor %s: %w", actorIRI, err)
		}
	}
	body, err := s.fetch.Get(ctx, actorIRI)
	if err != nil {
		return nil, err
	}
	doc, err := vocab.DecodeActor(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errNotAnActor, actorIRI, err)
	}
	if doc.ID != actorIRI && iri.HostOf(doc.ID) != iri.HostOf(actorIRI) {
		return nil, fetch.ErrWrongOrigin
	}
	a := &Remote{IRI: doc.ID, Host: iri.HostOf(doc.ID), Type: strings.Join(doc.Type, " "), Username: doc.PreferredUsername, Name: doc.Name,
		Inbox: doc.Inbox, SharedInbox: doc.SharedInbox(), Multikeys: doc.AssertionMethod, Ortsweberei: doc.Ortsweberei,
		Verified: doc.Verified != nil && *doc.Verified, FetchedAt: s.wall.Now()}
	if k, ok := doc.Key(); ok {
		a.KeyID, a.PublicKeyPem = k.ID, k.PublicKeyPem
	}
	if a.Inbox == "" || iri.HostOf(a.Inbox) != a.Host {
		return nil, fmt.Errorf("%w: %s has no inbox on its own host", errNotAnActor, actorIRI)
	}
	mk, _ := json.Marshal(a.Multikeys)
	_, err = s.pool.Exec(ctx, `
INSERT INTO ap_actors (iri, host, type, preferred_username, name, inbox, shared_inbox, key_id, public_key_pem, multikeys, ortsweberei, verified, fetched_at)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), nullif($8, ''), nullif($9, ''), $10, nullif($11, ''), $12, $13)
ON CONFLICT (iri) DO UPDATE SET host = excluded.host, type = excluded.type, preferred_username = excluded.preferred_username,
    name = excluded.name, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, key_id = excluded.key_id,
    public_key_pem = excluded.public_key_pem, multikeys = excluded.multikeys, ortsweberei = excluded.ortsweberei,
    verified = excluded.verified, fetched_at = excluded.fetched_at`,
		a.IRI, a.Host, a.Type, a.Username, a.Name, a.Inbox, a.SharedInbox, a.KeyID, a.PublicKeyPem, mk, a.Ortsweberei, a.Verified, a.FetchedAt)
	if err != nil {
		return nil, fmt.Errorf("federation: store actor: %w", err)
	}
	return a, nil
}

func (s *Service) cachedActor(ctx context.Context, actorIRI string) (*Remote, error) {
	var a Remote
	var shared, keyID, pemText, ortsweberei *string
	var mk []byte
	err := s.pool.QueryRow(ctx, `
SELECT iri, host, type, preferred_username, name, inbox, shared_inbox, key_id, public_key_pem, multikeys, ortsweberei, verified, fetched_at
FROM ap_actors WHERE iri = $1`, actorIRI).Scan(&a.IRI, &a.Host, &a.Type, &a.Username, &a.Name, &a.Inbox, &shared, &keyID, &pemText, &mk, &ortsweberei, &a.Verified, &a.FetchedAt)
	if err != nil {
		return nil, err
	}
	a.SharedInbox, a.KeyID, a.PublicKeyPem, a.Ortsweberei = deref(shared), deref(keyID), deref(pemText), deref(ortsweberei)
	_ = json.Unmarshal(mk, &a.Multikeys)
	return &a, nil
}

// resolveKey is the key resolver of incoming signatures: the key's document (the actor, or a
// key document naming its owner), cached in memory and with the actor, and fetched again when
// refresh is asked.
//
// A refresh fetches at most once per key id per refetchEvery; a refresh asked for sooner is
// answered with the key we have (httpsig.Verify then does not retry), so a stream of bad
// signatures naming one key costs one fetch a minute, not one each.
func (s *Service) resolveKey(ctx context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	if refresh && !s.pubkeys.mayRefetch(keyID) {
		refresh = false
	}
	if refresh {
		s.pubkeys.drop(keyID)
	} else if k, ok := s.pubkeys.get(keyID); ok {
		if err := s.blocks.Check(ctx, k.host); err != nil {
			return nil, "", err
		}
		return k.pub, k.owner, nil
	}
	pub, owner, err := s.lookupKey(ctx, keyID, refresh)
	if err != nil {
		return nil, "", err
	}
	s.pubkeys.put(keyID, cachedKey{pub: pub, owner: owner, host: iri.NormalHost(iri.HostOf(owner))})
	return pub, owner, nil
}

func parsePublicKey(text string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("federation: public key is not PEM")
	}
	if pub, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return pub, nil
	}
	return x509.ParsePKCS1PublicKey(block.Bytes)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
