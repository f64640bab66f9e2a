// Package httpsig signs and verifies HTTP Signatures (draft-cavage-http-signatures-12) the
// way the Fediverse uses them, so that an inbox can tell which server handed it an
// activity and a remote server with "authorized fetch" will answer our GETs.
//
// The profile is the one Mastodon and GoToSocial speak, and nothing wider: RSA keys,
// rsa-sha256 (or hs2019, which with an RSA key means the same), the signed headers
// "(request-target) host date" plus "digest" whenever there is a body, a SHA-256 Digest
// header (RFC 3230), a Date within about an hour of our clock, and a signed Host that names
// the server verifying it (a signature made for a request to another server proves nothing
// about a request to us). Every option beyond that is a way for a sender to sign less than we
// think it signed, so Verify refuses it.
//
// The cryptography and the signing string come from code.superseriousbusiness.org/httpsig
// (the library GoToSocial uses), so that our bytes match what its peers produce. This
// package adds what that library leaves to its caller: which algorithms and headers are
// acceptable, the Digest and Date checks, key rotation, and one error per reason.
//
// What this package does not do: fetch actors or keys, or decide whether the key's owner
// may speak for the activity. Those belong to the caller, through the KeyResolver it
// passes to Verify and through comparing Result.Owner with the activity's actor.
package httpsig
