package instance_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Lindenau, Leipzig: where the test residents live and weave.
const lat, lon = 51.3362, 12.3363

type knotenOut struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	H3          string     `json:"h3"`
	CreatedAt   time.Time  `json:"created_at"`
	Permanent   bool       `json:"permanent"`
	GarnCount   int        `json:"garn_count"`
	DissolvesAt *time.Time `json:"dissolves_at"`
	Faden       fadenOut   `json:"faden"`
}

type fadenOut struct {
	ID          string     `json:"id"`
	KnotenID    string     `json:"knoten_id"`
	AccountID   string     `json:"account_id"`
	AccountName string     `json:"account_name"`
	Type        string     `json:"type"`
	IsTwisted   bool       `json:"is_twisted"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func place(t *testing.T, c *instancetest.Client, title string) knotenOut {
	t.Helper()
	var k knotenOut
	c.Post("/api/knoten", map[string]any{"type": "idee", "title": title, "description": "", "lat": lat, "lon": lon}).
		Expect(t, http.StatusCreated).JSON(t, &k)
	return k
}

func spin(t *testing.T, c *instancetest.Client, knotenID string, twisted bool) fadenOut {
	t.Helper()
	var f fadenOut
	c.Post("/api/faeden", map[string]any{"to_knoten_id": knotenID, "type": "gespraech", "is_twisted": twisted}).
		Expect(t, http.StatusCreated).JSON(t, &f)
	return f
}

func faeden(t *testing.T, c *instancetest.Client, knotenID string) map[string]fadenOut {
	t.Helper()
	var out struct {
		Faeden []fadenOut `json:"faeden"`
	}
	c.Get("/api/knoten/"+knotenID+"/faeden").Expect(t, http.StatusOK).JSON(t, &out)
	m := map[string]fadenOut{}
	for _, f := range out.Faeden {
		m[f.ID] = f
	}
	return m
}

func listed(t *testing.T, c *instancetest.Client, knotenID string) bool {
	t.Helper()
	var out struct {
		Knoten []knotenOut `json:"knoten"`
	}
	c.Get("/api/knoten").Expect(t, http.StatusOK).JSON(t, &out)
	for _, k := range out.Knoten {
		if k.ID == knotenID {
			return true
		}
	}
	return false
}

// assertAlive checks a Knoten is on the map: fetchable and listed.
func assertAlive(t *testing.T, c *instancetest.Client, k knotenOut) knotenOut {
	t.Helper()
	var got knotenOut
	c.Get("/api/knoten/"+k.ID).Expect(t, http.StatusOK).JSON(t, &got)
	if !listed(t, c, k.ID) {
		t.Fatalf("Knoten %q fetchable but missing from the listing", k.Title)
	}
	return got
}

// assertDissolved checks a Knoten is gone everywhere: 410, not listed, no Fäden.
func assertDissolved(t *testing.T, c *instancetest.Client, k knotenOut) {
	t.Helper()
	res := c.Get("/api/knoten/"+k.ID).Expect(t, http.StatusGone)
	if res.ErrorCode() != "knoten_dissolved" {
		t.Errorf("dissolved Knoten: error code %q", res.ErrorCode())
	}
	if listed(t, c, k.ID) {
		t.Errorf("dissolved Knoten %q still listed", k.Title)
	}
	c.Get("/api/knoten/"+k.ID+"/faeden").Expect(t, http.StatusGone)
}

// advanceTo moves the dev clock to the instant at, as far as a clock that runs on with real time
// can: the step is measured from the clock's present, so "a minute before" a rule's instant is
// a minute before it at the check that follows, however long the test took to get here.
func advanceTo(t *testing.T, inst *instancetest.Instance, at time.Time) {
	t.Helper()
	now := inst.Advance("0s")
	if d := at.Sub(now); d > 0 {
		inst.Advance(d.String())
	}
}

func eventsOfType(inst *instancetest.Instance, typ, subject string) int {
	return inst.Count(`SELECT count(*) FROM events WHERE type = $1 AND subject_id = $2`, typ, subject)
}

// Acceptance test 1 (seed 000): Fäden expire after 7 days; Knoten dissolve correctly.
func TestAcceptance1FaedenExpireAndKnotenDissolve(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.Resident("Ben", lat, lon)

	k := place(t, ada, "Tauschregal vor der Bäckerei")
	first := k.Faden
	if first.ExpiresAt == nil || first.ExpiresAt.Sub(first.CreatedAt) != 168*time.Hour {
		t.Fatalf("the creator's first Faden must expire exactly 168 h after it was spun: %+v", first)
	}
	if first.AccountID != ada.ID || first.IsTwisted {
		t.Fatalf("placing a Knoten spins its creator's (untwisted) first Faden: %+v", first)
	}

	inst.Advance("72h")
	second := spin(t, ben, k.ID, false)
	if second.ExpiresAt.Sub(second.CreatedAt) != 168*time.Hour {
		t.Fatalf("expires_at must be created_at + 7 days, got %v", second.ExpiresAt.Sub(second.CreatedAt))
	}

	// One minute before the first Faden's 168 h: both Fäden are there.
	advanceTo(t, inst, first.ExpiresAt.Add(-time.Minute))
	if fs := faeden(t, ada, k.ID); len(fs) != 2 {
		t.Fatalf("one minute before expiry: %d Fäden listed, want 2", len(fs))
	}
	if eventsOfType(inst, "FadenAbgelaufen", first.ID) != 0 {
		t.Fatal("FadenAbgelaufen recorded before the Faden's time")
	}

	// At 168 h the first Faden is gone; the Knoten lives on through Ben's Faden.
	inst.Advance("1m")
	fs := faeden(t, ada, k.ID)
	if _, still := fs[first.ID]; still || len(fs) != 1 {
		t.Fatalf("at 168 h the first Faden must be gone: %v", fs)
	}
	if eventsOfType(inst, "FadenAbgelaufen", first.ID) != 1 {
		t.Fatal("the expiry was not recorded as one FadenAbgelaufen event")
	}
	got := assertAlive(t, ada, k)
	if got.DissolvesAt == nil || !got.DissolvesAt.Equal(*second.ExpiresAt) {
		t.Fatalf("the Knoten must now dissolve when Ben's Faden expires (%v), says %v", second.ExpiresAt, got.DissolvesAt)
	}

	// Ben's Faden was spun 72 h after the first: the Knoten dissolves 7 days after that.
	advanceTo(t, inst, second.ExpiresAt.Add(-time.Minute))
	assertAlive(t, ada, k)
	inst.Advance("1m")
	assertDissolved(t, ada, k)
	if n := eventsOfType(inst, "KnotenAufgeloest", k.ID); n != 1 {
		t.Fatalf("%d KnotenAufgeloest events, want 1", n)
	}
	if n := eventsOfType(inst, "FadenAbgelaufen", second.ID); n != 1 {
		t.Fatalf("%d FadenAbgelaufen events for the second Faden, want 1", n)
	}
	// A dissolved Knoten takes no new Faden.
	res := ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}).Expect(t, http.StatusGone)
	if res.ErrorCode() != "knoten_dissolved" {
		t.Errorf("spin to a dissolved Knoten: %q", res.ErrorCode())
	}
}

// Acceptance test 2 (seed 000): twisting makes a Knoten permanent; untwisting undoes it.
func TestAcceptance2GarnMakesKnotenPermanent(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.Resident("Ben", lat, lon)

	k := place(t, ada, "Gemeinschaftsgarten")
	var twisted fadenOut
	ada.Post("/api/faeden/"+k.Faden.ID+"/twist", nil).Expect(t, http.StatusOK).JSON(t, &twisted)
	if !twisted.IsTwisted || twisted.ExpiresAt != nil {
		t.Fatalf("twisted Faden must be Garn without expiry: %+v", twisted)
	}
	got := assertAlive(t, ada, k)
	if !got.Permanent || got.GarnCount != 1 || got.DissolvesAt != nil {
		t.Fatalf("a Knoten with Garn is permanent: %+v", got)
	}
	if eventsOfType(inst, "FadenVerzwirnt", k.Faden.ID) != 1 {
		t.Fatal("twisting was not recorded as FadenVerzwirnt")
	}

	// Only the spinner may twist or untwist; twisting twice is refused.
	if c := ben.Post("/api/faeden/"+k.Faden.ID+"/untwist", nil).Expect(t, http.StatusForbidden).ErrorCode(); c != "not_your_faden" {
		t.Errorf("untwist by another account: %q", c)
	}
	if c := ada.Post("/api/faeden/"+k.Faden.ID+"/twist", nil).Expect(t, http.StatusConflict).ErrorCode(); c != "already_twisted" {
		t.Errorf("twist of Garn: %q", c)
	}

	// Garn outlives any number of weeks.
	inst.Advance("30d")
	assertAlive(t, ada, k)
	if fs := faeden(t, ada, k.ID); !fs[k.Faden.ID].IsTwisted {
		t.Fatalf("the Garn must still be listed after 30 days: %v", fs)
	}

	// Untwisting starts the 7-day clock again, from the untwist.
	var untwisted fadenOut
	ada.Post("/api/faeden/"+k.Faden.ID+"/untwist", nil).Expect(t, http.StatusOK).JSON(t, &untwisted)
	if untwisted.IsTwisted || untwisted.ExpiresAt == nil {
		t.Fatalf("untwisted Garn must be an expiring Faden again: %+v", untwisted)
	}
	now := inst.Advance("0s")
	if d := untwisted.ExpiresAt.Sub(now); d > 168*time.Hour || d < 168*time.Hour-time.Minute {
		t.Fatalf("untwisted Faden expires %v from now, want 7 days", d)
	}
	got = assertAlive(t, ada, k)
	if got.Permanent || got.DissolvesAt == nil || !got.DissolvesAt.Equal(*untwisted.ExpiresAt) {
		t.Fatalf("without Garn the Knoten dissolves with its Faden: %+v", got)
	}
	if eventsOfType(inst, "FadenEntzwirnt", k.Faden.ID) != 1 {
		t.Fatal("untwisting was not recorded as FadenEntzwirnt")
	}
	if c := ada.Post("/api/faeden/"+k.Faden.ID+"/untwist", nil).Expect(t, http.StatusConflict).ErrorCode(); c != "not_twisted" {
		t.Errorf("untwist of a plain Faden: %q", c)
	}

	advanceTo(t, inst, untwisted.ExpiresAt.Add(-time.Minute))
	assertAlive(t, ada, k)
	inst.Advance("1m")
	assertDissolved(t, ada, k)
	if c := ada.Post("/api/faeden/"+k.Faden.ID+"/twist", nil).Expect(t, http.StatusGone).ErrorCode(); c != "faden_expired" {
		t.Errorf("twist of an expired Faden: %q", c)
	}
}

// With two Garne, untwisting one leaves the Knoten permanent; a Faden spun as Garn counts.
func TestKnotenStaysPermanentWhileAnyGarnRemains(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.Resident("Ben", lat, lon)

	k := place(t, ada, "Lastenrad")
	garn := spin(t, ben, k.ID, true)
	if !garn.IsTwisted || garn.ExpiresAt != nil {
		t.Fatalf("a Faden spun with is_twisted is Garn: %+v", garn)
	}
	ada.Post("/api/faeden/"+k.Faden.ID+"/twist", nil).Expect(t, http.StatusOK)
	if got := assertAlive(t, ada, k); got.GarnCount != 2 {
		t.Fatalf("garn_count %d, want 2", got.GarnCount)
	}
	ada.Post("/api/faeden/"+k.Faden.ID+"/untwist", nil).Expect(t, http.StatusOK)
	inst.Advance("8d")
	got := assertAlive(t, ada, k)
	if !got.Permanent || got.GarnCount != 1 {
		t.Fatalf("Ben's Garn keeps the Knoten permanent: %+v", got)
	}
	fs := faeden(t, ada, k.ID)
	if len(fs) != 1 || !fs[garn.ID].IsTwisted || fs[garn.ID].AccountName != "Ben" {
		t.Fatalf("only Ben's Garn is left, with his name: %v", fs)
	}
}

// A Faden whose time has come is gone even before the sweep has recorded it: reads apply the
// rule at the instant of the read.
func TestExpiryIsExactBetweenSweeps(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	k := place(t, ada, "Flohmarkt")
	// Move the clock without running the sweeps.
	if _, err := inst.DevClock.Advance(168 * time.Hour); err != nil {
		t.Fatal(err)
	}
	assertDissolved(t, ada, k)
	if c := ada.Post("/api/faeden/"+k.Faden.ID+"/twist", nil).Expect(t, http.StatusGone).ErrorCode(); c != "faden_expired" {
		t.Errorf("twist after expiry, before the sweep: %q", c)
	}
	if n := eventsOfType(inst, "KnotenAufgeloest", k.ID); n != 0 {
		t.Fatalf("no sweep ran, yet %d KnotenAufgeloest events", n)
	}
	inst.Advance("0s") // runs the sweeps
	if n := eventsOfType(inst, "KnotenAufgeloest", k.ID); n != 1 {
		t.Fatalf("after the sweep: %d KnotenAufgeloest events, want 1", n)
	}
}

// A plain Faden spun to a Knoten that Garn holds does not give the Knoten an end: it expires
// after 7 days on its own, the Knoten stays. Untwisting the Garn later starts the Knoten's 7
// days from the untwist; the long-expired Faden does not count.
func TestPlainFadenOnAGarnHeldKnoten(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.Resident("Ben", lat, lon)

	k := place(t, ada, "Werkzeugkiste")
	ada.Post("/api/faeden/"+k.Faden.ID+"/twist", nil).Expect(t, http.StatusOK)
	plain := spin(t, ben, k.ID, false)
	if got := assertAlive(t, ada, k); !got.Permanent || got.GarnCount != 1 || got.DissolvesAt != nil {
		t.Fatalf("after a plain Faden to a Garn-held Knoten: %+v", got)
	}

	inst.Advance("8d")
	got := assertAlive(t, ada, k)
	if !got.Permanent || got.GarnCount != 1 || got.DissolvesAt != nil {
		t.Fatalf("8 days after the plain Faden, the Garn still holds the Knoten: %+v", got)
	}
	fs := faeden(t, ada, k.ID)
	if _, still := fs[plain.ID]; still || len(fs) != 1 || !fs[k.Faden.ID].IsTwisted {
		t.Fatalf("only the Garn is left: %v", fs)
	}
	if eventsOfType(inst, "FadenAbgelaufen", plain.ID) != 1 || eventsOfType(inst, "KnotenAufgeloest", k.ID) != 0 {
		t.Fatal("the plain Faden expired on its own, the Knoten did not dissolve")
	}

	var untwisted fadenOut
	ada.Post("/api/faeden/"+k.Faden.ID+"/untwist", nil).Expect(t, http.StatusOK).JSON(t, &untwisted)
	if got := assertAlive(t, ada, k); got.Permanent || got.DissolvesAt == nil || !got.DissolvesAt.Equal(*untwisted.ExpiresAt) {
		t.Fatalf("without Garn the Knoten dissolves with the untwisted Faden (%v): %+v", untwisted.ExpiresAt, got)
	}
}
