package publish

import (
	"slices"
	"testing"

	"github.com/weltgewebe/weltgewebe/federation/internal/actors"
)

// Who gets which of a new Antrag's two activities, when one server's followers follow
// different local actors: a follower of the Antrag's own actor uses the Create (Mastodon and
// GoToSocial take a Create from an actor followed there), a follower of the Ortsweberei only
// the Announce, a neighbouring Ortsweberei only the Create. A server with followers of both
// kinds behind one shared inbox gets both, once each.
func TestNewAntragInboxes(t *testing.T) {
	const id = "antrag:1"
	person := actors.Remote{Type: "Person"}
	neighbour := actors.Remote{Type: "Group Ortsweberei"}
	fs := []follower{
		{Local: "ortsweberei", Inbox: "https://masto.example/inbox", Actor: person},
		{Local: id, Inbox: "https://masto.example/inbox", Actor: person},
		{Local: "ortsweberei", Inbox: "https://gts.example/users/vera/inbox", Actor: person},
		{Local: id, Inbox: "https://gts.example/users/jonas/inbox", Actor: person},
		{Local: "ortsweberei", Inbox: "https://only-group.example/inbox", Actor: person},
		{Local: "ortsweberei", Inbox: "https://nachbar.example/ap/inbox", Actor: neighbour},
	}
	locals := []string{"ortsweberei", id}
	create := inboxesFor(outgoing{locals: locals, only: usesCreate}, fs)
	announce := inboxesFor(outgoing{locals: []string{"ortsweberei"}, only: usesAnnounce}, fs)
	update := inboxesFor(outgoing{locals: locals}, fs)
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"Create", create, []string{"https://masto.example/inbox", "https://gts.example/users/jonas/inbox", "https://nachbar.example/ap/inbox"}},
		{"Announce", announce, []string{"https://masto.example/inbox", "https://gts.example/users/vera/inbox", "https://only-group.example/inbox"}},
		{"Update", update, []string{"https://masto.example/inbox", "https://gts.example/users/vera/inbox", "https://gts.example/users/jonas/inbox",
			"https://only-group.example/inbox", "https://nachbar.example/ap/inbox"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s goes to %v, want %v", c.what, c.got, c.want)
		}
	}
}
