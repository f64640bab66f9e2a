package instance_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// PATCH /api/streams/{id}: admins and streamers change a stream's title and time, checked as
// when it is made; every refusal writes nothing; a change is one public StreamGeaendert with the
// new title and time, at the instance clock; an ended stream stays as it was.
func TestStreamEdit(t *testing.T) {
	inst := instancetest.Start(t)
	admin := inst.Admin()
	streamer := inst.VerifiedResident("Lea", 51.34, 12.37)
	admin.Do("PUT", "/api/admin/accounts/"+streamer.ID+"/roles/streamer", nil).Expect(t, http.StatusOK)
	resident := inst.VerifiedResident("Mo", 51.34, 12.37)
	guest := inst.Client()
	var made streamAnswer
	admin.Post("/api/streams", map[string]any{"title": "Webrat live"}).Expect(t, http.StatusCreated).JSON(t, &made)
	path := "/api/streams/" + made.ID

	refused := func(c *instancetest.Client, p string, body any, status int, code string) {
		t.Helper()
		before, _ := fingerprint(t, inst)
		if got := c.Patch(p, body).Expect(t, status).ErrorCode(); got != code {
			t.Fatalf("PATCH %s %v: %s, want %s", p, body, got, code)
		}
		after, _ := fingerprint(t, inst)
		for table := range before {
			if before[table] != after[table] {
				t.Fatalf("PATCH %s %v (refused, %s) changed %s", p, body, code, table)
			}
		}
	}
	later := inst.DevClock.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	refused(guest, path, map[string]any{"title": "X"}, http.StatusUnauthorized, "unauthenticated")
	refused(resident, path, map[string]any{"title": "X"}, http.StatusForbidden, "streamer_required")
	refused(streamer, "/api/streams/00000000-0000-0000-0000-000000000000", map[string]any{"title": "X"}, http.StatusNotFound, "stream_not_found")
	refused(streamer, "/api/streams/nope", map[string]any{"title": "X"}, http.StatusNotFound, "stream_not_found")
	refused(streamer, path, map[string]any{}, http.StatusUnprocessableEntity, "stream_change_empty")
	refused(streamer, path, map[string]any{"titel": "X"}, http.StatusBadRequest, "unknown_field")
	// Not a time: read as creation reads it (time's own parser: malformed_json).
	refused(streamer, path, map[string]any{"scheduled_at": 5}, http.StatusBadRequest, "malformed_json")
	refused(streamer, path, map[string]any{"scheduled_at": "morgen"}, http.StatusBadRequest, "malformed_json")
	for _, bad := range []any{"  ", strings.Repeat("x", 201), "a\u0007b", nil} {
		refused(streamer, path, map[string]any{"title": bad}, http.StatusUnprocessableEntity, "invalid_title")
	}
	// The past by the instance clock, which is ahead of the wall clock here.
	inst.Advance("72h")
	refused(streamer, path, map[string]any{"scheduled_at": later}, http.StatusUnprocessableEntity, "invalid_scheduled_at")
	refused(streamer, path, map[string]any{"title": "Neu", "scheduled_at": later}, http.StatusUnprocessableEntity, "invalid_scheduled_at")

	// A screen open on the stream hears the change (the chat socket's changed frame).
	screen := openChat(t, inst, made.ID, "sort=neu")
	screen.until(t, func(f frame) bool { return f.Type == "ready" })

	// A streamer sets the title and a time; the answer and the stream say so; one event.
	at := inst.DevClock.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	var got streamAnswer
	streamer.Patch(path, map[string]any{"title": "  Webrat live: Fragen  ", "scheduled_at": at}).Expect(t, http.StatusOK).JSON(t, &got)
	if got.Title != "Webrat live: Fragen" || got.ScheduledAt == nil || !got.ScheduledAt.Equal(at) || got.State != "geplant" {
		t.Fatalf("edited: %+v", got)
	}
	if s := streamState(t, guest, made.ID); s.Title != got.Title || s.ScheduledAt == nil || !s.ScheduledAt.Equal(at) {
		t.Fatalf("read back: %+v", s)
	}
	var heard struct {
		Title       string     `json:"title"`
		ScheduledAt *time.Time `json:"scheduled_at"`
	}
	_ = json.Unmarshal(screen.until(t, func(f frame) bool { return f.Type == "changed" }).raw, &heard)
	if heard.Title != got.Title || heard.ScheduledAt == nil || !heard.ScheduledAt.Equal(at) {
		t.Fatalf("the open screen heard %+v", heard)
	}
	type change struct {
		Title       string     `json:"title"`
		ScheduledAt *time.Time `json:"scheduled_at"`
		By          string     `json:"by"`
		Public      bool
		At          time.Time
	}
	changes := func() []change {
		t.Helper()
		rows, err := inst.Pool.Query(t.Context(), `SELECT payload, public, at FROM events WHERE type = 'StreamGeaendert' AND subject_id = $1 ORDER BY id`, made.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []change
		for rows.Next() {
			var p []byte
			var c change
			if err := rows.Scan(&p, &c.Public, &c.At); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(p, &c); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	cs := changes()
	if len(cs) != 1 || cs[0].Title != "Webrat live: Fragen" || cs[0].ScheduledAt == nil || !cs[0].ScheduledAt.Equal(at) ||
		cs[0].By != streamer.ID || !cs[0].Public {
		t.Fatalf("events: %+v", cs)
	}
	if d := cs[0].At.Sub(inst.DevClock.Now()); d > time.Minute || d < -time.Minute {
		t.Fatalf("event at %s, instance clock %s", cs[0].At, inst.DevClock.Now())
	}

	// The same again changes nothing and writes nothing; an admin takes the time away alone.
	before, _ := fingerprint(t, inst)
	streamer.Patch(path, map[string]any{"title": "Webrat live: Fragen", "scheduled_at": at}).Expect(t, http.StatusOK)
	if after, _ := fingerprint(t, inst); after["events"] != before["events"] || after["streams"] != before["streams"] {
		t.Fatal("an edit that changes nothing wrote")
	}
	admin.Patch(path, map[string]any{"scheduled_at": nil}).Expect(t, http.StatusOK).JSON(t, &got)
	if got.Title != "Webrat live: Fragen" || got.ScheduledAt != nil {
		t.Fatalf("time taken away: %+v", got)
	}
	if cs := changes(); len(cs) != 2 || cs[1].ScheduledAt != nil || cs[1].Title != "Webrat live: Fragen" {
		t.Fatalf("events: %+v", cs)
	}
	if f := screen.until(t, func(f frame) bool { return f.Type == "changed" }); !strings.Contains(string(f.raw), `"scheduled_at":null`) {
		t.Fatalf("the open screen heard %s", f.raw)
	}

	// Ended: it stays as it was.
	admin.Post(path+"/end", nil).Expect(t, http.StatusOK)
	refused(streamer, path, map[string]any{"title": "Danach"}, http.StatusGone, "stream_ended")
}
