package instance_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

type profileOut struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Position *geo.Point `json:"position"`
	Verified bool       `json:"verified"`
}

func TestRegisterLoginLogout(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	reg := c.Post("/api/auth/register", map[string]any{
		"name": "Clara", "address": "Lützner Straße 30", "lat": lat, "lon": lon,
		"email": "Clara@Example.org", "password": "lange genug",
	}).Expect(t, http.StatusAccepted).Map(t)
	if _, ok := reg["id"]; ok {
		t.Fatalf("register answers with account data (it must not tell a new account from a taken address): %v", reg)
	}
	c.Get("/api/me").Expect(t, http.StatusUnauthorized)

	// Wrong password and unknown email get the same answer.
	for _, body := range []map[string]string{
		{"email": "clara@example.org", "password": "falsch falsch"},
		{"email": "niemand@example.org", "password": "lange genug"},
	} {
		if code := c.Post("/api/auth/login", body).Expect(t, http.StatusUnauthorized).ErrorCode(); code != "invalid_credentials" {
			t.Errorf("bad login: %q", code)
		}
	}

	res := c.Post("/api/auth/login", map[string]string{"email": "clara@example.org", "password": "lange genug"}).Expect(t, http.StatusOK)
	id, _ := res.Map(t)["id"].(string)
	if res.Map(t)["verified"] != false {
		t.Fatalf("login answers with the new, unverified account: %s", res.Body)
	}
	cookie := res.Header.Get("Set-Cookie")
	for _, attr := range []string{"wg_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie lacks %s: %s", attr, cookie)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("plain-HTTP cookie marked Secure (browsers would drop it): %s", cookie)
	}
	me := c.Get("/api/me").Expect(t, http.StatusOK).Map(t)
	if me["id"] != id || me["address"] != "Lützner Straße 30" || me["lat"] != lat {
		t.Fatalf("/api/me shows the account its own data: %v", me)
	}

	device := func(res *instancetest.Response) string {
		for _, v := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "wg_device=") {
				return v
			}
		}
		return ""
	}
	first := device(res)
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/api/auth/login"} {
		if !strings.Contains(first, attr) {
			t.Errorf("device cookie lacks %s: %q", attr, first)
		}
	}

	out := c.Post("/api/auth/logout", nil).Expect(t, http.StatusNoContent)
	c.Get("/api/me").Expect(t, http.StatusUnauthorized)
	// A logout ends the session, not the device: the next login brings it back and keeps it.
	if d := device(out); d != "" {
		t.Errorf("logout touches the device cookie: %s", d)
	}
	again := c.Post("/api/auth/login", map[string]string{"email": "clara@example.org", "password": "lange genug"}).Expect(t, http.StatusOK)
	if d := device(again); d == "" || strings.Split(d, ";")[0] != strings.Split(first, ";")[0] {
		t.Errorf("the login after a logout: device cookie %q, want the first one again, %q", d, first)
	}

	// Behind a TLS-terminating proxy the cookie is Secure.
	req, _ := http.NewRequest("POST", inst.URL+"/api/auth/login", strings.NewReader(`{"email":"clara@example.org","password":"lange genug"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https")
	hres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	for _, v := range hres.Header.Values("Set-Cookie") {
		if !strings.Contains(v, "Secure") {
			t.Errorf("cookie behind https not Secure: %s", v)
		}
	}
	if n := len(hres.Header.Values("Set-Cookie")); n != 2 {
		t.Errorf("%d cookies from a login, want the session and the device", n)
	}
}

// The address and the home point never leave the instance except to the account itself; the
// public position is a fixed random point within the radius.
func TestAddressStaysPrivate(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	const address = "Geheimweg 7, 04177 Leipzig"
	homeLat, homeLon := 51.3371234, 12.3398765
	c := inst.Client()
	c.Post("/api/auth/register", map[string]any{
		"name": "Dora", "address": address, "lat": homeLat, "lon": homeLon,
		"email": "dora@example.org", "password": "lange genug",
	}).Expect(t, http.StatusAccepted)
	id := c.Post("/api/auth/login", map[string]string{"email": "dora@example.org", "password": "lange genug"}).
		Expect(t, http.StatusOK).Map(t)["id"].(string)
	k := place(t, c, "Dora's Idee")
	spin(t, c, k.ID, false)

	anon := inst.Client()
	var bodies []string
	var prof profileOut
	res := anon.Get("/api/accounts/"+id).Expect(t, http.StatusOK)
	res.JSON(t, &prof)
	bodies = append(bodies, string(res.Body))
	for _, p := range []string{"/api/knoten", "/api/knoten/" + k.ID, "/api/knoten/" + k.ID + "/faeden", "/api/ortsweberei"} {
		bodies = append(bodies, string(anon.Get(p).Expect(t, http.StatusOK).Body))
	}
	var payloads []string
	rows, err := inst.Pool.Query(t.Context(), `SELECT payload::text FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		rows.Scan(&p)
		payloads = append(payloads, p)
	}
	for _, b := range append(bodies, payloads...) {
		for _, secret := range []string{"Geheimweg", "51.3371234", "12.3398765", "dora@example.org"} {
			if strings.Contains(b, secret) {
				t.Errorf("public response or event payload reveals %q: %s", secret, b)
			}
		}
	}

	home := geo.Point{Lat: homeLat, Lon: homeLon}
	if prof.Position == nil {
		t.Fatal("a resident is on the map by default")
	}
	if d := geo.Distance(home, *prof.Position); d > 250.5 || d == 0 {
		t.Fatalf("public position %.1f m from home; want within the default 250 m, not at home", d)
	}
	first := *prof.Position

	// The same point on every read, and after edits that leave home and radius alone.
	c.Patch("/api/me", map[string]any{"name": "Dora D.", "address": "Geheimweg 7a, 04177 Leipzig"}).Expect(t, http.StatusOK)
	for range 3 {
		anon.Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &prof)
		if *prof.Position != first {
			t.Fatalf("public position was redrawn (%v → %v) without a change of home or radius", first, *prof.Position)
		}
	}
	if prof.Name != "Dora D." {
		t.Errorf("name change not visible: %q", prof.Name)
	}

	// Hidden: no position at all; shown again: the same point, nothing new revealed.
	c.Patch("/api/me", map[string]any{"on_map": false}).Expect(t, http.StatusOK)
	anon.Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &prof)
	if prof.Position != nil {
		t.Fatalf("hidden account shows a position: %v", prof.Position)
	}
	c.Patch("/api/me", map[string]any{"on_map": true}).Expect(t, http.StatusOK)
	anon.Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &prof)
	if prof.Position == nil || *prof.Position != first {
		t.Fatalf("shown again, the position must be the old one: %v, want %v", prof.Position, first)
	}

	// A new radius is a new draw, within the new radius.
	c.Patch("/api/me", map[string]any{"position_radius_m": 2000}).Expect(t, http.StatusOK)
	anon.Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &prof)
	if *prof.Position == first {
		t.Fatal("changing the radius must draw a new point")
	}
	if d := geo.Distance(home, *prof.Position); d > 2000.5 {
		t.Fatalf("position %.0f m from home with a 2 km radius", d)
	}
	// Moving house is a new draw around the new home.
	newHome := geo.Point{Lat: 51.3300, Lon: 12.3300}
	c.Patch("/api/me", map[string]any{"address": "Neue Straße 1", "lat": newHome.Lat, "lon": newHome.Lon, "position_radius_m": 50}).Expect(t, http.StatusOK)
	anon.Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &prof)
	if d := geo.Distance(newHome, *prof.Position); d > 50.5 {
		t.Fatalf("after moving, position %.0f m from the new home, radius 50 m", d)
	}
	for _, radius := range []int{49, 5001, 0} {
		if code := c.Patch("/api/me", map[string]any{"position_radius_m": radius}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_position_radius" {
			t.Errorf("radius %d: %q", radius, code)
		}
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'GarnrollePositioniert' AND subject_id = $1`, id); n != 4 {
		t.Errorf("%d GarnrollePositioniert events; want 4 (hide, show, new radius, move)", n)
	}
}

func TestRegistrationCanStayOffTheMap(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	c.Post("/api/auth/register", map[string]any{
		"name": "Ede", "address": "Irgendwo 1", "lat": lat, "lon": lon, "email": "ede@example.org",
		"password": "lange genug", "on_map": false,
	}).Expect(t, http.StatusAccepted)
	id := c.Post("/api/auth/login", map[string]string{"email": "ede@example.org", "password": "lange genug"}).
		Expect(t, http.StatusOK).Map(t)["id"].(string)
	var prof profileOut
	inst.Client().Get("/api/accounts/"+id).Expect(t, http.StatusOK).JSON(t, &prof)
	if prof.Position != nil {
		t.Fatalf("account registered off the map shows a position: %v", prof.Position)
	}
	var payload string
	inst.Pool.QueryRow(t.Context(), `SELECT payload::text FROM events WHERE type = 'GarnrolleAngelegt'`).Scan(&payload)
	if !strings.Contains(payload, `"position": null`) {
		t.Errorf("GarnrolleAngelegt of a hidden account carries a position: %s", payload)
	}
}

func TestAdminVerifiesResidents(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.Resident("Ben", lat, lon)
	admin := inst.Admin()

	if code := ben.Post("/api/admin/accounts/"+ada.ID+"/verify", nil).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
		t.Errorf("verify by a resident: %q", code)
	}
	inst.Client().Post("/api/admin/accounts/"+ada.ID+"/verify", nil).Expect(t, http.StatusUnauthorized)
	admin.Post("/api/admin/accounts/00000000-0000-0000-0000-000000000001/verify", nil).Expect(t, http.StatusNotFound)

	// The admin's list of who waits: residents only (not the admin), by their public profile.
	waiting := func(verified string) []string {
		t.Helper()
		var out struct {
			Accounts []map[string]any `json:"accounts"`
		}
		admin.Get("/api/admin/accounts?verified="+verified).Expect(t, http.StatusOK).JSON(t, &out)
		var names []string
		for _, a := range out.Accounts {
			if _, ok := a["address"]; ok {
				t.Errorf("the list of accounts shows an address: %v", a)
			}
			names = append(names, a["name"].(string))
		}
		sort.Strings(names) // oldest first, but both may be registered in one instant of the clock
		return names
	}
	if got := waiting("false"); strings.Join(got, ",") != "Ada,Ben" {
		t.Errorf("unverified before: %v, want [Ada Ben]", got)
	}
	if got := waiting("true"); len(got) != 0 {
		t.Errorf("verified before: %v, want none", got)
	}
	if code := ben.Get("/api/admin/accounts?verified=false").Expect(t, http.StatusForbidden).ErrorCode(); code != "moderator_required" {
		t.Errorf("list by a resident: %q", code)
	}
	inst.Client().Get("/api/admin/accounts?verified=false").Expect(t, http.StatusUnauthorized)
	if code := admin.Get("/api/admin/accounts?verified=ja").Expect(t, http.StatusBadRequest).ErrorCode(); code != "invalid_filter" {
		t.Errorf("list with verified=ja: %q", code)
	}

	var prof profileOut
	admin.Post("/api/admin/accounts/"+ada.ID+"/verify", nil).Expect(t, http.StatusOK).JSON(t, &prof)
	if got := waiting("false"); strings.Join(got, ",") != "Ben" {
		t.Errorf("unverified after verifying Ada: %v, want [Ben]", got)
	}
	if got := waiting("true"); strings.Join(got, ",") != "Ada" {
		t.Errorf("verified after verifying Ada: %v, want [Ada]", got)
	}
	if !prof.Verified {
		t.Fatal("verify did not verify")
	}
	inst.Client().Get("/api/accounts/"+ada.ID).Expect(t, http.StatusOK).JSON(t, &prof)
	if !prof.Verified {
		t.Fatal("the public profile does not show the verification")
	}
	if code := admin.Post("/api/admin/accounts/"+ada.ID+"/verify", nil).Expect(t, http.StatusConflict).ErrorCode(); code != "already_verified" {
		t.Errorf("second verify: %q", code)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'GarnrolleVerifiziert' AND subject_id = $1 AND actor_id = $2`, ada.ID, admin.ID); n != 1 {
		t.Errorf("%d GarnrolleVerifiziert events by the admin, want 1", n)
	}
	// Unverified residents may still weave.
	place(t, ben, "Ben ist noch nicht verifiziert")
}

var lindenau = json.RawMessage(`{"type":"Polygon","coordinates":[[[12.30,51.32],[12.36,51.32],[12.36,51.35],[12.30,51.35],[12.30,51.32]]]}`)

func TestOrtswebereiBounds(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Name: "Lindenau webt", Bounds: lindenau})
	anon := inst.Client()
	o := anon.Get("/api/ortsweberei").Expect(t, http.StatusOK).Map(t)
	if o["name"] != "Lindenau webt" || o["bounds"] == nil {
		t.Fatalf("configured Ortsweberei not served: %v", o)
	}
	// The zone the instance reads dates in, serve's default without --timezone.
	if o["timezone"] != "Europe/Berlin" {
		t.Errorf("timezone %v, want Europe/Berlin", o["timezone"])
	}

	ada := inst.Resident("Ada", lat, lon)
	before := inst.Rows()
	res := ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "In Berlin", "lat": 52.52, "lon": 13.40}).Expect(t, http.StatusUnprocessableEntity)
	if res.ErrorCode() != "outside_ortsweberei" {
		t.Errorf("Knoten outside the bounds: %q", res.ErrorCode())
	}
	assertNothingWritten(t, inst, before)
	// On the edge is inside.
	ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "Am Rand", "lat": 51.32, "lon": 12.33}).Expect(t, http.StatusCreated)
	// Registering from outside is refused too.
	res = inst.Client().Post("/api/auth/register", map[string]any{"name": "Fremd", "address": "Berlin", "lat": 52.52, "lon": 13.40,
		"email": "fremd@example.org", "password": "lange genug"}).Expect(t, http.StatusUnprocessableEntity)
	if res.ErrorCode() != "outside_ortsweberei" {
		t.Errorf("registration outside the bounds: %q", res.ErrorCode())
	}

	// The admin can change name and bounds; a resident cannot.
	admin := inst.Admin()
	bigger := `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[12,51],[14,51],[14,53],[12,53],[12,51]]]}}`
	if code := ada.Do("PUT", "/api/admin/ortsweberei", fmt.Sprintf(`{"name":"X","bounds":%s}`, bigger)).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
		t.Errorf("resident changing the Ortsweberei: %q", code)
	}
	for _, bad := range []string{
		`{"type":"Point","coordinates":[12,51]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}`, // self-intersecting
		`{"type":"Polygon","coordinates":[[[200,0],[201,0],[201,1],[200,0]]]}`,
		`"Leipzig"`,
	} {
		res := admin.Do("PUT", "/api/admin/ortsweberei", fmt.Sprintf(`{"name":"X","bounds":%s}`, bad)).Expect(t, http.StatusUnprocessableEntity)
		if res.ErrorCode() != "invalid_bounds" {
			t.Errorf("bounds %s: %q", bad, res.ErrorCode())
		}
	}
	admin.Do("PUT", "/api/admin/ortsweberei", fmt.Sprintf(`{"name":"Leipzig webt","bounds":%s}`, bigger)).Expect(t, http.StatusOK)
	ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "In Halle", "lat": 51.48, "lon": 11.97}).Expect(t, http.StatusUnprocessableEntity)
	ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "In Wurzen", "lat": 51.37, "lon": 12.74}).Expect(t, http.StatusCreated)

	// No bounds: every valid coordinate is inside.
	admin.Do("PUT", "/api/admin/ortsweberei", `{"name":"Überall","bounds":null}`).Expect(t, http.StatusOK)
	ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "Am Südpol", "lat": -90, "lon": 0}).Expect(t, http.StatusCreated)
	if o := anon.Get("/api/ortsweberei").Expect(t, http.StatusOK).Map(t); o["name"] != "Überall" || o["bounds"] != nil {
		t.Errorf("after clearing the bounds: %v", o)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'OrtswebereiFestgelegt'`); n != 3 {
		t.Errorf("%d OrtswebereiFestgelegt events, want 3 (config, two admin changes)", n)
	}
}

// Restarting with the same configuration writes nothing new.
func TestConfiguredOrtswebereiIsAppliedOnce(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Name: "Lindenau webt", Bounds: lindenau})
	if err := inst.Ortsweberei.Ensure(t.Context(), "Lindenau webt", lindenau); err != nil {
		t.Fatal(err)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'OrtswebereiFestgelegt'`); n != 1 {
		t.Errorf("%d OrtswebereiFestgelegt events after re-applying the same configuration, want 1", n)
	}
}

// After a move or a radius change the public position is drawn anew: within the new radius and
// not at the home. What the log (and so the map feed and federation) says about the move is
// the public point: the GarnrollePositioniert payload is exactly what the public profile shows,
// and no event payload nor any outbox page carries the new home.
func TestPositionAfterMoveAndRadiusChange(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	dora := inst.Resident("Dora", 51.3371234, 12.3398765)
	anon := inst.Client()
	var me struct {
		Handle string `json:"handle"`
	}
	dora.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &me)

	// The position as the public sees it, and as the latest GarnrollePositioniert carries it.
	public := func() geo.Point {
		t.Helper()
		var prof profileOut
		anon.Get("/api/accounts/"+dora.ID).Expect(t, http.StatusOK).JSON(t, &prof)
		if prof.Position == nil {
			t.Fatal("Dora is on the map")
		}
		return *prof.Position
	}
	logged := func() geo.Point {
		t.Helper()
		var payload string
		if err := inst.Pool.QueryRow(t.Context(), `
SELECT payload::text FROM events WHERE type = 'GarnrollePositioniert' AND subject_id = $1 ORDER BY id DESC LIMIT 1`, dora.ID).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var p struct {
			Position *geo.Point `json:"position"`
		}
		if err := json.Unmarshal([]byte(payload), &p); err != nil || p.Position == nil {
			t.Fatalf("GarnrollePositioniert payload %s: %v", payload, err)
		}
		return *p.Position
	}
	// Not at the home: a uniform draw lands within a millimetre of it with a probability of
	// (1 mm / 50 m)² = 4·10⁻¹⁰ at the smallest radius.
	const atHome = 0.001
	check := func(what string, home geo.Point, radius float64) geo.Point {
		t.Helper()
		pos := public()
		if d := geo.Distance(home, pos); d < atHome || d > radius+0.5 {
			t.Fatalf("%s: the public position is %.3f m from the home; want within %.0f m and not at it", what, d, radius)
		}
		if l := logged(); l != pos {
			t.Fatalf("%s: GarnrollePositioniert carries %v, the public position is %v", what, l, pos)
		}
		return pos
	}

	first := public()
	dora.Patch("/api/me", map[string]any{"position_radius_m": 2000}).Expect(t, http.StatusOK)
	wide := check("radius 2 km", geo.Point{Lat: 51.3371234, Lon: 12.3398765}, 2000)
	if wide == first {
		t.Fatal("a new radius must draw a new point")
	}
	newHome := geo.Point{Lat: 51.3301234, Lon: 12.3301234}
	dora.Patch("/api/me", map[string]any{"address": "Neue Straße 1", "lat": newHome.Lat, "lon": newHome.Lon, "position_radius_m": 50}).
		Expect(t, http.StatusOK)
	check("moved, radius 50 m", newHome, 50)
	dora.Patch("/api/me", map[string]any{"lat": 51.3302345, "lon": 12.3302345}).Expect(t, http.StatusOK)
	check("moved again, same radius", geo.Point{Lat: 51.3302345, Lon: 12.3302345}, 50)
	dora.Patch("/api/me", map[string]any{"position_radius_m": 5000}).Expect(t, http.StatusOK)
	shown := check("radius 5 km", geo.Point{Lat: 51.3302345, Lon: 12.3302345}, 5000)

	// Hidden, the log says so and nothing more; shown again, the same point as before.
	dora.Patch("/api/me", map[string]any{"on_map": false}).Expect(t, http.StatusOK)
	var hidden bool
	if err := inst.Pool.QueryRow(t.Context(), `
SELECT payload->>'position' IS NULL FROM events WHERE type = 'GarnrollePositioniert' AND subject_id = $1 ORDER BY id DESC LIMIT 1`, dora.ID).
		Scan(&hidden); err != nil || !hidden {
		t.Fatalf("hiding: the GarnrollePositioniert payload's position must be null (%v)", err)
	}
	dora.Patch("/api/me", map[string]any{"on_map": true}).Expect(t, http.StatusOK)
	if again := check("shown again", geo.Point{Lat: 51.3302345, Lon: 12.3302345}, 5000); again != shown {
		t.Fatalf("shown again at %v, before hiding at %v", again, shown)
	}

	// Nothing public carries a home: not the log, not the outboxes federation serves.
	var bodies []string
	rows, err := inst.Pool.Query(t.Context(), `SELECT payload::text FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, p)
	}
	for _, outbox := range []string{"/ap/users/" + me.Handle + "/outbox?page=true", "/ap/ortsweberei/outbox?page=true"} {
		res := anon.Get(outbox).Expect(t, http.StatusOK)
		if !strings.Contains(string(res.Body), "orderedItems") {
			t.Fatalf("%s: not an outbox page: %s", outbox, res.Body)
		}
		bodies = append(bodies, string(res.Body))
	}
	for _, b := range bodies {
		for _, secret := range []string{"51.3371234", "12.3398765", "51.3301234", "12.3301234", "51.3302345", "12.3302345", "Neue Straße"} {
			if strings.Contains(b, secret) {
				t.Errorf("a public payload reveals a home (%q): %s", secret, b)
			}
		}
	}
}
