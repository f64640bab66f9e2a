package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/chat"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const lat, lon = 51.3370, 12.3340

// patience is a safety net: the tests wait for each message, and a busy machine only makes
// them slower.
const patience = 60 * time.Second

type live struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Message struct {
		ID      string `json:"id"`
		Text    string `json:"text"`
		Account struct{ Name string }
	} `json:"message"`
}

func listen(t *testing.T, inst *instancetest.Instance) <-chan live {
	t.Helper()
	out := listenWith(t, inst, "")
	if m := next(t, out); m.Type != "ready" {
		t.Fatalf("first message %+v, want ready", m)
	}
	return out
}

// listenWith opens /ws/chat with query (e.g. "?cursor=…") and returns its frames from the
// first.
func listenWith(t *testing.T, inst *instancetest.Instance, query string) <-chan live {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(inst.URL, "http://", "ws://", 1)+"/ws/chat"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	out := make(chan live, 100)
	go func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				close(out)
				return
			}
			var m live
			_ = json.Unmarshal(b, &m)
			out <- m
		}
	}()
	return out
}

func next(t *testing.T, ch <-chan live) live {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("closed")
		}
		return m
	case <-time.After(patience):
		t.Fatalf("no message within %s", patience)
		return live{}
	}
}

// A message written through one replica reaches listeners of both, with the writer's name;
// the history lists it; an admin can take it down, and everyone sees it go.
func TestNaehstuebchen(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", ReplicaOf: a})
	onA, onB := listen(t, a), listen(t, b)

	jana := a.Resident("Jana", lat, lon)
	var m struct{ ID string }
	jana.Post("/api/chat", map[string]string{"text": "  Wer bringt Samstag Werkzeug mit?  "}).Expect(t, 201).JSON(t, &m)
	for _, ch := range []<-chan live{onA, onB} {
		got := next(t, ch)
		if got.Type != "message" || got.Message.ID != m.ID || got.Message.Text != "Wer bringt Samstag Werkzeug mit?" || got.Message.Account.Name != "Jana" {
			t.Fatalf("live: %+v", got)
		}
	}
	ben := b.Resident("Ben", lat, lon)
	ben.Post("/api/chat", map[string]string{"text": "Ich!"}).Expect(t, 201)
	next(t, onA)
	var list struct {
		Messages []struct {
			ID, Text string
			Account  struct{ Name string }
		}
	}
	a.Client().Get("/api/chat").Expect(t, 200).JSON(t, &list)
	if len(list.Messages) != 2 || list.Messages[0].Text != "Ich!" || list.Messages[1].Account.Name != "Jana" {
		t.Fatalf("history: %+v", list)
	}
	a.Client().Get("/api/chat?before="+list.Messages[0].ID).Expect(t, 200).JSON(t, &list)
	if len(list.Messages) != 1 || list.Messages[0].ID != m.ID {
		t.Fatalf("older page: %+v", list)
	}

	// Refused, and nothing written.
	rows := a.Rows()
	a.Client().Post("/api/chat", map[string]string{"text": "anonym"}).Expect(t, 401)
	jana.Post("/api/chat", map[string]string{"text": "   "}).Expect(t, 422)
	jana.Post("/api/chat", map[string]string{"text": strings.Repeat("x", 501)}).Expect(t, 422)
	jana.Post("/api/chat", map[string]string{}).Expect(t, 422)
	jana.Do("DELETE", "/api/admin/chat/"+m.ID, nil).Expect(t, 403)
	if after := a.Rows(); after["chat_nachrichten"] != rows["chat_nachrichten"] || after["events"] != rows["events"] {
		t.Fatalf("a refused write wrote: %v → %v", rows, after)
	}

	a.Admin().Do("DELETE", "/api/admin/chat/"+m.ID, nil).Expect(t, 204)
	if got := next(t, onB); got.Type != "message" { // Ben's message first
		t.Fatalf("%+v", got)
	}
	if got := next(t, onB); got.Type != "removed" || got.ID != m.ID {
		t.Fatalf("removal: %+v", got)
	}
	a.Client().Get("/api/chat").Expect(t, 200).JSON(t, &list)
	if len(list.Messages) != 1 {
		t.Fatalf("after removal: %+v", list)
	}
	a.Admin().Do("DELETE", "/api/admin/chat/"+m.ID, nil).Expect(t, 404)
}

// A process that shuts down closes its sockets with 4012 "server restart" (the app reconnects
// at once, with its cursor); a message sent before is read first.
func TestSocketsCloseWithServerRestart(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(a.URL, "http://", "ws://", 1)+"/ws/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if _, b, err := conn.Read(ctx); err != nil || !strings.Contains(string(b), `"ready"`) {
		t.Fatalf("first frame %s %v, want ready", b, err)
	}
	var m struct{ ID string }
	a.Resident("Jana", lat, lon).Post("/api/chat", map[string]string{"text": "Bis gleich"}).Expect(t, 201).JSON(t, &m)
	if _, b, err := conn.Read(ctx); err != nil || !strings.Contains(string(b), m.ID) {
		t.Fatalf("frame %s %v, want the message", b, err)
	}
	go a.Stop()
	_, b, err := conn.Read(ctx)
	if websocket.CloseStatus(err) != 4012 {
		t.Fatalf("after shutdown: %s %v, want the close 4012", b, err)
	}
}

// A socket that comes back with its cursor gets every message it missed before ready, in
// order, also when they are more than one write takes (the catch-up goes out a queue's worth
// at a time, each with its own deadline).
func TestCatchUpLongerThanOneWrite(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t)
	ctx := context.Background()
	cursor, err := a.ChatHub.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jana := a.Resident("Jana", lat, lon)
	by, err := a.Accounts.Get(ctx, uuid.MustParse(jana.ID))
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // more than a queue (256)
	witness := listen(t, a)
	var ids []string
	for i := range n {
		m, err := a.Chat.Write(ctx, chat.Naehstuebchen, by, fmt.Sprintf("Nachricht %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID.String())
	}
	// Once a socket had them all, the hub's ring holds them for the one coming back.
	for got := 0; got < n; {
		if m := next(t, witness); m.Type == "message" {
			got++
		}
	}

	back := listenWith(t, a, "?cursor="+cursor)
	for i, id := range ids {
		m := next(t, back)
		if m.Type != "message" || m.Message.ID != id {
			t.Fatalf("catch-up frame %d: %+v, want message %s", i, m, id)
		}
	}
	if m := next(t, back); m.Type != "ready" {
		t.Fatalf("after the catch-up: %+v, want ready", m)
	}
}
