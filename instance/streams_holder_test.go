package instance_test

import (
	"net/http"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// An ingest key lets a broadcast in only while the account it was shown to (who made the
// stream, or last rotated its key) may run streams: a suspension or a ban refuses its publish
// and cuts a running broadcast off at nginx's next update; the end of the suspension, or a key
// an admin rotates (and so holds), lets it in again; a streamer whose role was taken away holds
// a dead key.
func TestStreamKeyOfASanctionedHolderIsRefused(t *testing.T) {
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: testRTMPSecret})
	admin := inst.Admin()
	guest := inst.Client()
	lea := inst.VerifiedResident("Lea", 51.34, 12.37)
	admin.Do("PUT", "/api/admin/accounts/"+lea.ID+"/roles/streamer", nil).Expect(t, http.StatusOK)
	s := makeStream(t, lea, "Webrat live")
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, s.IngestKey, "1"); status != http.StatusFound {
		t.Fatalf("publish: %d", status)
	}

	// Lea is suspended while her broadcast runs: nginx's next update is refused (nginx drops
	// the broadcast and reports its end), and so is her key's next publish.
	admin.Post("/api/admin/accounts/"+lea.ID+"/suspend", map[string]any{"days": 1, "reason": "Beleidigungen"}).Expect(t, http.StatusOK)
	if status, _ := rtmpCall(t, inst, "update", testRTMPSecret, s.IngestKey, "1"); status != http.StatusForbidden {
		t.Fatalf("update while the key's holder is suspended: %d, want 403", status)
	}
	rtmpCall(t, inst, "publish_done", testRTMPSecret, s.IngestKey, "1")
	before := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet'`)
	if status, loc := rtmpCall(t, inst, "publish", testRTMPSecret, s.IngestKey, "2"); status != http.StatusForbidden || loc != "" {
		t.Fatalf("publish while the key's holder is suspended: %d %q", status, loc)
	}
	if got := streamState(t, guest, s.ID); got.State != "unterbrochen" || inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet'`) != before {
		t.Fatalf("after the refusal: %+v", got)
	}

	// The suspension runs out (instance clock): her key works again.
	inst.Advance("25h")
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, s.IngestKey, "3"); status != http.StatusFound {
		t.Fatalf("publish after the suspension: %d", status)
	}
	rtmpCall(t, inst, "publish_done", testRTMPSecret, s.IngestKey, "3")

	// Banned: refused for good; an admin rotates the key and holds the new one, which works.
	admin.Post("/api/admin/accounts/"+lea.ID+"/ban", map[string]any{"reason": "Wiederholt"}).Expect(t, http.StatusOK)
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, s.IngestKey, "4"); status != http.StatusForbidden {
		t.Fatalf("publish while the key's holder is banned: %d", status)
	}
	var rotated streamAnswer
	admin.Post("/api/streams/"+s.ID+"/key", nil).Expect(t, http.StatusOK).JSON(t, &rotated)
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, rotated.IngestKey, "5"); status != http.StatusFound {
		t.Fatalf("publish with the key an admin rotated: %d", status)
	}

	// A streamer whose role is taken away holds a dead key.
	ben := inst.VerifiedResident("Ben", 51.34, 12.37)
	admin.Do("PUT", "/api/admin/accounts/"+ben.ID+"/roles/streamer", nil).Expect(t, http.StatusOK)
	b := makeStream(t, ben, "Nebenraum")
	admin.Do("DELETE", "/api/admin/accounts/"+ben.ID+"/roles/streamer", nil).Expect(t, http.StatusOK)
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, b.IngestKey, "6"); status != http.StatusForbidden {
		t.Fatalf("publish with the key of a former streamer: %d", status)
	}
}
