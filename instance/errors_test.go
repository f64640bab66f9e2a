package instance_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

func assertNothingWritten(t *testing.T, inst *instancetest.Instance, before map[string]int) {
	t.Helper()
	if after := inst.Rows(); !maps.Equal(before, after) {
		t.Errorf("a refused request wrote: rows before %v, after %v", before, after)
	}
}

// Every bad request gets a clear JSON error with the right status and changes nothing.
func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.Resident("Ben", lat, lon)
	anon := inst.Client()
	k := place(t, ada, "Bestehender Knoten")
	garn := spin(t, ada, k.ID, true)

	valid := func(over map[string]any) map[string]any {
		m := map[string]any{"type": "idee", "title": "Titel", "description": "", "lat": lat, "lon": lon}
		maps.Copy(m, over)
		return m
	}
	huge := `{"type":"idee","title":"` + strings.Repeat("x", 70<<10) + `","lat":51.3,"lon":12.3}`

	cases := []struct {
		name        string
		client      *instancetest.Client
		method      string
		path        string
		body        any
		contentType string
		status      int
		code        string
	}{
		{"malformed JSON", ada, "POST", "/api/knoten", `{"type": "idee", "title": `, "", 400, "malformed_json"},
		{"not an object", ada, "POST", "/api/knoten", `[1,2,3]`, "", 400, "invalid_field_type"},
		{"trailing data", ada, "POST", "/api/knoten", `{"type":"idee","title":"a","lat":1,"lon":1} {}`, "", 400, "malformed_json"},
		{"empty body", ada, "POST", "/api/knoten", ``, "", 400, "malformed_json"},
		{"unknown field", ada, "POST", "/api/knoten", valid(map[string]any{"colour": "red"}), "", 400, "unknown_field"},
		{"wrong field type", ada, "POST", "/api/knoten", valid(map[string]any{"lat": "51.3"}), "", 400, "invalid_field_type"},
		{"not JSON media type", ada, "POST", "/api/knoten", `type=idee`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"oversized body", ada, "POST", "/api/knoten", huge, "", 413, "body_too_large"},
		{"latitude out of range", ada, "POST", "/api/knoten", valid(map[string]any{"lat": 91}), "", 422, "invalid_coordinates"},
		{"longitude out of range", ada, "POST", "/api/knoten", valid(map[string]any{"lon": -180.5}), "", 422, "invalid_coordinates"},
		{"missing coordinate", ada, "POST", "/api/knoten", `{"type":"idee","title":"a","lat":51.3}`, "", 422, "missing_field"},
		{"empty title", ada, "POST", "/api/knoten", valid(map[string]any{"title": "   "}), "", 422, "empty_title"},
		{"title too long", ada, "POST", "/api/knoten", valid(map[string]any{"title": strings.Repeat("ä", 141)}), "", 422, "invalid_title"},
		{"unknown Knoten type", ada, "POST", "/api/knoten", valid(map[string]any{"type": "kneipe"}), "", 422, "unknown_knoten_type"},
		{"no session", anon, "POST", "/api/knoten", valid(nil), "", 401, "unauthenticated"},
		{"unknown Faden type", ada, "POST", "/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "seide"}, "", 422, "unknown_faden_type"},
		{"reserved Faden type", ada, "POST", "/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gold"}, "", 422, "reserved_faden_type"},
		{"Faden to unknown Knoten", ada, "POST", "/api/faeden", map[string]any{"to_knoten_id": "0190b7a4-0000-7000-8000-000000000000", "type": "gespraech"}, "", 404, "knoten_not_found"},
		{"Faden to malformed id", ada, "POST", "/api/faeden", map[string]any{"to_knoten_id": "nicht-eine-id", "type": "gespraech"}, "", 404, "knoten_not_found"},
		{"Faden without session", anon, "POST", "/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}, "", 401, "unauthenticated"},
		{"someone else's Garn", ben, "POST", "/api/faeden/" + garn.ID + "/untwist", nil, "", 403, "not_your_faden"},
		{"someone else's Faden", ben, "POST", "/api/faeden/" + k.Faden.ID + "/twist", nil, "", 403, "not_your_faden"},
		{"twist without session", anon, "POST", "/api/faeden/" + k.Faden.ID + "/twist", nil, "", 401, "unauthenticated"},
		{"twist unknown Faden", ada, "POST", "/api/faeden/0190b7a4-0000-7000-8000-000000000000/twist", nil, "", 404, "faden_not_found"},
		{"unknown Knoten", anon, "GET", "/api/knoten/0190b7a4-0000-7000-8000-000000000000", nil, "", 404, "knoten_not_found"},
		{"malformed Knoten id", anon, "GET", "/api/knoten/42", nil, "", 404, "knoten_not_found"},
		{"Fäden of unknown Knoten", anon, "GET", "/api/knoten/0190b7a4-0000-7000-8000-000000000000/faeden", nil, "", 404, "knoten_not_found"},
		{"unknown account", anon, "GET", "/api/accounts/0190b7a4-0000-7000-8000-000000000000", nil, "", 404, "account_not_found"},
		{"malformed bbox", anon, "GET", "/api/knoten?bbox=1,2,3", nil, "", 400, "malformed_bbox"},
		{"bbox out of range", anon, "GET", "/api/knoten?bbox=12,95,13,96", nil, "", 422, "invalid_bbox"},
		{"bbox upside down", anon, "GET", "/api/knoten?bbox=12,52,13,51", nil, "", 422, "invalid_bbox"},
		{"unknown type filter", anon, "GET", "/api/knoten?type=kneipe", nil, "", 422, "unknown_knoten_type"},
		{"bad limit", anon, "GET", "/api/knoten?limit=0", nil, "", 422, "invalid_limit"},
		{"me without session", anon, "GET", "/api/me", nil, "", 401, "unauthenticated"},
		{"forged session", forged(inst), "GET", "/api/me", nil, "", 401, "unauthenticated"},
		{"invalid email", anon, "POST", "/api/auth/register", map[string]any{"name": "X", "address": "Y", "lat": lat, "lon": lon, "email": "kein-at-zeichen", "password": "lange genug"}, "", 422, "invalid_email"},
		{"short password", anon, "POST", "/api/auth/register", map[string]any{"name": "X", "address": "Y", "lat": lat, "lon": lon, "email": "x@example.org", "password": "kurz"}, "", 422, "invalid_password"},
		{"empty name", anon, "POST", "/api/auth/register", map[string]any{"name": " ", "address": "Y", "lat": lat, "lon": lon, "email": "x@example.org", "password": "lange genug"}, "", 422, "invalid_name"},
		{"missing address", anon, "POST", "/api/auth/register", map[string]any{"name": "X", "lat": lat, "lon": lon, "email": "x@example.org", "password": "lange genug"}, "", 422, "missing_field"},
		{"home out of range", anon, "POST", "/api/auth/register", map[string]any{"name": "X", "address": "Y", "lat": lat, "lon": 181, "email": "x@example.org", "password": "lange genug"}, "", 422, "invalid_coordinates"},
		{"radius too small", anon, "POST", "/api/auth/register", map[string]any{"name": "X", "address": "Y", "lat": lat, "lon": lon, "email": "x@example.org", "password": "lange genug", "position_radius_m": 10}, "", 422, "invalid_position_radius"},
		{"address search without text", anon, "GET", "/api/adressen?q=%20%20", nil, "", 400, "invalid_query"},
		{"address search oversized", anon, "GET", "/api/adressen?q=" + strings.Repeat("Lützner%20", 13), nil, "", 400, "invalid_query"},
		{"address search huge", anon, "GET", "/api/adressen?q=" + strings.Repeat("x", 8000), nil, "", 400, "invalid_query"},
		{"address search limit 0", anon, "GET", "/api/adressen?q=L&limit=0", nil, "", 400, "invalid_limit"},
		{"address search limit 21", anon, "GET", "/api/adressen?q=L&limit=21", nil, "", 400, "invalid_limit"},
		{"address search limit not a number", anon, "GET", "/api/adressen?q=L&limit=acht", nil, "", 400, "invalid_limit"},
		{"no such route", anon, "GET", "/api/nichts", nil, "", 404, "no_such_route"},
		{"wrong method", ada, "DELETE", "/api/knoten", nil, "", 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := inst.Rows()
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			res := tc.client.DoWith(tc.method, tc.path, tc.body, ct)
			if res.Status != tc.status || res.ErrorCode() != tc.code {
				t.Fatalf("status %d code %q, want %d %q; body: %.300s", res.Status, res.ErrorCode(), tc.status, tc.code, res.Body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("error answered as %q, not JSON", ct)
			}
			assertNothingWritten(t, inst, before)
		})
	}
}

func forged(inst *instancetest.Instance) *instancetest.Client {
	c := inst.Client()
	c.SetCookie("wg_session", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	return c
}

// The dev clock exists only in dev mode.
func TestDevClockOnlyInDevMode(t *testing.T) {
	t.Parallel()
	prod := instancetest.Start(t, instancetest.Options{NoDev: true})
	c := prod.Client()
	c.Post("/api/dev/clock", map[string]string{"advance": "168h"}).Expect(t, http.StatusNotFound)
	c.Get("/api/dev/clock").Expect(t, http.StatusNotFound)

	dev := instancetest.Start(t)
	d := dev.Client()
	for _, bad := range []struct {
		body any
		code string
	}{
		{map[string]string{"advance": "-1h"}, "clock_backwards"},
		{map[string]string{"advance": "eine Woche"}, "invalid_duration"},
		{map[string]string{}, "missing_field"},
	} {
		if code := d.Post("/api/dev/clock", bad.body).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != bad.code {
			t.Errorf("advance %v: %q, want %q", bad.body, code, bad.code)
		}
	}
	before := d.Get("/api/dev/clock").Expect(t, http.StatusOK).Map(t)["now"].(string)
	after := dev.Advance("7d")
	if got := after.Format("2006-01-02"); before[:10] >= got {
		t.Errorf("clock did not move a week: %s → %s", before, after)
	}
}
