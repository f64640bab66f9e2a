package mapfeed

import (
	"context"
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
