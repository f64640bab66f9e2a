package instance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// An anonymous donation moves the balance and names its donor nowhere but in the treasurer's
// journal: not in any public API answer, not on the live map (as it was, and live while it
// happened), not in any ActivityPub document, not in a log line, not in the DATEV export.
// Every public surface is read before the donations and after them; the anonymous donor's id,
// name and handle must occur in each exactly as often as before (they are a resident: their
// Garnrolle is rightly on the map and in their profile). A visible donor, through the same
// steps, must show up in the Ortskonto, its journal and on the map — proof that the surfaces
// read are the ones a donation reaches, so the test can fail.
func TestAnonymousDonorIsNamedNowhere(t *testing.T) {
	t.Parallel()
	logs := &logCapture{}
	datev, err := export.DefaultDATEV("03")
	if err != nil {
		t.Fatal(err)
	}
	datev.Berater, datev.Mandant = 1001, 1
	inst := instancetest.Start(t, instancetest.Options{Log: logs, Bank: httpapi.Bank{DATEV: datev}})
	admin := inst.Admin()
	const kontoLat, kontoLon = 51.3400, 12.3700
	admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Test e. V.", "iban": "DE02120300000000202051",
		"position": map[string]float64{"lat": kontoLat, "lon": kontoLon}}).Expect(t, http.StatusOK)
	kasse := inst.VerifiedResident("Karla Kasse", 51.3420, 12.3720)
	admin.Do("PUT", "/api/admin/accounts/"+kasse.ID+"/roles/kassenwart", nil).Expect(t, http.StatusOK)

	anon := inst.VerifiedResident("Anonyma Verborgen", 51.3380, 12.3680)
	vis := inst.VerifiedResident("Viktor Sichtbar", 51.3410, 12.3650)
	anonHandle, visHandle := handleOf(t, inst, anon.ID), handleOf(t, inst, vis.ID)
	anonMarks := []string{anon.ID, "Anonyma Verborgen", anonHandle, anon.Email}
	visMarks := []string{vis.ID, "Viktor Sichtbar"}

	cells := mapCells(t, inst, 51.3395, 12.3685, 15)
	before := publicSurfaces(t, inst, cells, anon.ID, anonHandle, vis.ID, visHandle)
	logs.mark()

	// The live map, open while it all happens.
	live := dialMap(t, inst, cells)
	states := map[string]bool{}
	live.until(t, "the state of every cell", func(raw string) bool {
		var s struct{ Type, Cell string }
		_ = json.Unmarshal([]byte(raw), &s)
		if s.Type == "state" {
			states[s.Cell] = true
		}
		return len(states) == len(cells)
	})
	fresh := len(live.all()) // what comes after the cells' states is what the donations sent

	donate := func(c *instancetest.Client, cents int, visible bool) string {
		var out struct{ Spende struct{ ID string } }
		c.With(http.Header{"Idempotency-Key": {fmt.Sprintf("k-%s-%d", c.ID, cents)}}).
			Post("/api/spenden", map[string]any{"amount_cents": cents, "visible": visible}).Expect(t, http.StatusCreated).JSON(t, &out)
		return out.Spende.ID
	}
	status := func(id, to string) {
		kasse.Post("/api/spenden/"+id+"/status", map[string]string{"status": to}).Expect(t, http.StatusOK)
	}
	// Anonymous: one through every state to a reversal, one that fails.
	a1 := donate(anon, 2500, false)
	status(a1, "pending")
	status(a1, "settled")
	a2 := donate(anon, 700, false)
	status(a2, "failed")
	a3 := donate(anon, 1200, false)
	status(a3, "pending")
	status(a3, "settled")
	status(a1, "reversed")
	// Visible: the control.
	v1 := donate(vis, 5000, true)
	status(v1, "pending")
	status(v1, "settled")

	// The map feed reads the log in order: once the visible Goldfaden arrived settled, every
	// earlier donation's change has been sent (or never will be).
	live.until(t, "the visible Goldfaden, settled", func(raw string) bool {
		return strings.Contains(raw, v1) && strings.Contains(raw, `"settled"`)
	})
	for _, raw := range live.all()[fresh:] {
		for _, m := range anonMarks {
			if strings.Contains(raw, m) {
				t.Errorf("the live map names the anonymous donor (%q): %s", m, raw)
			}
		}
	}

	// The log of the donations, before the test's own reads below (whose request lines carry
	// the account paths it asks for).
	donationLog := logs.since()
	after := publicSurfaces(t, inst, cells, anon.ID, anonHandle, vis.ID, visHandle)
	for name, text := range after {
		for _, m := range anonMarks {
			if b, a := strings.Count(before[name], m), strings.Count(text, m); a != b {
				t.Errorf("%s: the anonymous donor's %q occurs %d times, before the donations %d:\n%s", name, m, a, b, text)
			}
		}
	}
	for _, name := range []string{"GET /api/konto", "GET /api/konto/journal", "/ws/map state"} {
		if strings.Count(after[name], visMarks[0]) <= strings.Count(before[name], visMarks[0]) {
			t.Errorf("%s does not show the visible donor: the surface is not one a donation reaches\n%s", name, after[name])
		}
	}
	var konto struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	inst.Client().Get("/api/konto").Expect(t, http.StatusOK).JSON(t, &konto)
	if konto.BalanceCents != 1200+5000 {
		t.Errorf("balance %d, want %d: the anonymous donations must move it", konto.BalanceCents, 1200+5000)
	}

	// A donation of someone else is not found by anyone but its donor and the treasurer.
	inst.Client().Get("/api/spenden/"+a1).Expect(t, http.StatusUnauthorized)
	vis.Get("/api/spenden/"+a1).Expect(t, http.StatusNotFound)
	// No event of the donations is an ActivityPub document.
	rows, err := inst.Pool.Query(context.Background(), `SELECT id FROM events WHERE type LIKE 'Spende%' OR type LIKE 'Ortskonto%'`)
	if err != nil {
		t.Fatal(err)
	}
	var events []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		events = append(events, id)
	}
	if rows.Err() != nil || len(events) < 10 {
		t.Fatalf("donation events: %d (%v)", len(events), rows.Err())
	}
	for _, id := range events {
		for _, p := range []string{"/ap/activities/%d", "/ap/activities/%d/note"} {
			res := inst.Client().Get(fmt.Sprintf(p, id))
			if res.Status == http.StatusOK {
				t.Errorf("event %d is served as %s: %s", id, fmt.Sprintf(p, id), res.Body)
			}
		}
	}

	// Logs: not a line with the donor, from the first donation on.
	if logs.total() == 0 {
		t.Fatal("no log record captured at all: the log check would prove nothing")
	}
	for _, line := range donationLog {
		for _, m := range anonMarks {
			if strings.Contains(line, m) {
				t.Errorf("a log line names the anonymous donor (%q): %s", m, line)
			}
		}
	}

	// Exports: the DATEV batch for the accountant says "anonym"; the treasurer's CSV journal
	// is the one place that names the donor (as the tax office may ask; docs/PRIVACY.md).
	month := time.Now().UTC().Format("2006-01")
	datevOut := kasse.Get("/api/konto/export?month="+month+"&format=datev").Expect(t, http.StatusOK)
	csv := kasse.Get("/api/konto/export?month="+month+"&format=csv").Expect(t, http.StatusOK)
	if !strings.Contains(string(csv.Body), "Anonyma Verborgen") {
		t.Errorf("the treasurer's CSV journal does not name the anonymous donor:\n%s", csv.Body)
	}
	if strings.Contains(string(datevOut.Body), "Anonyma") || strings.Contains(string(datevOut.Body), anon.ID) {
		t.Errorf("the DATEV export names the anonymous donor:\n%s", datevOut.Body)
	}
	if !strings.Contains(strings.ToLower(string(datevOut.Body)), "anonym") {
		t.Errorf("the DATEV export does not mark the anonymous donations:\n%s", datevOut.Body)
	}
}

// publicSurfaces reads what anyone can read, without a session, as text by name.
func publicSurfaces(t *testing.T, inst *instancetest.Instance, cells []string, ids ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	c := inst.Client()
	for _, p := range []string{"/api/konto", "/api/konto/journal", "/api/knoten?bbox=12.30,51.30,12.40,51.36", "/api/antraege",
		"/api/chat", "/api/ortsweberei", "/api/delegationen", "/ap/ortsweberei", "/ap/ortsweberei/outbox", "/ap/instance", "/ap/instance/outbox"} {
		out["GET "+p] = string(c.Get(p).Body)
	}
	for i := 0; i+1 < len(ids); i += 2 {
		id, handle := ids[i], ids[i+1]
		out["GET /api/accounts/"+id] = string(c.Get("/api/accounts/" + id).Body)
		out["GET /ap/users/"+handle] = string(c.Get("/ap/users/" + handle).Body)
		out["GET /ap/users/"+handle+"/outbox"] = string(c.Get("/ap/users/" + handle + "/outbox").Body)
	}
	m := dialMap(t, inst, cells)
	var states []string
	seen := map[string]bool{}
	m.until(t, "the state of every cell", func(raw string) bool {
		var s struct{ Type, Cell string }
		_ = json.Unmarshal([]byte(raw), &s)
		if s.Type == "state" && !seen[s.Cell] {
			seen[s.Cell] = true
			states = append(states, raw)
		}
		return len(seen) == len(cells)
	})
	out["/ws/map state"] = strings.Join(states, "\n")
	return out
}

func handleOf(t *testing.T, inst *instancetest.Instance, id string) string {
	t.Helper()
	var a struct{ Handle string }
	inst.Client().Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &a)
	if a.Handle == "" {
		t.Fatalf("account %s has no handle", id)
	}
	return a.Handle
}

func mapCells(t *testing.T, inst *instancetest.Instance, lat, lon float64, zoom int) []string {
	t.Helper()
	var r struct{ Cells []string }
	inst.Client().Get(fmt.Sprintf("/api/map/cells?bbox=%f,%f,%f,%f&zoom=%d", lon-0.01, lat-0.006, lon+0.01, lat+0.006, zoom)).
		Expect(t, http.StatusOK).JSON(t, &r)
	if len(r.Cells) == 0 {
		t.Fatal("no cells")
	}
	return r.Cells
}

// mapConn is a /ws/map client that keeps every message as text.
type mapConn struct {
	mu   sync.Mutex
	msgs []string
	more chan struct{}
}

func dialMap(t *testing.T, inst *instancetest.Instance, cells []string) *mapConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), instancetest.Patience)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(inst.URL, "http://", "ws://", 1)+"/ws/map", nil)
	if err != nil {
		t.Fatalf("dial /ws/map: %v", err)
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	m := &mapConn{more: make(chan struct{}, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			m.mu.Lock()
			m.msgs = append(m.msgs, string(data))
			m.mu.Unlock()
			select {
			case m.more <- struct{}{}:
			default:
			}
		}
	}()
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "cells": cells})
	if err := conn.Write(context.Background(), websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mapConn) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

// until waits for a message for which ok is true (ok sees each message once, in order).
func (m *mapConn) until(t *testing.T, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.After(instancetest.Patience)
	next := 0
	for {
		msgs := m.all()
		for ; next < len(msgs); next++ {
			if ok(msgs[next]) {
				return
			}
		}
		select {
		case <-m.more:
		case <-deadline:
			t.Fatalf("/ws/map: no %s in %d messages", what, len(msgs))
		}
	}
}

// logCapture keeps every log record as a line of text; mark starts what since returns.
type logCapture struct {
	mu    sync.Mutex
	lines []string
	from  int
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logView{l: l, attrs: as}
}
func (l *logCapture) WithGroup(string) slog.Handler { return l }
func (l *logCapture) mark()                         { l.mu.Lock(); l.from = len(l.lines); l.mu.Unlock() }
func (l *logCapture) total() int                    { l.mu.Lock(); defer l.mu.Unlock(); return len(l.lines) }
func (l *logCapture) since() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[l.from:]...)
}

// logView is the capture with attributes that a logger's With added.
type logView struct {
	l     *logCapture
	attrs []slog.Attr
}

func (v *logView) Enabled(context.Context, slog.Level) bool { return true }
func (v *logView) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(v.attrs...)
	return v.l.Handle(ctx, r)
}
func (v *logView) WithAttrs(as []slog.Attr) slog.Handler {
	return &logView{l: v.l, attrs: append(append([]slog.Attr(nil), v.attrs...), as...)}
}
func (v *logView) WithGroup(string) slog.Handler { return v }
