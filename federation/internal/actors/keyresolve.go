package actors

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
)

// lookupKey finds the key keyID names and the actor that owns it, however the sender's server
// publishes keys:
//
//   - Mastodon and Weltgewebe: keyID is actor#main-key, and the actor document holds the key;
//   - GoToSocial: keyID is …/users/NAME/main-key, a document of its own (a cut-down actor)
//     with the owner nested inside publicKey and no top-level owner;
//   - others: a bare key document with a top-level owner (a string, or an object with an id).
//
// Whatever the key document says, the key is believed only from its owner: the owner actor,
// on the key's host, must publish a key with this id and the same public key. A sender accepted
// once is known by the key id stored with its actor (ap_actors.key_id), so a restart, or the
// keys in memory expiring, never has its key document fetched again: the stored actor answers
// while it is fresh, and when stale the actor itself is fetched again (it also holds the key).
//
// Errors say which step failed, with the key id and the owner, for the log; the sender only
// learns that the key could not be obtained.
func (s *Service) lookupKey(ctx context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	known, err := s.actorByKeyID(ctx, keyID)
	switch {
	case err == nil:
		if !refresh && s.wall.Now().Sub(known.FetchedAt) < actorTTL {
			return keyOf(known, keyID)
		}
		a, err := s.Remote(ctx, known.IRI, true)
		if err != nil {
			return nil, "", fmt.Errorf("federation: key %s: refetching its owner %s: %w", keyID, known.IRI, err)
		}
		if a.KeyID == keyID {
			return keyOf(a, keyID)
		}
		// The actor has moved to another key: find out afresh who publishes this one.
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, "", fmt.Errorf("federation: key %s: stored actor: %w", keyID, err)
	}

	owner, stubPEM, err := s.dereferenceKey(ctx, keyID, refresh)
	if err != nil {
		return nil, "", err
	}
	if iri.HostOf(owner) != iri.HostOf(keyID) {
		return nil, "", fmt.Errorf("federation: key %s: its owner %s is on another host", keyID, owner)
	}
	a, err := s.Remote(ctx, owner, refresh)
	if err == nil && a.KeyID != keyID && !refresh {
		a, err = s.Remote(ctx, owner, true) // a stored copy from before a key change
	}
	if err != nil {
		return nil, "", fmt.Errorf("federation: key %s: fetching its owner %s: %w", keyID, owner, err)
	}
	if a.IRI != owner {
		return nil, "", fmt.Errorf("federation: key %s: its owner %s is served as %s", keyID, owner, a.IRI)
	}
	pub, owner, err := keyOf(a, keyID)
	if err != nil {
		return nil, "", err
	}
	if stubPEM != "" {
		stub, err := parsePublicKey(stubPEM)
		if err != nil {
			return nil, "", fmt.Errorf("federation: key %s: the key document's key: %w", keyID, err)
		}
		if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(stub) {
			return nil, "", fmt.Errorf("federation: key %s: the key document's key is not the one its owner %s publishes", keyID, owner)
		}
	}
	return pub, owner, nil
}

// keyOf is the key a remote actor publishes under keyID.
func keyOf(a *Remote, keyID string) (crypto.PublicKey, string, error) {
	if a.KeyID != keyID || a.PublicKeyPem == "" {
		return nil, "", fmt.Errorf("federation: key %s: its owner %s does not publish it (it publishes %q)", keyID, a.IRI, a.KeyID)
	}
	pub, err := parsePublicKey(a.PublicKeyPem)
	if err != nil {
		return nil, "", fmt.Errorf("federation: key %s of %s: %w", keyID, a.IRI, err)
	}
	return pub, a.IRI, nil
}

// actorByKeyID is the stored actor that published keyID, on the key's host: an actor elsewhere
// claiming the same key id is not asked.
func (s *Service) actorByKeyID(ctx context.Context, keyID string) (*Remote, error) {
	var owner string
	err := s.pool.QueryRow(ctx, `
SELECT iri FROM ap_actors WHERE key_id = $1 AND host = $2 ORDER BY fetched_at DESC LIMIT 1`, keyID, iri.HostOf(keyID)).Scan(&owner)
	if err != nil {
		return nil, err
	}
	return s.cachedActor(ctx, owner)
}

// dereferenceKey fetches the document keyID names and says who it claims owns the key, with
// the key's PEM when the document is not the owner itself (to be compared with the owner's).
// A keyID with a fragment names a key inside its actor document: then the owner is that actor
// and the document is stored as one.
func (s *Service) dereferenceKey(ctx context.Context, keyID string, refresh bool) (owner, pemText string, err error) {
	base, fragment, _ := strings.Cut(keyID, "#")
	if fragment != "" {
		a, err := s.Remote(ctx, base, refresh)
		if err == nil && a.KeyID == keyID {
			return a.IRI, "", nil
		}
		if err != nil && (fetch.Final(err) || errors.As(err, new(*fetch.RemoteError))) {
			return "", "", fmt.Errorf("federation: key %s: fetching its actor: %w", keyID, err)
		}
		// Not an actor publishing this key: read the document as a key document below.
	}
	body, err := s.fetch.Get(ctx, base)
	if err != nil {
		return "", "", fmt.Errorf("federation: key %s: fetching its document: %w", keyID, err)
	}
	var doc struct {
		ID           string          `json:"id"`
		Owner        json.RawMessage `json:"owner"`
		PublicKeyPem string          `json:"publicKeyPem"`
		PublicKey    json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", "", fmt.Errorf("federation: key %s: the document is not a JSON object: %w", keyID, err)
	}
	if len(doc.PublicKey) > 0 {
		// An actor, whole or cut down (GoToSocial's stub): the entry with this id.
		var keys []struct {
			ID           string          `json:"id"`
			Owner        json.RawMessage `json:"owner"`
			PublicKeyPem string          `json:"publicKeyPem"`
		}
		raw := doc.PublicKey
		if len(raw) > 0 && raw[0] == '{' {
			raw = append(append([]byte{'['}, raw...), ']')
		}
		if err := json.Unmarshal(raw, &keys); err != nil {
			return "", "", fmt.Errorf("federation: key %s: publicKey is neither a key nor a list of keys: %w", keyID, err)
		}
		for _, k := range keys {
			if k.ID != keyID {
				continue
			}
			owner = idOfRaw(k.Owner)
			if owner == "" {
				owner = doc.ID
			}
			return owner, k.PublicKeyPem, nil
		}
		return "", "", fmt.Errorf("federation: key %s: the document at %s has no key with this id", keyID, base)
	}
	if doc.PublicKeyPem == "" || doc.ID != keyID && doc.ID != base {
		return "", "", fmt.Errorf("federation: key %s: the document at %s is neither an actor nor this key", keyID, base)
	}
	if owner = idOfRaw(doc.Owner); owner == "" {
		return "", "", fmt.Errorf("federation: key %s: the key document names no owner", keyID)
	}
	return owner, doc.PublicKeyPem, nil
}

// idOfRaw reads a JSON-LD reference: an IRI string, or an object with an id.
func idOfRaw(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.ID
	}
	return ""
}
