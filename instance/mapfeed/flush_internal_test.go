package mapfeed

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// A client whose queue is full when a batch reaches it is dropped from all its cells at once,
// in the middle of the batch. A cell that only it watched is gone by the time the batch comes
// to it; the batch goes on with the others (it used to dereference the gone cell, and the
// panic in the hub goroutine ended the process).
func TestBatchGoesOnPastACellItsClientLeft(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	c := clock.System{}
	f := New(pool, nil, knoten.NewService(pool, c, nil), account.NewService(pool, c, nil), Options{})

	cellOf := func(lat float64) int64 {
		t.Helper()
		id, err := geo.Point{Lat: lat, Lon: 12.37}.Cell()
		if err != nil {
			t.Fatal(err)
		}
		return geo.Parent(id, geo.MaxMapResolution)
	}
	cells := []int64{cellOf(51.33), cellOf(51.34), cellOf(51.35)}

	slow := newClient(1)
	slow.enqueue([]byte("what it has not taken yet")) // its queue is full
	subs := &clientSubs{cells: map[int64]bool{}}
	f.clients[slow] = subs
	for i, id := range cells {
		f.subscribe(slow, subs, id)
		// A Knoten changed in each cell (gone by now: the delta removes it).
		f.cells[id].knoten[uuid.Must(uuid.NewV7())] = eventstore.Position{Tx: uint64(10 + i), ID: 1}
	}
	f.pos = eventstore.Position{Tx: 20, ID: 1}

	f.flush(context.Background())

	if f.stats.Behind != 1 {
		t.Errorf("%d clients told to resync, want the one", f.stats.Behind)
	}
	if len(f.cells) != 0 {
		t.Errorf("%d cells still watched, want none: the client was dropped from all", len(f.cells))
	}
	if q := slow.take(); len(q) != 1 || string(q[0]) != string(resyncBehind) {
		t.Errorf("the client's queue: %q, want the resync", q)
	}
}

// A batch hands out the cells whose changes have waited longest first, whatever the order of
// the cells themselves (TestOldestChangesGoOutFirst shows it end to end, where the Knoten may
// fall into one batch or several; here one batch holds three, always).
func TestBatchHandsOutTheOldestChangesFirst(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	c := clock.System{}
	f := New(pool, nil, knoten.NewService(pool, c, nil), account.NewService(pool, c, nil), Options{})

	var cells []int64
	for _, lat := range []float64{51.33, 51.34, 51.35, 51.36} {
		id, err := geo.Point{Lat: lat, Lon: 12.37}.Cell()
		if err != nil {
			t.Fatal(err)
		}
		cells = append(cells, geo.Parent(id, geo.MaxMapResolution))
	}
	reader := newClient(16)
	subs := &clientSubs{cells: map[int64]bool{}}
	f.clients[reader] = subs
	// The changes' ages in an order that is neither the cells' nor their reverse.
	changed := map[int64]uint64{cells[0]: 30, cells[1]: 10, cells[2]: 40, cells[3]: 20}
	for _, id := range cells {
		f.subscribe(reader, subs, id)
		f.cells[id].knoten[uuid.Must(uuid.NewV7())] = eventstore.Position{Tx: changed[id], ID: 1}
	}
	f.pos = eventstore.Position{Tx: 50, ID: 1}

	f.flush(context.Background())

	var got []string
	for _, b := range reader.take() {
		// A queued message is its WebSocket frame (wsframe.Text): the payload after the header.
		switch b[1] {
		case 126:
			b = b[4:]
		case 127:
			b = b[10:]
		default:
			b = b[2:]
		}
		var m struct{ Type, Cell string }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "delta" {
			got = append(got, m.Cell)
		}
	}
	want := []string{geo.CellHex(cells[1]), geo.CellHex(cells[3]), geo.CellHex(cells[0]), geo.CellHex(cells[2])}
	if !slices.Equal(got, want) {
		t.Errorf("the batch's deltas went to the cells %v, want the oldest change first: %v", got, want)
	}
}
