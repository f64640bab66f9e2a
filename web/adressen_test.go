package web_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/basemaptest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// monteCarlo is a rectangle over Monte-Carlo: Boulevard des Moulins and Avenue des Spélugues lie
// within it, Fontvieille and Avenue des Papalins outside.
var monteCarlo = json.RawMessage(`{"type":"Polygon","coordinates":[[[7.422,43.737],[7.434,43.737],[7.434,43.746],[7.422,43.746],[7.422,43.737]]]}`)

// TestAddresses runs e2e/addresses.e2e.mjs on a 390×844 phone screen against an instance whose
// address index is imported from the Monaco extract with the real import, and which serves the
// Monaco basemap (the small map of the registration shows the streets): registration by a
// typed and chosen address (the home is the suggestion's point), an outside address refused
// before sending, Knoten knüpfen by search and by tap, a tap outside the bounds refused at once.
func TestAddresses(t *testing.T) {
	b := requireBrowser(t)
	inst := instancetest.Start(t, instancetest.Options{Name: "Monte-Carlo", Bounds: monteCarlo, Basemap: basemaptest.Monaco(t)})
	res, err := inst.Adressen.Import(context.Background(), basemaptest.Extract(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("address index: %+v", res)
	b.run(t, "e2e/addresses.e2e.mjs", "WG_URL="+inst.URL)
}
