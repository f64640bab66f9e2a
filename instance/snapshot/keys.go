package snapshot

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// Keys holds the instance's Ed25519 snapshot key (table snapshot_keys): one key, made when it
// is first needed — by the first snapshot, or by the first request for the Ortsweberei's
// actor, which publishes its public half — and kept. Replicas making it at once agree on the
// first one stored. Not the Group actor's own Ed25519 key (federation's ap_keys): a snapshot's
// key signs the Ortsweberei's history, which outlives federation settings, and may later be
// kept offline or rotated on its own.
type Keys struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	mu    sync.Mutex
	key   ed25519.PrivateKey
}

// NewKeys returns the key store; c dates a key it makes.
func NewKeys(pool *pgxpool.Pool, c clock.Clock) *Keys { return &Keys{pool: pool, clock: c} }

// Private returns the snapshot key, making it on first use.
func (k *Keys) Private(ctx context.Context) (ed25519.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	seed, err := k.load(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		_, fresh, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("snapshot: key: %w", gerr)
		}
		if _, err := k.pool.Exec(ctx, `
INSERT INTO snapshot_keys (ed25519_seed, created_at) VALUES ($1, $2)
ON CONFLICT (one) DO NOTHING`, fresh.Seed(), k.clock.Now()); err != nil {
			return nil, fmt.Errorf("snapshot: key: %w", err)
		}
		seed, err = k.load(ctx) // ours, or the one another process stored first
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: key: %w", err)
	}
	k.key = ed25519.NewKeyFromSeed(seed)
	return k.key, nil
}

// Public returns the snapshot key's public half: what the Ortsweberei's actor publishes.
func (k *Keys) Public(ctx context.Context) (ed25519.PublicKey, error) {
	priv, err := k.Private(ctx)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

func (k *Keys) load(ctx context.Context) ([]byte, error) {
	var seed []byte
	err := k.pool.QueryRow(ctx, `SELECT ed25519_seed FROM snapshot_keys`).Scan(&seed)
	return seed, err
}
