package gtspeer

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

	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// sign signs req as vera, as GoToSocial's signing transport does (internal/transport/signing.go
// and httpsig): RSA-SHA256 advertised as hs2019, over (request-target) host date, and digest for
// a body, with Digest: SHA-256=…. No created or expires.
func (p *Peer) sign(req *http.Request, body []byte) error {
	return p.signAs(req, body, p.key, p.KeyID())
}

// signAs signs as sign does, with another of the peer's keys (the instance actor's).
func (p *Peer) signAs(req *http.Request, body []byte, key *rsa.PrivateKey, keyID string) error {
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	req.Host = req.URL.Host
	headers := []string{"(request-target)", "host", "date"}
	if body != nil {
		sum := sha256.Sum256(body)
		req.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
		headers = append(headers, "digest")
	}
	var lines []string
	for _, h := range headers {
		switch h {
		case "(request-target)":
			lines = append(lines, h+": "+strings.ToLower(req.Method)+" "+req.URL.RequestURI())
		case "host":
			lines = append(lines, "host: "+req.URL.Host)
		default:
			lines = append(lines, h+": "+req.Header.Get(h))
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return err
	}
	req.Header.Set("Signature", fmt.Sprintf(`keyId="%s",algorithm="hs2019",headers="%s",signature="%s"`,
		keyID, strings.Join(headers, " "), base64.StdEncoding.EncodeToString(sig)))
	return nil
}

// get is a signed GET as GoToSocial's Dereference makes it: one attempt (key fetches are
// SetFastFail), 200 and an ActivityStreams content type required.
func (p *Peer) get(ctx context.Context, rawURL string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", apAccept)
	req.Header.Set("Accept-Charset", "utf-8")
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	if err := p.sign(req, nil); err != nil {
		return nil, err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", rawURL, res.Status)
	}
	if !asContentType(res.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("GET %s: non activity streams response: %s", rawURL, res.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	return doc, nil
}

// Deliver POSTs body to inbox signed as vera, GoToSocial style, and returns the answer.
func (p *Peer) Deliver(ctx context.Context, inbox string, body []byte) (int, []byte, error) {
	return p.deliverAs(ctx, inbox, body, p.key, p.KeyID())
}

// deliverAs is Deliver signed with another of the peer's keys (the instance account's).
func (p *Peer) deliverAs(ctx context.Context, inbox string, body []byte, key *rsa.PrivateKey, keyID string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inbox, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", postContentType)
	req.Header.Set("Accept-Charset", "utf-8")
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	if err := p.signAs(req, body, key, keyID); err != nil {
		return 0, nil, err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(res.Body, maxBody))
	return res.StatusCode, out, nil
}

// send delivers an activity and fails on any answer but 2xx. GoToSocial retries 5xx, 429 and
// network errors with backoff and takes every other status as final; a test wants to see the
// first answer, so send tries once.
func (p *Peer) send(ctx context.Context, inbox string, act map[string]any) error {
	body, err := json.Marshal(act)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sent = append(p.sent, sentActivity{id: idOf(act), inbox: inbox, body: body})
	p.mu.Unlock()
	status, res, err := p.Deliver(ctx, inbox, body)
	if err != nil {
		return fmt.Errorf("POST %s: %w", inbox, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("POST %s: %d %s", inbox, status, strings.TrimSpace(string(res)))
	}
	return nil
}

type sentActivity struct {
	id, inbox string
	body      []byte
}

// Redeliver sends the activity vera last sent with the id activityID once more, the same
// bytes to the same inbox with a new signature, as GoToSocial's delivery retry does, and
// returns the answer.
func (p *Peer) Redeliver(ctx context.Context, activityID string) (int, []byte, error) {
	p.mu.Lock()
	var last *sentActivity
	for i := len(p.sent) - 1; i >= 0 && last == nil; i-- {
		if p.sent[i].id == activityID {
			last = &p.sent[i]
		}
	}
	p.mu.Unlock()
	if last == nil {
		return 0, nil, fmt.Errorf("gtspeer: vera never sent %s", activityID)
	}
	return p.Deliver(ctx, last.inbox, last.body)
}

type authErr struct {
	status int
	reason string
}

func unauthorized(format string, args ...any) *authErr {
	return &authErr{status: http.StatusUnauthorized, reason: fmt.Sprintf(format, args...)}
}

// internal is GoToSocial's answer when the key or its owner could not be fetched: callForPubKey
// and the owner's dereference return internal errors, which the inbox answers 500.
func internal(format string, args ...any) *authErr {
	return &authErr{status: http.StatusInternalServerError, reason: fmt.Sprintf(format, args...)}
}

// authenticate is AuthenticateFederatedRequest: the account whose key signed r. A keyId the
// peer knows (as some account's publicKey.id) is verified with the stored key, without a
// fetch. Otherwise the keyId is dereferenced (one signed GET), the signature verified with
// the key found there, and its owner dereferenced, WebFingered over https and required to
// have the same key.
//
// Like GoToSocial it checks neither the Date nor the Digest against the body, and accepts any
// signed header list.
func (p *Peer) authenticate(ctx context.Context, r *http.Request) (*account, string, *authErr) {
	raw := r.Header.Get("Signature")
	if raw == "" {
		return nil, "", unauthorized(errUnsigned)
	}
	params, err := mastopeer.ParseSignature(raw)
	if err != nil {
		return nil, "", unauthorized("malformed signature: %v", err)
	}
	keyID := params["keyId"]
	if u, err := url.Parse(keyID); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, keyID, unauthorized("keyId %q is not a URL", keyID)
	}
	sig, err := base64.StdEncoding.DecodeString(params["signature"])
	if err != nil {
		return nil, keyID, unauthorized(errUnsigned)
	}
	headers := strings.Fields(strings.ToLower(params["headers"]))
	if len(headers) == 0 {
		headers = []string{"date"}
	}
	p.mu.Lock()
	acc := p.byKeyID[keyID]
	p.mu.Unlock()
	var pub *rsa.PublicKey
	var owner string
	if acc != nil {
		pub = acc.key
	} else {
		var aerr *authErr
		if pub, owner, aerr = p.derefKey(ctx, keyID); aerr != nil {
			return nil, keyID, aerr
		}
	}
	if !verifies(r, headers, pub, sig) {
		return nil, keyID, unauthorized("%s (key %s)", errUnsigned, keyID)
	}
	if acc != nil {
		return acc, keyID, nil
	}
	p.mu.Lock()
	handshake := p.derefs[owner] > 0
	p.mu.Unlock()
	if handshake && r.Method == http.MethodGet {
		// GoToSocial's handshake (UserGet, pubKeyAuth.Handshaking): while we dereference
		// the owner, its server fetches our actor to check our signature. Waiting for the
		// owner would wait forever; the signature is good, so the fetch is answered.
		return &account{uri: owner, keyID: keyID, key: pub}, keyID, nil
	}
	acc, err = p.account(ctx, owner)
	if err != nil {
		return nil, keyID, internal("dereferencing owner %s of key %s: %v", owner, keyID, err)
	}
	if !acc.key.Equal(pub) {
		return nil, keyID, unauthorized("key mismatch: %s is not the key of its owner %s", keyID, owner)
	}
	return acc, keyID, nil
}

// verifies tries the signature over the request target with and without the query, as
// GoToSocial does, with RSA-SHA256 (the only kind of key Weltgewebe has).
func verifies(r *http.Request, headers []string, pub *rsa.PublicKey, sig []byte) bool {
	for _, withQuery := range []bool{true, false} {
		target := r.URL.RequestURI()
		if !withQuery {
			target = r.URL.EscapedPath()
		}
		var lines []string
		for _, h := range headers {
			switch h {
			case "(request-target)":
				lines = append(lines, h+": "+strings.ToLower(r.Method)+" "+target)
			case "host":
				lines = append(lines, "host: "+r.Host)
			default:
				lines = append(lines, h+": "+strings.Join(r.Header.Values(h), ", "))
			}
		}
		sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil {
			return true
		}
	}
	return false
}

// derefKey is callForPubKey plus parsePubKeyBytes: GET the keyId (the fragment never leaves
// the client); an actor gives its first publicKey, whose id is not compared with the keyId;
// anything else must be a bare key (untyped, Key or CryptographicKey) with a top-level owner.
// A "PublicKey"-typed stub is not recognised, as in GoToSocial's go-fed fork.
func (p *Peer) derefKey(ctx context.Context, keyID string) (*rsa.PublicKey, string, *authErr) {
	doc, err := p.get(ctx, keyID)
	if err != nil {
		return nil, "", internal("error dereferencing public key %s: %v", keyID, err)
	}
	var key map[string]any
	switch {
	case doc["publicKey"] != nil:
		key = firstObject(doc["publicKey"])
	case doc["publicKeyPem"] != nil && (doc["type"] == nil || doc["type"] == "Key" || doc["type"] == "CryptographicKey"):
		key = doc
	}
	if key == nil {
		return nil, "", unauthorized("resource at %s did not contain recognizable public key", keyID)
	}
	owner, ok := key["owner"].(string)
	if !ok || owner == "" {
		return nil, "", unauthorized("public key at %s has no owner IRI", keyID)
	}
	pemText, _ := key["publicKeyPem"].(string)
	pub, err := mastopeer.ParseRSAPublicKey(pemText)
	if err != nil {
		return nil, "", unauthorized("public key at %s: %v", keyID, err)
	}
	return pub, owner, nil
}

// account returns the remote account uri, dereferencing it the first time as GoToSocial's
// enrichAccount does: the actor at uri must say it is uri, be an actor type, have a
// preferredUsername (a plain string), its first publicKey must be owned by itself, and
// preferredUsername@host must WebFinger, over https, to an account of that name.
func (p *Peer) account(ctx context.Context, uri string) (*account, error) {
	p.mu.Lock()
	acc := p.accounts[uri]
	p.mu.Unlock()
	if acc != nil {
		return acc, nil
	}
	p.mu.Lock()
	p.derefs[uri]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.derefs[uri]--
		p.mu.Unlock()
	}()
	doc, err := p.get(ctx, uri)
	if err != nil {
		return nil, err
	}
	if id := idOf(doc); id != uri && idOf(doc["url"]) != uri {
		return nil, fmt.Errorf("dereferenced %s has id %s", uri, id)
	}
	switch typeOf(doc) {
	case "Application", "Group", "Organization", "Person", "Service":
	default:
		if !hasAnyType(doc, "Application", "Group", "Organization", "Person", "Service") {
			return nil, fmt.Errorf("%s: unusable actor type %q", uri, typeOf(doc))
		}
	}
	name, _ := doc["preferredUsername"].(string)
	if name == "" || looksLikeIRI(name) {
		return nil, fmt.Errorf("%s: missing username", uri)
	}
	key := firstObject(doc["publicKey"])
	if key == nil {
		return nil, fmt.Errorf("%s: no publicKey", uri)
	}
	if owner, _ := key["owner"].(string); owner != idOf(doc) {
		return nil, fmt.Errorf("%s: publicKey owner %q is not the actor", uri, owner)
	}
	pemText, _ := key["publicKeyPem"].(string)
	pub, err := mastopeer.ParseRSAPublicKey(pemText)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", uri, err)
	}
	if err := p.webfinger(ctx, name, hostOf(idOf(doc))); err != nil {
		return nil, err
	}
	acc = &account{uri: idOf(doc), username: name, displayName: displayName(doc), keyID: idOf(key), key: pub}
	acc.inbox, _ = doc["inbox"].(string)
	if ep, ok := doc["endpoints"].(map[string]any); ok {
		acc.sharedInbox, _ = ep["sharedInbox"].(string)
	}
	p.mu.Lock()
	p.accounts[acc.uri] = acc
	if uri != acc.uri {
		p.accounts[uri] = acc
	}
	p.byKeyID[acc.keyID] = acc
	p.mu.Unlock()
	return acc, nil
}

// webfinger is GoToSocial's Finger: always https, the resource query-escaped, signed, and the
// answer's subject must name the user asked for, with a self link of an ActivityStreams type.
func (p *Peer) webfinger(ctx context.Context, user, domain string) error {
	u := "https://" + domain + "/.well-known/webfinger?resource=" + url.QueryEscape("acct:"+user+"@"+domain)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jrd+json,application/json")
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	if err := p.sign(req, nil); err != nil {
		return err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("webfinger %s@%s: %w", user, domain, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("webfinger %s@%s: %s", user, domain, res.Status)
	}
	var jrd struct {
		Subject string `json:"subject"`
		Links   []struct {
			Rel, Type, Href string
		} `json:"links"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxBody)).Decode(&jrd); err != nil {
		return fmt.Errorf("webfinger %s@%s: %w", user, domain, err)
	}
	got, _, _ := strings.Cut(strings.TrimPrefix(jrd.Subject, "acct:"), "@")
	if !strings.HasPrefix(jrd.Subject, "acct:") || got != user {
		return fmt.Errorf("webfinger %s@%s: subject %q names another user", user, domain, jrd.Subject)
	}
	for _, l := range jrd.Links {
		if l.Rel == "self" && asContentType(l.Type) && (strings.HasPrefix(l.Href, "https://") || strings.HasPrefix(l.Href, "http://")) {
			return nil
		}
	}
	return fmt.Errorf("webfinger %s@%s: no self link of an ActivityStreams type", user, domain)
}

// lookup resolves an actor URL or a handle (user@host) to a known account, as vera searching
// for it would: a handle through WebFinger, then the actor dereferenced.
func (p *Peer) lookup(ctx context.Context, target string) (*account, error) {
	if !strings.HasPrefix(target, "https://") && !strings.HasPrefix(target, "http://") {
		user, domain, ok := strings.Cut(strings.TrimPrefix(target, "@"), "@")
		if !ok {
			return nil, fmt.Errorf("not a handle: %q", target)
		}
		href, err := p.fingerSelf(ctx, user, domain)
		if err != nil {
			return nil, err
		}
		target = href
	}
	return p.account(ctx, target)
}

func (p *Peer) fingerSelf(ctx context.Context, user, domain string) (string, error) {
	u := "https://" + domain + "/.well-known/webfinger?resource=" + url.QueryEscape("acct:"+user+"@"+domain)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/jrd+json,application/json")
	if err := p.sign(req, nil); err != nil {
		return "", err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var jrd struct {
		Links []struct{ Rel, Type, Href string } `json:"links"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&jrd) != nil {
		return "", fmt.Errorf("webfinger %s@%s: %s", user, domain, res.Status)
	}
	for _, l := range jrd.Links {
		if l.Rel == "self" && asContentType(l.Type) {
			return l.Href, nil
		}
	}
	return "", fmt.Errorf("webfinger %s@%s: no self link", user, domain)
}

func firstObject(v any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return x
	case []any:
		if len(x) > 0 {
			m, _ := x[0].(map[string]any)
			return m
		}
	}
	return nil
}

func hasAnyType(doc map[string]any, types ...string) bool {
	for _, t := range types {
		if mastopeer.HasType(doc, t) {
			return true
		}
	}
	return false
}

// displayName is ASRepresentationToAccount's display name: the actor's name, else its
// preferredUsername. go-fed reads a name that parses as a URL with a scheme as an IRI, and
// GoToSocial does not normalise actor names back (only statuses' and oneOf options'), so
// ExtractName returns the IRI's string: "Antrag: Bank am Markt" shows as "antrag: Bank am
// Markt", and a #fragment comes back re-escaped.
func displayName(doc map[string]any) string {
	name, _ := doc["name"].(string)
	if name == "" {
		name, _ = doc["preferredUsername"].(string)
		return name
	}
	if u, err := url.Parse(name); err == nil && u.Scheme != "" {
		return u.String()
	}
	return name
}

// DisplayName is the display name vera is shown for the account at uri, dereferencing it as
// GoToSocial does when she opens its profile.
func (p *Peer) DisplayName(ctx context.Context, uri string) (string, error) {
	acc, err := p.account(ctx, uri)
	if err != nil {
		return "", err
	}
	return acc.displayName, nil
}

// looksLikeIRI is go-fed's test for a string property that it reads as an IRI: url.Parse
// succeeds with a scheme.
func looksLikeIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != ""
}
