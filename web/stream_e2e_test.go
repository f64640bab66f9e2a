package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// TestStreamPage runs e2e/stream.e2e.mjs (issue 17) against the real chain: the instance,
// nginx-rtmp with the production config's rtmp{} block and locations (internal/testrig/
// streamtest), and ffmpeg pushing a test pattern; the browser loads the app through nginx, as
// viewers do. Lea on a phone goes from the map to the stream, still "Geplant"; the broadcast
// starts, her page goes "Live" and the video plays (natively: Debian's Chromium has its own HLS
// player), its time advancing; Ben on a wide screen plays
// it with hls.js (the page made to believe the browser has no HLS), the chat beside the
// video. They write to each other, Lea's votes reorder "Oben" on both screens without a
// number anywhere, a moderator's hide takes a message off both, and when the broadcast stops
// Lea's page says offline. Then Ben, a streamer, makes a stream, sees its key once with the
// server for OBS, rotates it and ends the stream.
//
// The script asks this test for what only the rig can do over a small server of its own
// (WG_CONTROL): /start and /stop start and end ffmpeg's broadcast, /hide?id= hides a message
// as a moderator.
func TestStreamPage(t *testing.T) {
	b := requireBrowser(t)
	streamtest.Binary(t)
	streamtest.FFmpeg(t)
	const secret = "rtmp-secret-of-the-page-test"
	inst := instancetest.Start(t, instancetest.Options{Name: "Stream-Weberei", Bounds: lindenau, RTMPSecret: secret})
	ngx := streamtest.Start(t, streamtest.Options{Instance: strings.TrimPrefix(inst.URL, "http://"), Secret: secret})
	admin := inst.Admin()
	lea := inst.VerifiedResident("Lea Lindner", 51.3372, 12.3290)
	ben := inst.VerifiedResident("Ben Brenner", 51.3400, 12.3350)
	admin.Do("PUT", "/api/admin/accounts/"+ben.ID+"/roles/streamer", nil).Expect(t, http.StatusOK)

	var s struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		HLSURL    string `json:"hls_url"`
		IngestKey string `json:"ingest_key"`
	}
	admin.Post("/api/streams", map[string]any{"title": "Ortsrat live"}).Expect(t, http.StatusCreated).JSON(t, &s)
	// The broadcast starts when the script asks (/start): Lea waits on the stream's page for it,
	// as an audience waits for an assembly to begin.
	var mu sync.Mutex
	var broadcast *streamtest.Broadcast
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/start":
			broadcast = streamtest.Push(t, ngx.RTMP+"/"+s.IngestKey)
		case "/stop":
			if broadcast == nil || !broadcast.End() {
				http.Error(w, "ffmpeg did not stop", http.StatusInternalServerError)
			}
		case "/hide":
			res := admin.Post("/api/admin/inhalte/hide", map[string]string{"target": r.URL.Query().Get("id"), "reason": "Test: vom Stream genommen"})
			w.WriteHeader(res.Status)
			_, _ = w.Write(res.Body)
		default:
			http.NotFound(w, r)
		}
	}))
	defer control.Close()

	b.run(t, "e2e/stream.e2e.mjs", "WG_URL="+ngx.URL, "WG_CONTROL="+control.URL, "WG_STREAM="+s.ID, "WG_PASSWORD="+instancetest.ResidentPassword,
		"WG_LEA_EMAIL="+lea.Email, "WG_LEA_NAME=Lea Lindner", "WG_BEN_EMAIL="+ben.Email, "WG_BEN_NAME=Ben Brenner")
}
