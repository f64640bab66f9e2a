package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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
	for _, u := range []string{a.Fediverse.Follow + "/outbox", inst.URL + "/ap/ortsweberei/outbox", inst.URL + "/ap/users/" + handleOf(t, inst, jana.ID) + "/outbox"} {
		outboxCountsWhatItServes(t, u)
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
	// Its id answers as a deleted post's does on Mastodon: 410 with a Tombstone, so that a
	// server fetching it again (a reply's parent) takes it as deleted, not as never there.
	var tomb map[string]any
	if got := fetchAP(t, mastopeer.IDOf(note)); got.Status != http.StatusGone || json.Unmarshal(got.Body, &tomb) != nil ||
		tomb["type"] != "Tombstone" || tomb["id"] != note["id"] || tomb["formerType"] != "Note" {
		t.Errorf("the hidden Einspruch's id: %d %s", got.Status, got.Body)
	}
	// The outboxes count what they serve: the Einspruch's Create is neither listed nor counted.
	for _, u := range []string{a.Fediverse.Follow + "/outbox", inst.URL + "/ap/users/" + handleOf(t, inst, hans.ID) + "/outbox", inst.URL + "/ap/ortsweberei/outbox"} {
		outboxCountsWhatItServes(t, u)
	}
	if got := fetchAP(t, a.Fediverse.ID); got.Status != http.StatusOK {
		t.Errorf("the Antrag: %d", got.Status)
	}
	if rej := masto.Rejections(); len(rej) != 0 {
		t.Errorf("the peer refused: %+v", rej)
	}
}

// A Knoten a moderator hid leaves the outboxes: its Create (with its title and place) and its
// Fäden's are no longer listed, and their activities' ids answer 410; shown again, they are back.
func TestHiddenKnotenLeavesTheOutboxes(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	admin := inst.Admin()
	jana := inst.VerifiedResident("Jana", lat, lon)
	var k struct {
		ID    string `json:"id"`
		Faden struct {
			ID string `json:"id"`
		} `json:"faden"`
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank mit Schimpfwort", "lat": lat, "lon": lon}).Expect(t, 201).JSON(t, &k)
	var created, spun int64
	if err := inst.Pool.QueryRow(t.Context(), `SELECT
  (SELECT id FROM events WHERE type = 'KnotenGeknuepft' AND payload->>'knoten_id' = $1),
  (SELECT id FROM events WHERE type = 'FadenGesponnen' AND payload->>'faden_id' = $2)`, k.ID, k.Faden.ID).Scan(&created, &spun); err != nil {
		t.Fatal(err)
	}
	activity := func(id int64) string { return inst.URL + "/ap/activities/" + strconv.FormatInt(id, 10) }
	outboxes := []string{inst.URL + "/ap/ortsweberei/outbox?page=true", inst.URL + "/ap/users/jana/outbox?page=true"}
	shows := func(u string) bool {
		got := fetchAP(t, u)
		if got.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", u, got.Status, got.Body)
		}
		return strings.Contains(string(got.Body), "Schimpfwort")
	}
	for _, u := range []string{activity(created), activity(spun)} {
		if got := fetchAP(t, u); got.Status != http.StatusOK {
			t.Fatalf("%s before: %d %s", u, got.Status, got.Body)
		}
	}
	for _, u := range outboxes {
		deadline := time.Now().Add(patience)
		for !shows(u) { // the outbox reads below the log's horizon
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed the Knoten", u)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	admin.Post("/api/admin/inhalte/hide", map[string]string{"target": k.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	for _, u := range []string{activity(created), activity(spun)} {
		if got := fetchAP(t, u); got.Status != http.StatusGone {
			t.Errorf("%s of the hidden Knoten: %d %s", u, got.Status, got.Body)
		}
	}
	for _, u := range outboxes {
		if shows(u) {
			t.Errorf("%s still shows the hidden Knoten", u)
		}
		outboxCountsWhatItServes(t, strings.TrimSuffix(u, "?page=true"))
	}

	admin.Post("/api/admin/inhalte/unhide", map[string]string{"target": k.ID, "reason": "Widerspruch stattgegeben"}).Expect(t, http.StatusOK)
	if got := fetchAP(t, activity(created)); got.Status != http.StatusOK {
		t.Errorf("the Knoten's Create shown again: %d %s", got.Status, got.Body)
	}
	for _, u := range outboxes {
		if !shows(u) {
			t.Errorf("%s does not show the Knoten again", u)
		}
	}
}

// outboxCountsWhatItServes waits until the outbox's totalItems is the number of items its pages
// serve (both are read below the log's horizon, which moves between the reads), and fails when
// it never is: Mastodon shows totalItems as the account's post count.
func outboxCountsWhatItServes(t *testing.T, outbox string) {
	t.Helper()
	var total, served int
	deadline := time.Now().Add(patience)
	for {
		var root struct {
			TotalItems int    `json:"totalItems"`
			First      string `json:"first"`
		}
		got := fetchAP(t, outbox)
		if got.Status != http.StatusOK || json.Unmarshal(got.Body, &root) != nil {
			t.Fatalf("%s: %d %s", outbox, got.Status, got.Body)
		}
		total, served = root.TotalItems, 0
		for next := root.First; next != ""; {
			var page struct {
				OrderedItems []json.RawMessage `json:"orderedItems"`
				Next         string            `json:"next"`
			}
			got := fetchAP(t, next)
			if got.Status != http.StatusOK || json.Unmarshal(got.Body, &page) != nil {
				t.Fatalf("%s: %d %s", next, got.Status, got.Body)
			}
			served += len(page.OrderedItems)
			next = page.Next
		}
		if total == served {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: totalItems %d, but its pages serve %d", outbox, total, served)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// handleOf is an account's handle, which names its actor.
func handleOf(t *testing.T, inst *instancetest.Instance, id string) string {
	t.Helper()
	var h string
	if err := inst.Pool.QueryRow(t.Context(), `SELECT handle FROM accounts WHERE id = $1`, id).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}
