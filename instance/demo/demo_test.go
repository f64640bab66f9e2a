package demo_test

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/demo"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The demo lives where its data is: it imports Monaco's extract into an empty index, its
// residents live at addresses the index finds where their homes are, its Knoten stand at
// places the index knows, all inside the demo's bounds; seeding again writes nothing.
func TestDemoLivesInMonaco(t *testing.T) {
	t.Parallel()
	extract := "../../" + demo.Extract
	if _, err := os.Stat(extract); err != nil {
		extract = "/work/shared/osm/monaco-latest.osm.pbf" // until the extract is in the repository
	}
	inst := instancetest.Start(t)
	ctx := context.Background()
	imported, err := demo.Index(ctx, inst.Adressen, extract)
	if err != nil || !imported {
		t.Fatalf("demo index: %v %v", imported, err)
	}
	svc := demo.Services{Accounts: inst.Accounts, Knoten: inst.Knoten, Ortsweberei: inst.Ortsweberei,
		Antraege: inst.Antraege, Delegations: inst.Delegations, Konto: inst.Konto}
	if seeded, err := demo.Seed(ctx, svc); err != nil || !seeded {
		t.Fatalf("seed: %v %v", seeded, err)
	}
	near := func(a, b geo.Point) bool { // within about 30 m
		return math.Abs(a.Lat-b.Lat) < 0.0003 && math.Abs(a.Lon-b.Lon) < 0.0004
	}
	check := func(q string, at geo.Point) {
		t.Helper()
		found, err := inst.Adressen.Search(ctx, q, 1)
		if err != nil || len(found) == 0 {
			t.Errorf("%q is not in the index: %v", q, err)
			return
		}
		if !near(found[0].Point, at) || !found[0].Inside {
			t.Errorf("%q: the index finds %s at %v (inside %v), the demo puts it at %v", q, found[0].Label, found[0].Point, found[0].Inside, at)
		}
	}
	for _, r := range demo.Residents {
		check(r.Address, r.Home)
	}
	for _, p := range demo.Places {
		check(p.Name, p.Point)
	}
	if n := inst.Count(`SELECT count(*) FROM knoten`); n != len(demo.Places) {
		t.Errorf("%d Knoten, want %d", n, len(demo.Places))
	}

	// The Ortskonto: set at its place in Monaco, with donations to show.
	k, err := inst.Konto.Konto(ctx)
	if err != nil || k.Bank == nil || k.Position == nil || k.BalanceCents() != 7500 || k.PendingCents != 3050 || k.Counts.Reversed != 1 {
		t.Errorf("demo Ortskonto: %+v %v", k, err)
	} else if in, err := inst.Ortsweberei.Contains(ctx, inst.Pool, *k.Position); err != nil || !in {
		t.Errorf("the demo Ortskonto lies outside the demo: %v", err)
	}
	events := inst.Count(`SELECT count(*) FROM events`)
	if again, err := demo.Index(ctx, inst.Adressen, extract); err != nil || again {
		t.Errorf("the demo index was imported again: %v %v", again, err)
	}
	if seeded, err := demo.Seed(ctx, svc); err != nil || seeded {
		t.Errorf("seeded again: %v %v", seeded, err)
	}
	if n := inst.Count(`SELECT count(*) FROM events`); n != events {
		t.Errorf("a second start wrote %d events", n-events)
	}
}
