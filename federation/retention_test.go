package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// The inbox keeps an activity's body only until it is processed (a day at most), and its id
// for thirty days, to refuse a repeated delivery; then it forgets the id too.
func TestInboxRetention(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	var a struct {
		ID        string              `json:"id"`
		Fediverse struct{ ID string } `json:"fediverse"`
	}
	jana.Post("/api/antraege", map[string]string{"title": "Bank"}).Expect(t, 201).JSON(t, &a)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	inbox := inst.URL + "/ap/inbox"

	reply, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "/statuses/1/activity", "type": "Create", "actor": peer.ActorID(),
		"object": map[string]any{"id": peer.ActorID() + "/statuses/1", "type": "Note", "attributedTo": peer.ActorID(),
			"inReplyTo": a.Fediverse.ID, "content": "<p>Gern!</p>", "published": time.Now().UTC().Format(time.RFC3339),
			"to": []string{mastopeer.Public}}})
	// This one names an object that cannot be fetched: its processing fails and is retried.
	stuck, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "/statuses/2/activity", "type": "Create", "actor": peer.ActorID(), "object": peer.ActorID() + "/statuses/2"})
	for _, b := range [][]byte{reply, stuck} {
		if code, body, err := peer.Deliver(ctx, inbox, b, mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
			t.Fatalf("delivery: %d %s %v", code, body, err)
		}
	}
	comments := func() int {
		var v struct{ Comments []struct{ ID string } }
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &v)
		return len(v.Comments)
	}
	waitFor(t, "the reply to be shown", patience, func() bool { return comments() == 1 })
	kept := func(id string) bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND body IS NOT NULL`, id) == 1
	}
	known := func(id string) bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1`, id) == 1
	}
	replyID, stuckID := peer.ActorID()+"/statuses/1/activity", peer.ActorID()+"/statuses/2/activity"
	receivedAt := func(id string) (at time.Time) {
		if err := inst.Pool.QueryRow(ctx, `SELECT received_at FROM ap_inbox WHERE activity_id = $1`, id).Scan(&at); err != nil {
			t.Fatalf("the reply's inbox row: %v", err)
		}
		return at
	}
	redeliver := func() {
		t.Helper()
		if code, body, err := peer.Deliver(ctx, inbox, reply, mastopeer.SignOptions{}); err != nil || code != http.StatusAccepted {
			t.Fatalf("the reply again: %d %s %v, want 202 (acknowledged, as Mastodon and GoToSocial answer)", code, body, err)
		}
	}
	// Within the window a delivery of the same id is acknowledged and not taken: no body, the
	// row as it was.
	repeat := func() {
		t.Helper()
		before := receivedAt(replyID)
		redeliver()
		if kept(replyID) || !receivedAt(replyID).Equal(before) {
			t.Fatal("a repeated delivery within the 30 days was taken again")
		}
	}

	// The sweeps run whenever the dev clock moves; the job queue records a finished job a
	// moment after its work is done, so the first sweep may not see it finished yet.
	waitFor(t, "the processed activity's body to be dropped", patience, func() bool {
		inst.Advance("1s")
		return !kept(replyID)
	})
	if !known(replyID) {
		t.Fatal("the processed activity's id was forgotten at once")
	}
	if !kept(stuckID) {
		t.Fatal("an activity still to be processed lost its body")
	}
	if comments() != 1 {
		t.Fatal("dropping the body dropped what processing made of it")
	}

	inst.Advance("24h")
	if kept(stuckID) || !known(stuckID) {
		t.Fatalf("after a day: body kept %v, id known %v; want the id only", kept(stuckID), known(stuckID))
	}
	repeat()

	inst.Advance("28d") // 29 days and a minute after it arrived: still a repeat
	repeat()
	if !known(replyID) {
		t.Fatal("the id was forgotten within the 30 days")
	}

	inst.Advance("2d") // past the window: the id is forgotten, the same delivery is taken again
	if known(replyID) || known(stuckID) {
		t.Fatal("ids older than 30 days are still kept")
	}
	redeliver()
	if !known(replyID) {
		t.Fatal("the delivery taken again is not recorded")
	}
	waitFor(t, "the delivery taken again to be processed", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, replyID) == 1
	})
	if n := comments(); n != 1 {
		t.Fatalf("the reply taken again is shown %d times", n)
	}
}
