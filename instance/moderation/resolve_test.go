package moderation

import (
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// A remote target is an https IRI of another host; an http one only where federation itself
// speaks plain http (serve --dev, the test rigs' loopback peers), never in production.
func TestResolveRemoteTargets(t *testing.T) {
	for _, c := range []struct {
		base      string
		plainHTTP bool
		ref       string
		remote    bool
	}{
		{"https://lindenau.example.org", false, "https://mastodon.example/users/anna", true},
		{"https://lindenau.example.org", false, "http://mastodon.example/users/anna", false},
		{"https://lindenau.example.org", true, "http://mastodon.example/users/anna", true},
		{"https://lindenau.example.org", true, "https://mastodon.example/users/anna", true},
		{"http://127.0.0.1:8080", true, "http://127.0.0.9:41234/users/alice", true},
		{"http://127.0.0.1:8080", true, "http://127.0.0.1:8080/users/alice", false}, // our own host
		{"http://127.0.0.1:8080", true, "ftp://127.0.0.9/users/alice", false},
		{"http://127.0.0.1:8080", true, "http://user@127.0.0.9/users/alice", false},
		{"http://127.0.0.1:8080", true, "http:///users/alice", false},
	} {
		s := NewService(nil, clock.NewDev(), nil, Options{BaseURL: c.base, PlainHTTP: c.plainHTTP})
		got, err := s.resolve(t.Context(), nil, c.ref)
		if remote := err == nil && got.Kind == KindRemote && got.ID == c.ref; remote != c.remote {
			t.Errorf("base %s, plain http %v: %s resolved to %+v, %v; want remote %v", c.base, c.plainHTTP, c.ref, got, err, c.remote)
		}
	}
}
