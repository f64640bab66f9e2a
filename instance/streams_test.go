package instance_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

const testRTMPSecret = "rtmp-secret-of-the-test"

type streamAnswer struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	State       string     `json:"state"`
	ScheduledAt *time.Time `json:"scheduled_at"`
	HLSURL      string     `json:"hls_url"`
	IngestKey   string     `json:"ingest_key"`
}

func streamState(t *testing.T, c *instancetest.Client, id string) streamAnswer {
	t.Helper()
	var s streamAnswer
	c.Get("/api/streams/"+id).Expect(t, http.StatusOK).JSON(t, &s)
	return s
}

// rtmpCall posts a callback as nginx-rtmp does: a form, the secret in the URL's query. It
// returns the status and the Location.
func rtmpCall(t *testing.T, inst *instancetest.Instance, call, secret, key, client string) (int, string) {
	t.Helper()
	return rtmpCallQuery(t, inst, call, "secret="+url.QueryEscape(secret), key, client)
}

func rtmpCallQuery(t *testing.T, inst *instancetest.Instance, call, query, key, client string) (int, string) {
	t.Helper()
	return inst.RTMPCallback(t, call, query, key, client)
}

// The stream API and nginx-rtmp's callbacks, spoken to directly: who may run streams, the key
// shown once, refusals that write nothing, live and offline as events, rotation and the end.
func TestStreamsAPIAndCallbacks(t *testing.T) {
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: testRTMPSecret})
	admin := inst.Admin()
	resident := inst.VerifiedResident("Lea", 51.34, 12.37)
	guest := inst.Client()

	// Only admins and streamers make streams.
	if code := resident.Post("/api/streams", map[string]any{"title": "Webrat live"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "streamer_required" {
		t.Fatalf("resident makes a stream: %s", code)
	}
	guest.Post("/api/streams", map[string]any{"title": "Webrat live"}).Expect(t, http.StatusUnauthorized)
	admin.Do("PUT", "/api/admin/accounts/"+resident.ID+"/roles/streamer", nil).Expect(t, http.StatusOK)
	for _, bad := range []map[string]any{{"title": "  "}, {"title": strings.Repeat("x", 201)}, {"title": "a\u0007b"}} {
		if code := resident.Post("/api/streams", bad).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_title" {
			t.Fatalf("title %q: %s", bad["title"], code)
		}
	}
	if code := resident.Post("/api/streams", map[string]any{"title": "Gestern", "scheduled_at": "2000-01-01T18:00:00Z"}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_scheduled_at" {
		t.Fatalf("stream in the past: %s", code)
	}

	var made streamAnswer
	resident.Post("/api/streams", map[string]any{"title": "Webrat live"}).Expect(t, http.StatusCreated).JSON(t, &made)
	if made.State != "geplant" || len(made.IngestKey) != 64 || made.HLSURL != "" {
		t.Fatalf("made: %+v", made)
	}
	key := made.IngestKey
	later := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	var scheduled streamAnswer
	admin.Post("/api/streams", map[string]any{"title": "Bürgerversammlung", "scheduled_at": later}).Expect(t, http.StatusCreated).JSON(t, &scheduled)
	if scheduled.ScheduledAt == nil || !scheduled.ScheduledAt.Equal(later) {
		t.Fatalf("scheduled: %+v", scheduled)
	}
	// The key is never shown again, nor stored.
	for _, path := range []string{"/api/streams/" + made.ID, "/api/streams"} {
		body := guest.Get(path).Expect(t, http.StatusOK).Body
		if strings.Contains(string(body), key) || strings.Contains(string(body), "ingest_key") {
			t.Fatalf("%s shows the key: %s", path, body)
		}
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'`, key); n != 0 {
		t.Fatalf("the key is in %d events", n)
	}

	events := func() int { return inst.Count(`SELECT count(*) FROM events WHERE type LIKE 'Stream%'`) }
	before := events()
	// Without the secret, or with a wrong one, nginx is refused, whatever the key.
	for _, secret := range []string{"", "rtmp-secret-of-the-tesT", testRTMPSecret + "x"} {
		if status, _ := rtmpCall(t, inst, "publish", secret, key, "1"); status != http.StatusForbidden {
			t.Fatalf("secret %q: %d", secret, status)
		}
	}
	// A wrong key: refused, nothing goes live, nothing written.
	for _, k := range []string{"", "nope", strings.Repeat("0", 64), strings.ToUpper(key)} {
		if status, loc := rtmpCall(t, inst, "publish", testRTMPSecret, k, "1"); status != http.StatusForbidden || loc != "" {
			t.Fatalf("key %q: %d %q", k, status, loc)
		}
	}
	if s := streamState(t, guest, made.ID); s.State != "geplant" || events() != before {
		t.Fatalf("after refusals: %+v, %d events (were %d)", s, events(), before)
	}

	// The relay nginx names must be an address nginx can push to without a resolver.
	for _, relay := range []string{"example.org:1935", "127.0.0.1", "127.0.0.1:1935/x"} {
		q := "secret=" + url.QueryEscape(testRTMPSecret) + "&relay=" + url.QueryEscape(relay)
		if status, _ := rtmpCallQuery(t, inst, "publish", q, key, "7"); status != http.StatusBadRequest {
			t.Fatalf("relay %q: %d", relay, status)
		}
	}
	if s := streamState(t, guest, made.ID); s.State != "geplant" || events() != before {
		t.Fatalf("after bad relays: %+v", s)
	}

	// The right key: a push of the broadcast to nginx's HLS application under the stream's
	// public id, the stream live, one event.
	if status, loc := rtmpCall(t, inst, "publish", testRTMPSecret, key, "7"); status != http.StatusFound || loc != "rtmp://127.0.0.1:1935/hls/"+made.ID {
		t.Fatalf("publish: %d %q", status, loc)
	}
	if s := streamState(t, guest, made.ID); s.State != "live" || s.HLSURL != "/hls/"+made.ID+".m3u8" {
		t.Fatalf("live: %+v", s)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet' AND subject_id = $1`, made.ID); n != 1 {
		t.Fatalf("%d StreamGestartet", n)
	}
	var list struct{ Live, Upcoming, Past []streamAnswer }
	guest.Get("/api/streams").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Live) != 1 || list.Live[0].ID != made.ID || len(list.Upcoming) != 1 || list.Upcoming[0].ID != scheduled.ID || len(list.Past) != 0 {
		t.Fatalf("listing: %+v", list)
	}

	// A second broadcaster with the same key is answered (nginx refuses it itself, "already
	// publishing"), and its end does not take the stream offline.
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, key, "7b"); status != http.StatusFound {
		t.Fatalf("second publisher: %d", status)
	}
	rtmpCall(t, inst, "publish_done", testRTMPSecret, key, "7b")
	if s := streamState(t, guest, made.ID); s.State != "live" {
		t.Fatalf("a second publisher's end took the stream offline: %+v", s)
	}

	// nginx's updates: the running connection keeps it on; one nginx reports as publishing with
	// the stream's key is taken as its broadcast (nginx keeps one publisher per stream: the
	// instance missed the end of the one before, nginx having restarted).
	if status, _ := rtmpCall(t, inst, "update", testRTMPSecret, key, "7"); status != http.StatusNoContent {
		t.Fatalf("update: %d", status)
	}
	rtmpCall(t, inst, "update", testRTMPSecret, key, "12")
	rtmpCall(t, inst, "publish_done", testRTMPSecret, key, "7")
	if s := streamState(t, guest, made.ID); s.State != "live" {
		t.Fatalf("the end of a connection the updates replaced took the stream offline: %+v", s)
	}
	rtmpCall(t, inst, "update", testRTMPSecret, key, "7")
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet' AND subject_id = $1`, made.ID); n != 1 {
		t.Fatalf("%d StreamGestartet after updates", n)
	}

	// A rotation during the broadcast: the old key is refused from now on, but the end of the
	// broadcast it let in still takes the stream offline. The end of another connection (one
	// nginx refused as a second publisher) does not.
	var rotated streamAnswer
	resident.Post("/api/streams/"+made.ID+"/key", nil).Expect(t, http.StatusOK).JSON(t, &rotated)
	if len(rotated.IngestKey) != 64 || rotated.IngestKey == key {
		t.Fatalf("rotated: %+v", rotated)
	}
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, key, "8"); status != http.StatusForbidden {
		t.Fatalf("old key after rotation: %d", status)
	}
	if status, _ := rtmpCall(t, inst, "update", testRTMPSecret, key, "7"); status != http.StatusForbidden {
		t.Fatalf("update of the broadcast with the rotated-away key: %d, want 403 (nginx drops it)", status)
	}
	if status, _ := rtmpCall(t, inst, "publish_done", testRTMPSecret, key, "8"); status != http.StatusNoContent {
		t.Fatalf("publish_done of a refused connection: %d", status)
	}
	if s := streamState(t, guest, made.ID); s.State != "live" {
		t.Fatalf("a refused connection's end took the stream offline: %+v", s)
	}
	rtmpCall(t, inst, "publish_done", testRTMPSecret, key, "7")
	if s := streamState(t, guest, made.ID); s.State != "unterbrochen" || s.HLSURL != "" {
		t.Fatalf("after publish_done: %+v", s)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamUnterbrochen' AND subject_id = $1`, made.ID); n != 1 {
		t.Fatalf("%d StreamUnterbrochen", n)
	}
	// The new key brings it back.
	if status, loc := rtmpCall(t, inst, "publish", testRTMPSecret, rotated.IngestKey, "9"); status != http.StatusFound || loc != "rtmp://127.0.0.1:1935/hls/"+made.ID {
		t.Fatalf("publish with the new key: %d %q", status, loc)
	}

	// Ending is for admins and streamers; afterwards no key works and nothing changes it.
	if code := guest.Post("/api/streams/"+made.ID+"/end", nil).Expect(t, http.StatusUnauthorized).ErrorCode(); code != "unauthenticated" {
		t.Fatalf("guest ends: %s", code)
	}
	other := inst.VerifiedResident("Mo", 51.34, 12.37)
	if code := other.Post("/api/streams/"+made.ID+"/end", nil).Expect(t, http.StatusForbidden).ErrorCode(); code != "streamer_required" {
		t.Fatalf("resident ends: %s", code)
	}
	if code := other.Post("/api/streams/"+made.ID+"/key", nil).Expect(t, http.StatusForbidden).ErrorCode(); code != "streamer_required" {
		t.Fatalf("resident rotates: %s", code)
	}
	admin.Post("/api/streams/"+made.ID+"/end", nil).Expect(t, http.StatusOK)
	if status, _ := rtmpCall(t, inst, "publish", testRTMPSecret, rotated.IngestKey, "10"); status != http.StatusForbidden {
		t.Fatalf("key of an ended stream: %d", status)
	}
	if status, _ := rtmpCall(t, inst, "update", testRTMPSecret, rotated.IngestKey, "9"); status != http.StatusForbidden {
		t.Fatalf("update of a broadcast of an ended stream: %d, want 403 (nginx drops it)", status)
	}
	if code := admin.Post("/api/streams/"+made.ID+"/key", nil).Expect(t, http.StatusGone).ErrorCode(); code != "stream_ended" {
		t.Fatalf("rotate an ended stream: %s", code)
	}
	admin.Post("/api/streams/"+made.ID+"/end", nil).Expect(t, http.StatusGone)
	guest.Get("/api/streams").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Live) != 0 || len(list.Past) != 1 || list.Past[0].State != "beendet" {
		t.Fatalf("listing after the end: %+v", list)
	}
	guest.Get("/api/streams/"+"00000000-0000-0000-0000-000000000000").Expect(t, http.StatusNotFound)
	guest.Get("/api/streams/nope").Expect(t, http.StatusNotFound)

	// nginx's public side never forwards /internal/; the instance alone refuses a browser's
	// cross-site form all the same (no secret).
	if status, _ := rtmpCall(t, inst, "publish", "", rotated.IngestKey, "11"); status != http.StatusForbidden {
		t.Fatalf("no secret: %d", status)
	}
}

// Without an RTMP secret the instance takes no broadcast at all.
func TestStreamIngestOffWithoutSecret(t *testing.T) {
	inst := instancetest.Start(t)
	admin := inst.Admin()
	var made streamAnswer
	admin.Post("/api/streams", map[string]any{"title": "Ohne Ingest"}).Expect(t, http.StatusCreated).JSON(t, &made)
	for _, secret := range []string{"", "anything"} {
		if status, _ := rtmpCall(t, inst, "publish", secret, made.IngestKey, "1"); status != http.StatusForbidden {
			t.Fatalf("secret %q: %d", secret, status)
		}
	}
	if s := streamState(t, admin, made.ID); s.State != "geplant" {
		t.Fatalf("state: %+v", s)
	}
}

// The real chain: nginx with the RTMP module in front of the instance, ffmpeg pushing a test
// pattern. A wrong key is refused; the right one goes live and nginx serves an HLS playlist
// named by the stream's id, with its cache headers; a second broadcaster is refused; a rotation
// cuts the running broadcast off and takes the stream offline; the rotated-away key is refused
// and the new one goes live again; stopping ffmpeg takes it offline; ending the stream cuts
// its broadcast off.
func TestStreamIngestChain(t *testing.T) {
	streamtest.Binary(t)
	streamtest.FFmpeg(t)
	logs := &instancetest.LogCapture{}
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: testRTMPSecret, Log: logs})
	ngx := streamtest.Start(t, streamtest.Options{Instance: strings.TrimPrefix(inst.URL, "http://"), Secret: testRTMPSecret})
	admin := inst.Admin()
	viewer := inst.Client()
	var made streamAnswer
	admin.Post("/api/streams", map[string]any{"title": "Ortsweberei live"}).Expect(t, http.StatusCreated).JSON(t, &made)
	waitState := func(want string) streamAnswer {
		t.Helper()
		var s streamAnswer
		instancetest.WaitFor(t, "stream "+want, func() bool { s = streamState(t, viewer, made.ID); return s.State == want })
		return s
	}

	// A wrong key: nginx drops the broadcaster, nothing goes live, no HLS is written.
	wrong := streamtest.Push(t, ngx.RTMP+"/"+strings.Repeat("ab", 32))
	select {
	case <-wrong.Exited():
	case <-time.After(streamtest.Patience):
		t.Fatalf("ffmpeg with a wrong key still runs after %s", streamtest.Patience)
	}
	if wrong.Err() == nil {
		t.Fatalf("ffmpeg with a wrong key ended well: %s", wrong.Output())
	}
	if s := streamState(t, viewer, made.ID); s.State != "geplant" || len(ngx.HLSFiles()) != 0 {
		t.Fatalf("after a wrong key: %+v, files %v", s, ngx.HLSFiles())
	}

	// The right key: live, and a playlist of at least two segments under the stream's id.
	b := streamtest.Push(t, ngx.RTMP+"/"+made.IngestKey)
	live := waitState("live")
	if live.HLSURL != "/hls/"+made.ID+".m3u8" {
		t.Fatalf("hls_url %q", live.HLSURL)
	}
	playlist, segment := streamtest.Playlist(t, ngx.URL+live.HLSURL, 2)
	if !strings.HasPrefix(segment, made.ID+"-") {
		t.Fatalf("segment %q is not named by the stream's id; playlist:\n%s", segment, playlist)
	}
	for _, f := range ngx.HLSFiles() {
		if strings.Contains(f, made.IngestKey) || !strings.HasPrefix(f, made.ID) {
			t.Fatalf("HLS file %q", f)
		}
	}
	if strings.Contains(playlist, made.IngestKey) {
		t.Fatal("the playlist names the key")
	}
	// The instance is behind the same nginx, and its callbacks are not reachable through it.
	viewer2 := instancetest.NewClient(t, ngx.URL)
	if s := streamState(t, viewer2, made.ID); s.State != "live" {
		t.Fatalf("through nginx: %+v", s)
	}
	if res, err := http.Post(ngx.URL+"/internal/rtmp/publish_done?secret="+testRTMPSecret, "application/x-www-form-urlencoded",
		strings.NewReader("name="+made.IngestKey+"&clientid=1")); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("/internal/ through nginx: %v %v", res, err)
	}

	// A second broadcaster with the same key is refused by nginx; the first goes on, live.
	second := streamtest.Push(t, ngx.RTMP+"/"+made.IngestKey)
	<-second.Exited()
	if !strings.Contains(second.Output(), "Already publishing") {
		t.Fatalf("the second broadcaster was not refused as such: %s", second.Output())
	}
	instancetest.WaitFor(t, "nginx's word that the second publisher ended", func() bool {
		return logs.Has("an RTMP publisher ended that was no stream's broadcast") || logs.Has("a broadcast ended: the stream is offline")
	})
	select {
	case <-b.Exited():
		t.Fatalf("the first broadcast ended: %s", b.Output())
	default:
	}
	if s := streamState(t, viewer, made.ID); s.State != "live" {
		t.Fatalf("after a second broadcaster: %+v", s)
	}

	// A rotation while on air: nginx drops the broadcast at its next update, and its end takes
	// the stream offline.
	var rotated streamAnswer
	admin.Post("/api/streams/"+made.ID+"/key", nil).Expect(t, http.StatusOK).JSON(t, &rotated)
	select {
	case <-b.Exited():
	case <-time.After(streamtest.Patience):
		t.Fatalf("the broadcast with the rotated-away key still runs after %s", streamtest.Patience)
	}
	waitState("unterbrochen")

	// The rotated-away key is refused; the new one brings the stream back.
	old := streamtest.Push(t, ngx.RTMP+"/"+made.IngestKey)
	<-old.Exited()
	if s := streamState(t, viewer, made.ID); s.State != "unterbrochen" {
		t.Fatalf("old key: %+v", s)
	}
	again := streamtest.Push(t, ngx.RTMP+"/"+rotated.IngestKey)
	waitState("live")
	again.Stop(t)
	waitState("unterbrochen")

	// Ended while on air: nginx drops the broadcast at its next update.
	last := streamtest.Push(t, ngx.RTMP+"/"+rotated.IngestKey)
	waitState("live")
	admin.Post("/api/streams/"+made.ID+"/end", nil).Expect(t, http.StatusOK)
	select {
	case <-last.Exited():
	case <-time.After(streamtest.Patience):
		t.Fatalf("the broadcast of an ended stream still runs after %s", streamtest.Patience)
	}
	if s := streamState(t, viewer, made.ID); s.State != "beendet" || s.HLSURL != "" {
		t.Fatalf("after the end: %+v", s)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StreamGestartet' AND subject_id = $1`, made.ID); n != 3 {
		t.Fatalf("%d StreamGestartet, want 3", n)
	}
	if _, err := os.Stat(filepath.Join(ngx.HLSDir, made.IngestKey+".m3u8")); err == nil {
		t.Fatal("a playlist named by the key")
	}
	// nginx's logs tell the broadcasts (a line per session, written as it ends), never a key.
	for deadline := time.Now().Add(streamtest.Patience); strings.Count(ngx.RTMPLog(), "PUBLISH \"live\"") < 5; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nginx-rtmp's access log holds no line for each broadcast: %s", ngx.RTMPLog())
		}
	}
	// The error log as production writes it (warn and up: the test's nginx logs info too, where
	// nginx-rtmp names the key and the callback URL with the secret).
	var warned []string
	for _, line := range strings.Split(ngx.ErrorLog(), "\n") {
		for _, level := range []string{"[warn]", "[error]", "[crit]", "[alert]", "[emerg]"} {
			if strings.Contains(line, level) {
				warned = append(warned, line)
			}
		}
	}
	for name, l := range map[string]string{"access": ngx.RTMPLog(), "error": strings.Join(warned, "\n")} {
		for _, key := range []string{made.IngestKey, rotated.IngestKey} {
			if strings.Contains(l, key) {
				t.Fatalf("nginx's %s log holds an ingest key:\n%s", name, l)
			}
		}
	}
}
