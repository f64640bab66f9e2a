package mapfeed

import (
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// A state loaded while the hub lags behind the log holds changes the hub has not read yet; the
// deltas after it must leave out exactly those, and nothing the state did not hold.
func TestCoveredBySnapshot(t *testing.T) {
	// The hub had read up to tx 100; the state's snapshot saw every transaction below 110
	// except 105, still running then.
	cov := covered{pos: eventstore.Position{Tx: 100, ID: 7}, snap: &snapshot{xmin: 103, xmax: 110, running: []uint64{105}}}
	for _, c := range []struct {
		tx   uint64
		want bool
	}{
		{99, true},   // read by the hub before the state
		{102, true},  // committed before the snapshot, not yet read by the hub
		{104, true},  // the same, between xmin and xmax
		{105, false}, // running when the state was read: not in it
		{110, false}, // began after the snapshot
	} {
		if got := cov.has(eventstore.Position{Tx: c.tx, ID: 1}); got != c.want {
			t.Errorf("change of tx %d covered: %v, want %v", c.tx, got, c.want)
		}
	}
	if cov.before(eventstore.Position{Tx: 105, ID: 1}) || !cov.before(eventstore.Position{Tx: 110, ID: 1}) {
		t.Error("before: a delta from tx 105 on may hold covered changes; one from 110 on holds none")
	}
	// Once the hub has read past xmax the snapshot says nothing more.
	if next := cov.upTo(eventstore.Position{Tx: 108, ID: 1}); next.snap == nil {
		t.Error("the snapshot was dropped before the hub had read past it")
	}
	if next := cov.upTo(eventstore.Position{Tx: 111, ID: 1}); next.snap != nil || next.pos.Tx != 111 {
		t.Errorf("after the hub read past the snapshot: %+v", next)
	}
}
