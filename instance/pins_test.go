package instance_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// listing is GET path's Knoten as generic objects, in the answer's order.
func listing(t *testing.T, c *instancetest.Client, path string) []map[string]any {
	t.Helper()
	var out struct {
		Knoten []map[string]any `json:"knoten"`
	}
	c.Get(path).Expect(t, http.StatusOK).JSON(t, &out)
	return out.Knoten
}

func knotenIDs(ks []map[string]any) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k["id"].(string))
	}
	return out
}

// The lean form (?fields=pin) lists the same Knoten in the same order as the full answer, each
// with the pin's fields only and their values the full form's; hidden and dissolved Knoten are
// absent from both; a Knoten just placed is in the next answer; a bad fields is refused.
func TestListingPins(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	place := func(title string, dLat float64) knotenOut {
		var k knotenOut
		ada.Post("/api/knoten", map[string]any{"type": "einrichtung", "title": title, "description": "Hochbeete am \"Kanal\"\n",
			"lat": lat + dLat, "lon": lon}).Expect(t, http.StatusCreated).JSON(t, &k)
		return k
	}
	dissolving := place("Löst sich auf", 0.001)
	inst.Advance("4d")
	garten := place("Gemeinschaftsgarten", 0.002)
	rad := place("Lastenrad", 0.003)
	hidden := place("Lästerbank", 0.004)
	ada.Post("/api/faeden/"+rad.Faden.ID+"/twist", nil).Expect(t, http.StatusOK) // Garn: permanent
	moderator := uuid.MustParse(inst.Admin().ID)
	if err := database.InTx(context.Background(), inst.Pool, func(tx *database.Tx) error {
		return inst.Knoten.Moderation(inst.URL).HideTx(context.Background(), tx,
			moderation.Target{Kind: moderation.KindKnoten, ID: hidden.ID}, true, moderator, "Hausregeln", inst.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	inst.Advance("72h1m") // the first Knoten's only Faden has run out

	anon := inst.Client()
	box := fmt.Sprintf("bbox=%f,%f,%f,%f", lon-0.01, lat-0.01, lon+0.01, lat+0.01)
	full := listing(t, anon, "/api/knoten?"+box)
	pins := listing(t, anon, "/api/knoten?"+box+"&fields=pin")
	if want := []string{rad.ID, garten.ID}; !slices.Equal(knotenIDs(full), want) || !slices.Equal(knotenIDs(pins), want) {
		t.Fatalf("listed %v (full) and %v (pins), want %v: newest first, without the hidden %s and the dissolved %s",
			knotenIDs(full), knotenIDs(pins), want, hidden.ID, dissolving.ID)
	}
	for i, p := range pins {
		keys := slices.Sorted(maps.Keys(p))
		if want := []string{"garn_count", "id", "lat", "lon", "permanent", "title", "type"}; !slices.Equal(keys, want) {
			t.Errorf("pin fields %v, want %v", keys, want)
		}
		for name, v := range p {
			if full[i][name] != v {
				t.Errorf("pin %s: %s = %v, the full form says %v", p["id"], name, v, full[i][name])
			}
		}
	}
	if pins[0]["permanent"] != true || pins[0]["garn_count"] != 1.0 || pins[1]["permanent"] != false {
		t.Errorf("pins %v: want the Lastenrad permanent with one Garn, the garden not", pins)
	}
	// The other filters apply to the lean form alike.
	if got := knotenIDs(listing(t, anon, "/api/knoten?fields=pin&limit=1&"+box)); !slices.Equal(got, []string{rad.ID}) {
		t.Errorf("fields=pin&limit=1: %v", got)
	}
	if got := knotenIDs(listing(t, anon, "/api/knoten?fields=pin&q=garten")); !slices.Equal(got, []string{garten.ID}) {
		t.Errorf("fields=pin&q=garten: %v", got)
	}

	// A write is in the very next answer, in both forms.
	neu := place("Neu", 0.005)
	if got := knotenIDs(listing(t, anon, "/api/knoten?"+box+"&fields=pin")); len(got) != 3 || got[0] != neu.ID {
		t.Errorf("after placing %s, the pins are %v", neu.ID, got)
	}
	if got := knotenIDs(listing(t, anon, "/api/knoten?"+box)); len(got) != 3 || got[0] != neu.ID {
		t.Errorf("after placing %s, the listing is %v", neu.ID, got)
	}

	for _, q := range []string{"fields=all", "fields=", "fields=pin,title", "fields=pin&fields=pin", "fields=PIN"} {
		res := anon.Get("/api/knoten?" + q)
		if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "invalid_fields" {
			t.Errorf("GET /api/knoten?%s: %d %s, want 422 invalid_fields", q, res.Status, res.Body)
		}
	}
}

// A listing is gzip-compressed for a client that accepts it once it is large enough to gain,
// and is the same answer unpacked; a client that does not ask, or refuses gzip, gets it plain.
func TestListingIsCompressedWhenAsked(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank", "lat": lat, "lon": lon}).Expect(t, http.StatusCreated)
	get := func(path, acceptEncoding string) *instancetest.Response {
		t.Helper()
		// Accept-Encoding set by hand: the transport then leaves the body as it came.
		return inst.Client().With(http.Header{"Accept-Encoding": {acceptEncoding}}).Get(path).Expect(t, http.StatusOK)
	}
	// One Knoten: below the size where compressing pays.
	if res := get("/api/knoten", "gzip"); res.Header.Get("Content-Encoding") != "" || res.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("a small listing: Content-Encoding %q, Vary %q; want none, Accept-Encoding", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	for i := range 9 {
		ada.Post("/api/knoten", map[string]any{"type": "idee", "title": fmt.Sprintf("Bank %d", i), "lat": lat, "lon": lon}).Expect(t, http.StatusCreated)
	}
	plain := get("/api/knoten", "identity")
	if plain.Header.Get("Content-Encoding") != "" || len(plain.Body) < 1400 {
		t.Fatalf("identity: Content-Encoding %q, %d bytes", plain.Header.Get("Content-Encoding"), len(plain.Body))
	}
	for _, ae := range []string{"gzip", "br, gzip;q=0.5", "*", "deflate, GZIP"} {
		res := get("/api/knoten", ae)
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip", ae, res.Header.Get("Content-Encoding"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(res.Body))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, plain.Body) || len(res.Body) >= len(plain.Body) {
			t.Errorf("Accept-Encoding %q: %d bytes unpacking to %q, want fewer than %d unpacking to the plain answer", ae, len(res.Body), body, len(plain.Body))
		}
	}
	for _, ae := range []string{"gzip;q=0", "br", "*;q=0", "*, gzip;q=0"} {
		if res := get("/api/knoten", ae); res.Header.Get("Content-Encoding") != "" || !bytes.Equal(res.Body, plain.Body) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want the plain answer", ae, res.Header.Get("Content-Encoding"))
		}
	}
}
