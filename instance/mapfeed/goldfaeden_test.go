package mapfeed_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Goldfäden: visible donations drawn from the donor's Garnrolle to the Ortskonto, in the cell of
// the Ortskonto's position (docs/MAPFEED.md).

type goldfadenMsg struct {
	ID              string                      `json:"id"`
	AccountID       string                      `json:"account_id"`
	AccountName     string                      `json:"account_name"`
	AccountPosition *struct{ Lat, Lon float64 } `json:"account_position"`
	KontoPosition   *struct{ Lat, Lon float64 } `json:"konto_position"`
	Status          string                      `json:"status"`
	AmountCents     int64                       `json:"amount_cents"`
}

type goldMsg struct {
	Goldfaeden []goldfadenMsg `json:"goldfaeden"`
	Removed    *struct {
		Goldfaeden []string `json:"goldfaeden"`
	} `json:"removed"`
}

func gold(t *testing.T, m msg) goldMsg {
	t.Helper()
	var g goldMsg
	if err := json.Unmarshal([]byte(m.raw), &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// goldfaden returns the Goldfaden id in the message, if it carries it.
func (g goldMsg) goldfaden(id string) (goldfadenMsg, bool) {
	i := slices.IndexFunc(g.Goldfaeden, func(x goldfadenMsg) bool { return x.ID == id })
	if i < 0 {
		return goldfadenMsg{}, false
	}
	return g.Goldfaeden[i], true
}

func (g goldMsg) removed(id string) bool {
	return g.Removed != nil && slices.Contains(g.Removed.Goldfaeden, id)
}

// kasse is the Ortskonto of a test instance, driven over its HTTP API by an admin (who may
// always act as treasurer).
type kasse struct {
	t     *testing.T
	admin *instancetest.Client
}

func openKasse(t *testing.T, inst *instancetest.Instance, lat, lon float64) *kasse {
	t.Helper()
	k := &kasse{t: t, admin: inst.Admin()}
	k.moveTo(lat, lon)
	return k
}

func (k *kasse) moveTo(lat, lon float64) {
	k.t.Helper()
	k.admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Lindenau e. V.", "iban": "DE02120300000000202051",
		"position": map[string]float64{"lat": lat, "lon": lon}}).Expect(k.t, http.StatusOK)
}

func (k *kasse) donate(c *instancetest.Client, cents int64, visible bool) string {
	k.t.Helper()
	var out struct {
		Spende struct{ ID string } `json:"spende"`
	}
	c.With(http.Header{"Idempotency-Key": {uuid.NewString()}}).Post("/api/spenden",
		map[string]any{"amount_cents": cents, "visible": visible, "message": "Für den Brunnen"}).Expect(k.t, http.StatusCreated).JSON(k.t, &out)
	return out.Spende.ID
}

func (k *kasse) step(id string, to ...string) {
	k.t.Helper()
	for _, s := range to {
		k.admin.Post("/api/spenden/"+id+"/status", map[string]string{"status": s}).Expect(k.t, http.StatusOK)
	}
}

// goldStates reads one state per cell and returns their Goldfäden.
func goldStates(t *testing.T, c *feedClient, cells []string) []goldfadenMsg {
	t.Helper()
	var all []goldfadenMsg
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
		all = append(all, gold(t, m).Goldfaeden...)
	}
	return all
}

func goldIDs(gs []goldfadenMsg) []string {
	return ids(gs, func(g goldfadenMsg) string { return g.ID })
}

// A visible donation is a Goldfaden in the Ortskonto's cell from initiated on, upserted at
// every step, removed when it fails, kept (reversed) when it is returned; an anonymous one is
// nowhere on the map: no message of a real WebSocket names its donor or even its id, in a
// state, a delta or a catch-up.
func TestGoldfaedenAndAnonymousDonations(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	k := openKasse(t, inst, lat, lon)
	ada := inst.Resident("Ada Sichtbar", lat+0.0004, lon)
	ben := inst.Resident("Benedikt Verborgen", lat-0.0004, lon)
	cells := cellsAround(t, inst, lat, lon, 16)

	var raws []string // every message this test's clients got
	hidden := func(m msg) bool {
		raws = append(raws, m.raw)
		return strings.Contains(m.raw, ben.ID) || strings.Contains(m.raw, "Verborgen")
	}

	g1 := k.donate(ada, 2500, true)
	anon1 := k.donate(ben, 9900, false)
	c := dial(t, inst)
	c.subscribe(cells, "")
	st := goldStates(t, c, cells)
	if !slices.Equal(goldIDs(st), []string{g1}) {
		t.Fatalf("the state holds the visible donation only: %v (want %s)", goldIDs(st), g1)
	}
	if g := st[0]; g.Status != "initiated" || g.AccountID != ada.ID || g.AccountName != "Ada Sichtbar" || g.AmountCents != 2500 ||
		g.KontoPosition == nil || g.KontoPosition.Lat != lat || g.KontoPosition.Lon != lon {
		t.Fatalf("a Goldfaden as the contract says: %+v", g)
	}

	// The anonymous donation moves through its steps; the visible one's step marks that the hub
	// has read them all.
	var anon2 string
	c.absent("the anonymous donation reached the map", func() {
		k.step(anon1, ortskonto.StatusPending, ortskonto.StatusSettled, ortskonto.StatusReversed)
		anon2 = k.donate(ben, 100, false)
		k.step(anon2, ortskonto.StatusFailed) // not even a removal names it
		k.step(g1, ortskonto.StatusPending)
	}, func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return ok && g.Status == "pending"
	}, func(m msg) bool { return hidden(m) || strings.Contains(m.raw, anon1) || strings.Contains(m.raw, anon2) })

	k.step(g1, ortskonto.StatusSettled)
	c.until("the Goldfaden settled", func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return !hidden(m) && ok && g.Status == "settled" && m.Type == "delta"
	})
	before := c.cursor()

	g2 := k.donate(ada, 700, true)
	c.until("a second Goldfaden", func(m msg) bool { _, ok := gold(t, m).goldfaden(g2); return !hidden(m) && ok })
	k.step(g2, ortskonto.StatusFailed)
	c.until("the failed one removed", func(m msg) bool { return !hidden(m) && gold(t, m).removed(g2) })
	k.step(g1, ortskonto.StatusReversed)
	c.until("the reversed one kept, struck through", func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return !hidden(m) && ok && g.Status == "reversed"
	})

	// The donor renamed and off the map: the Goldfaden is redrawn, without a place at the
	// donor's end.
	ada.Patch("/api/me", map[string]any{"name": "Ada Umbenannt", "on_map": false}).Expect(t, 200)
	c.until("the Goldfaden redrawn for its renamed donor", func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return !hidden(m) && ok && g.AccountName == "Ada Umbenannt" && g.AccountPosition == nil && g.Status == "reversed"
	})

	// Back with the cursor from before: a catch-up with exactly what changed since, as it stands.
	back := dial(t, inst)
	back.subscribe(cells, before)
	var caught goldMsg
	for range cells {
		m := back.next()
		if m.Type != "delta" || !m.Catchup || hidden(m) {
			t.Fatalf("want catch-up deltas without the anonymous donor, got %s", m.raw)
		}
		g := gold(t, m)
		caught.Goldfaeden = append(caught.Goldfaeden, g.Goldfaeden...)
		if g.Removed != nil {
			if caught.Removed == nil {
				caught.Removed = g.Removed
			} else {
				caught.Removed.Goldfaeden = append(caught.Removed.Goldfaeden, g.Removed.Goldfaeden...)
			}
		}
	}
	if g, ok := caught.goldfaden(g1); !ok || g.Status != "reversed" || !caught.removed(g2) || len(caught.Goldfaeden) != 1 {
		t.Fatalf("catch-up: g1 reversed and g2 removed, nothing else: %+v", caught)
	}

	// A new client's state: the reversed one, not the failed one, not the anonymous ones.
	fresh := dial(t, inst)
	fresh.subscribe(cells, "")
	if st := goldStates(t, fresh, cells); !slices.Equal(goldIDs(st), []string{g1}) || st[0].Status != "reversed" || st[0].AccountName != "Ada Umbenannt" {
		t.Fatalf("state: %+v", st)
	}
	for _, r := range raws {
		if strings.Contains(r, ben.ID) || strings.Contains(r, "Verborgen") || strings.Contains(r, anon1) || strings.Contains(r, anon2) {
			t.Fatalf("a map message names the anonymous donor or donation: %s", r)
		}
	}
	if len(raws) < 5 {
		t.Fatalf("only %d messages were looked at", len(raws))
	}
}

// An Ortskonto that moves takes its Goldfäden along: the old cell's clients get them removed
// (live and in a catch-up from before the move), the new cell's get them, and a state of the
// old cell has none.
func TestGoldfaedenMoveWithTheOrtskonto(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	k := openKasse(t, inst, lat, lon)
	ada := inst.Resident("Ada", lat, lon)
	g1 := k.donate(ada, 1200, true)
	oldCells := cellsAround(t, inst, lat, lon, 16)
	newLat := lat + 0.05 // far enough that no cell of the one view is near the other
	newCells := cellsAround(t, inst, newLat, lon, 16)

	away := dial(t, inst)
	away.subscribe(oldCells, "")
	if st := goldStates(t, away, oldCells); !slices.Equal(goldIDs(st), []string{g1}) {
		t.Fatalf("before the move: %v", goldIDs(st))
	}
	cursor := away.cursor()
	away.conn.Close(websocket.StatusNormalClosure, "bye")
	old := dial(t, inst)
	old.subscribe(oldCells, "")
	goldStates(t, old, oldCells)
	moved := dial(t, inst)
	moved.subscribe(newCells, "")
	if st := goldStates(t, moved, newCells); len(st) != 0 {
		t.Fatalf("nothing where the Ortskonto is not yet: %v", goldIDs(st))
	}

	k.moveTo(newLat, lon)
	old.until("the Goldfaden removed from the old place", func(m msg) bool { return gold(t, m).removed(g1) })
	m := moved.until("the Goldfaden at the new place", func(m msg) bool { _, ok := gold(t, m).goldfaden(g1); return ok })
	if g, _ := gold(t, m).goldfaden(g1); g.KontoPosition == nil || g.KontoPosition.Lat != newLat {
		t.Fatalf("drawn to the new place: %+v", g)
	}

	back := dial(t, inst)
	back.subscribe(oldCells, cursor)
	removed := false
	for range oldCells {
		m := back.next()
		if m.Type != "delta" || !m.Catchup {
			t.Fatalf("want catch-up deltas, got %s", m.raw)
		}
		g := gold(t, m)
		if _, ok := g.goldfaden(g1); ok {
			t.Fatalf("a catch-up from before the move shows the Goldfaden at the old place: %s", m.raw)
		}
		removed = removed || g.removed(g1)
	}
	if !removed {
		t.Fatal("a catch-up from before the move does not remove the Goldfaden from the old place")
	}
	fresh := dial(t, inst)
	fresh.subscribe(oldCells, "")
	if st := goldStates(t, fresh, oldCells); len(st) != 0 {
		t.Fatalf("the old place still has Goldfäden: %v", goldIDs(st))
	}

	// Later steps go to the new place only.
	k.step(g1, ortskonto.StatusPending)
	moved.until("the step at the new place", func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return ok && g.Status == "pending"
	})
	old.absent("a step shown at the old place", func() { k.moveTo(lat, lon) }, func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return ok && g.Status == "pending" && g.KontoPosition.Lat == lat
	}, func(m msg) bool {
		g, ok := gold(t, m).goldfaden(g1)
		return ok && g.KontoPosition.Lat != lat
	})
}
