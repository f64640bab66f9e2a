package instance_test

import (
	"net/http"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// makeStream has c (an admin or streamer) make a stream, and returns it with its key.
func makeStream(t *testing.T, c *instancetest.Client, title string) streamAnswer {
	t.Helper()
	var s streamAnswer
	c.Post("/api/streams", map[string]any{"title": title}).Expect(t, http.StatusCreated).JSON(t, &s)
	return s
}

// A stream left live when nginx died (no on_publish_done, no more on_update) goes offline once
// nginx has not reported it for three update intervals (90 s) on the instance clock, by the
// sweep; every update puts that off; a broadcast that does still run brings it back at its next
// update, and that is no new first go-live.
func TestStreamSweepTakesSilentBroadcastsOffline(t *testing.T) {
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: testRTMPSecret})
	admin := inst.Admin()
	guest := inst.Client()
	made := makeStream(t, admin, "Webrat live")
	quiet := makeStream(t, admin, "Nebenraum") // live, and never reported again
	for _, s := range []streamAnswer{made, quiet} {
		if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, s.IngestKey, "c-"+s.ID); status != http.StatusFound {
			t.Fatalf("publish %s: %d", s.Title, status)
		}
	}
	unterbrochen := func(id string) int {
		return inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamUnterbrochen' AND subject_id = $1 AND actor_id IS NULL`, id)
	}

	// 60 s without a word is within the three intervals: both stay live.
	inst.Advance("60s")
	for _, s := range []streamAnswer{made, quiet} {
		if got := streamState(t, guest, s.ID); got.State != "live" {
			t.Fatalf("%s after 60 s: %+v", s.Title, got)
		}
	}
	// nginx reports the first broadcast; 60 s later (120 s after going live) it is still on,
	// and the other one, unreported for 120 s, is taken offline by the sweep, as nginx would
	// have reported its end.
	if status, _ := rtmpCall(t, inst, "update", testRTMPSecret, made.IngestKey, "c-"+made.ID); status != http.StatusNoContent {
		t.Fatalf("update: %d", status)
	}
	inst.Advance("60s")
	if got := streamState(t, guest, made.ID); got.State != "live" {
		t.Fatalf("a reported broadcast after 60 s: %+v", got)
	}
	if got := streamState(t, guest, quiet.ID); got.State != "unterbrochen" || got.HLSURL != "" || unterbrochen(quiet.ID) != 1 {
		t.Fatalf("an unreported broadcast after 120 s: %+v, %d StreamUnterbrochen by the instance", got, unterbrochen(quiet.ID))
	}
	// 91 s after its last report the first goes too.
	inst.Advance("31s")
	if got := streamState(t, guest, made.ID); got.State != "unterbrochen" || unterbrochen(made.ID) != 1 {
		t.Fatalf("91 s after the last report: %+v, %d StreamUnterbrochen by the instance", got, unterbrochen(made.ID))
	}
	inst.Advance("10m") // nothing more to take offline
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamUnterbrochen'`); n != 2 {
		t.Fatalf("%d StreamUnterbrochen, want 2", n)
	}

	// It was nginx's word that was missing, not the broadcast: the next update brings the stream
	// back, as a drop and a return (not its first go-live), and its end is taken as before.
	if status, _ := rtmpCall(t, inst, "update", testRTMPSecret, made.IngestKey, "c-"+made.ID); status != http.StatusNoContent {
		t.Fatalf("update after the sweep: %d", status)
	}
	if got := streamState(t, guest, made.ID); got.State != "live" {
		t.Fatalf("the next update: %+v", got)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet' AND subject_id = $1 AND (payload->>'first')::boolean`, made.ID); n != 1 {
		t.Fatalf("%d first go-lives of one stream", n)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet' AND subject_id = $1`, made.ID); n != 2 {
		t.Fatalf("%d go-lives, want 2", n)
	}
	rtmpCall(t, inst, "publish_done", testRTMPSecret, made.IngestKey, "c-"+made.ID)
	if got := streamState(t, guest, made.ID); got.State != "unterbrochen" {
		t.Fatalf("after publish_done: %+v", got)
	}
}
