package mastopeer

import "crypto/rsa"

// Pieces other test peers share (internal/testrig/gtspeer): the parts of reading a Fediverse
// request that every server does alike. What differs between servers (which headers they
// require, how they find a key, what they refuse) each peer writes for itself.

// ParseSignature reads a Signature header's parameters (keyId, algorithm, headers,
// signature, created, expires), tolerating what Mastodon tolerates.
func ParseSignature(header string) (map[string]string, error) { return parseSignature(header) }

// ParseRSAPublicKey reads a PEM public key, PKIX ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC
// KEY"); only RSA keys are usable.
func ParseRSAPublicKey(pemText string) (*rsa.PublicKey, error) { return parsePublicKey(pemText) }

// IDOf is a string, or the id of an object.
func IDOf(v any) string { return idOf(v) }

// HasType reports whether doc's type is typ or an array containing it.
func HasType(doc map[string]any, typ string) bool { return hasType(doc, typ) }

// CloneMap deep-copies a decoded JSON object.
func CloneMap(m map[string]any) map[string]any { return cloneMap(m) }
