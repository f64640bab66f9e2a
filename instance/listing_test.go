package instance_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/uber/h3-go/v4"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

func titles(t *testing.T, c *instancetest.Client, query url.Values) []string {
	t.Helper()
	var out struct {
		Knoten []knotenOut `json:"knoten"`
	}
	c.Get("/api/knoten?"+query.Encode()).Expect(t, http.StatusOK).JSON(t, &out)
	var ts []string
	for _, k := range out.Knoten {
		ts = append(ts, k.Title)
	}
	slices.Sort(ts)
	return ts
}

func TestListingFilters(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	put := func(typ, title, desc string, la, lo float64) knotenOut {
		var k knotenOut
		ada.Post("/api/knoten", map[string]any{"type": typ, "title": title, "description": desc, "lat": la, "lon": lo}).
			Expect(t, http.StatusCreated).JSON(t, &k)
		return k
	}
	garten := put("einrichtung", "Gemeinschaftsgarten", "Hochbeete am Kanal", 51.3338, 12.3312)
	put("ereignis", "Repair-Café", "Toaster und Fahrräder reparieren", 51.3371, 12.3398)
	put("werkzeug", "Lastenrad", "Ausleihe bei Mara", 51.3402, 12.3281)
	put("idee", "100% Ökostrom_für alle", "Solardächer", 51.30, 12.40)

	anon := inst.Client()
	check := func(q url.Values, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := titles(t, anon, q); !slices.Equal(got, want) {
			t.Errorf("GET /api/knoten?%s = %q, want %q", q.Encode(), got, want)
		}
	}
	check(url.Values{}, "Gemeinschaftsgarten", "Repair-Café", "Lastenrad", "100% Ökostrom_für alle")
	check(url.Values{"type": {"werkzeug"}}, "Lastenrad")
	check(url.Values{"type": {"werkzeug,ereignis"}}, "Lastenrad", "Repair-Café")
	check(url.Values{"type": {"werkzeug", "idee"}}, "Lastenrad", "100% Ökostrom_für alle")
	check(url.Values{"bbox": {"12.32,51.33,12.335,51.345"}}, "Gemeinschaftsgarten", "Lastenrad")
	check(url.Values{"bbox": {"12.32,51.33,12.335,51.345"}, "type": {"einrichtung"}}, "Gemeinschaftsgarten")
	// Substring search finds words inside German compounds, ignores case, needs every word.
	check(url.Values{"q": {"garten"}}, "Gemeinschaftsgarten")
	check(url.Values{"q": {"HOCHBEETE kanal"}}, "Gemeinschaftsgarten")
	check(url.Values{"q": {"hochbeete fahrrad"}})
	check(url.Values{"q": {"fahrräder"}}, "Repair-Café")
	// LIKE wildcards in the search text are taken literally.
	check(url.Values{"q": {"100%"}}, "100% Ökostrom_für alle")
	check(url.Values{"q": {"_"}}, "100% Ökostrom_für alle")
	check(url.Values{"q": {"%"}}, "100% Ökostrom_für alle")
	check(url.Values{"limit": {"2"}, "type": {"werkzeug,idee,ereignis"}}, "100% Ökostrom_für alle", "Lastenrad") // newest first

	// The h3 field is the point's resolution-15 cell.
	c, err := h3.LatLngToCell(h3.NewLatLng(51.3338, 12.3312), 15)
	if err != nil {
		t.Fatal(err)
	}
	if garten.H3 != c.String() {
		t.Errorf("h3 %s, want %s", garten.H3, c)
	}
}

// A box that crosses the antimeridian (minLon > maxLon) finds pins on both sides.
func TestListingAcrossTheAntimeridian(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	for _, p := range []struct {
		title string
		lon   float64
	}{{"Fidschi Ost", 179.5}, {"Fidschi West", -179.5}, {"Greenwich", 0}} {
		ada.Post("/api/knoten", map[string]any{"type": "idee", "title": p.title, "lat": -17.0, "lon": p.lon}).Expect(t, http.StatusCreated)
	}
	got := titles(t, inst.Client(), url.Values{"bbox": {"179,-18,-179,-16"}})
	if !slices.Equal(got, []string{"Fidschi Ost", "Fidschi West"}) {
		t.Errorf("antimeridian box: %q", got)
	}
}
