package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// TestStreamPage runs e2e/stream.e2e.mjs (issue 17) against the real chain: the instance,
// nginx-rtmp with the production config's rtmp{} block and locations (internal/testrig/
// streamtest), and ffmpeg pushing a test pattern; the browser loads the app through nginx, as
// viewers do. Lea on a phone goes from the map to the live stream, the video plays (natively:
// Debian's Chromium has its own HLS player) and its time advances; Ben on a wide screen plays
// it with hls.js (the page made to believe the browser has no HLS), the chat beside the
// video. They write to each other, Lea's votes reorder "Oben" on both screens without a
// number anywhere, a moderator's hide takes a message off both, and when the broadcast stops
// Lea's page says offline. Then Ben, a streamer, makes a stream, sees its key once with the
// server for OBS, rotates it and ends the stream.
//
// The script asks this test for what only the rig can do over a small server of its own
// (WG_CONTROL): /stop ends ffmpeg's broadcast, /hide?id= hides a message as a moderator.
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
	broadcast := streamtest.Push(t, ngx.RTMP+"/"+s.IngestKey)
	// Live, with a playlist of two segments: what a viewer who opens the page then finds.
	instancetest.WaitFor(t, "the stream live with a playlist", func() bool {
		inst.Client().Get("/api/streams/"+s.ID).Expect(t, http.StatusOK).JSON(t, &s)
		if s.State != "live" {
			return false
		}
		res, err := http.Get(ngx.URL + s.HLSURL)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode == http.StatusOK && strings.Count(string(body), "#EXTINF") >= 2
	})

	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stop":
			if !broadcast.End() {
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
