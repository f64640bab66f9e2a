package proof

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/mr-tron/base58"
)

// multibaseBase58BTC is the multibase prefix for base58btc. The specs allow no other
// base for publicKeyMultibase and proofValue, so we neither write nor accept any other.
const multibaseBase58BTC = 'z'

// ed25519PubPrefix is the multicodec code ed25519-pub (0xed) as an unsigned varint. It is
// what lets a reader tell an Ed25519 public key from, say, an X25519 key or an accidentally
// published private key (0x1300) before using it.
var ed25519PubPrefix = [2]byte{0xed, 0x01}

// ErrMultikey is wrapped by every DecodeMultikey failure, so that a caller resolving an
// actor's keys can tell "this actor published a key we cannot use" from a network error.
var ErrMultikey = errors.New("proof: malformed Ed25519 Multikey")

// EncodeMultikey returns the publicKeyMultibase form ("z6Mk…") that FEP-521a puts in an
// actor's assertionMethod, so that other servers can check our residents' proofs.
//
// It panics if pub is not 32 bytes long, as crypto/ed25519 does: such a key can only come
// from a programming error, and publishing it would make every later proof unverifiable.
func EncodeMultikey(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("proof: bad Ed25519 public key length %d", len(pub)))
	}
	b := make([]byte, 0, len(ed25519PubPrefix)+ed25519.PublicKeySize)
	b = append(b, ed25519PubPrefix[:]...)
	b = append(b, pub...)
	return string(multibaseBase58BTC) + base58.Encode(b)
}

// DecodeMultikey reads a publicKeyMultibase value taken from a remote actor. It is strict
// on purpose: the value comes from another server, and a key of the wrong type or length
// must fail here, with a reason, rather than as a puzzling "signature invalid" later.
func DecodeMultikey(s string) (ed25519.PublicKey, error) {
	if len(s) < 2 || s[0] != multibaseBase58BTC {
		return nil, fmt.Errorf("%w: want multibase base58btc (\"z\" prefix)", ErrMultikey)
	}
	raw, err := base58.Decode(s[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMultikey, err)
	}
	if len(raw) < len(ed25519PubPrefix) || raw[0] != ed25519PubPrefix[0] || raw[1] != ed25519PubPrefix[1] {
		return nil, fmt.Errorf("%w: multicodec is not ed25519-pub (0xed01)", ErrMultikey)
	}
	key := raw[len(ed25519PubPrefix):]
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d", ErrMultikey, len(key), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(key), nil
}
