package mapfeed_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// setHidden hides (or shows again) a Knoten or a Faden as a moderator's action does.
func setHidden(t *testing.T, inst *instancetest.Instance, kind, id string, hide bool) {
	t.Helper()
	ctx := context.Background()
	c := inst.Knoten.Moderation(inst.URL)
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		return c.HideTx(ctx, tx, moderation.Target{Kind: kind, ID: id}, hide, uuid.MustParse(inst.Admin().ID), "Hausregeln", inst.Clock.Now())
	}); err != nil {
		t.Fatalf("hide %s %s: %v", kind, id, err)
	}
}

// listed reports whether GET /api/knoten lists the Knoten in a box around the place.
func listed(t *testing.T, inst *instancetest.Instance, id string) bool {
	t.Helper()
	var out struct {
		Knoten []struct{ ID string } `json:"knoten"`
	}
	inst.Client().Get(fmt.Sprintf("/api/knoten?bbox=%f,%f,%f,%f", lon-0.01, lat-0.01, lon+0.01, lat+0.01)).Expect(t, 200).JSON(t, &out)
	return slices.ContainsFunc(out.Knoten, func(k struct{ ID string }) bool { return k.ID == id })
}

// A Knoten a moderator hides vanishes from every open map, with its Fäden, and from the
// listing; a client that rejoins with a cursor from before learns it too, and one that loads
// the cell does not get it. Shown again, it comes back, with its Fäden, everywhere. A hidden
// Faden vanishes alone.
func TestHiddenKnotenLeavesOpenMaps(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.Resident("Jana", lat, lon)
	ben := inst.Resident("Ben", lat, lon)
	k, f1 := place(t, jana, "Lästerbank", lat, lon)
	var f2 struct{ ID string }
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k, "type": "gespraech"}).Expect(t, 201).JSON(t, &f2)
	other, _ := place(t, jana, "Brunnen", lat+0.0001, lon+0.0001)

	cells := cellsAround(t, inst, lat, lon, 16)
	c := dial(t, inst)
	c.subscribe(cells, "")
	st := statesFor(t, c, cells)
	if !slices.Equal(knotenIDs(st.Knoten), sorted(k, other)) || !slices.Contains(fadenIDs(st.Faeden), f2.ID) {
		t.Fatalf("state before: %+v", st)
	}
	before := c.cursor()

	setHidden(t, inst, moderation.KindKnoten, k, true)
	d := c.until("the hidden Knoten's removal", func(m msg) bool {
		return m.Type == "delta" && m.Removed != nil && slices.Contains(m.Removed.Knoten, k)
	})
	if !slices.Equal(sorted(d.Removed.Faeden...), sorted(f1, f2.ID)) || mentions(msg{Knoten: d.Knoten, Faeden: d.Faeden}, k, f1, f2.ID) {
		t.Fatalf("hiding delta: %s", d.raw)
	}
	if listed(t, inst, k) || !listed(t, inst, other) {
		t.Fatal("the listing still shows the hidden Knoten (or lost the other)")
	}
	// Gone for the Fediverse too: the Knoten's object and its Fäden's.
	for _, path := range []string{"/ap/knoten/" + k, "/ap/faeden/" + f1, "/ap/faeden/" + f2.ID} {
		if r := inst.Client().With(http.Header{"Accept": {"application/activity+json"}}).Get(path); r.Status != 410 {
			t.Fatalf("GET %s of a hidden Knoten: %d", path, r.Status)
		}
	}

	// A new client loads the cells without it; one rejoining from before the hiding is told.
	fresh := dial(t, inst)
	fresh.subscribe(cells, "")
	if st := statesFor(t, fresh, cells); mentions(st, k, f1, f2.ID) || !slices.Contains(knotenIDs(st.Knoten), other) {
		t.Fatalf("state with the Knoten hidden: %+v", st)
	}
	back := dial(t, inst)
	back.subscribe(cells, before)
	var removed []string
	for range cells {
		m := back.next()
		if m.Type != "delta" || !m.Catchup {
			t.Fatalf("want catch-up deltas, got %s", m.raw)
		}
		if m.Removed != nil {
			removed = append(append(removed, m.Removed.Knoten...), m.Removed.Faeden...)
		}
		if mentions(msg{Knoten: m.Knoten, Faeden: m.Faeden}, k, f1, f2.ID) {
			t.Fatalf("a catch-up shows the hidden Knoten: %s", m.raw)
		}
	}
	if !slices.Equal(sorted(removed...), sorted(k, f1, f2.ID)) {
		t.Fatalf("catch-up removed %v, want the Knoten and its Fäden", removed)
	}

	setHidden(t, inst, moderation.KindKnoten, k, false)
	d = c.until("the Knoten shown again", func(m msg) bool { return m.Type == "delta" && slices.Contains(knotenIDs(m.Knoten), k) })
	if !slices.Equal(fadenIDs(d.Faeden), sorted(f1, f2.ID)) || d.Removed != nil {
		t.Fatalf("showing delta: %s", d.raw)
	}
	if !listed(t, inst, k) {
		t.Fatal("the Knoten shown again is not listed")
	}

	// One Faden hidden: it alone leaves the map; its Knoten stays.
	setHidden(t, inst, moderation.KindFaden, f2.ID, true)
	d = c.until("the hidden Faden's removal", func(m msg) bool {
		return m.Type == "delta" && m.Removed != nil && slices.Contains(m.Removed.Faeden, f2.ID)
	})
	if len(d.Removed.Knoten) != 0 || len(d.Removed.Faeden) != 1 {
		t.Fatalf("hiding a Faden: %s", d.raw)
	}
	setHidden(t, inst, moderation.KindFaden, f2.ID, false)
	c.until("the Faden shown again", func(m msg) bool { return m.Type == "delta" && slices.Contains(fadenIDs(m.Faeden), f2.ID) })
}
