// Package proof signs and verifies object integrity proofs (FEP-8b32), so that a
// neighbouring instance can check a resident's public vote without having to trust the
// server that delivered it.
//
// An HTTP signature only says which server handed an activity over; once the activity is
// relayed, forwarded or fetched from a cache, that statement is gone. A proof travels inside
// the object and is made with the resident's own key, so it still says "this resident cast
// this vote" after any number of hops.
//
// The cryptosuite is eddsa-jcs-2022 from the W3C Recommendation "Data Integrity EdDSA
// Cryptosuites v1.0": JSON Canonicalization (RFC 8785), SHA-256 and Ed25519. It is the one
// FEP-8b32 recommends, and it needs no JSON-LD processing, so verifying a vote never makes us
// fetch a remote @context. Keys are published as Multikey (FEP-521a) in the actor's
// assertionMethod.
//
// SignHash and VerifyHash are Sign and Verify for documents too large to hold in memory (an
// instance's snapshots): the caller streams the canonical document through SHA-256 and passes
// the digest.
//
// What this package does not do: fetch actors, decide which keys an actor owns, or decide
// whether the signer may speak for the object. Those belong to the caller, through the
// KeyResolver it passes to Verify and through comparing Result.Controller with the object's
// author. See Verify.
package proof
