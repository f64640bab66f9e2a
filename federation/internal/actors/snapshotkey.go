package actors

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// SnapshotKey is the Ed25519 key a neighbouring Ortsweberei signs its snapshots with: the
// Multikey <group>#snapshot-key in its actor's assertionMethod, controlled by the actor itself,
// as its own server serves it (the cached actor first unless fresh is asked for; fetched again
// once when the cached copy has no such key, e.g. from before the key was published).
func (s *Service) SnapshotKey(ctx context.Context, group string, fresh bool) (ed25519.PublicKey, error) {
	id := group + "#snapshot-key"
	for _, refresh := range []bool{fresh, true} {
		a, err := s.Remote(ctx, group, refresh)
		if err != nil {
			return nil, err
		}
		if !a.IsOrtsweberei() {
			return nil, fmt.Errorf("federation: %s is not an Ortsweberei", group)
		}
		for _, k := range a.Multikeys {
			if k.ID == id && k.Controller == a.IRI {
				return proof.DecodeMultikey(k.PublicKeyMultibase)
			}
		}
	}
	return nil, fmt.Errorf("federation: %s publishes no snapshot key %s", group, id)
}
