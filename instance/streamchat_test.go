package instance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// chatPatience is a safety net: the tests wait for each frame and row, and a busy machine
// only makes them slower.
const chatPatience = 60 * time.Second

// frame is a stream chat socket's frame, as a client reads it.
type frame struct {
	Type    string   `json:"type"`
	Cursor  string   `json:"cursor"`
	ID      string   `json:"id"`
	IDs     []string `json:"ids"`
	State   string   `json:"state"`
	Count   int      `json:"count"`
	Message struct {
		ID, Text string
		Account  struct{ Name string }
	} `json:"message"`
	raw []byte
}

// scoreless fails when a JSON document a client can read carries a number that could tell how
// a message was voted: the only numbers a client may see in a chat answer or frame are its own
// vote (my_vote: 1 or -1) and the viewers frame's count.
func scoreless(t *testing.T, what string, raw []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: not JSON: %s", what, raw)
	}
	viewers := false
	if m, ok := v.(map[string]any); ok && m["type"] == "viewers" {
		viewers = true
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				for _, bad := range []string{"score", "rank", "sum", "votes", "up", "down", "likes", "points", "karma"} {
					if strings.EqualFold(k, bad) || strings.Contains(strings.ToLower(k), "score") {
						t.Errorf("%s: a field %q at %s: %s", what, k, path, raw)
					}
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		case float64:
			switch {
			case strings.HasSuffix(path, ".my_vote") && (x == 1 || x == -1):
			case viewers && path == ".count":
			default:
				t.Errorf("%s: a number %v at %s: %s", what, x, path, raw)
			}
		case string:
			// a number written as a string would do as well; the cursor is the one opaque string
			if !strings.HasSuffix(path, ".cursor") && !strings.HasSuffix(path, ".at") {
				if _, err := json.Number(x).Float64(); err == nil && x != "" {
					t.Errorf("%s: a number-like string %q at %s: %s", what, x, path, raw)
				}
			}
		}
	}
	walk("", v)
}

type chatSocket struct {
	frames chan frame
	conn   *websocket.Conn
	mu     sync.Mutex
	seen   map[string]bool // the frame types that arrived
	count  int             // the last viewers frame's
}

// viewers waits until the socket's viewer count is n (the frame may have come already).
func (s *chatSocket) viewers(t *testing.T, n int) {
	t.Helper()
	s.mu.Lock()
	last := s.count
	s.mu.Unlock()
	if last != n {
		s.until(t, func(f frame) bool { return f.Type == "viewers" && f.Count == n })
	}
}

func (s *chatSocket) saw(typ string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[typ]
}

// openChat opens a stream's chat socket (query: sort, cursor) and reads its frames, each
// checked by scoreless.
func openChat(t *testing.T, inst *instancetest.Instance, id, query string) *chatSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chatPatience)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(inst.URL, "http://", "ws://", 1)+"/ws/streams/"+id+"/chat?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	s := &chatSocket{frames: make(chan frame, 1000), conn: conn, seen: map[string]bool{}}
	go func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				close(s.frames)
				return
			}
			f := frame{raw: b}
			_ = json.Unmarshal(b, &f)
			s.mu.Lock()
			s.seen[f.Type] = true
			if f.Type == "viewers" {
				s.count = f.Count
			}
			s.mu.Unlock()
			s.frames <- f
		}
	}()
	return s
}

// next is the socket's next frame; skipping, when set, lets frames of those types pass.
func (s *chatSocket) next(t *testing.T, skipping ...string) frame {
	t.Helper()
	deadline := time.After(chatPatience)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				t.Fatal("the socket closed")
			}
			scoreless(t, "frame", f.raw)
			if containsStr(skipping, f.Type) {
				continue
			}
			return f
		case <-deadline:
			t.Fatalf("no frame within %s", chatPatience)
			return frame{}
		}
	}
}

// until reads frames until one satisfies ok, and returns it.
func (s *chatSocket) until(t *testing.T, ok func(frame) bool) frame {
	t.Helper()
	for {
		if f := s.next(t); ok(f) {
			return f
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type chatPage struct {
	Messages []struct {
		ID, Text string
		MyVote   int  `json:"my_vote"`
		Hidden   bool `json:"hidden"`
	}
	Next   *string
	Cursor string
}

func readChat(t *testing.T, c *instancetest.Client, path string) chatPage {
	t.Helper()
	res := c.Get(path).Expect(t, http.StatusOK)
	scoreless(t, path, res.Body)
	var p chatPage
	res.JSON(t, &p)
	return p
}

func ids(p chatPage) string {
	var out []string
	for _, m := range p.Messages {
		out = append(out, m.ID)
	}
	return strings.Join(out, ",")
}

// A stream's chat on two replicas: guests read, verified residents write and vote; votes only
// change the order (no number anywhere: every answer and frame is scanned); oben's clients get
// the new order; the stream's state and the viewers over both replicas reach the sockets; a
// moderator's removal reaches both screens; a reconnect with a cursor misses nothing, a cursor
// too old is reset; an ended stream's chat is read, not written.
func TestStreamChat(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", RTMPSecret: testRTMPSecret})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", ReplicaOf: a, RTMPSecret: testRTMPSecret})
	var st streamAnswer
	a.Admin().Post("/api/streams", map[string]string{"title": "Ortsversammlung"}).Expect(t, http.StatusCreated).JSON(t, &st)
	var other streamAnswer
	a.Admin().Post("/api/streams", map[string]string{"title": "Anderswo"}).Expect(t, http.StatusCreated).JSON(t, &other)
	path := "/api/streams/" + st.ID + "/chat"

	guest := b.Client()
	first := readChat(t, guest, path)
	if len(first.Messages) != 0 || first.Cursor == "" || first.Next != nil {
		t.Fatalf("empty room: %+v", first)
	}
	a.Client().Get("/api/streams/01a201cf-d47e-75cf-93d7-cc91d78dc3ce/chat").Expect(t, http.StatusNotFound)
	if code := guest.Get(path+"?sort=beliebt").Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_sort" {
		t.Fatalf("sort: %s", code)
	}

	// One screen on each replica: A in neu, B in oben, both from the history's cursor.
	onA := openChat(t, a, st.ID, "sort=neu&cursor="+first.Cursor)
	onB := openChat(t, b, st.ID, "sort=oben&cursor="+first.Cursor)
	elsewhere := openChat(t, a, other.ID, "sort=oben") // another stream's room: hears nothing of this one
	for _, s := range []*chatSocket{onA, onB} {
		if f := s.next(t); f.Type != "state" || f.State != "geplant" {
			t.Fatalf("first frame: %s", f.raw)
		}
		if f := s.next(t); f.Type != "viewers" || f.Count < 1 {
			t.Fatalf("second frame: %s", f.raw)
		}
		if f := s.next(t, "viewers"); f.Type != "ready" {
			t.Fatalf("third frame: %s", f.raw)
		}
	}

	// Who may write: guests and unverified residents are refused, and nothing is written.
	guest.Post(path, map[string]string{"text": "anonym"}).Expect(t, http.StatusUnauthorized)
	unverified := a.Resident("Ungeprüft", lat, lon)
	if code := unverified.Post(path, map[string]string{"text": "hallo"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "verified_resident_required" {
		t.Fatalf("unverified: %s", code)
	}
	jana := a.VerifiedResident("Jana", lat, lon)
	ben := b.VerifiedResident("Ben", lat, lon)
	jana.Post(path, map[string]string{"text": "   "}).Expect(t, http.StatusUnprocessableEntity)
	jana.Post("/api/streams/01a201cf-d47e-75cf-93d7-cc91d78dc3ce/chat", map[string]string{"text": "wohin?"}).Expect(t, http.StatusNotFound)
	if n := a.Count(`SELECT count(*) FROM chat_nachrichten`); n != 0 {
		t.Fatalf("refused writes wrote %d messages", n)
	}

	var m1, m2 struct{ ID string }
	res := jana.Post(path, map[string]string{"text": "Erste Frage: wann ist das Fest?"}).Expect(t, http.StatusCreated)
	scoreless(t, "POST", res.Body)
	res.JSON(t, &m1)
	ben.Post(path, map[string]string{"text": "Zweite Frage"}).Expect(t, http.StatusCreated).JSON(t, &m2)
	var cursorAfterM1 string
	for _, s := range []*chatSocket{onA, onB} {
		f := s.next(t, "viewers", "order")
		if f.Type != "message" || f.Message.ID != m1.ID || f.Message.Account.Name != "Jana" || f.Cursor == "" {
			t.Fatalf("live m1: %s", f.raw)
		}
		cursorAfterM1 = f.Cursor
		if f := s.next(t, "viewers", "order"); f.Type != "message" || f.Message.ID != m2.ID {
			t.Fatalf("live m2: %s", f.raw)
		}
	}
	// The Nähstübchen is another room: nothing of this stream's chat is in it, and the other
	// stream's room is empty.
	if p := readChat(t, guest, "/api/chat"); len(p.Messages) != 0 {
		t.Fatalf("the Nähstübchen shows a stream's messages: %+v", p)
	}
	if p := readChat(t, guest, "/api/streams/"+other.ID+"/chat"); len(p.Messages) != 0 {
		t.Fatalf("another stream shows this one's messages: %+v", p)
	}

	// Votes: one per person, changeable, not on one's own message; only the order changes.
	votePath := func(id string) string { return path + "/" + id + "/vote" }
	if code := jana.Do("PUT", votePath(m1.ID), map[string]int{"vote": 1}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "vote_own_message" {
		t.Fatalf("own: %s", code)
	}
	ben.Do("PUT", votePath(m1.ID), map[string]int{"vote": 2}).Expect(t, http.StatusUnprocessableEntity)
	ben.Do("PUT", votePath(m1.ID), map[string]any{}).Expect(t, http.StatusUnprocessableEntity)
	ben.Do("PUT", "/api/streams/"+other.ID+"/chat/"+m1.ID+"/vote", map[string]int{"vote": 1}).Expect(t, http.StatusNotFound)
	guest.Do("PUT", votePath(m1.ID), map[string]int{"vote": 1}).Expect(t, http.StatusUnauthorized)
	unverified.Do("PUT", votePath(m1.ID), map[string]int{"vote": 1}).Expect(t, http.StatusForbidden)
	if n := a.Count(`SELECT count(*) FROM chat_bewertungen`); n != 0 {
		t.Fatalf("refused votes wrote %d", n)
	}
	if p := readChat(t, guest, path+"?sort=oben"); ids(p) != m2.ID+","+m1.ID {
		t.Fatalf("oben before votes (newest first): %s", ids(p))
	}
	res = ben.Do("PUT", votePath(m1.ID), map[string]int{"vote": 1}).Expect(t, http.StatusOK)
	scoreless(t, "PUT vote", res.Body)
	if string(res.Body) != `{"my_vote":1}`+"\n" && string(res.Body) != `{"my_vote":1}` {
		t.Fatalf("vote answer: %s", res.Body)
	}
	ben.Do("PUT", votePath(m1.ID), map[string]int{"vote": 1}).Expect(t, http.StatusOK) // the same again: nothing changes
	if f := onB.until(t, func(f frame) bool { return f.Type == "order" && len(f.IDs) == 2 && f.IDs[0] == m1.ID }); f.IDs[1] != m2.ID {
		t.Fatalf("order: %s", f.raw)
	}
	if p := readChat(t, guest, path+"?sort=oben"); ids(p) != m1.ID+","+m2.ID {
		t.Fatalf("oben after an up vote: %s", ids(p))
	}
	if p := readChat(t, guest, path); ids(p) != m2.ID+","+m1.ID {
		t.Fatalf("neu stays newest first: %s", ids(p))
	}
	if p := readChat(t, ben, path+"?sort=oben"); p.Messages[0].MyVote != 1 || p.Messages[1].MyVote != 0 {
		t.Fatalf("Ben's own vote: %+v", p)
	}
	if p := readChat(t, jana, path+"?sort=oben"); p.Messages[0].MyVote != 0 {
		t.Fatalf("Jana sees another's vote as hers: %+v", p)
	}
	// Paging, in each sort.
	page := readChat(t, guest, path+"?sort=oben&limit=1")
	if ids(page) != m1.ID || page.Next == nil {
		t.Fatalf("oben page 1: %+v", page)
	}
	if page = readChat(t, guest, path+"?sort=oben&limit=1&before="+*page.Next); ids(page) != m2.ID {
		t.Fatalf("oben page 2: %+v", page)
	}
	if page = readChat(t, guest, path+"?limit=1&before="+m2.ID); ids(page) != m1.ID || page.Next == nil {
		t.Fatalf("neu page 2: %+v", page)
	}
	// Changed to down: m2 (no votes) goes above m1.
	ben.Do("PUT", votePath(m1.ID), map[string]int{"vote": -1}).Expect(t, http.StatusOK)
	onB.until(t, func(f frame) bool { return f.Type == "order" && len(f.IDs) == 2 && f.IDs[0] == m2.ID })
	// Taken back: 0, and the row is gone.
	ben.Do("PUT", votePath(m1.ID), map[string]int{"vote": 0}).Expect(t, http.StatusOK)
	if n := a.Count(`SELECT count(*) FROM chat_bewertungen`); n != 0 {
		t.Fatalf("a vote taken back left %d rows", n)
	}
	if n := a.Count(`SELECT count(*) FROM events WHERE type = 'NachrichtBewertet' AND NOT public`); n != 3 {
		t.Fatalf("NachrichtBewertet events: %d, want 3 private ones", n)
	}
	if n := a.Count(`SELECT count(*) FROM events WHERE type = 'NachrichtBewertet' AND NOT (payload ?& array['nachricht_id', 'account_id', 'stream_id', 'vote'] AND (SELECT count(*) FROM jsonb_object_keys(payload)) = 4)`); n != 0 {
		t.Fatalf("a NachrichtBewertet carries more than the one vote")
	}

	// The stream goes live: both screens are told.
	if status, _ := rtmpCall(t, a, "publish", testRTMPSecret, st.IngestKey, "7"); status != http.StatusFound {
		t.Fatalf("publish: %d", status)
	}
	for _, s := range []*chatSocket{onA, onB} {
		s.until(t, func(f frame) bool { return f.Type == "state" && f.State == "live" })
	}
	// Viewers over both replicas: one socket on each.
	for _, s := range []*chatSocket{onA, onB} {
		s.viewers(t, 2)
	}

	// A moderator takes m2 down: gone from both screens, on both replicas.
	a.Admin().Do("DELETE", "/api/admin/chat/"+m2.ID, nil).Expect(t, http.StatusNoContent)
	for _, s := range []*chatSocket{onA, onB} {
		s.until(t, func(f frame) bool { return f.Type == "removed" && f.ID == m2.ID && f.Cursor != "" })
	}
	if p := readChat(t, guest, path); ids(p) != m1.ID {
		t.Fatalf("after the removal: %s", ids(p))
	}
	jana.Do("PUT", votePath(m2.ID), map[string]int{"vote": 1}).Expect(t, http.StatusNotFound) // hidden: no votes
	if p := readChat(t, ben, path); len(p.Messages) != 2 || !p.Messages[0].Hidden {
		t.Fatalf("its author sees it, marked: %+v", p)
	}

	// A third message while a screen is away; it comes back with the cursor of m1's frame and
	// is sent what it missed, in order, before ready: m2's removal and m3.
	var m3 struct{ ID string }
	jana.Post(path, map[string]string{"text": "Dritte"}).Expect(t, http.StatusCreated).JSON(t, &m3)
	// (Once replica B has it: a replica that lags sends it live after ready, also nothing lost.)
	for _, s := range []*chatSocket{onA, onB} {
		s.until(t, func(f frame) bool { return f.Type == "message" && f.Message.ID == m3.ID })
	}
	back := openChat(t, b, st.ID, "cursor="+cursorAfterM1)
	if f := back.next(t); f.Type != "state" || f.State != "live" {
		t.Fatalf("back: %s", f.raw)
	}
	var caught []string
	for f := back.next(t); f.Type != "ready"; f = back.next(t) {
		switch f.Type {
		case "message":
			caught = append(caught, "message "+f.Message.ID)
		case "removed":
			caught = append(caught, "removed "+f.ID)
		}
	}
	// m2 was taken down before the catch-up: the ring's frame of it was sent as written, and
	// its removal after it.
	if want := "message " + m2.ID + ",removed " + m2.ID + ",message " + m3.ID; strings.Join(caught, ",") != want {
		t.Fatalf("caught up: %v, want %s", caught, want)
	}
	// A replica started only now (a restart) read the recent log back at start: the same
	// cursor catches up there too.
	d := instancetest.Start(t, instancetest.Options{Host: "127.0.0.4", ReplicaOf: a, RTMPSecret: testRTMPSecret})
	restarted := openChat(t, d, st.ID, "cursor="+cursorAfterM1)
	restarted.next(t) // state
	caught = nil
	for f := restarted.next(t, "viewers"); f.Type != "ready"; f = restarted.next(t, "viewers") {
		caught = append(caught, f.Type+" "+f.ID+f.Message.ID)
	}
	// (m2 was down when the log was read back: only its removal.)
	if want := "removed " + m2.ID + ",message " + m3.ID; strings.Join(caught, ",") != want {
		t.Fatalf("caught up after a restart: %v, want %s", caught, want)
	}
	// A cursor from before what the server keeps: reset. A replica that keeps one frame (and
	// reads one event back at start) no longer has m1's.
	c := instancetest.Start(t, instancetest.Options{Host: "127.0.0.3", ReplicaOf: a, RTMPSecret: testRTMPSecret, ChatCatchUp: 1})
	old := openChat(t, c, st.ID, "cursor="+cursorAfterM1)
	old.next(t) // state
	if f := old.next(t); f.Type != "reset" {
		t.Fatalf("old cursor: %s", f.raw)
	}
	if f := old.next(t, "viewers"); f.Type != "ready" {
		t.Fatalf("after reset: %s", f.raw)
	}
	if code := guest.Get("/ws/streams/"+st.ID+"/chat?cursor=gestern").Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_chat_cursor" {
		t.Fatalf("bad cursor: %s", code)
	}

	// A moderator hides m3 (docs/MODERATION.md): gone from both screens, as the removal.
	a.Admin().Post("/api/admin/inhalte/hide", map[string]any{"target": m3.ID, "reason": "Test"}).Expect(t, http.StatusOK)
	for _, s := range []*chatSocket{onA, onB} {
		s.until(t, func(f frame) bool { return f.Type == "removed" && f.ID == m3.ID })
	}
	a.Admin().Post("/api/admin/inhalte/unhide", map[string]any{"target": m3.ID, "reason": "Doch nicht"}).Expect(t, http.StatusOK)
	for _, s := range []*chatSocket{onA, onB} {
		s.until(t, func(f frame) bool { return f.Type == "message" && f.Message.ID == m3.ID })
	}

	// Ended: the screens are told; the chat is read, not written.
	a.Admin().Post("/api/streams/"+st.ID+"/end", nil).Expect(t, http.StatusOK)
	for _, s := range []*chatSocket{onA, onB} {
		s.until(t, func(f frame) bool { return f.Type == "state" && f.State == "beendet" })
	}
	if code := jana.Post(path, map[string]string{"text": "zu spät"}).Expect(t, http.StatusGone).ErrorCode(); code != "stream_ended" {
		t.Fatalf("write after the end: %s", code)
	}
	if code := jana.Do("PUT", votePath(m3.ID), map[string]int{"vote": 1}).Expect(t, http.StatusGone).ErrorCode(); code != "stream_ended" {
		t.Fatalf("vote after the end: %s", code)
	}
	if p := readChat(t, guest, path); ids(p) != m3.ID+","+m1.ID {
		t.Fatalf("the ended stream's chat: %s", ids(p))
	}

	// The other stream's screen was sent nothing of this room's.
	if elsewhere.saw("message") || elsewhere.saw("removed") || elsewhere.saw("order") || elsewhere.saw("reset") {
		t.Fatalf("another room's screen heard this one")
	}
	if !elsewhere.saw("ready") {
		t.Fatalf("the other room's screen never got ready")
	}
	// The neu screen on A was never sent the order; the oben one on B was.
	if onA.saw("order") || !onB.saw("order") {
		t.Fatalf("order frames: neu screen %v, oben screen %v", onA.saw("order"), onB.saw("order"))
	}
}

// Messages and votes in a stream's chat meet their own limits per person: the chat class (the
// Nähstübchen's) and the vote class; one resident's spent bucket leaves the others theirs.
func TestStreamChatLimits(t *testing.T) {
	t.Parallel()
	hour := time.Hour
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{Rules: []httpapi.Rule{
		{Class: httpapi.ClassChat, Scope: httpapi.PerAccount, Burst: 2, Every: hour},
		{Class: httpapi.ClassVote, Scope: httpapi.PerAccount, Burst: 2, Every: hour},
		{Class: httpapi.ClassWrite, Scope: httpapi.PerAccount, Burst: 100, Every: hour},
	}}})
	var st streamAnswer
	inst.Admin().Post("/api/streams", map[string]string{"title": "Ortsversammlung"}).Expect(t, http.StatusCreated).JSON(t, &st)
	path := "/api/streams/" + st.ID + "/chat"
	ada, ben, cara := inst.VerifiedResident("Ada", lat, lon), inst.VerifiedResident("Ben", lat, lon), inst.VerifiedResident("Cara", lat, lon)
	var m struct{ ID string }
	ada.Post(path, map[string]string{"text": "Eins"}).Expect(t, http.StatusCreated).JSON(t, &m)
	ada.Post("/api/chat", map[string]string{"text": "Zwei, im Nähstübchen"}).Expect(t, http.StatusCreated)
	if code := ada.Post(path, map[string]string{"text": "Drei"}).Expect(t, http.StatusTooManyRequests).ErrorCode(); code != "rate_limited" {
		t.Fatalf("third message: %s", code)
	}
	ben.Post(path, map[string]string{"text": "Bens"}).Expect(t, http.StatusCreated)

	vote := path + "/" + m.ID + "/vote"
	ben.Do("PUT", vote, map[string]int{"vote": 1}).Expect(t, http.StatusOK)
	ben.Do("PUT", vote, map[string]int{"vote": -1}).Expect(t, http.StatusOK)
	res := ben.Do("PUT", vote, map[string]int{"vote": 0}).Expect(t, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After: %s", res.Body)
	}
	cara.Do("PUT", vote, map[string]int{"vote": 1}).Expect(t, http.StatusOK)
	if n := inst.Count(`SELECT count(*) FROM chat_bewertungen WHERE vote = -1`); n != 1 {
		t.Fatalf("Ben's down vote should stand: %d", n)
	}
}

// TestStreamChatVotesAtOnce: one person's two votes on a message sent at the same moment (a
// double click from two tabs) count once. Both requests are held at the message's row lock until
// both wait there, so the test does not rely on the scheduler to make them meet.
func TestStreamChatVotesAtOnce(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: testRTMPSecret})
	var st streamAnswer
	inst.Admin().Post("/api/streams", map[string]string{"title": "Doppelklick"}).Expect(t, http.StatusCreated).JSON(t, &st)
	path := "/api/streams/" + st.ID + "/chat"
	jana := inst.VerifiedResident("Jana", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	var m struct{ ID string }
	jana.Post(path, map[string]string{"text": "Frage"}).Expect(t, http.StatusCreated).JSON(t, &m)

	ctx, cancel := context.WithTimeout(context.Background(), chatPatience)
	defer cancel()
	hold, err := inst.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(context.Background())
	if _, err := hold.Exec(ctx, `SELECT 1 FROM chat_nachrichten WHERE id = $1 FOR UPDATE`, m.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = ben.Do("PUT", path+"/"+m.ID+"/vote", map[string]int{"vote": 1}).Status
		}()
	}
	for waiting := 0; waiting < 2; {
		if ctx.Err() != nil {
			t.Fatalf("the votes never both waited for the message's lock (%d did)", waiting)
		}
		time.Sleep(10 * time.Millisecond)
		if err := inst.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%chat_nachrichten c%FOR UPDATE OF c%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("vote answered %d", s)
		}
	}
	if n := inst.Count(`SELECT count(*) FROM chat_nachrichten c WHERE id = $1 AND score = (SELECT coalesce(sum(vote), 0) FROM chat_bewertungen WHERE nachricht_id = c.id)`, m.ID); n != 1 {
		var score int
		_ = inst.Pool.QueryRow(ctx, `SELECT score FROM chat_nachrichten WHERE id = $1`, m.ID).Scan(&score)
		t.Fatalf("one person's up vote counts %d in the order", score)
	}
}

// TestStreamChatRefusesSanctionedAccounts: a suspended or banned resident neither writes nor
// votes in a stream's chat, and the refusal writes nothing.
func TestStreamChatRefusesSanctionedAccounts(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: testRTMPSecret})
	admin := inst.Admin()
	var st streamAnswer
	admin.Post("/api/streams", map[string]string{"title": "Sitzung"}).Expect(t, http.StatusCreated).JSON(t, &st)
	path := "/api/streams/" + st.ID + "/chat"
	jana := inst.VerifiedResident("Jana", lat, lon)
	var m struct{ ID string }
	jana.Post(path, map[string]string{"text": "Frage"}).Expect(t, http.StatusCreated).JSON(t, &m)
	for _, s := range []struct{ name, route string }{{"Ben", "suspend"}, {"Ida", "ban"}} {
		c := inst.VerifiedResident(s.name, lat, lon)
		admin.Post("/api/admin/accounts/"+c.ID+"/"+s.route, map[string]any{"days": 1, "reason": "Beleidigungen"}).Expect(t, http.StatusOK)
		before := inst.Rows()
		c.Post(path, map[string]string{"text": "trotzdem"}).Expect(t, http.StatusForbidden)
		c.Do("PUT", path+"/"+m.ID+"/vote", map[string]int{"vote": -1}).Expect(t, http.StatusForbidden)
		if after := inst.Rows(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("%s (%s): the refusals wrote: %v → %v", s.name, s.route, before, after)
		}
		if n := inst.Count(`SELECT count(*) FROM chat_bewertungen`) + inst.Count(`SELECT count(*) FROM chat_nachrichten WHERE account_id <> $1`, jana.ID); n != 0 {
			t.Fatalf("%s (%s): %d rows in the chat", s.name, s.route, n)
		}
	}
}
