package main

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

// The phase-gate measurement, tiny, so that it keeps working between benchmark runs: five
// logged-in residents through the production nginx template to a replica, in a small town
// where every view holds Knoten, each going through every action in turn. Every kind of
// request is made and answered as a resident expects, and no socket drops.
func TestResidentsBenchTiny(t *testing.T) {
	streamtest.Binary(t)
	ctx := context.Background()
	rc := residentsConfig{counts: []int{5}, rounds: 1, think: 50 * time.Millisecond, ramp: 200 * time.Millisecond, replicas: []int{1},
		knoten: 40, box: [4]float64{51.335, 12.370, 51.338, 12.375}, cycle: true, minActions: len(residentActions), inProcess: true, keys: true}
	runs := benchResidents(ctx, pgtest.URL(t), rc)
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	r := runs[0].Report
	for _, e := range r.Errors {
		t.Log(e)
	}
	if r.HTTP.Failed != 0 || r.Dropped != 0 {
		t.Fatalf("%d of %d requests failed (%v), %d sockets dropped", r.HTTP.Failed, r.HTTP.Count, r.HTTP.Statuses, r.Dropped)
	}
	for _, kind := range residentKinds {
		if kind == "ws_map_open" || kind == "map_delta" {
			continue // opened on arrival, before the measured phase; deltas come every 2.5 s
		}
		if r.Kinds[kind].Count == 0 {
			t.Errorf("no %s in the measured phase", kind)
		}
	}
	if runs[0].Ready.Late != 0 {
		t.Errorf("%d residents without their view's state", runs[0].Ready.Late)
	}
}
