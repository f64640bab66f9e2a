package snapshot

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// VerifyDetached checks a detached signature (the 64 raw bytes; DecodeSignature reads a
// .sig file) of the document named hash against pub.
func VerifyDetached(hash string, sig []byte, pub ed25519.PublicKey) error {
	d, err := hexDigest(hash)
	if err != nil {
		return err
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrVerify, len(pub))
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, d[:], sig) {
		return fmt.Errorf("%w: the detached signature does not match %s and the key", ErrVerify, hash)
	}
	return nil
}

// VerifyDocument checks the Data Integrity proof of a document read with Read against pub:
// an eddsa-jcs-2022 proof for assertionMethod whose verificationMethod is
// KeyID(doc.Instance). (The detached signature is VerifyDetached(doc.Hash, sig, pub).)
func VerifyDocument(doc *Document, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrVerify, len(pub))
	}
	want := KeyID(doc.Instance)
	resolve := func(_ context.Context, vm string) (ed25519.PublicKey, string, error) {
		if vm != want {
			return nil, "", fmt.Errorf("the proof names %q, not the instance's snapshot key %q", vm, want)
		}
		return pub, doc.Instance, nil
	}
	if _, err := proof.VerifyHash(context.Background(), doc.DocDigest, json.RawMessage(contextLiteral), doc.Proof, resolve); err != nil {
		return fmt.Errorf("%w: proof: %w", ErrVerify, err)
	}
	return nil
}

// CheckLink checks that next follows prev in a chain: next names prev's hash as previous,
// both are of one instance and in time order, and an incremental next builds on the full
// snapshot prev is or builds on.
func CheckLink(prev, next *Document) error {
	if next.Previous != prev.Hash {
		return fmt.Errorf("%w: %s names %q as previous, not %s", ErrVerify, short(next.Hash), next.Previous, prev.Hash)
	}
	if next.Instance != prev.Instance {
		return fmt.Errorf("%w: %s is of %s, its predecessor of %s", ErrVerify, short(next.Hash), next.Instance, prev.Instance)
	}
	if next.AsOf.Before(prev.AsOf) {
		return fmt.Errorf("%w: %s is as of %s, before its predecessor (%s)", ErrVerify, short(next.Hash), formatAsOf(next.AsOf), formatAsOf(prev.AsOf))
	}
	if next.Kind == KindIncremental {
		base := prev.Base
		if prev.Kind == KindFull {
			base = prev.Hash
		}
		if next.Base != base {
			return fmt.Errorf("%w: incremental %s names base %s, but its predecessor builds on %s", ErrVerify, short(next.Hash), short(next.Base), short(base))
		}
	}
	return nil
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12] + "…"
	}
	if hash == "" {
		return "(none)"
	}
	return hash
}

var errNoChain = errors.New("snapshot: empty chain")
