package mastopeer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SignOptions bends the peer's outgoing signature, so tests can produce the
// malformed requests a verifier must refuse. The zero value signs exactly as
// Mastodon's Request class does.
type SignOptions struct {
	// Date replaces the current time in the Date header.
	Date time.Time
	// Headers replaces the list of signed headers.
	Headers []string
	// OmitDigest sends no Digest header and leaves digest out of the list.
	OmitDigest bool
	// KeyID and Key replace alice's keyId and private key.
	KeyID string
	Key   *rsa.PrivateKey
	// Algorithm replaces "rsa-sha256" in the Signature header.
	Algorithm string
	// Tamper changes the body after the Digest and signature were computed.
	Tamper func(body []byte) []byte
	// ContentType replaces application/activity+json.
	ContentType string
}

// Mastodon signs every header it set before sending, less User-Agent and
// Accept-Encoding (Request#signed_headers): for a delivery that is
// (request-target) host date digest content-type, for a fetch
// (request-target) host date accept.
var (
	postHeaders = []string{"(request-target)", "host", "date", "digest", "content-type"}
	getHeaders  = []string{"(request-target)", "host", "date", "accept"}
)

// sign adds Date, Digest (for a body) and Signature to req. The Host header is
// host:port of the URL; Mastodon would send the bare host, which only matters
// on non-default ports such as the tests' loopback ones.
func (p *Peer) sign(req *http.Request, body []byte, opt SignOptions) error {
	date := opt.Date
	if date.IsZero() {
		date = time.Now()
	}
	req.Header.Set("Date", date.UTC().Format(http.TimeFormat))
	headers := opt.Headers
	if headers == nil {
		if req.Method == http.MethodGet {
			headers = getHeaders
		} else {
			headers = postHeaders
		}
	}
	if body != nil && !opt.OmitDigest {
		sum := sha256.Sum256(body)
		req.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	}
	if opt.OmitDigest {
		var kept []string
		for _, h := range headers {
			if h != "digest" {
				kept = append(kept, h)
			}
		}
		headers = kept
	}
	lines := make([]string, 0, len(headers))
	for _, h := range headers {
		h = strings.ToLower(h)
		switch h {
		case "(request-target)":
			lines = append(lines, h+": "+strings.ToLower(req.Method)+" "+req.URL.RequestURI())
		case "host":
			lines = append(lines, "host: "+req.URL.Host)
		default:
			lines = append(lines, h+": "+strings.Join(req.Header.Values(h), ", "))
		}
	}
	key, keyID, alg := p.key, p.KeyID(), "rsa-sha256"
	if opt.Key != nil {
		key = opt.Key
	}
	if opt.KeyID != "" {
		keyID = opt.KeyID
	}
	if opt.Algorithm != "" {
		alg = opt.Algorithm
	}
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return err
	}
	req.Header.Set("Signature", fmt.Sprintf(`keyId="%s",algorithm="%s",headers="%s",signature="%s"`,
		keyID, alg, strings.ToLower(strings.Join(headers, " ")), base64.StdEncoding.EncodeToString(sig)))
	return nil
}

// Deliver POSTs body to inboxURL signed as alice (bent by opt) and returns the
// status and body of the answer.
func (p *Peer) Deliver(ctx context.Context, inboxURL string, body []byte, opt SignOptions) (int, []byte, error) {
	a, err := p.DeliverAnswer(ctx, inboxURL, body, opt)
	return a.Status, a.Body, err
}

// Answer is a server's answer to a delivery.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// DeliverAnswer is Deliver for a test that reads the answer's headers too (a 503's
// Retry-After, which Mastodon honours).
func (p *Peer) DeliverAnswer(ctx context.Context, inboxURL string, body []byte, opt SignOptions) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inboxURL, nil)
	if err != nil {
		return Answer{}, err
	}
	ct := opt.ContentType
	if ct == "" {
		ct = activityJSON
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	if err := p.sign(req, body, opt); err != nil {
		return Answer{}, err
	}
	sent := body
	if opt.Tamper != nil {
		sent = opt.Tamper(append([]byte(nil), body...))
	}
	req.Body = io.NopCloser(bytes.NewReader(sent))
	req.ContentLength = int64(len(sent))
	resp, err := p.client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: out}, nil
}

// Send delivers activity to inboxURL signed as alice and fails on any answer
// but 2xx, for tests that feed the server under test Mastodon-shaped replies,
// votes and the like.
func (p *Peer) Send(ctx context.Context, inboxURL string, activity map[string]any) error {
	body, err := json.Marshal(activity)
	if err != nil {
		return err
	}
	status, resp, err := p.Deliver(ctx, inboxURL, body, SignOptions{})
	if err != nil {
		return fmt.Errorf("POST %s: %w", inboxURL, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("POST %s: %d %s", inboxURL, status, strings.TrimSpace(string(resp)))
	}
	return nil
}

// getJSON fetches an ActivityPub document as Mastodon does: Accept both
// ActivityPub types, signed when signed is set, at most 1 MiB, status 200.
func (p *Peer) getJSON(ctx context.Context, rawURL string, signed bool) (map[string]any, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", mastodonAccept)
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	if signed {
		if err := p.sign(req, nil, SignOptions{}); err != nil {
			return nil, err
		}
	}
	return p.doJSON(req)
}

func (p *Peer) doJSON(req *http.Request) (map[string]any, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("response of %s larger than 1 MiB", req.URL)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s returned HTTP %d", req.URL, resp.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid JSON at %s: %v", req.URL, err)
	}
	return doc, nil
}
