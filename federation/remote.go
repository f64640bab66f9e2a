package federation

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/transport"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// remoteActor is what we keep of an actor on another server.
type remoteActor struct {
	IRI, Host, Type, Username, Name string
	Inbox, SharedInbox              string
	KeyID, PublicKeyPem             string
	Multikeys                       []vocab.Multikey
	Ortsweberei                     string
	Verified                        bool
	FetchedAt                       time.Time
}

// IsOrtsweberei reports whether the actor is another Weltgewebe instance's Ortsweberei.
func (a *remoteActor) IsOrtsweberei() bool {
	return strings.Contains(" "+a.Type+" ", " Ortsweberei ") || strings.Contains(a.Type, "#Ortsweberei")
}

// deliveryInbox is where activities for this actor go: its server's shared inbox if it has one.
func (a *remoteActor) deliveryInbox() string {
	if a.SharedInbox != "" {
		return a.SharedInbox
	}
	return a.Inbox
}

var (
	errWrongOrigin = errors.New("federation: the document is not the one asked for, from its own host")
	// errNotAnActor: the document came, and it is no actor we can use (it may be a key
	// document naming its owner: lookupKey).
	errNotAnActor = errors.New("federation: not an actor")
)

// remoteError is how an exchange with another server failed. The network errors in it (a
// refused connection, a body cut short) look like those of a lost database connection; marked
// as the other server's, they are never taken for an outage of ours (ourOutage).
type remoteError struct {
	iri    string
	status int // the status the other server answered with; 0 when no answer came
	err    error
}

func (e *remoteError) Error() string { return "federation: fetch " + e.iri + ": " + e.err.Error() }
func (e *remoteError) Unwrap() error { return e.err }

// ourOutage reports whether err means that a request could not be served now for want of our
// own database or of time (outage.Fault), and not because of what the sender or another server
// did: then it is answered 503, never refused. A request past its own deadline is ours whatever
// was running when the time ran out: a fetch from another server that failed on the expired
// context says nothing about that server.
func ourOutage(ctx context.Context, err error) bool {
	if err != nil && outage.PastDeadline(ctx) {
		return true
	}
	_, ok := outage.Fault(ctx, err)
	return ok && !errors.As(err, new(*remoteError))
}

// temporary reports whether an exchange with another server failed for a reason that may pass
// by itself: no answer came (a refused connection, a timeout, a body cut short), or the answer
// was 408, 429 or a 5xx. A key or an object that could not be had for such a reason is asked
// for again later, never taken as absent. What the SSRF guard refused is never temporary, nor
// a document too large or a redirect loop: the same server would send the same again.
func temporary(err error) bool {
	var re *remoteError
	if !errors.As(err, &re) || final(err) || errors.Is(err, transport.ErrTooLarge) || errors.Is(err, transport.ErrTooManyRedirects) {
		return false
	}
	return re.status == 0 || re.status >= 500 || re.status == http.StatusRequestTimeout || re.status == http.StatusTooManyRequests
}

// mayPass reports whether a failure to find something out while processing an activity can
// pass, so that the activity is retried rather than decided on: another server could not answer
// just now (temporary), or our database could not (any error of it but "no rows": a lost
// connection, a statement timeout, the job's deadline).
func mayPass(err error) bool {
	switch {
	case err == nil, final(err), errors.Is(err, pgx.ErrNoRows):
		return false
	case errors.As(err, new(*remoteError)):
		return temporary(err)
	}
	return database.Unreachable(err) || errors.As(err, new(*pgconn.PgError)) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// ourFailure reports whether err is a failure of our own database (mayPass, and not another
// server's): what failed is ours to mend, never the sender's to be refused for.
func ourFailure(err error) bool {
	return mayPass(err) && !errors.As(err, new(*remoteError))
}

// final reports whether a failed fetch can never go through by trying again: the SSRF guard
// refused the address or the scheme, the domain is blocked, the origin answered with another
// document than the one asked for, or with one that holds a string that is not text (the same
// document again would be refused again). Nothing that depends on it is retried.
func final(err error) bool {
	return transport.Refused(err) || errors.Is(err, blocks.ErrBlocked) || errors.Is(err, errWrongOrigin) || errors.Is(err, vocab.ErrNotText)
}

// actorTTL is how long a fetched actor (and its key) is trusted before it is fetched again.
const actorTTL = 24 * time.Hour

// remoteActor returns the actor, from the cache unless it is stale or refresh is asked for.
func (s *Service) remoteActor(ctx context.Context, actorIRI string, refresh bool) (*remoteActor, error) {
	if err := s.blocks.Check(ctx, iri.HostOf(actorIRI)); err != nil {
		return nil, err
	}
	if !refresh {
		a, err := s.cachedActor(ctx, actorIRI)
		if err == nil && s.wall.Now().Sub(a.FetchedAt) < actorTTL {
			return a, nil
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			// Whether we have it could not be found out: fetching it instead would blame the
			// other server for what happens next (the request's time running out, say).
			return nil, fmt.Errorf("federation: stored actor %s: %w", actorIRI, err)
		}
	}
	body, err := s.fetch(ctx, actorIRI)
	if err != nil {
		return nil, err
	}
	doc, err := vocab.DecodeActor(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errNotAnActor, actorIRI, err)
	}
	if doc.ID != actorIRI && iri.HostOf(doc.ID) != iri.HostOf(actorIRI) {
		return nil, errWrongOrigin
	}
	a := &remoteActor{IRI: doc.ID, Host: iri.HostOf(doc.ID), Type: strings.Join(doc.Type, " "), Username: doc.PreferredUsername, Name: doc.Name,
		Inbox: doc.Inbox, SharedInbox: doc.SharedInbox(), Multikeys: doc.AssertionMethod, Ortsweberei: doc.Ortsweberei,
		Verified: doc.Verified != nil && *doc.Verified, FetchedAt: s.wall.Now()}
	if k, ok := doc.Key(); ok {
		a.KeyID, a.PublicKeyPem = k.ID, k.PublicKeyPem
	}
	if a.Inbox == "" || iri.HostOf(a.Inbox) != a.Host {
		return nil, fmt.Errorf("%w: %s has no inbox on its own host", errNotAnActor, actorIRI)
	}
	mk, _ := json.Marshal(a.Multikeys)
	_, err = s.pool.Exec(ctx, `
INSERT INTO ap_actors (iri, host, type, preferred_username, name, inbox, shared_inbox, key_id, public_key_pem, multikeys, ortsweberei, verified, fetched_at)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), nullif($8, ''), nullif($9, ''), $10, nullif($11, ''), $12, $13)
ON CONFLICT (iri) DO UPDATE SET host = excluded.host, type = excluded.type, preferred_username = excluded.preferred_username,
    name = excluded.name, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, key_id = excluded.key_id,
    public_key_pem = excluded.public_key_pem, multikeys = excluded.multikeys, ortsweberei = excluded.ortsweberei,
    verified = excluded.verified, fetched_at = excluded.fetched_at`,
		a.IRI, a.Host, a.Type, a.Username, a.Name, a.Inbox, a.SharedInbox, a.KeyID, a.PublicKeyPem, mk, a.Ortsweberei, a.Verified, a.FetchedAt)
	if err != nil {
		return nil, fmt.Errorf("federation: store actor: %w", err)
	}
	return a, nil
}

func (s *Service) cachedActor(ctx context.Context, actorIRI string) (*remoteActor, error) {
	var a remoteActor
	var shared, keyID, pemText, ortsweberei *string
	var mk []byte
	err := s.pool.QueryRow(ctx, `
SELECT iri, host, type, preferred_username, name, inbox, shared_inbox, key_id, public_key_pem, multikeys, ortsweberei, verified, fetched_at
FROM ap_actors WHERE iri = $1`, actorIRI).Scan(&a.IRI, &a.Host, &a.Type, &a.Username, &a.Name, &a.Inbox, &shared, &keyID, &pemText, &mk, &ortsweberei, &a.Verified, &a.FetchedAt)
	if err != nil {
		return nil, err
	}
	a.SharedInbox, a.KeyID, a.PublicKeyPem, a.Ortsweberei = deref(shared), deref(keyID), deref(pemText), deref(ortsweberei)
	_ = json.Unmarshal(mk, &a.Multikeys)
	return &a, nil
}

// resolveKey is the key resolver of incoming signatures: the key's document (the actor, or a
// key document naming its owner), cached in memory and with the actor, and fetched again when
// refresh is asked.
//
// A refresh fetches at most once per key id per refetchEvery; a refresh asked for sooner is
// answered with the key we have (httpsig.Verify then does not retry), so a stream of bad
// signatures naming one key costs one fetch a minute, not one each.
func (s *Service) resolveKey(ctx context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	if refresh && !s.pubkeys.mayRefetch(keyID) {
		refresh = false
	}
	if refresh {
		s.pubkeys.drop(keyID)
	} else if k, ok := s.pubkeys.get(keyID); ok {
		if err := s.blocks.Check(ctx, k.host); err != nil {
			return nil, "", err
		}
		return k.pub, k.owner, nil
	}
	pub, owner, err := s.lookupKey(ctx, keyID, refresh)
	if err != nil {
		return nil, "", err
	}
	s.pubkeys.put(keyID, cachedKey{pub: pub, owner: owner, host: iri.NormalHost(iri.HostOf(owner))})
	return pub, owner, nil
}

func parsePublicKey(text string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("federation: public key is not PEM")
	}
	if pub, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return pub, nil
	}
	return x509.ParsePKCS1PublicKey(block.Bytes)
}

// fetch GETs an ActivityStreams document, signed by the instance actor (so that servers with
// authorized fetch answer), through the SSRF-guarded client.
func (s *Service) fetch(ctx context.Context, target string) ([]byte, error) {
	if err := s.blocks.Check(ctx, iri.HostOf(target)); err != nil {
		return nil, err
	}
	k, err := s.keys.Get(ctx, iri.InstancePath)
	if err != nil {
		return nil, err
	}
	body, res, err := s.client.Get(ctx, target, ActivityJSON+`, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`,
		func(r *http.Request) error {
			return httpsig.Sign(r, nil, s.iri.Of(iri.InstancePath)+"#main-key", k.RSA, s.wall.Now())
		})
	if err != nil {
		re := &remoteError{iri: target, err: err}
		if res != nil && errors.Is(err, transport.ErrStatus) {
			re.status = res.StatusCode // and not when the body of a 200 was cut short
		}
		return nil, re
	}
	if res.StatusCode != http.StatusOK {
		return nil, &remoteError{iri: target, status: res.StatusCode, err: errors.New(res.Status)}
	}
	// A redirect to another host is that host speaking, not the one the IRI names.
	if res.Request != nil && res.Request.URL != nil && !iri.SameOrigin(res.Request.URL.String(), target) {
		return nil, fmt.Errorf("%w: %s was redirected to %s", errWrongOrigin, target, res.Request.URL.Redacted())
	}
	return body, nil
}

// lookupWebfinger resolves user@host to the actor's IRI, asking the host over scheme.
func (s *Service) lookupWebfinger(ctx context.Context, scheme, user, host string) (string, error) {
	u := url.URL{Scheme: scheme, Host: host, Path: "/.well-known/webfinger", RawQuery: url.Values{"resource": {"acct:" + user + "@" + host}}.Encode()}
	body, res, err := s.client.Get(ctx, u.String(), "application/jrd+json, application/json", nil)
	if err != nil {
		return "", fmt.Errorf("federation: webfinger %s@%s: %w", user, host, err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("federation: webfinger %s@%s: %s", user, host, res.Status)
	}
	var jrd struct {
		Links []jrdLink `json:"links"`
	}
	if err := json.Unmarshal(body, &jrd); err != nil {
		return "", fmt.Errorf("federation: webfinger %s@%s: %w", user, host, err)
	}
	for _, l := range jrd.Links {
		if l.Rel == "self" && (strings.HasPrefix(l.Type, ActivityJSON) || strings.Contains(l.Type, "activitystreams")) {
			return l.Href, nil
		}
	}
	return "", fmt.Errorf("federation: webfinger %s@%s: no ActivityPub actor", user, host)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
