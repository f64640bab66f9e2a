package instance_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// GET /api/adressen answers without a session (registration needs it) in the shape the web app
// codes against, every field present, inside saying whether a match lies within the bounds.
func TestAddressSearchOverHTTP(t *testing.T) {
	t.Parallel()
	extract := "../deploy/osm/monaco-latest.osm.pbf"
	if _, err := os.Stat(extract); err != nil {
		extract = "/work/shared/osm/monaco-latest.osm.pbf"
	}
	// Bounds around the casino: Boulevard des Moulins lies outside, to the north-east.
	casino := json.RawMessage(`{"type":"Polygon","coordinates":[[[7.4255,43.7365],[7.4310,43.7365],[7.4310,43.7415],[7.4255,43.7415],[7.4255,43.7365]]]}`)
	inst := instancetest.Start(t, instancetest.Options{Name: "Casino", Bounds: casino})
	if _, err := inst.Adressen.Import(context.Background(), extract, nil); err != nil {
		t.Fatal(err)
	}
	anon := inst.Client()
	var body struct {
		Adressen []map[string]any `json:"adressen"`
	}
	anon.Get("/api/adressen?q="+url.QueryEscape("Bd des Moul 1")+"&limit=20").Expect(t, 200).JSON(t, &body)
	if len(body.Adressen) != 2 {
		t.Fatalf("Bd des Moul 1: %v", body.Adressen)
	}
	first := body.Adressen[0]
	for _, key := range []string{"label", "kind", "street", "housenumber", "postcode", "city", "name", "lat", "lon", "inside"} {
		if _, ok := first[key]; !ok {
			t.Errorf("the answer lacks %q: %v", key, first)
		}
	}
	if first["label"] != "Boulevard des Moulins 18, 98000 Monaco" || first["kind"] != "address" || first["housenumber"] != "18" ||
		first["inside"] != false || first["name"] != "" {
		t.Errorf("first: %v", first)
	}
	anon.Get("/api/adressen?q="+url.QueryEscape("Avenue des Spélugues")).Expect(t, 200).JSON(t, &body)
	if len(body.Adressen) == 0 || body.Adressen[0]["kind"] != "street" || body.Adressen[0]["inside"] != true {
		t.Errorf("Avenue des Spélugues: %v", body.Adressen)
	}
	anon.Get("/api/adressen?q="+url.QueryEscape("casino de monte")).Expect(t, 200).JSON(t, &body)
	if len(body.Adressen) == 0 || body.Adressen[0]["kind"] != "place" || body.Adressen[0]["name"] != "Casino de Monte Carlo" {
		t.Errorf("casino de monte: %v", body.Adressen)
	}
	anon.Get("/api/adressen?q="+url.QueryEscape("Casino")).Expect(t, 200).JSON(t, &body)
	if len(body.Adressen) > 8 {
		t.Errorf("%d answers, the default limit is 8", len(body.Adressen))
	}
}
