package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Errors the client returns, wrapped with detail (and, from Do, inside a *url.Error); test
// them with errors.Is. They are distinct so that a delivery queue can tell "never retry
// this URL" (a forbidden address or scheme) from "the peer misbehaved" (too large, too many
// redirects) from "the peer said no" (a status).
var (
	// ErrForbiddenAddress: the URL's host, or an address it resolved to, is loopback,
	// private, link-local, unspecified, multicast, CGNAT or otherwise not a public
	// address, and no Option allows it.
	ErrForbiddenAddress = errors.New("transport: address not allowed")
	// ErrInsecureScheme: a plain http:// URL (or redirect) while AllowHTTP is off.
	ErrInsecureScheme = errors.New("transport: http:// not allowed")
	// ErrUnsupportedScheme: a scheme other than http or https.
	ErrUnsupportedScheme = errors.New("transport: unsupported URL scheme")
	// ErrTooManyRedirects: more than MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("transport: too many redirects")
	// ErrTooLarge: the response body is longer than MaxBodyBytes.
	ErrTooLarge = errors.New("transport: response body too large")
	// ErrStatus: Get or Post got a response outside 2xx. The response is returned as
	// well, so the caller can tell 410 Gone from 429 or 503.
	ErrStatus = errors.New("transport: unexpected response status")
)

// Refused reports whether err is the guard's refusal of a URL or of an address it resolved
// to (ErrForbiddenAddress, ErrInsecureScheme, ErrUnsupportedScheme): the same request will
// never be allowed, so it is never worth trying again.
func Refused(err error) bool {
	return errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrInsecureScheme) || errors.Is(err, ErrUnsupportedScheme)
}

// Defaults for the zero values in Options.
const (
	// DefaultTimeout bounds a whole exchange, redirects and body included. A peer that
	// cannot answer in this time is treated as down, instead of holding a delivery worker.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBodyBytes is far more than any actor, key or activity needs, and small
	// enough that a hostile peer cannot fill our memory.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultUserAgent is sent when Options.UserAgent is empty. Some servers refuse
	// requests without one; a recognisable one lets remote admins know who is calling.
	DefaultUserAgent = "weltgewebe (+https://github.com/weltgewebe/weltgewebe)"
	// MaxRedirects is how many redirects are followed. Servers redirect for a changed
	// domain or a canonical URL, once or twice; longer chains are not worth the hops.
	MaxRedirects = 3
)

// Options configure a Client. The zero value is the production setting: HTTPS to public
// addresses only.
type Options struct {
	// AllowHosts are hosts the guard lets through whatever they resolve to: a name or an
	// IP literal, with or without a port ("peer.lan", "10.0.0.5", "[fd00::1]:8443"). A
	// name is matched as written in the URL, not by the address it resolves to.
	AllowHosts []string
	// AllowLoopback permits 127.0.0.0/8 and ::1, for development and tests.
	AllowLoopback bool
	// AllowHTTP permits http:// URLs (hosts in AllowHosts may use http:// regardless). Without TLS, signatures can be replayed and
	// bodies read by anyone on the path, so this is for development only.
	AllowHTTP bool
	// Timeout bounds each Do, Get or Post, redirects and body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes bounds the body Get and Post read; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// UserAgent is sent with every request that has none; "" means DefaultUserAgent.
	UserAgent string
	// RootCAs, when set, are the only certificate authorities trusted for https; nil means
	// the system's. For tests that run peers over TLS with a CA of their own.
	RootCAs *x509.CertPool
}

// Client sends federation requests through the SSRF guard. It is safe for concurrent use
// and should be shared, since it pools connections.
type Client struct {
	hc        *http.Client
	tr        *http.Transport
	guard     *guard
	maxBody   int64
	userAgent string
}

// New returns a Client with the given options.
func New(o Options) *Client {
	g := newGuard(o)
	tr := &http.Transport{
		// No Proxy: through a proxy the dialer sees only the proxy's address, and the
		// guard would be checking the wrong thing.
		Proxy:                 nil,
		DialContext:           g.dialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16, // a delivery job keeps up to 8 requests in flight to its host
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
	}
	c := &Client{
		tr:        tr,
		guard:     g,
		maxBody:   o.MaxBodyBytes,
		userAgent: o.UserAgent,
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c.hc = &http.Client{
		Transport:     &guardedTransport{g: g, next: tr},
		Timeout:       timeout,
		CheckRedirect: c.checkRedirect,
	}
	return c
}

// guardedTransport checks every request it carries, the first and each redirect hop, so
// that no path through net/http's client reaches the dialer unchecked.
type guardedTransport struct {
	g    *guard
	next http.RoundTripper
}

func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.checkURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// resignKey carries, in a request's context, how to sign a redirected copy of it.
type resignKey struct{}

func withResigner(ctx context.Context, sign func(*http.Request) error) context.Context {
	return context.WithValue(ctx, resignKey{}, sign)
}

// checkRedirect runs before each redirect hop. net/http copies the original headers to the
// new request, our Signature among them; sent to another host it would be a credential
// that host could replay to the original within the Date window, and it would not verify
// for the new URL anyway. So the old signature is dropped and, if the request came from
// Get or Post with a signer, a new one is made for the new URL.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("%w: gave up after %d", ErrTooManyRedirects, MaxRedirects)
	}
	if err := c.guard.checkURL(req.URL); err != nil {
		return fmt.Errorf("redirect from %s: %w", via[len(via)-1].URL.Redacted(), err)
	}
	req.Header.Del("Signature")
	req.Header.Del("Authorization")
	if sign, ok := req.Context().Value(resignKey{}).(func(*http.Request) error); ok && sign != nil {
		if err := sign(req); err != nil {
			return fmt.Errorf("transport: signing redirect to %s: %w", req.URL.Redacted(), err)
		}
	}
	return nil
}

// Do sends req through the guard, following up to MaxRedirects checked redirects. It sets
// the User-Agent if req has none. As with http.Client.Do, the caller must close the body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return c.hc.Do(req)
}

// Get fetches url with the given Accept header ("" sends none), signing the request with
// sign if it is not nil (for servers with authorized fetch), and returns the body read up
// to MaxBodyBytes. The response's Body has been consumed and closed; use the returned
// bytes.
//
// A status outside 2xx returns the body, the response and an error wrapping ErrStatus, so
// that a caller that forgets to look at the status does not parse an error page as an
// actor.
func (c *Client) Get(ctx context.Context, url string, accept string, sign func(*http.Request) error) ([]byte, *http.Response, error) {
	if sign != nil {
		ctx = withResigner(ctx, sign)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: %w", err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if err := c.prepare(req, sign); err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := c.readBody(resp, true)
	resp.Body = http.NoBody
	if err != nil {
		return nil, resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return body, resp, fmt.Errorf("%w: GET %s: %s", ErrStatus, resp.Request.URL.Redacted(), resp.Status)
	}
	return body, resp, nil
}

// Post sends body to url with the given Content-Type, signed by sign if it is not nil
// (an inbox delivery is always signed; sign receives the exact body for its Digest).
//
// The response body is read up to MaxBodyBytes and kept in memory as resp.Body, so the
// connection can be reused and the caller may log what the peer said; a longer body is
// cut short rather than refused, because for a delivery only the status matters. A status
// outside 2xx returns the response and an error wrapping ErrStatus, so a delivery queue
// can decide from resp.StatusCode whether to retry.
func (c *Client) Post(ctx context.Context, url, contentType string, body []byte, sign func(*http.Request, []byte) error) (*http.Response, error) {
	var sign1 func(*http.Request) error
	if sign != nil {
		sign1 = func(r *http.Request) error {
			// A 301/302/303 redirect turns the POST into a bodiless GET (net/http's
			// rule); a 307/308 resends the body. Sign what will actually be sent.
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return sign(r, nil)
			}
			return sign(r, body)
		}
		ctx = withResigner(ctx, sign1)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if err := c.prepare(req, sign1); err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	got, err := c.readBody(resp, false)
	resp.Body = io.NopCloser(bytes.NewReader(got))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, fmt.Errorf("%w: POST %s: %s", ErrStatus, resp.Request.URL.Redacted(), resp.Status)
	}
	return resp, nil
}

// prepare checks the URL before signing, so that no signature is ever computed for an
// address we would not contact, and then signs.
func (c *Client) prepare(req *http.Request, sign func(*http.Request) error) error {
	if err := c.guard.checkURL(req.URL); err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.userAgent)
	if sign != nil {
		if err := sign(req); err != nil {
			return fmt.Errorf("transport: signing %s %s: %w", req.Method, req.URL.Redacted(), err)
		}
	}
	return nil
}

// readBody reads and closes resp.Body. With strict, a body longer than maxBody is
// ErrTooLarge; otherwise it is cut at maxBody.
func (c *Client) readBody(resp *http.Response, strict bool) ([]byte, error) {
	defer resp.Body.Close()
	if strict && resp.ContentLength > c.maxBody {
		// Refuse before reading: the peer told us it will not fit.
		return nil, fmt.Errorf("%w: Content-Length %d > %d", ErrTooLarge, resp.ContentLength, c.maxBody)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("transport: reading body: %w", err)
	}
	if int64(len(b)) > c.maxBody {
		if strict {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.maxBody)
		}
		b = b[:c.maxBody]
	}
	return b, nil
}

// Stream GETs url through the guard as Get does, unsigned, but leaves the body to the caller:
// for files far larger than MaxBodyBytes (a neighbour's snapshot), which the caller reads with
// a bound of its own and closes. A status outside 2xx closes the body and returns the
// response with an error wrapping ErrStatus.
func (c *Client) Stream(ctx context.Context, url string, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if err := c.prepare(req, nil); err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		resp.Body = http.NoBody
		return resp, fmt.Errorf("%w: GET %s: %s", ErrStatus, resp.Request.URL.Redacted(), resp.Status)
	}
	return resp, nil
}
