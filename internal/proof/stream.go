package proof

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SignHash is Sign for a document too large to hold in memory: the caller streams the
// document's canonical (JCS) form, without "proof", through SHA-256 and passes the digest as
// docHash, with the document's "@context" (nil if it has none) as raw JSON. It returns the
// proof object in canonical form, ready to be written as the document's "proof" member.
//
// For the same document, key, verificationMethod and created, the proof carries the same
// proofValue as Sign's (Ed25519 is deterministic): the two are one algorithm, fed
// differently. Unlike Sign, which writes the proof for people to read, SignHash writes it
// canonically, because a streamed document is usually meant to stay in canonical form.
func SignHash(docHash [sha256.Size]byte, docContext json.RawMessage, key ed25519.PrivateKey, verificationMethod string, created time.Time) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("proof: bad Ed25519 private key length %d", len(key))
	}
	if verificationMethod == "" {
		return nil, errors.New("proof: empty verificationMethod")
	}
	if created.IsZero() {
		return nil, errors.New("proof: zero created time")
	}
	if docContext != nil && !json.Valid(docContext) {
		return nil, fmt.Errorf("%w: @context is not valid JSON", ErrMalformed)
	}
	p, err := signedProof(docHash, docContext, key, verificationMethod, created)
	if err != nil {
		return nil, err
	}
	return canonical(p)
}

// VerifyHash is Verify for a document too large to hold in memory: docHash is the SHA-256 of
// the document's canonical form without "proof", docContext its "@context" (nil if it has
// none), and rawProof its "proof" member as it was read. The checks and the errors are
// Verify's, and so is what a nil error means (see Verify: the caller still compares
// Result.Controller with the document's author).
func VerifyHash(ctx context.Context, docHash [sha256.Size]byte, docContext, rawProof json.RawMessage, resolve KeyResolver) (Result, error) {
	if resolve == nil {
		return Result{}, errors.New("proof: nil KeyResolver")
	}
	if rawProof == nil || isNull(rawProof) {
		return Result{}, ErrNoProof
	}
	// Verify gets these checks from parsing the whole document; here the proof comes alone.
	if !json.Valid(rawProof) {
		return Result{}, fmt.Errorf("%w: not valid JSON", ErrMalformedProof)
	}
	switch firstByte(rawProof) {
	case '{':
	case '[':
		return Result{}, ErrProofSet
	default:
		return Result{}, fmt.Errorf("%w: proof is not an object", ErrMalformedProof)
	}
	if err := checkMembers(rawProof); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrMalformedProof, err)
	}
	if docContext != nil && !json.Valid(docContext) {
		return Result{}, fmt.Errorf("%w: @context is not valid JSON", ErrMalformed)
	}
	return verifyProof(ctx, rawProof, docContext, func() ([sha256.Size]byte, error) { return docHash, nil }, resolve)
}
