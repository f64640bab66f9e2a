package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// A moderator hides an Antrag that Mastodon users follow: they get a Delete of the post from
// the Antrag's actor (its author, the only account Mastodon takes a Delete of it from), its
// Question answers 410 with a Tombstone, and the outbox no longer carries its words. Shown
// again, nothing is sent (Mastodon cannot undelete a post) and the Question is served again.
func TestHiddenAntragIsDeletedOnMastodon(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	admin := inst.Admin()
	jana := inst.VerifiedResident("Jana", lat, lon)
	var a antragRef
	jana.Post("/api/antraege", map[string]string{"title": "Gießdienst mit Schimpfwort"}).Expect(t, 201).JSON(t, &a)
	masto := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	masto.FollowAccepted(t, ctx, a.Fediverse.Follow, patience)
	masto.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)
	if got := fetchAP(t, a.Fediverse.ID); got.Status != http.StatusOK {
		t.Fatalf("the Question before: %d %s", got.Status, got.Body)
	}

	admin.Post("/api/admin/inhalte/hide", map[string]string{"target": a.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	del := masto.WaitFor(t, "Delete", patience)
	obj, _ := del["object"].(map[string]any)
	if mastopeer.IDOf(del["actor"]) != a.Fediverse.Follow || obj["id"] != a.Fediverse.ID || obj["type"] != "Tombstone" {
		t.Errorf("the Delete: %v", del)
	}
	waitDelivered(t, inst)
	deletes := 0
	for _, act := range masto.Received() {
		if mastopeer.HasType(act, "Delete") {
			deletes++
		}
	}
	if deletes != 1 { // one shared inbox, though it follows the Ortsweberei and the Antrag
		t.Errorf("%d Deletes, want 1", deletes)
	}
	if rej := masto.Rejections(); len(rej) != 0 {
		t.Errorf("the peer refused: %+v", rej)
	}

	got := fetchAP(t, a.Fediverse.ID)
	var tomb map[string]any
	if got.Status != http.StatusGone || json.Unmarshal(got.Body, &tomb) != nil || tomb["type"] != "Tombstone" || tomb["id"] != a.Fediverse.ID {
		t.Errorf("the hidden Question: %d %s", got.Status, got.Body)
	}
	for _, u := range []string{a.Fediverse.Follow, a.Fediverse.Follow + "/outbox?page=true", inst.URL + "/ap/ortsweberei/outbox?page=true"} {
		if got := fetchAP(t, u); strings.Contains(string(got.Body), "Schimpfwort") {
			t.Errorf("%s still shows the hidden title: %s", u, got.Body)
		}
	}

	// Shown again: served again, and nothing sent.
	before := len(masto.Received())
	admin.Post("/api/admin/inhalte/unhide", map[string]string{"target": a.ID, "reason": "Widerspruch stattgegeben"}).Expect(t, http.StatusOK)
	waitDelivered(t, inst)
	if got := fetchAP(t, a.Fediverse.ID); got.Status != http.StatusOK || !strings.Contains(string(got.Body), "Schimpfwort") {
		t.Errorf("the Question shown again: %d %s", got.Status, got.Body)
	}
	if n := len(masto.Received()); n != before {
		t.Errorf("showing the Antrag again sent %d activities: %v", n-before, masto.Received()[before:])
	}
}

// A moderator hides an Einspruch that went to the Fediverse: whoever got it gets a Delete from
// its author, and its reason leaves the outboxes; the Antrag stays.
func TestHiddenEinspruchIsDeletedOnMastodon(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	admin := inst.Admin()
	jana := inst.VerifiedResident("Jana", lat, lon)
	hans := inst.VerifiedResident("Hans", lat, lon)
	var a antragRef
	jana.Post("/api/antraege", map[string]string{"title": "Gießdienst"}).Expect(t, 201).JSON(t, &a)
	masto := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	masto.FollowAccepted(t, ctx, a.Fediverse.Follow, patience)
	hans.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Eine Beleidigung"}).Expect(t, http.StatusCreated)
	var note map[string]any
	waitFor(t, "the Einspruch at Mastodon", patience, func() bool {
		for _, act := range masto.Received() {
			if o, _ := act["object"].(map[string]any); mastopeer.HasType(act, "Create") && o != nil && mastopeer.HasType(o, "Einspruch") {
				note = o
			}
		}
		return note != nil
	})

	admin.Post("/api/admin/inhalte/hide", map[string]string{"target": a.ID + "/" + hans.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	del := masto.WaitFor(t, "Delete", patience)
	obj, _ := del["object"].(map[string]any)
	if mastopeer.IDOf(del["actor"]) != mastopeer.IDOf(note["attributedTo"]) || obj["id"] != note["id"] || obj["type"] != "Tombstone" {
		t.Errorf("the Delete: %v (the Einspruch was %v)", del, note)
	}
	if got := fetchAP(t, a.Fediverse.Follow+"/outbox?page=true"); strings.Contains(string(got.Body), "Beleidigung") {
		t.Errorf("the outbox still shows the hidden reason: %s", got.Body)
	}
	if got := fetchAP(t, a.Fediverse.ID); got.Status != http.StatusOK {
		t.Errorf("the Antrag: %d", got.Status)
	}
	if rej := masto.Rejections(); len(rej) != 0 {
		t.Errorf("the peer refused: %+v", rej)
	}
}
