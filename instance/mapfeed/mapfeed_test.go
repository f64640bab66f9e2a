package mapfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Around the Lindenauer Markt in Leipzig.
const lat, lon = 51.3370, 12.3340

// patience is how long a test waits for a message it expects. It is a safety net only: the
// tests wait for the message, never for a fixed time, so a busy CI machine makes them slower,
// not red. Nothing asserts that something did not happen within some time; see absent.
const patience = 60 * time.Second

// A place far from every cell the tests watch (Cape Town), and small cells there, the n-th
// 0.01° north of it: a client subscribes to a new one to learn when the hub has handled
// everything it asked for before (settle), and a change at the place itself is a marker that
// the hub has read everything written before it.
var witnessLat, witnessLon = -33.92, 18.42

func witnessCell(t *testing.T, n int) string {
	t.Helper()
	c, err := geo.Point{Lat: witnessLat + 0.01*float64(n), Lon: witnessLon}.Cell()
	if err != nil {
		t.Fatal(err)
	}
	return geo.CellHex(geo.Parent(c, 10))
}

// msg is any server message, decoded loosely.
type msg struct {
	Type       string                 `json:"type"`
	Cell       string                 `json:"cell"`
	Cells      []string               `json:"cells"`
	Cursor     string                 `json:"cursor"`
	Catchup    bool                   `json:"catchup"`
	Reason     string                 `json:"reason"`
	Knoten     []knotenMsg            `json:"knoten"`
	Faeden     []fadenMsg             `json:"faeden"`
	Garnrollen []garnrolleMsg         `json:"garnrollen"`
	Removed    *removedMsg            `json:"removed"`
	Error      *struct{ Code string } `json:"error"`
	raw        string
}

type knotenMsg struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	H3        string `json:"h3"`
	Permanent bool   `json:"permanent"`
}

type fadenMsg struct {
	ID              string                      `json:"id"`
	KnotenID        string                      `json:"knoten_id"`
	AccountName     string                      `json:"account_name"`
	IsTwisted       bool                        `json:"is_twisted"`
	AccountPosition *struct{ Lat, Lon float64 } `json:"account_position"`
}

type garnrolleMsg struct {
	ID       string                      `json:"id"`
	Name     string                      `json:"name"`
	Position *struct{ Lat, Lon float64 } `json:"position"`
}

type removedMsg struct {
	Knoten     []string `json:"knoten"`
	Faeden     []string `json:"faeden"`
	Garnrollen []string `json:"garnrollen"`
}

// feedClient is one map client over a real WebSocket.
type feedClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan msg
	mu   sync.Mutex
	last string // the last cursor received
	// settled counts the witness cells settle has subscribed.
	settled int
}

func dial(t *testing.T, inst *instancetest.Instance) *feedClient {
	t.Helper()
	return dialRaw(t, inst, true)
}

func dialRaw(t *testing.T, inst *instancetest.Instance, read bool) *feedClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(inst.URL, "http://", "ws://", 1)+"/ws/map", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	c := &feedClient{t: t, conn: conn, msgs: make(chan msg, 10000)}
	t.Cleanup(func() { conn.CloseNow() })
	if read {
		go c.readLoop()
		if h := c.next(); h.Type != "hello" || h.Cursor == "" {
			t.Fatalf("first message: %s", h.raw)
		}
	}
	return c
}

func (c *feedClient) readLoop() {
	defer close(c.msgs)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m msg
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Errorf("undecodable message %q: %v", data, err)
			return
		}
		m.raw = string(data)
		if m.Cursor != "" {
			c.mu.Lock()
			c.last = m.Cursor
			c.mu.Unlock()
		}
		c.msgs <- m
	}
}

func (c *feedClient) cursor() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *feedClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *feedClient) subscribe(cells []string, cursor string) {
	c.t.Helper()
	m := map[string]any{"type": "subscribe", "cells": cells}
	if cursor != "" {
		m["cursor"] = cursor
	}
	c.send(m)
}

// next returns the next message.
func (c *feedClient) next() msg {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return m
	case <-time.After(patience):
		c.t.Fatalf("no message within %s", patience)
		return msg{}
	}
}

// until reads messages until one satisfies ok and returns it.
func (c *feedClient) until(what string, ok func(msg) bool) msg {
	c.t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				c.t.Fatalf("connection closed while waiting for %s", what)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s within %s", what, patience)
		}
	}
}

// settle returns the messages the hub queued for the client before it handled a request sent
// now: it subscribes a witness cell it has not subscribed before and reads up to that cell's
// state. The hub handles a connection's requests in order, one at a time, and a flush is one
// step of the hub: a batch of deltas that had begun when this request was sent has been queued
// whole before the state.
func (c *feedClient) settle() []msg {
	c.t.Helper()
	c.settled++
	w := witnessCell(c.t, c.settled)
	c.subscribe([]string{w}, "")
	var got []msg
	for {
		m := c.next()
		if m.Type == "state" && m.Cell == w {
			return got
		}
		got = append(got, m)
	}
}

// absent proves that no message the client gets satisfies bad, without waiting for a time to
// pass: write calls a write made after whatever bad would be about; its change reaches the
// client as a delta that marker recognises, in the batch that would carry the unwanted one or a
// later one (the hub reads the log in order), and settle then collects the rest of that batch.
func (c *feedClient) absent(what string, write func(), marker func(msg) bool, bad func(msg) bool) {
	c.t.Helper()
	write()
	seen := false
	for !seen {
		m := c.next()
		seen = marker(m)
		if bad(m) {
			c.t.Fatalf("%s: %s", what, m.raw)
		}
	}
	for _, m := range c.settle() {
		if bad(m) {
			c.t.Fatalf("%s: %s", what, m.raw)
		}
	}
}

// mentions reports whether a message names any of the ids, as an object or a removal.
func mentions(m msg, ids ...string) bool {
	var all []string
	all = append(all, knotenIDs(m.Knoten)...)
	all = append(all, fadenIDs(m.Faeden)...)
	for _, g := range m.Garnrollen {
		all = append(all, g.ID)
	}
	if m.Removed != nil {
		all = append(append(append(all, m.Removed.Knoten...), m.Removed.Faeden...), m.Removed.Garnrollen...)
	}
	for _, id := range ids {
		if slices.Contains(all, id) {
			return true
		}
	}
	return false
}

// mentionsAll reports whether the message names every one of the ids.
func mentionsAll(m msg, ids ...string) bool {
	for _, id := range ids {
		if !mentions(m, id) {
			return false
		}
	}
	return true
}

// stats waits until the hub's counters satisfy ok and returns them.
func stats(t *testing.T, inst *instancetest.Instance, what string, ok func(mapfeed.Stats) bool) mapfeed.Stats {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		s, err := inst.MapFeed.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%+v)", what, patience, s)
		}
		time.Sleep(5 * time.Millisecond) // a poll of a counter, not a wait for time to pass
	}
}

// cellsAround asks the instance for the cells of a small view around the point.
func cellsAround(t *testing.T, inst *instancetest.Instance, lat, lon float64, zoom int) []string {
	t.Helper()
	var out struct {
		Resolution int      `json:"resolution"`
		Cells      []string `json:"cells"`
	}
	q := url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {fmt.Sprint(zoom)}}
	inst.Client().Get("/api/map/cells?"+q.Encode()).Expect(t, 200).JSON(t, &out)
	if len(out.Cells) == 0 {
		t.Fatal("no cells")
	}
	return out.Cells
}

func place(t *testing.T, c *instancetest.Client, title string, lat, lon float64) (knoten, faden string) {
	t.Helper()
	var k struct {
		ID    string `json:"id"`
		Faden struct {
			ID string `json:"id"`
		} `json:"faden"`
	}
	c.Post("/api/knoten", map[string]any{"type": "idee", "title": title, "lat": lat, "lon": lon}).Expect(t, 201).JSON(t, &k)
	return k.ID, k.Faden.ID
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	slices.Sort(out)
	return out
}

func knotenIDs(ks []knotenMsg) []string { return ids(ks, func(k knotenMsg) string { return k.ID }) }
func fadenIDs(fs []fadenMsg) []string   { return ids(fs, func(f fadenMsg) string { return f.ID }) }

func sorted(xs ...string) []string { xs = slices.Clone(xs); slices.Sort(xs); return xs }

// statesFor reads one state message per cell and merges them.
func statesFor(t *testing.T, c *feedClient, cells []string) msg {
	t.Helper()
	var all msg
	want := map[string]bool{}
	for _, x := range cells {
		want[x] = true
	}
	for len(want) > 0 {
		m := c.next()
		if m.Type != "state" || !want[m.Cell] {
			t.Fatalf("want the state of %d more cells, got %s", len(want), m.raw)
		}
		delete(want, m.Cell)
		all.Knoten = append(all.Knoten, m.Knoten...)
		all.Faeden = append(all.Faeden, m.Faeden...)
		all.Garnrollen = append(all.Garnrollen, m.Garnrollen...)
		all.Cursor = m.Cursor
	}
	return all
}

// A client gets the state of its cells, then batched deltas naming what changed; what it
// unsubscribed from, it hears no more of.
func TestStateThenDeltas(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.Resident("Jana", lat, lon)
	k1, f1 := place(t, jana, "Bank am Markt", lat, lon)

	c := dial(t, inst)
	cells := cellsAround(t, inst, lat, lon, 16)
	c.subscribe(cells, "")
	st := statesFor(t, c, cells)
	if !slices.Equal(knotenIDs(st.Knoten), []string{k1}) || !slices.Equal(fadenIDs(st.Faeden), []string{f1}) {
		t.Fatalf("state: %+v", st)
	}
	if st.Faeden[0].AccountName != "Jana" {
		t.Fatalf("Faden without its spinner's name: %+v", st.Faeden[0])
	}

	// A new Knoten and a Faden to the old one: both Knoten and both Fäden named, in one batch or
	// two, as the machine's speed has it; within a delta each object once. Across deltas an
	// object may come again: Ben's new Garnrolle redraws his Fäden as they stand when its batch
	// is sent, which can already include f2 while f2's own event comes with the next batch
	// (docs/MAPFEED.md: an upsert "as it stands when the batch is sent").
	ben := inst.Resident("Ben", lat, lon)
	k2, f2 := place(t, ben, "Trinkbrunnen", lat+0.0001, lon+0.0001)
	var f3 struct{ ID string }
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k1, "type": "gespraech"}).Expect(t, 201).JSON(t, &f3)
	var got msg
	var raws []string
	for !mentionsAll(got, k1, k2, f2, f3.ID) {
		d := c.until("the deltas of both", func(m msg) bool { return m.Type == "delta" })
		if d.Removed != nil || d.Cursor == "" || d.Cursor == st.Cursor {
			t.Fatalf("delta after state cursor %q: %s", st.Cursor, d.raw)
		}
		if k, f := knotenIDs(d.Knoten), fadenIDs(d.Faeden); len(slices.Compact(k)) != len(d.Knoten) || len(slices.Compact(f)) != len(d.Faeden) {
			t.Fatalf("an object twice in one delta: %s", d.raw)
		}
		got.Knoten = append(got.Knoten, d.Knoten...)
		got.Faeden = append(got.Faeden, d.Faeden...)
		raws = append(raws, d.raw)
	}
	if !slices.Equal(slices.Compact(knotenIDs(got.Knoten)), sorted(k1, k2)) || !slices.Equal(slices.Compact(fadenIDs(got.Faeden)), sorted(f2, f3.ID)) {
		t.Fatalf("deltas: knoten %v faeden %v (k1 %s, k2 %s, f2 %s, f3 %s):\n%s", knotenIDs(got.Knoten), fadenIDs(got.Faeden),
			k1, k2, f2, f3.ID, strings.Join(raws, "\n"))
	}

	// Twisting makes Garn: the Faden and its Knoten (now permanent) change.
	jana.Post("/api/faeden/"+f1+"/twist", nil).Expect(t, 200)
	d := c.until("the twist", func(m msg) bool { return m.Type == "delta" && mentions(m, f1) })
	if len(d.Faeden) != 1 || !d.Faeden[0].IsTwisted || len(d.Knoten) != 1 || !d.Knoten[0].Permanent {
		t.Fatalf("twist delta: %s", d.raw)
	}

	// A week later k2 dissolves with its only Faden; f3 expires, k1 stays (Garn).
	inst.Advance("169h")
	d = c.until("the expiry", func(m msg) bool { return m.Type == "delta" && m.Removed != nil && len(m.Removed.Knoten) > 0 })
	if !slices.Equal(sorted(d.Removed.Knoten...), []string{k2}) || !slices.Equal(sorted(d.Removed.Faeden...), sorted(f2, f3.ID)) {
		t.Fatalf("expiry delta: %s", d.raw)
	}

	// Unsubscribed: nothing more from these cells. The client watches the witness place
	// instead (its state comes after the hub has taken the unsubscribe).
	c.send(map[string]any{"type": "unsubscribe", "cells": cells})
	w := witnessCell(t, 0)
	c.subscribe([]string{w}, "")
	statesFor(t, c, []string{w})
	var late, marker string
	c.absent("a change in an unsubscribed cell arrived", func() {
		late, _ = place(t, ben, "Noch einer", lat, lon)
		marker, _ = place(t, ben, "Anderswo", witnessLat, witnessLon)
	}, func(m msg) bool { return mentions(m, marker) }, func(m msg) bool {
		return mentions(m, late) || slices.Contains(cells, m.Cell)
	})
}

// Many changes in a batch interval arrive as one message per cell, each object once.
func TestChangesAreBatchedPerCell(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{MapFeed: mapfeed.Options{Batch: 2 * time.Second}})
	jana := inst.Resident("Jana", lat, lon)
	k, _ := place(t, jana, "Bank", lat, lon)
	c := dial(t, inst)
	cells := cellsAround(t, inst, lat, lon, 12) // coarse: one or a few cells
	c.subscribe(cells, "")
	statesFor(t, c, cells)
	before := stats(t, inst, "the counters", func(mapfeed.Stats) bool { return true })
	spun := map[string]bool{}
	for range 10 {
		var f struct{ ID string }
		jana.Post("/api/faeden", map[string]any{"to_knoten_id": k, "type": "gespraech"}).Expect(t, 201).JSON(t, &f)
		spun[f.ID] = true
	}
	messages, seen := 0, map[string]int{}
	for len(seen) < len(spun) {
		m := c.until("the Fäden", func(m msg) bool { return m.Type == "delta" })
		messages++
		for _, f := range m.Faeden {
			seen[f.ID]++
		}
	}
	// How many batches went out while the ten were spun depends on the machine's speed; that a
	// cell gets at most one message per batch does not. (Ten spun in one 2 s batch, as they
	// are on an idle machine, come as one or two messages.)
	after := stats(t, inst, "the counters", func(mapfeed.Stats) bool { return true })
	if flushes := after.Flushes - before.Flushes; int64(messages) > flushes {
		t.Fatalf("10 Fäden came in %d messages from %d batches: more than one per batch", messages, flushes)
	}
	// Nothing comes twice: not before a later Faden's delta, nor in it, nor in its batch.
	var later struct{ ID string }
	c.absent("a Faden came twice", func() {
		jana.Post("/api/faeden", map[string]any{"to_knoten_id": k, "type": "gespraech"}).Expect(t, 201).JSON(t, &later)
	}, func(m msg) bool { return mentions(m, later.ID) }, func(m msg) bool {
		for _, f := range m.Faeden {
			if spun[f.ID] {
				return true
			}
		}
		return false
	})
	for id := range spun {
		if seen[id] != 1 {
			t.Fatalf("Faden %s came %d times", id, seen[id])
		}
	}
	t.Logf("10 Fäden in %d messages, %d batches", messages, after.Flushes-before.Flushes)
}

// Handing a batch to many sockets takes a while; the changes that waited longest go out first,
// so that a change made just after the last batch is not also among the last to arrive.
func TestOldestChangesGoOutFirst(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{MapFeed: mapfeed.Options{Batch: 4 * time.Second}})
	const n = 6
	var cells []string
	var weavers []*instancetest.Client
	for i := range n {
		c, err := geo.Point{Lat: lat + 0.01*float64(i), Lon: lon}.Cell()
		if err != nil {
			t.Fatal(err)
		}
		cells = append(cells, geo.CellHex(geo.Parent(c, 10)))
		// Each Knoten by someone else, whose Garnrolle is far away: no rate limit in the way.
		weavers = append(weavers, inst.Resident(fmt.Sprintf("Weberin %d", i), witnessLat, witnessLon))
	}
	c := dial(t, inst)
	c.subscribe(cells, "")
	statesFor(t, c, cells)
	placed := map[string]int{} // Knoten → the order it was placed in
	for i, w := range weavers {
		k, _ := place(t, w, fmt.Sprintf("Nr. %d", i), lat+0.01*float64(i), lon)
		placed[k] = i
	}
	batches := map[string][]int{} // the messages of one batch carry its cursor
	for got := 0; got < n; {
		m := c.until("the Knoten", func(m msg) bool { return m.Type == "delta" })
		for _, k := range m.Knoten {
			if i, ok := placed[k.ID]; ok {
				batches[m.Cursor] = append(batches[m.Cursor], i)
				got++
			}
		}
	}
	for cursor, order := range batches {
		if !slices.IsSorted(order) {
			t.Fatalf("the batch up to %s sent the cells of the Knoten placed %v, in this order; want the oldest first", cursor, order)
		}
	}
	// On an idle machine the six fall into one or two batches; the order is checked within each.
	t.Logf("%d Knoten in %d batches: %v", n, len(batches), batches)
}

// A client that reconnects with its last cursor gets exactly what it missed, once; one with a
// cursor from before the server's memory gets the full state.
func TestRejoinWithCursor(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.Resident("Jana", lat, lon)
	k1, f1 := place(t, jana, "Bank", lat, lon)
	cells := cellsAround(t, inst, lat, lon, 16)

	c := dial(t, inst)
	c.subscribe(cells, "")
	statesFor(t, c, cells)
	before := c.cursor()
	c.conn.Close(websocket.StatusNormalClosure, "bye")
	// A witness that stays: once it has had the deltas, the server has seen the changes.
	w := dial(t, inst)
	w.subscribe(cells, "")
	statesFor(t, w, cells)

	// While away: two new Knoten, and the first Faden twisted.
	k2, f2 := place(t, jana, "Brunnen", lat+0.0001, lon)
	k3, f3 := place(t, jana, "Beet", lat, lon+0.0001)
	jana.Post("/api/faeden/"+f1+"/twist", nil).Expect(t, 200)
	// Outside the cells: not for this client.
	place(t, jana, "Weit weg", lat+0.05, lon+0.05)

	seen := map[string]bool{}
	w.until("the witness to get the changes", func(m msg) bool {
		for _, k := range m.Knoten {
			seen[k.ID] = true
		}
		for _, f := range m.Faeden {
			seen[f.ID+"/twisted"] = seen[f.ID+"/twisted"] || f.IsTwisted
		}
		return seen[k2] && seen[k3] && seen[f1+"/twisted"]
	})

	back := dial(t, inst)
	back.subscribe(cells, before)
	var got msg
	for range cells {
		m := back.next()
		if m.Type != "delta" || !m.Catchup {
			t.Fatalf("want catch-up deltas, got %s", m.raw)
		}
		got.Knoten = append(got.Knoten, m.Knoten...)
		got.Faeden = append(got.Faeden, m.Faeden...)
	}
	if !slices.Equal(knotenIDs(got.Knoten), sorted(k1, k2, k3)) || !slices.Equal(fadenIDs(got.Faeden), sorted(f1, f2, f3)) {
		t.Fatalf("catch-up: knoten %v faeden %v; want %v %v", knotenIDs(got.Knoten), fadenIDs(got.Faeden), sorted(k1, k2, k3), sorted(f1, f2, f3))
	}
	// And no second copy of any of it, up to and with the delta of a later change.
	var kLater string
	back.absent("a change came again after the catch-up", func() {
		kLater, _ = place(t, jana, "Später", lat, lon)
	}, func(m msg) bool { return mentions(m, kLater) }, func(m msg) bool { return mentions(m, k1, k2, k3, f1, f2, f3) })

	// A cursor older than what the server remembers (here it keeps just three changes): the
	// full state.
	small := instancetest.Start(t, instancetest.Options{MapFeed: mapfeed.Options{KeepMax: 3}})
	ada := small.Resident("Ada", lat, lon)
	kOld, _ := place(t, ada, "Erster", lat, lon)
	early := dial(t, small)
	early.subscribe(cells, "")
	statesFor(t, early, cells)
	cursor := early.cursor()
	early.conn.Close(websocket.StatusNormalClosure, "bye")
	// Elsewhere, where a witness looks: the server has seen it all once the witness has the last.
	far := cellsAround(t, small, lat+0.05, lon, 16)
	fw := dial(t, small)
	fw.subscribe(far, "")
	statesFor(t, fw, far)
	kNew, _ := place(t, ada, "Zweiter", lat, lon)
	place(t, ada, "Dritter", lat+0.05, lon) // they push the others out of memory
	kLast, _ := place(t, ada, "Vierter", lat+0.05, lon)
	fw.until("the witness to get the last Knoten", func(m msg) bool {
		return slices.Contains(knotenIDs(m.Knoten), kLast)
	})
	late := dial(t, small)
	late.subscribe(cells, cursor)
	if st := statesFor(t, late, cells); !slices.Equal(knotenIDs(st.Knoten), sorted(kOld, kNew)) {
		t.Fatalf("state after an old cursor: %v", knotenIDs(st.Knoten))
	}
}

// A cursor the server never sent — ahead of everything it has read — is not answered with an
// empty catch-up (the client would believe it missed nothing and keep an empty map) but with
// the cells' state.
func TestCursorNeverSentGetsTheState(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.Resident("Jana", lat, lon)
	k1, _ := place(t, jana, "Bank", lat, lon)
	cells := cellsAround(t, inst, lat, lon, 16)

	c := dial(t, inst)
	c.subscribe(cells, "")
	statesFor(t, c, cells)
	// Once the delta with a second Knoten is here, the server has read both, and the cursor
	// it came with is the furthest it has sent.
	k2, _ := place(t, jana, "Brunnen", lat+0.0001, lon)
	c.until("the delta with the second Knoten", func(m msg) bool {
		return m.Type == "delta" && slices.Contains(knotenIDs(m.Knoten), k2)
	})
	sent := c.cursor()
	p, err := eventstore.ParsePosition(sent)
	if err != nil {
		t.Fatal(err)
	}
	for _, cursor := range []string{
		fmt.Sprintf("%d-%d", p.Tx, p.ID+1000),
		fmt.Sprintf("%d-%d", p.Tx+1_000_000, 1),
		"9223372036854775807-9223372036854775807",
	} {
		d := dial(t, inst)
		d.subscribe(cells, cursor)
		if st := statesFor(t, d, cells); !slices.Equal(knotenIDs(st.Knoten), sorted(k1, k2)) {
			t.Errorf("cursor %s: state holds %v, want %v", cursor, knotenIDs(st.Knoten), sorted(k1, k2))
		}
	}
	// The cursor it did send is answered with a catch-up: nothing missed.
	d := dial(t, inst)
	d.subscribe(cells, sent)
	for range cells {
		if m := d.next(); m.Type != "delta" || !m.Catchup || len(m.Knoten) > 0 {
			t.Fatalf("cursor %s: want empty catch-ups, got %s", sent, m.raw)
		}
	}
}

// Two processes on one database: a change written through one reaches a client of the other.
func TestAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", ReplicaOf: a})
	cells := cellsAround(t, b, lat, lon, 16)
	c := dial(t, b)
	c.subscribe(cells, "")
	statesFor(t, c, cells)
	k, _ := place(t, a.Resident("Jana", lat, lon), "Über die andere", lat, lon)
	d := c.until("the Knoten from the other replica", func(m msg) bool { return m.Type == "delta" && len(m.Knoten) > 0 })
	if d.Knoten[0].ID != k {
		t.Fatalf("delta: %s", d.raw)
	}
}

// Residents appear where their public position is; renamed, their Garnrolle and Fäden are
// redrawn; off the map, they are removed.
func TestGarnrollen(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	cells := cellsAround(t, inst, lat, lon, 12)
	c := dial(t, inst)
	c.subscribe(cells, "")
	statesFor(t, c, cells)

	jana := inst.Resident("Jana", lat, lon)
	var me struct{ ID string }
	jana.Get("/api/me").Expect(t, 200).JSON(t, &me)
	d := c.until("the new Garnrolle", func(m msg) bool { return m.Type == "delta" && len(m.Garnrollen) > 0 })
	if d.Garnrollen[0].ID != me.ID || d.Garnrollen[0].Position == nil {
		t.Fatalf("registration delta: %s", d.raw)
	}
	k, f := place(t, jana, "Bank", lat, lon)
	c.until("the Knoten", func(m msg) bool { return m.Type == "delta" && len(m.Knoten) > 0 })

	jana.Patch("/api/me", map[string]any{"name": "Jana W."}).Expect(t, 200)
	var renamed struct {
		g bool
		f bool
	}
	c.until("the rename", func(m msg) bool {
		if m.Type != "delta" {
			return false
		}
		for _, g := range m.Garnrollen {
			renamed.g = renamed.g || (g.ID == me.ID && g.Name == "Jana W.")
		}
		for _, x := range m.Faeden {
			renamed.f = renamed.f || (x.ID == f && x.AccountName == "Jana W." && x.KnotenID == k)
		}
		return renamed.g && renamed.f
	})

	jana.Patch("/api/me", map[string]any{"on_map": false}).Expect(t, 200)
	d = c.until("the removal", func(m msg) bool { return m.Type == "delta" && m.Removed != nil && len(m.Removed.Garnrollen) > 0 })
	if d.Removed.Garnrollen[0] != me.ID {
		t.Fatalf("hidden delta: %s", d.raw)
	}
	// Her Faden is still drawn, now from nowhere.
	for _, x := range d.Faeden {
		if x.ID == f && x.AccountPosition != nil {
			t.Fatalf("a hidden resident's Faden still starts at her position: %s", d.raw)
		}
	}
}

// Bad messages get a clear error and change nothing; the connection stays open.
func TestBadMessages(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := dial(t, inst)
	good := cellsAround(t, inst, lat, lon, 16)[0]
	res11 := "8b1f1a8dd2d4fff"
	for _, tc := range []struct {
		send any
		code string
	}{
		{"not json", "malformed_message"},
		{map[string]any{"type": "dance"}, "unknown_type"},
		{map[string]any{"type": "subscribe", "cells": []string{"nonsense"}}, "invalid_cell"},
		{map[string]any{"type": "subscribe", "cells": []string{good, res11}}, "invalid_resolution"},
		{map[string]any{"type": "subscribe", "cells": []string{good}, "cursor": "yesterday"}, "invalid_cursor"},
		{map[string]any{"type": "subscribe", "cells": []string{good}, "cursor": "18446744073709551615-1"}, "invalid_cursor"},
		{map[string]any{"type": "subscribe", "cells": make301()}, "too_many_cells"},
	} {
		if s, ok := tc.send.(string); ok {
			if err := c.conn.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
				t.Fatal(err)
			}
		} else {
			c.send(tc.send)
		}
		m := c.next()
		if m.Type != "error" || m.Error == nil || m.Error.Code != tc.code {
			t.Fatalf("sent %v: got %s, want error %s", tc.send, m.raw, tc.code)
		}
	}
	// Nothing was subscribed by the refused messages (a state of theirs would come before this
	// one: the hub answers a connection's requests in order); a good one still works.
	c.subscribe([]string{good}, "")
	if m := c.next(); m.Type != "state" || m.Cell != good {
		t.Fatalf("after the errors: %s", m.raw)
	}
	if more := c.settle(); len(more) > 0 {
		t.Fatalf("after the errors and the good state: %s", more[0].raw)
	}
}

func make301() []string {
	out := make([]string, 301)
	for i := range out {
		out[i] = "871f1a8caffffff"
	}
	return out
}

// A client that stops reading cannot hold others up: it is dropped to a resync, the others get
// their deltas while it still reads nothing, and it recovers by subscribing again.
func TestSlowClientIsToldToResync(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{MapFeed: mapfeed.Options{QueueLimit: 4}})
	jana := inst.Resident("Jana", lat, lon)
	// Enough Knoten that one cell's state is big: 250 with long descriptions, about 1 MB.
	long := strings.Repeat("Eine lange Beschreibung, damit der Zustand der Zelle groß wird. ", 60)
	for i := range 250 {
		jana.Post("/api/knoten", map[string]any{"type": "idee", "title": fmt.Sprintf("Knoten %d", i), "description": long,
			"lat": lat + float64(i%50)*0.00002, "lon": lon + float64(i/50)*0.00002}).Expect(t, 201)
	}
	cells := cellsAround(t, inst, lat, lon, 12)

	fast := dial(t, inst)
	fast.subscribe(cells, "")
	statesFor(t, fast, cells)

	slow := dialRaw(t, inst, false) // reads nothing for now
	// Ask for the big state again and again: the sockets' buffers fill, then the queue of four
	// messages, and the hub drops the client. Each state is queued before the unsubscribe is
	// sent (its load is counted once the hub has handed it out), so that every round adds one.
	for round := 0; ; round++ {
		if round == 200 {
			t.Fatal("200 states of about 1 MB each were queued for a client that reads nothing, and it was never dropped")
		}
		prev := stats(t, inst, "the counters", func(mapfeed.Stats) bool { return true })
		slow.subscribe(cells, "")
		now := stats(t, inst, "the state to be handed out", func(s mapfeed.Stats) bool { return s.StateLoads > prev.StateLoads })
		if now.Behind > prev.Behind {
			t.Logf("dropped after %d states", round+1)
			break
		}
		slow.send(map[string]any{"type": "unsubscribe", "cells": cells})
	}

	// The fast client is not held up: it gets its delta while the slow one still reads nothing.
	// (If the hub waited for the slow client, this delta would never come: the slow client
	// starts reading only after it.)
	k, _ := place(t, jana, "Während einer hängt", lat, lon)
	fast.until("the delta", func(m msg) bool { return m.Type == "delta" && len(m.Knoten) == 1 && m.Knoten[0].ID == k })

	// The slow one, reading at last, finds a resync after what was queued.
	go slow.readLoop()
	slow.until("the resync", func(m msg) bool { return m.Type == "resync" && m.Reason == "behind" })
	slow.subscribe(cells, "")
	st := statesFor(t, slow, cells)
	if len(st.Knoten) != 251 {
		t.Fatalf("after the resync: %d Knoten", len(st.Knoten))
	}
}

// A cell where more changes in one batch than a delta may carry is reloaded instead.
func TestHotCellIsReloaded(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{MapFeed: mapfeed.Options{HotLimit: 5}})
	jana := inst.Resident("Jana", lat, lon)
	cells := cellsAround(t, inst, lat, lon, 12)
	for i := range 10 {
		place(t, jana, fmt.Sprintf("K%d", i), lat, lon)
	}
	c := dial(t, inst)
	c.subscribe(cells, "")
	if st := statesFor(t, c, cells); len(st.Knoten) != 10 {
		t.Fatalf("state: %d Knoten", len(st.Knoten))
	}
	// One write that changes more than 5 objects in the cell at once, so in one batch however
	// slow the machine: renamed, Jana's ten Fäden are drawn anew (and her Garnrolle).
	jana.Patch("/api/me", map[string]any{"name": "Jana W."}).Expect(t, 200)
	m := c.until("a hot resync", func(m msg) bool { return m.Type == "resync" || m.Type == "delta" })
	if m.Type != "resync" || m.Reason != "hot" || len(m.Cells) != 1 {
		t.Fatalf("want a hot resync, got %s", m.raw)
	}
	c.subscribe(m.Cells, "")
	st := c.until("the state", func(m msg) bool { return m.Type == "state" })
	if len(st.Knoten) != 10 || len(st.Faeden) != 10 || st.Faeden[0].AccountName != "Jana W." {
		t.Fatalf("reloaded state: %s", st.raw)
	}
}

// A reconnect storm costs database queries in proportion to cells, not clients: one state load
// answers every subscription that is waiting when it starts.
func TestReconnectStormSharesQueries(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{MapFeed: mapfeed.Options{Batch: time.Hour}})
	place(t, inst.Resident("Jana", lat, lon), "Bank", lat, lon)
	cells := cellsAround(t, inst, lat, lon, 16)
	ctx := context.Background()
	const n = 200
	clients := make([]*feedClient, n)
	for i := range clients {
		clients[i] = dial(t, inst)
	}
	before, err := inst.MapFeed.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// How many subscriptions a load finds waiting depends on how fast they arrive. To make the
	// storm arrive whole whatever the machine's speed, a lock holds the first state load up
	// until every subscription has reached the hub: each client's reader answers the
	// message after its subscribe (an unknown type) only once it has handed the subscribe on.
	hold, err := inst.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `LOCK TABLE knoten IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.subscribe(cells, "")
		c.send(map[string]any{"type": "queued?"})
	}
	for _, c := range clients {
		if m := c.next(); m.Type != "error" || m.Error.Code != "unknown_type" {
			t.Fatalf("want the answer to the second message first, got %s", m.raw)
		}
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if st := statesFor(t, c, cells); len(st.Knoten) != 1 {
			t.Fatalf("state: %d Knoten", len(st.Knoten))
		}
	}
	after, _ := inst.MapFeed.Stats(ctx)
	// At most two: one the lock held up (it answers whoever had subscribed when it started),
	// one for all the others.
	if loads := after.StateLoads - before.StateLoads; loads > 2 {
		t.Fatalf("%d clients subscribing to the same %d cells took %d state loads", n, len(cells), loads)
	}
}

// The cells route covers a view at the resolution for its zoom, and refuses what it cannot.
func TestMapCells(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	var out struct {
		Resolution int      `json:"resolution"`
		Cells      []string `json:"cells"`
	}
	c.Get("/api/map/cells?bbox=12.30,51.32,12.36,51.35&zoom=13").Expect(t, 200).JSON(t, &out)
	if out.Resolution != 7 || len(out.Cells) < 4 || len(out.Cells) > 80 {
		t.Fatalf("zoom 13: %+v", out)
	}
	for _, tc := range []struct{ q, code string }{
		{"bbox=1,2,3&zoom=13", "malformed_bbox"},
		{"bbox=12.30,51.35,12.36,51.32&zoom=13", "invalid_bbox"},
		{"bbox=12.30,51.32,12.36,51.35&zoom=x", "invalid_zoom"},
		{"bbox=5,47,15,55&zoom=18", "too_many_cells"},
	} {
		if code := c.Get("/api/map/cells?" + tc.q).ErrorCode(); code != tc.code {
			t.Errorf("%s: %s, want %s", tc.q, code, tc.code)
		}
	}
}
