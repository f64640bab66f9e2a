// Package iri is every IRI and path federation mints and reads back: the paths of our
// actors, the IRIs of our objects and activities, and how a remote IRI's host is read. It
// holds no state beyond the base URL and asks no database.
package iri

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// IRIs. Every local actor has a path; its IRI is the base URL followed by the path.

// The paths of the instance's Application actor (it signs our fetches), of the Ortsweberei's
// Group, and of the shared inbox.
const (
	InstancePath = "/ap/instance"
	GroupPath    = "/ap/ortsweberei"
	SharedInbox  = "/ap/inbox"
)

// UserPath is the path of a resident's actor.
func UserPath(handle string) string { return "/ap/users/" + handle }

// AntragActorPath is the path of an Antrag's own actor.
func AntragActorPath(id uuid.UUID) string { return "/ap/antraege/" + id.String() + "/actor" }

// UserFollowKey is how ap_followers names a resident's actor (by its path, /ap/users/{handle}):
// follows and deliveries must agree on it.
func UserFollowKey(path string) string {
	return "user:" + strings.ToLower(strings.TrimPrefix(path, "/ap/users/"))
}

// Base mints the IRIs of one instance: its base URL (e.g. https://lindenau.example.org) and
// the host in it (with port, if any), the domain of our handles.
type Base struct {
	url, host string
}

// New is the IRIs under baseURL, an absolute URL without a trailing slash, whose host is host.
func New(baseURL, host string) Base { return Base{url: baseURL, host: host} }

// URL is the base URL.
func (b Base) URL() string { return b.url }

// Host is the domain part of our Fediverse handles.
func (b Base) Host() string { return b.host }

// Of is the IRI of a local path.
func (b Base) Of(path string) string { return b.url + path }

// Group is the Ortsweberei's actor.
func (b Base) Group() string { return b.Of(GroupPath) }

// User is a resident's actor.
func (b Base) User(handle string) string { return b.Of(UserPath(handle)) }

// Antrag is an Antrag's Question object.
func (b Base) Antrag(id uuid.UUID) string { return b.Of("/ap/antraege/" + id.String()) }

// AntragActor is the actor a Fediverse user follows to follow one Antrag.
func (b Base) AntragActor(id uuid.UUID) string { return b.Of(AntragActorPath(id)) }

// Activity is the id of the activity of a public event; suffix names the ones derived from it
// ("/announce", "/note", "/update", "/update/<Antrag>").
func (b Base) Activity(eventID int64, suffix string) string {
	return b.Of(fmt.Sprintf("/ap/activities/%d%s", eventID, suffix))
}

// Stimme is a cast or changed Stimme, by the event that recorded it.
func (b Base) Stimme(eventID int64) string {
	return b.Of(fmt.Sprintf("/ap/stimmen/%d", eventID))
}

// Delegation is a delegation object.
func (b Base) Delegation(id uuid.UUID) string {
	return b.Of("/ap/delegationen/" + id.String())
}

// Einspruch is a resident's objection to an Antrag (one per resident and Antrag).
func (b Base) Einspruch(antragID, accountID uuid.UUID) string {
	return b.Of("/ap/antraege/" + antragID.String() + "/einsprueche/" + accountID.String())
}

// StreamNote is the Ortsweberei's post about a livestream.
func (b Base) StreamNote(id uuid.UUID) string { return b.Of("/ap/streams/" + id.String()) }

// StreamPage is a livestream's page in the web app, which the post links to.
func (b Base) StreamPage(id uuid.UUID) string { return b.Of("/streams/" + id.String()) }

// Knoten is a Knoten's Place.
func (b Base) Knoten(id uuid.UUID) string { return b.Of("/ap/knoten/" + id.String()) }

// Faden is a Faden.
func (b Base) Faden(id uuid.UUID) string { return b.Of("/ap/faeden/" + id.String()) }

// FollowersOf is the followers collection of the local actor at actorPath.
func (b Base) FollowersOf(actorPath string) string { return b.Of(actorPath + "/followers") }

// Local reports whether an IRI is ours, and returns its path.
func (b Base) Local(iri string) (string, bool) {
	p, ok := strings.CutPrefix(iri, b.url)
	if !ok || (p != "" && !strings.HasPrefix(p, "/")) {
		return "", false
	}
	return p, true
}

// HostOf is the host (with port, if any) of an IRI, lower case; "" when it has none.
func HostOf(iri string) string {
	u, err := url.Parse(iri)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// SameOrigin reports whether two IRIs are on the same server (host and port).
func SameOrigin(a, b string) bool {
	h := HostOf(a)
	return h != "" && h == HostOf(b)
}

// NormalHost is a host as domains are compared: lower case, without port or trailing dot.
func NormalHost(host string) string {
	host = strings.ToLower(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(host, ".")
}

// What reading back a name can find: nothing under it, or something that was deleted.
var (
	ErrNotFound = errors.New("federation: not found")
	// ErrGone: the object existed and was deleted (an expired Faden); answered 410.
	ErrGone = errors.New("federation: gone")
)

// NotFoundOr returns ErrNotFound for an error that says the thing does not exist, and err
// itself for any other: that the database could not be asked is no answer that it does not.
func NotFoundOr(err error) error {
	if f, ok := fault.As(err); (ok && f.Kind == fault.NotFound) || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// ActivityJSON is the media type of ActivityStreams documents.
const ActivityJSON = "application/activity+json"
