// Package fetch dereferences: signed GETs through the SSRF-guarded client, the rule that an
// object is believed only from its origin, the WebFinger client, and how a failed exchange with
// another server is told from a failure of ours.
package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/internal/transport"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// ErrWrongOrigin: the document is not the one asked for, from its own host.
var ErrWrongOrigin = errors.New("federation: the document is not the one asked for, from its own host")

// Fetcher GETs documents from other servers, signed by the instance actor.
type Fetcher struct {
	client *transport.Client
	blocks *blocks.Blocks
	sign   Signer
}

// Signer returns how to sign a request of ours now, or why it cannot (our keys could not be
// had: a failure of ours, never taken for the other server's).
type Signer func(ctx context.Context) (func(*http.Request) error, error)

// New returns the fetcher. It asks blocks before every request and signs with sign.
func New(client *transport.Client, b *blocks.Blocks, sign Signer) *Fetcher {
	return &Fetcher{client: client, blocks: b, sign: sign}
}

// RemoteError is how an exchange with another server failed. The network errors in it (a
// refused connection, a body cut short) look like those of a lost database connection; marked
// as the other server's, they are never taken for an outage of ours (OurOutage).
type RemoteError struct {
	iri    string
	status int // the status the other server answered with; 0 when no answer came
	err    error
}

func (e *RemoteError) Error() string { return "federation: fetch " + e.iri + ": " + e.err.Error() }
func (e *RemoteError) Unwrap() error { return e.err }

// OurOutage reports whether err means that a request could not be served now for want of our
// own database or of time (outage.Fault), and not because of what the sender or another server
// did: then it is answered 503, never refused. A request past its own deadline is ours whatever
// was running when the time ran out: a fetch from another server that failed on the expired
// context says nothing about that server.
func OurOutage(ctx context.Context, err error) bool {
	if err != nil && outage.PastDeadline(ctx) {
		return true
	}
	_, ok := outage.Fault(ctx, err)
	return ok && !errors.As(err, new(*RemoteError))
}

// Temporary reports whether an exchange with another server failed for a reason that may pass
// by itself: no answer came (a refused connection, a timeout, a body cut short), or the answer
// was 408, 429 or a 5xx. A key or an object that could not be had for such a reason is asked
// for again later, never taken as absent. What the SSRF guard refused is never Temporary, nor
// a document too large or a redirect loop: the same server would send the same again.
func Temporary(err error) bool {
	var re *RemoteError
	if !errors.As(err, &re) || Final(err) || errors.Is(err, transport.ErrTooLarge) || errors.Is(err, transport.ErrTooManyRedirects) {
		return false
	}
	return re.status == 0 || re.status >= 500 || re.status == http.StatusRequestTimeout || re.status == http.StatusTooManyRequests
}

// MayPass reports whether a failure to find something out while processing an activity can
// pass, so that the activity is retried rather than decided on: another server could not answer
// just now (Temporary), or our database could not (any error of it but "no rows": a lost
// connection, a statement timeout, the job's deadline).
func MayPass(err error) bool {
	switch {
	case err == nil, Final(err), errors.Is(err, pgx.ErrNoRows):
		return false
	case errors.As(err, new(*RemoteError)):
		return Temporary(err)
	}
	return database.Unreachable(err) || errors.As(err, new(*pgconn.PgError)) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// OurFailure reports whether err is a failure of our own database (MayPass, and not another
// server's): what failed is ours to mend, never the sender's to be refused for.
func OurFailure(err error) bool {
	return MayPass(err) && !errors.As(err, new(*RemoteError))
}

// Final reports whether a failed fetch can never go through by trying again: the SSRF guard
// refused the address or the scheme, the domain is blocked, the origin answered with another
// document than the one asked for, or with one that holds a string that is not text (the same
// document again would be refused again). Nothing that depends on it is retried.
func Final(err error) bool {
	return transport.Refused(err) || errors.Is(err, blocks.ErrBlocked) || errors.Is(err, ErrWrongOrigin) || errors.Is(err, vocab.ErrNotText)
}

// Get GETs an ActivityStreams document, signed by the instance actor (so that servers with
// authorized fetch answer), through the SSRF-guarded client.
func (f *Fetcher) Get(ctx context.Context, target string) ([]byte, error) {
	if err := f.blocks.Check(ctx, iri.HostOf(target)); err != nil {
		return nil, err
	}
	sign, err := f.sign(ctx)
	if err != nil {
		return nil, err
	}
	body, res, err := f.client.Get(ctx, target, iri.ActivityJSON+`, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, sign)
	if err != nil {
		re := &RemoteError{iri: target, err: err}
		if res != nil && errors.Is(err, transport.ErrStatus) {
			re.status = res.StatusCode // and not when the body of a 200 was cut short
		}
		return nil, re
	}
	if res.StatusCode != http.StatusOK {
		return nil, &RemoteError{iri: target, status: res.StatusCode, err: errors.New(res.Status)}
	}
	// A redirect to another host is that host speaking, not the one the IRI names.
	if res.Request != nil && res.Request.URL != nil && !iri.SameOrigin(res.Request.URL.String(), target) {
		return nil, fmt.Errorf("%w: %s was redirected to %s", ErrWrongOrigin, target, res.Request.URL.Redacted())
	}
	return body, nil
}

// WebFinger resolves user@host to the actor's IRI, asking the host over scheme.
func (f *Fetcher) WebFinger(ctx context.Context, scheme, user, host string) (string, error) {
	u := url.URL{Scheme: scheme, Host: host, Path: "/.well-known/webfinger", RawQuery: url.Values{"resource": {"acct:" + user + "@" + host}}.Encode()}
	body, res, err := f.client.Get(ctx, u.String(), "application/jrd+json, application/json", nil)
	if err != nil {
		return "", fmt.Errorf("federation: webfinger %s@%s: %w", user, host, err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("federation: webfinger %s@%s: %s", user, host, res.Status)
	}
	var jrd struct {
		Links []struct{ Rel, Type, Href string } `json:"links"`
	}
	if err := json.Unmarshal(body, &jrd); err != nil {
		return "", fmt.Errorf("federation: webfinger %s@%s: %w", user, host, err)
	}
	for _, l := range jrd.Links {
		if l.Rel == "self" && (strings.HasPrefix(l.Type, iri.ActivityJSON) || strings.Contains(l.Type, "activitystreams")) {
			return l.Href, nil
		}
	}
	return "", fmt.Errorf("federation: webfinger %s@%s: no ActivityPub actor", user, host)
}

// FromOrigin returns the object an activity of actor refers to, as the object's own server has it.
// It is the one place that decides whether an object is believable from the activity's
// sender: only an object's origin may say what it is. A copy embedded by an actor of the
// object's own host is taken as sent (that server signed the delivery); a copy embedded by
// anyone else is not read at all, and the object is fetched from its id, as one that was only
// named is (Object).
func (f *Fetcher) FromOrigin(ctx context.Context, actor string, ref vocab.Ref) ([]byte, error) {
	if ref.ID == "" {
		return nil, iri.ErrNotFound
	}
	if ref.Embedded() && iri.SameOrigin(ref.ID, actor) {
		// ref.ID may have come from an "href": the copy must carry the id itself.
		if id, err := vocab.DecodeID(ref.Object); err != nil || id != ref.ID {
			return nil, fmt.Errorf("%w: an embedded object without its id %s", ErrWrongOrigin, ref.ID)
		}
		return ref.Object, nil
	}
	return f.Object(ctx, ref.ID)
}

// Object fetches an object from its origin by its id. The document must be the one asked
// for: its id is iri exactly, and it came from iri's host (Get refuses a redirect elsewhere).
func (f *Fetcher) Object(ctx context.Context, target string) ([]byte, error) {
	body, err := f.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	id, err := vocab.DecodeID(body)
	if errors.Is(err, vocab.ErrNotText) {
		return nil, fmt.Errorf("federation: object %s: %w", target, err)
	}
	if err != nil || id != target {
		return nil, fmt.Errorf("%w: %s answered with the document %q", ErrWrongOrigin, target, id)
	}
	return body, nil
}
