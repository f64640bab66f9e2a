package httpsig

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"time"

	ssb "code.superseriousbusiness.org/httpsig"
)

// Sign makes r acceptable to Mastodon, GoToSocial and Verify: it sets Date (from now, so
// that a caller with its own clock stays testable), Host and, when there is a body, a
// SHA-256 Digest, and then a Signature header over "(request-target) host date [digest]".
//
// body must be the exact bytes r will send; Sign does not read r.Body. A nil body on a
// method other than GET or HEAD is signed as the empty body, because receivers demand a
// signed Digest on every POST.
//
// Sign may be called again on the same request, say for a retried delivery: it replaces
// the Date, Digest and Signature it wrote before instead of adding a second set, which
// receivers would join into a value nobody signed.
func Sign(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time) error {
	headers := []string{requestTarget, "host", "date"}
	if body == nil && bodyExpected(r.Method, nil) {
		body = []byte{}
	}
	if body != nil {
		headers = append(headers, "digest")
	}
	return sign(r, body, keyID, key, now, headers, ssb.DigestSha256, algRSASHA256)
}

// sign is Sign with every choice open, so that tests can produce the malformed signatures
// other servers might send.
func sign(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time, headers []string, digest ssb.DigestAlgorithm, algorithm string) error {
	if key == nil {
		return errors.New("httpsig: Sign needs a private key")
	}
	if r.URL == nil {
		return errors.New("httpsig: request has no URL")
	}
	if keyID == "" || !plainValue(keyID) {
		// Such a keyId could not be read back unambiguously by anyone (see parseSignature).
		return fmt.Errorf("httpsig: keyId %q cannot be written into a Signature header", keyID)
	}
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	if host == "" {
		return errors.New("httpsig: request has no host to sign")
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Del(headerSignature)
	r.Header.Del(headerDigest)
	r.Header.Set(headerDate, now.UTC().Format(http.TimeFormat))
	// net/http writes the Host line from r.Host or r.URL.Host and never from r.Header, so
	// this copy is only for the signing string; it does not put a second Host on the wire.
	r.Header.Set(headerHost, host)

	// The library's signers are not safe for concurrent use; a new one per request costs a
	// few allocations next to an RSA signature.
	signer, _, err := ssb.NewSigner([]ssb.Algorithm{ssb.RSA_SHA256}, digest, headers, ssb.Signature, 0)
	if err != nil {
		return fmt.Errorf("httpsig: %w", err)
	}
	// The shadow request shares r's Header, so the library writes Digest and Signature
	// straight into r; only the URL differs (see targetOf).
	shadow := &http.Request{Method: r.Method, URL: targetOf(r), Header: r.Header}
	if err := signer.SignRequest(key, keyID, shadow, body); err != nil {
		return fmt.Errorf("httpsig: %w", err)
	}
	// The library always writes algorithm="hs2019". The parameter is not covered by the
	// signature, so we may restate it; "rsa-sha256" is what Mastodon writes, and what
	// servers that predate hs2019 understand.
	p, err := parseSignature(r.Header.Get(headerSignature))
	if err != nil {
		return fmt.Errorf("httpsig: reading back our own signature: %w", err)
	}
	p.algorithm = algorithm
	r.Header.Set(headerSignature, p.format())
	return nil
}
