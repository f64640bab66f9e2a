// Package keys holds our own actors' key pairs (table ap_keys).
package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// Pair is a local actor's keys: RSA-2048 for HTTP Signatures, Ed25519 for object integrity
// proofs (FEP-8b32). Keys are made when an actor first needs them and kept in ap_keys; they are
// infrastructure, not part of the civic record, so their creation is not an event.
type Pair struct {
	RSA *rsa.PrivateKey
	Ed  ed25519.PrivateKey
}

// PublicPEM is the RSA public key as actor documents publish it.
func (k *Pair) PublicPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&k.RSA.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Store makes and keeps the key pairs, one per local actor path.
type Store struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	mu    sync.Mutex
	cache map[string]*Pair
	// A new actor's first delivery goes to many inboxes at once; one caller makes its keys
	// (an RSA-2048 key takes a tenth of a second) and the others wait for them.
	making singleflight.Group
}

// New returns the store; c dates the keys it makes.
func New(pool *pgxpool.Pool, c clock.Clock) *Store {
	return &Store{pool: pool, clock: c, cache: map[string]*Pair{}}
}

// Get returns the keys of the local actor at path, making them on first use. Two processes
// making them at once agree on the first one stored.
func (ks *Store) Get(ctx context.Context, path string) (*Pair, error) {
	ks.mu.Lock()
	k, ok := ks.cache[path]
	ks.mu.Unlock()
	if ok {
		return k, nil
	}
	v, err, _ := ks.making.Do(path, func() (any, error) {
		k, err := ks.load(ctx, path)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := ks.create(ctx, path); err != nil {
				return nil, err
			}
			k, err = ks.load(ctx, path)
		}
		if err != nil {
			return nil, err
		}
		ks.mu.Lock()
		ks.cache[path] = k
		ks.mu.Unlock()
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Pair), nil
}

func (ks *Store) create(ctx context.Context, path string) error {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("federation: key: %w", err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("federation: key: %w", err)
	}
	der := x509.MarshalPKCS1PrivateKey(rsaKey)
	_, err = ks.pool.Exec(ctx, `
INSERT INTO ap_keys (actor, rsa_private_pem, ed25519_seed, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (actor) DO NOTHING`, path, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})), ed.Seed(), ks.clock.Now())
	if err != nil {
		return fmt.Errorf("federation: key: %w", err)
	}
	return nil
}

func (ks *Store) load(ctx context.Context, path string) (*Pair, error) {
	var pemText string
	var seed []byte
	err := ks.pool.QueryRow(ctx, `SELECT rsa_private_pem, ed25519_seed FROM ap_keys WHERE actor = $1`, path).Scan(&pemText, &seed)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, fmt.Errorf("federation: key of %s: not PEM", path)
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("federation: key of %s: %w", path, err)
	}
	return &Pair{RSA: priv, Ed: ed25519.NewKeyFromSeed(seed)}, nil
}
