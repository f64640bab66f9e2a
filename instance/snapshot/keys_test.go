package snapshot_test

import (
	"context"
	"crypto/ed25519"
	"sync"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// Replicas asking for the snapshot key at once (each its own Keys, as in separate processes)
// all get the same key, and it is the one a later process loads.
func TestOneSnapshotKeyAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	keys := make([]ed25519.PublicKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := snapshot.NewKeys(pool, clock.System{}).Public(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	later, err := snapshot.NewKeys(pool, clock.System{}).Public(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if !k.Equal(later) {
			t.Fatalf("replica %d got key %x, a later process %x", i, k, later)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM snapshot_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d keys stored (%v), want 1", n, err)
	}
}
