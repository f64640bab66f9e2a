package chat_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// fakeFilter blocks or holds a text that contains one of its words: the word filter's
// contract, not its matching (instance/wortfilter tests that).
type fakeFilter map[string]string // word → moderation.ActionBlock or ActionHold

func (f fakeFilter) Check(texts ...string) moderation.Verdict {
	for _, t := range texts {
		for w, action := range f {
			if strings.Contains(strings.ToLower(t), w) {
				return moderation.Verdict{Action: action, Word: w}
			}
		}
	}
	return moderation.Verdict{}
}

// fakeHolder records what was held, and writes a row in the holding transaction, so that a
// test sees the hold commit with the content or not at all.
type fakeHolder struct {
	mu   sync.Mutex
	held []moderation.Target
}

func (h *fakeHolder) HoldTx(ctx context.Context, tx *database.Tx, t moderation.Target, v moderation.Verdict, at time.Time) error {
	if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, t)
	return nil
}

func (h *fakeHolder) targets() []moderation.Target {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]moderation.Target(nil), h.held...)
}

type history struct {
	Messages []struct {
		ID, Text string
		Hidden   bool
	}
}

// read is the history as c reads it (a fresh value each time: "hidden" is left out when false).
func read(t *testing.T, c *instancetest.Client) history {
	t.Helper()
	var h history
	c.Get("/api/chat").Expect(t, 200).JSON(t, &h)
	return h
}

func (h history) has(id string) (found, hidden bool) {
	for _, m := range h.Messages {
		if m.ID == id {
			return true, m.Hidden
		}
	}
	return false, false
}

// A moderator hides a message: it vanishes from both open chat screens (one on each replica)
// and from the history; its author still sees it there, marked. Shown again, it comes back
// to both screens. The admin's DELETE keeps working as before.
func TestHiddenMessageVanishesFromEveryScreen(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", ReplicaOf: a})
	screen1, screen2 := listen(t, a), listen(t, b)
	jana, ben := a.Resident("Jana", lat, lon), b.Resident("Ben", lat, lon)

	var m struct{ ID string }
	jana.Post("/api/chat", map[string]string{"text": "Der Nachbar ist ein …"}).Expect(t, 201).JSON(t, &m)
	for _, s := range []<-chan live{screen1, screen2} {
		if got := next(t, s); got.Type != "message" || got.Message.ID != m.ID {
			t.Fatalf("live: %+v", got)
		}
	}

	mod := a.Chat.Moderation()
	target, ok, err := mod.Resolve(context.Background(), a.Pool, m.ID)
	if err != nil || !ok || target != (moderation.Target{Kind: moderation.KindNachricht, ID: m.ID}) {
		t.Fatalf("resolve %s: %+v %v %v", m.ID, target, ok, err)
	}
	if _, ok, _ := mod.Resolve(context.Background(), a.Pool, uuid.NewString()); ok {
		t.Fatal("an unknown id resolves as a message")
	}
	moderator := uuid.MustParse(a.Admin().ID)
	hide := func(h bool) {
		t.Helper()
		if err := database.InTx(context.Background(), a.Pool, func(tx *database.Tx) error {
			return mod.HideTx(context.Background(), tx, target, h, moderator, "Beleidigung", time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	hide(true)
	for _, s := range []<-chan live{screen1, screen2} {
		if got := next(t, s); got.Type != "removed" || got.ID != m.ID {
			t.Fatalf("hidden: %+v", got)
		}
	}
	sum, err := mod.Describe(context.Background(), a.Pool, target)
	if err != nil || !sum.Hidden || sum.AuthorName != "Jana" || sum.Text != "Der Nachbar ist ein …" {
		t.Fatalf("describe: %+v %v", sum, err)
	}
	for _, c := range []*instancetest.Client{a.Client(), ben} {
		h := read(t, c)
		if found, _ := h.has(m.ID); found {
			t.Fatalf("others still read the hidden message: %+v", h)
		}
	}
	h := read(t, jana)
	if found, hidden := h.has(m.ID); !found || !hidden {
		t.Fatalf("its author is not shown it marked: %+v", h)
	}
	events := a.Count(`SELECT count(*) FROM events`)
	hide(true) // hiding hidden content appends nothing
	if a.Count(`SELECT count(*) FROM events`) != events {
		t.Fatal("hiding a hidden message wrote an event")
	}

	hide(false)
	for _, s := range []<-chan live{screen1, screen2} {
		if got := next(t, s); got.Type != "message" || got.Message.ID != m.ID || got.Message.Text != "Der Nachbar ist ein …" {
			t.Fatalf("shown again: %+v", got)
		}
	}
	h = read(t, ben)
	if found, hidden := h.has(m.ID); !found || hidden {
		t.Fatalf("shown again, it is not in the history: %+v", h)
	}

	// The admin's removal is a hide, seen the same way.
	a.Admin().Do("DELETE", "/api/admin/chat/"+m.ID, nil).Expect(t, 204)
	if got := next(t, screen2); got.Type != "removed" || got.ID != m.ID {
		t.Fatalf("removal: %+v", got)
	}
}

// The word filter: a blocked message is refused with its code and nothing is stored; a held
// one is stored hidden and queued in the same transaction, not sent to the room, and shown
// to its author only, marked.
func TestWordFilterOnMessages(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t)
	holder := &fakeHolder{}
	a.Chat.SetModeration(fakeFilter{"schimpf": moderation.ActionBlock, "zweifel": moderation.ActionHold}, holder)
	screen := listen(t, a)
	jana, ben := a.Resident("Jana", lat, lon), a.Resident("Ben", lat, lon)

	rows := a.Rows()
	res := jana.Post("/api/chat", map[string]string{"text": "Du Schimpfwort!"}).Expect(t, 422)
	if res.ErrorCode() != "wortfilter_blocked" {
		t.Fatalf("code %q", res.ErrorCode())
	}
	if after := a.Rows(); after["chat_nachrichten"] != rows["chat_nachrichten"] || after["events"] != rows["events"] {
		t.Fatalf("a blocked message was stored: %v → %v", rows, after)
	}

	var held struct {
		ID     string
		Hidden bool
	}
	jana.Post("/api/chat", map[string]string{"text": "Ein zweifelhafter Satz"}).Expect(t, 201).JSON(t, &held)
	if !held.Hidden {
		t.Fatalf("the author is not told the message is held: %+v", held)
	}
	if got := holder.targets(); len(got) != 1 || got[0] != (moderation.Target{Kind: moderation.KindNachricht, ID: held.ID}) {
		t.Fatalf("held: %+v", got)
	}
	var m struct{ ID string }
	ben.Post("/api/chat", map[string]string{"text": "Hallo"}).Expect(t, 201).JSON(t, &m)
	if got := next(t, screen); got.Type != "message" || got.Message.ID != m.ID {
		t.Fatalf("the room was sent %+v before Ben's message (the held one must not reach it)", got)
	}
	h := read(t, ben)
	if found, _ := h.has(held.ID); found {
		t.Fatalf("others read the held message: %+v", h)
	}
	h = read(t, jana)
	if found, hidden := h.has(held.ID); !found || !hidden {
		t.Fatalf("its author is not shown the held message marked: %+v", h)
	}

	// Released by a moderator, it reaches the room.
	if err := database.InTx(context.Background(), a.Pool, func(tx *database.Tx) error {
		return a.Chat.Moderation().HideTx(context.Background(), tx, moderation.Target{Kind: moderation.KindNachricht, ID: held.ID},
			false, uuid.MustParse(a.Admin().ID), "harmlos", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, screen); got.Type != "message" || got.Message.ID != held.ID {
		t.Fatalf("released: %+v", got)
	}
}
