package federation_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/mastopeer"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
)

func types(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		var s []string
		for _, x := range t {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, ",")
	}
	return ""
}

func objectOf(act map[string]any) map[string]any {
	o, _ := act["object"].(map[string]any)
	return o
}

// A Mastodon user follows the Ortsweberei and a single Antrag, and receives what happens to
// it, signed the way Mastodon checks. Replies come back as comments; poll votes of people who
// are not residents are shown and never counted.
func TestMastodonFollowsAndReceives(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const wait = 15 * time.Second

	follow, err := peer.Follow(ctx, inst.URL+"/ap/ortsweberei")
	if err != nil {
		t.Fatal(err)
	}
	peer.WaitAccepted(t, follow, wait)

	var a struct {
		ID        string                      `json:"id"`
		Fediverse struct{ ID, Follow string } `json:"fediverse"`
	}
	jana.Post("/api/antraege", map[string]string{"title": "Trinkbrunnen am Markt", "details_md": "Wasser **für alle**."}).Expect(t, 201).JSON(t, &a)
	announce := peer.WaitFor(t, "Announce", wait)
	if announce["actor"] != inst.URL+"/ap/ortsweberei" || announce["object"] != a.Fediverse.ID {
		t.Fatalf("the Ortsweberei announces the new Antrag: %v", announce)
	}
	create := peer.WaitFor(t, "Create", wait)
	q := objectOf(create)
	if !strings.Contains(types(q["type"]), "Question") || q["name"] != "Trinkbrunnen am Markt" || len(q["oneOf"].([]any)) != 3 {
		t.Fatalf("Create{Question}: %v", create)
	}

	// Follow the single Antrag.
	follow2, err := peer.Follow(ctx, a.Fediverse.Follow)
	if err != nil {
		t.Fatal(err)
	}
	peer.WaitAccepted(t, follow2, wait)
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	einspruch := peer.WaitFor(t, "Create", wait)
	if o := objectOf(einspruch); !strings.Contains(types(o["type"]), "Einspruch") || o["inReplyTo"] != a.Fediverse.ID || o["reason"] != "Zu teuer" {
		t.Fatalf("Create{Einspruch}: %v", einspruch)
	}
	for {
		up := peer.WaitFor(t, "Update", wait)
		if objectOf(up)["extended"] == true {
			if up["actor"] != a.Fediverse.Follow {
				t.Fatalf("the Antrag's own actor updates its Question: %v", up["actor"])
			}
			break
		}
	}

	// A reply, and a poll vote, from the Fediverse.
	note := map[string]any{
		"id": peer.ActorID() + "/statuses/1", "type": "Note", "attributedTo": peer.ActorID(),
		"inReplyTo": a.Fediverse.ID, "content": "<p>Gute Idee!<script>alert(1)</script></p>",
		"published": time.Now().UTC().Format(time.RFC3339), "to": []string{"https://www.w3.org/ns/activitystreams#Public"},
	}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "/statuses/1/activity", "type": "Create", "actor": peer.ActorID(), "object": note}); err != nil {
		t.Fatal(err)
	}
	vote := map[string]any{"id": peer.ActorID() + "#votes/1", "type": "Note", "attributedTo": peer.ActorID(),
		"inReplyTo": a.Fediverse.ID, "name": "Ja", "to": []string{inst.URL + "/ap/antraege/" + a.ID + "/actor"}}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "#votes/1/activity", "type": "Create", "actor": peer.ActorID(), "object": vote}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Comments []struct {
			ContentHTML string `json:"content_html"`
			AuthorName  string `json:"author_name"`
		} `json:"comments"`
		ForeignVotes []struct{ Voter, Choice string } `json:"foreign_votes"`
	}
	deadline := time.Now().Add(wait)
	for {
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &got)
		if len(got.Comments) == 1 && len(got.ForeignVotes) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got.Comments) != 1 || !strings.Contains(got.Comments[0].ContentHTML, "Gute Idee!") || strings.Contains(got.Comments[0].ContentHTML, "script") {
		t.Fatalf("the reply is a comment, without the script: %+v", got.Comments)
	}
	if len(got.ForeignVotes) != 1 || got.ForeignVotes[0].Choice != "yes" || got.ForeignVotes[0].Voter != peer.ActorID() {
		t.Fatalf("the poll vote is shown: %+v", got.ForeignVotes)
	}

	// Unfollow.
	if err := peer.Unfollow(ctx, a.Fediverse.Follow); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(wait)
	for inst.Count(`SELECT count(*) FROM ap_followers WHERE local LIKE 'antrag:%'`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Undo{Follow} did not remove the follower")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Fatalf("the peer refused some of our requests: %+v", rej)
	}
	_ = http.StatusOK
}
