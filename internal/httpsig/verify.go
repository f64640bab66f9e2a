package httpsig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	ssb "code.superseriousbusiness.org/httpsig"
)

// DefaultMaxSkew is the Date window Verify applies when given zero. Mastodon accepts about
// an hour; a wider window lets a captured request be replayed for longer, a narrower one
// refuses servers whose clocks drift.
const DefaultMaxSkew = time.Hour

// Errors that Verify returns, wrapped with detail; test them with errors.Is. Each is a
// reason to answer 401, and they are distinct so that the log says which rule a peer broke
// (and so that ErrKeyResolution, often a passing network failure, can be told apart).
var (
	// ErrNoSignature: the request has no Signature header at all.
	ErrNoSignature = errors.New("httpsig: no Signature header")
	// ErrMalformedSignature: the Signature header is present but cannot be read
	// unambiguously (duplicate parameters, no keyId, non-base64 signature, more than one
	// header line, …).
	ErrMalformedSignature = errors.New("httpsig: malformed Signature header")
	// ErrUnsupportedAlgorithm: the algorithm is neither rsa-sha256 nor hs2019.
	ErrUnsupportedAlgorithm = errors.New("httpsig: unsupported signature algorithm")
	// ErrHeaderNotSigned: one of (request-target), host, date, or (with a body) digest is
	// missing from the signed headers, so the signature does not bind what we rely on.
	ErrHeaderNotSigned = errors.New("httpsig: required header not signed")
	// ErrMissingDigest: the request has a body but no Digest header.
	ErrMissingDigest = errors.New("httpsig: no Digest header")
	// ErrDigestAlgorithm: the Digest header names no SHA-256 digest (SHA-512 or MD5 alone
	// are refused; we check only the digest every peer sends).
	ErrDigestAlgorithm = errors.New("httpsig: Digest has no SHA-256 value")
	// ErrDigestMismatch: the SHA-256 in Digest is not the hash of the body received, or
	// cannot be decoded: the body was changed in transit or by a proxy.
	ErrDigestMismatch = errors.New("httpsig: Digest does not match body")
	// ErrBadDate: the Date header is missing, repeated or unparseable.
	ErrBadDate = errors.New("httpsig: missing or invalid Date header")
	// ErrDateSkew: Date (or the signature's created/expires) is outside the allowed window
	// around now: a replay, or a clock that is badly off.
	ErrDateSkew = errors.New("httpsig: Date outside the allowed window")
	// ErrHostMismatch: the Host header is missing, disagrees with r.Host, or names another
	// server than ours: the signature was made for a request to someone else (a delivery
	// to another server, captured there and replayed to us within the Date window).
	ErrHostMismatch = errors.New("httpsig: request not signed for this host")
	// ErrKeyResolution: the KeyResolver failed, or returned no key or no owner. The
	// resolver's own error is wrapped as well.
	ErrKeyResolution = errors.New("httpsig: key could not be resolved")
	// ErrUnsupportedKey: the resolved key is not an RSA public key.
	ErrUnsupportedKey = errors.New("httpsig: key is not an RSA public key")
	// ErrBadSignature: everything else checked out, but the signature does not verify
	// with the owner's key, even after refetching it.
	ErrBadSignature = errors.New("httpsig: signature does not verify")
)

// KeyResolver finds the public key named by a signature's keyId and the IRI of the actor
// that owns it.
//
// Verify takes it as a function because finding the key involves trust decisions and I/O
// this package cannot make: fetching the actor or key document (signed, through the SSRF
// guarded transport), checking that the actor lists the key, and caching.
//
// With refresh=false the resolver should answer from its cache if it can. Verify calls it
// a second time with refresh=true only when the first key did not verify, which is what a
// key rotation looks like; the resolver must then refetch. Because anyone can send a bad
// signature with someone else's keyId, the resolver should limit how often it refetches a
// given key, and may return its cached key again instead.
type KeyResolver func(ctx context.Context, keyID string, refresh bool) (pub crypto.PublicKey, owner string, err error)

// Result is what a valid signature establishes: the holder of KeyID, owned by Owner, sent
// this request (its target, host, date and body) within the Date window.
type Result struct {
	KeyID string
	// Owner is the actor the resolver said owns the key. The caller must compare it with
	// the activity's actor: a valid signature by Bob's server on an activity claiming to be
	// Alice's proves nothing about Alice.
	Owner string
}

// Verify checks r's HTTP Signature against the key resolve finds for its keyId.
//
// body is the request body the caller has already read (with its own size limit); Verify
// never touches r.Body. host is the authority this server is reached at, the host of its
// public URL with the port if the URL has one: the signed Host must name it (see
// ForHost), because whatever Host header arrived is the sender's to choose. now and
// maxSkew bound the Date header; maxSkew 0 means DefaultMaxSkew.
//
// The cheap checks (header syntax, algorithm, signed headers, Date, Host, Digest) run
// before resolve, so that junk never costs a key fetch. Then the signature is verified with
// the resolved key; if that fails, resolve is asked once more with refresh=true and the
// signature tried with the fresh key, if it differs. There is no further retry.
//
// A request whose target has a query string is also accepted if the signature was made
// over the path alone, as GoToSocial does, because Mastodon has signed and verified
// request-target without the query.
func Verify(ctx context.Context, r *http.Request, body []byte, host string, now time.Time, maxSkew time.Duration, resolve KeyResolver) (Result, error) {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if resolve == nil {
		return Result{}, fmt.Errorf("%w: no KeyResolver given", ErrKeyResolution)
	}
	vals := r.Header.Values(headerSignature)
	switch len(vals) {
	case 0:
		if strings.HasPrefix(r.Header.Get("Authorization"), "Signature ") {
			return Result{}, fmt.Errorf("%w (it is in Authorization, which the Fediverse does not use)", ErrNoSignature)
		}
		return Result{}, ErrNoSignature
	case 1:
	default:
		return Result{}, fmt.Errorf("%w: %d Signature headers", ErrMalformedSignature, len(vals))
	}
	p, err := parseSignature(vals[0])
	if err != nil {
		return Result{}, err
	}

	// An absent algorithm is hs2019 ("derive it from the key"), as in Mastodon.
	switch p.algorithm {
	case algRSASHA256, algHS2019, "":
	default:
		return Result{}, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, p.algorithm)
	}

	withBody := bodyExpected(r.Method, body)
	required := []string{requestTarget, "host", "date"}
	if withBody {
		required = append(required, "digest")
	}
	for _, h := range required {
		if !slices.Contains(p.headers, h) {
			return Result{}, fmt.Errorf("%w: %s (signed: %s)", ErrHeaderNotSigned, h, strings.Join(p.headers, " "))
		}
	}

	if err := checkDate(r.Header.Values(headerDate), p, now, maxSkew); err != nil {
		return Result{}, err
	}

	if r.Host == "" {
		return Result{}, fmt.Errorf("%w: request has no host", ErrHostMismatch)
	}
	if hv, ok := r.Header[headerHost]; ok && (len(hv) != 1 || !strings.EqualFold(hv[0], r.Host)) {
		return Result{}, fmt.Errorf("%w: header %q, request %q", ErrHostMismatch, hv, r.Host)
	}
	// The signing string is built from r.Host below, so this is the check that the host
	// the sender signed is ours.
	if !ForHost(r.Host, host) {
		return Result{}, fmt.Errorf("%w: signed for %q, this server is %q", ErrHostMismatch, r.Host, host)
	}

	// A Digest that is present is checked even on a GET: it is the sender's claim about the
	// body, and a false claim is not something to sign off on.
	if digest := r.Header.Values(headerDigest); withBody || len(digest) > 0 || slices.Contains(p.headers, "digest") {
		if err := checkDigest(digest, body); err != nil {
			return Result{}, err
		}
	}

	// The library sees only the headers that were signed, plus Host from r.Host (which is
	// where net/http keeps it on the server), and our re-formatted Signature header.
	h := make(http.Header, len(p.headers)+2)
	// Anything the library would fail on for structural reasons is refused here, so that it
	// is reported as malformed and never costs a key refetch.
	for _, name := range p.headers {
		switch {
		case name == requestTarget:
			continue
		case name == "(created)" && p.created != "", name == "(expires)" && p.expires != "":
			continue
		case name[0] == '(':
			return Result{}, fmt.Errorf("%w: pseudo-header %s cannot be computed", ErrMalformedSignature, name)
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if key == headerHost {
			continue
		}
		v, ok := r.Header[key]
		if !ok {
			return Result{}, fmt.Errorf("%w: signed header %q is not in the request", ErrMalformedSignature, name)
		}
		h[key] = v
	}
	h[headerHost] = []string{r.Host}
	h[headerSignature] = []string{p.format()}
	target := targetOf(r)
	v, err := ssb.NewVerifier(&http.Request{Method: r.Method, URL: target, Header: h})
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrMalformedSignature, err)
	}
	hasQuery := target.RawQuery != ""

	pub, owner, err := resolveKey(ctx, resolve, p.keyID, false)
	if err != nil {
		return Result{}, err
	}
	verr := verifyWith(v, pub, hasQuery)
	if verr == nil {
		return Result{KeyID: p.keyID, Owner: owner}, nil
	}

	// Key rotation: the cached key may be stale. One refetch, never more.
	fresh, freshOwner, err := resolveKey(ctx, resolve, p.keyID, true)
	if err != nil {
		return Result{}, fmt.Errorf("%w (the cached key did not verify: %v)", err, verr)
	}
	if sameKey(pub, fresh) {
		return Result{}, verr
	}
	if err := verifyWith(v, fresh, hasQuery); err != nil {
		return Result{}, err
	}
	return Result{KeyID: p.keyID, Owner: freshOwner}, nil
}

// ForHost reports whether a request whose Host is got was meant for the server reached at
// want (host[:port], as in its public URL). Names compare without case and without a
// trailing dot. A port must be the same, except that a Host without one is taken for any
// port (Mastodon signs the bare host name whatever the port, Request#set_common_headers,
// and nginx's $host, which the deployment passes on, has none either), and a default port
// spelled out is taken for a URL without one. Two servers on one name behind different
// ports can therefore not tell each other's deliveries apart.
func ForHost(got, want string) bool {
	gh, gp := splitHostPort(got)
	wh, wp := splitHostPort(want)
	if gh == "" || gh != wh {
		return false
	}
	return gp == "" || gp == wp || (wp == "" && (gp == "443" || gp == "80"))
}

func splitHostPort(hostport string) (string, string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h, p = hostport, ""
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	return h, p
}

func resolveKey(ctx context.Context, resolve KeyResolver, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	pub, owner, err := resolve(ctx, keyID, refresh)
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("%w: %s: %w", ErrKeyResolution, keyID, err)
	case pub == nil:
		return nil, "", fmt.Errorf("%w: %s: resolver returned no key", ErrKeyResolution, keyID)
	case owner == "":
		// An empty owner would compare equal to an activity's missing actor.
		return nil, "", fmt.Errorf("%w: %s: resolver returned no owner", ErrKeyResolution, keyID)
	}
	return pub, owner, nil
}

// verifyWith checks the signature with pub as RSASSA-PKCS1-v1_5 over SHA-256, which is
// what both rsa-sha256 and hs2019-with-an-RSA-key mean in practice.
func verifyWith(v ssb.VerifierWithOptions, pub crypto.PublicKey, hasQuery bool) error {
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: got %T", ErrUnsupportedKey, pub)
	}
	err := v.Verify(rk, ssb.RSA_SHA256)
	if err != nil && hasQuery {
		if v.VerifyWithOptions(rk, ssb.RSA_SHA256, ssb.SignatureOption{ExcludeQueryStringFromPathPseudoHeader: true}) == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}

func sameKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// checkDate enforces the replay window on Date, and on created/expires if the sender
// signed them too (the library would check those against the wall clock instead of now).
func checkDate(dates []string, p sigParams, now time.Time, maxSkew time.Duration) error {
	if len(dates) != 1 {
		return fmt.Errorf("%w: %d Date headers", ErrBadDate, len(dates))
	}
	t, err := http.ParseTime(dates[0])
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBadDate, dates[0])
	}
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("%w: Date %s is %s from now (allowed ±%s)", ErrDateSkew, dates[0], d.Round(time.Second), maxSkew)
	}
	if p.created != "" {
		c, _ := strconv.ParseInt(p.created, 10, 64)
		if time.Unix(c, 0).Sub(now) > maxSkew {
			return fmt.Errorf("%w: created is in the future", ErrDateSkew)
		}
	}
	if p.expires != "" {
		e, _ := strconv.ParseInt(p.expires, 10, 64)
		if now.After(time.Unix(e, 0)) {
			return fmt.Errorf("%w: signature expired", ErrDateSkew)
		}
	}
	return nil
}

// checkDigest accepts a Digest header (RFC 3230: comma-separated algorithm=base64 pairs,
// possibly on several lines) if it has at least one SHA-256 value and every SHA-256 value
// matches body. Values for other algorithms are ignored rather than checked, so a sender
// cannot make us trust a body on the strength of an algorithm we never verify.
func checkDigest(values []string, body []byte) error {
	if len(values) == 0 {
		return ErrMissingDigest
	}
	sum := sha256.Sum256(body)
	found := false
	for _, line := range values {
		for item := range strings.SplitSeq(line, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			alg, val, ok := strings.Cut(item, "=")
			if !ok {
				return fmt.Errorf("%w: malformed Digest %q", ErrDigestMismatch, item)
			}
			if !strings.EqualFold(strings.TrimSpace(alg), "SHA-256") {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
			if err != nil || !bytes.Equal(got, sum[:]) {
				return fmt.Errorf("%w: SHA-256=%s", ErrDigestMismatch, val)
			}
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrDigestAlgorithm, strings.Join(values, ", "))
	}
	return nil
}
