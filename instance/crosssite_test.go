package instance_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// fingerprint is the content of every table a request could write (not just their row counts:
// a refused withdrawal or verification would change a row, not add one), and how far the dev
// clock is ahead.
func fingerprint(t *testing.T, inst *instancetest.Instance) (map[string]string, time.Duration) {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"events", "accounts", "sessions", "ortsweberei", "wortfilter", "knoten", "faeden", "antraege",
		"einsprueche", "abstimmungen", "stimmen", "stimmen_verlauf", "delegationen", "chat_nachrichten", "chat_bewertungen",
		"ap_following", "ap_domain_blocks", "account_rollen", "ortskonto", "spenden", "spenden_idempotenz", "buchungen", "auszahlungen",
		"account_verwarnungen", "moderation_meldungen", "moderation_log", "moderation_ipsperren", "streams"} {
		var sum string
		err := inst.Pool.QueryRow(context.Background(),
			`SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM `+table+` t`).Scan(&sum)
		if err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		out[table] = sum
	}
	return out, time.Until(inst.DevClock.Now())
}

// A page on another site cannot make a resident's browser change anything: every route that
// takes a write refuses a request whose Origin or Sec-Fetch-Site names another site, with the
// resident's valid session cookie, whatever the body; the same requests from the instance's own
// pages, or from a client that is no browser, still work. The routes are the server's own list,
// so a new write route without a case here fails the test.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cara := inst.VerifiedResident("Cara", lat, lon)
	leo := inst.Resident("Leo", lat, lon)
	neu := inst.Resident("Neu", lat, lon)
	anon := inst.Client()

	_, abstimmung := toVote(t, inst, ada, ben, "Zur Abstimmung")
	k := place(t, ada, "Bank")
	garn := spin(t, ada, k.ID, true)
	mine := fileAntrag(t, ada, "Zurückzuziehen")
	theirs := fileAntrag(t, cara, "Mit Einspruch")
	revoke := delegate(t, cara, ben)
	var msg struct{ ID string }
	ben.Post("/api/chat", map[string]string{"text": "Hallo"}).Expect(t, http.StatusCreated).JSON(t, &msg)
	var live struct{ ID string }
	admin.Post("/api/streams", map[string]string{"title": "Webrat live"}).Expect(t, http.StatusCreated).JSON(t, &live)
	var said struct{ ID string }
	cara.Post("/api/streams/"+live.ID+"/chat", map[string]string{"text": "Frage"}).Expect(t, http.StatusCreated).JSON(t, &said)

	const nobody = "01a24300-0000-7000-8000-0000000000ff" // an id of nothing
	type write struct {
		c    *instancetest.Client
		path string
		body any
		ok   int // the status of the same request from our own page
	}
	// In the order the same-origin requests run (the block before its removal).
	order := []string{
		"POST /api/auth/register", "POST /api/auth/login", "POST /api/auth/logout", "PATCH /api/me",
		"POST /api/admin/accounts/{id}/verify", "PUT /api/admin/ortsweberei", "PUT /api/admin/wortfilter", "POST /api/knoten", "POST /api/faeden",
		"POST /api/faeden/{id}/twist", "POST /api/faeden/{id}/untwist", "POST /api/antraege",
		"POST /api/antraege/{id}/einspruch", "POST /api/antraege/{id}/withdraw", "POST /api/abstimmungen/{id}/vote",
		"POST /api/delegationen", "DELETE /api/delegationen/{id}", "POST /api/chat", "DELETE /api/admin/chat/{id}",
		"POST /api/konto/camt", "POST /api/auszahlungen/{id}/status", "PUT /api/admin/konto", "POST /api/spenden", "POST /api/spenden/{id}/status",
		"PUT /api/admin/accounts/{id}/roles/{role}", "DELETE /api/admin/accounts/{id}/roles/{role}", "POST /api/dev/clock", "POST /api/admin/federation/neighbours", "POST /api/admin/federation/blocks",
		"DELETE /api/admin/federation/blocks/{domain}",
		"POST /api/meldungen", "POST /api/admin/meldungen/{id}/resolve", "POST /api/admin/meldungen/{id}/dismiss",
		"POST /api/admin/meldungen/{id}/forward", "POST /api/admin/inhalte/hide", "POST /api/admin/inhalte/unhide",
		"POST /api/admin/accounts/{id}/warn", "POST /api/admin/accounts/{id}/suspend", "POST /api/admin/accounts/{id}/ban",
		"POST /api/admin/accounts/{id}/lift", "POST /api/moderation/log/{id}/appeal", "POST /api/admin/appeals/{id}",
		"POST /api/admin/ipsperren", "DELETE /api/admin/ipsperren/{id}",
		"POST /api/streams", "POST /api/streams/{id}/chat", "PUT /api/streams/{id}/chat/{message}/vote", "PATCH /api/streams/{id}", "POST /api/streams/{id}/key", "POST /api/streams/{id}/end", "POST /internal/rtmp/publish", "POST /internal/rtmp/publish_done", "POST /internal/rtmp/update",
		"/api/", "/",
	}
	cases := map[string]write{
		"POST /api/auth/register": {anon, "/api/auth/register", map[string]any{"name": "Eve", "address": "Merseburger Straße 1",
			"lat": lat, "lon": lon, "email": "eve@example.org", "password": "correct horse battery"}, http.StatusAccepted},
		"POST /api/auth/login":                 {anon, "/api/auth/login", map[string]string{"email": ada.Email, "password": "correct horse battery"}, http.StatusOK},
		"POST /api/auth/logout":                {leo, "/api/auth/logout", nil, http.StatusNoContent},
		"PATCH /api/me":                        {ada, "/api/me", map[string]string{"name": "Ada Lovelace"}, http.StatusOK},
		"POST /api/admin/accounts/{id}/verify": {admin, "/api/admin/accounts/" + neu.ID + "/verify", nil, http.StatusOK},
		"PUT /api/admin/ortsweberei":           {admin, "/api/admin/ortsweberei", map[string]string{"name": "Lindenau"}, http.StatusOK},
		"PUT /api/admin/wortfilter":            {admin, "/api/admin/wortfilter", map[string][]string{"words": {"arsch"}, "hold": {}}, http.StatusOK},
		"POST /api/knoten": {ada, "/api/knoten", map[string]any{"type": "idee", "title": "Brunnen", "lat": lat, "lon": lon},
			http.StatusCreated},
		"POST /api/faeden":                  {ben, "/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}, http.StatusCreated},
		"POST /api/faeden/{id}/twist":       {ada, "/api/faeden/" + k.Faden.ID + "/twist", nil, http.StatusOK},
		"POST /api/faeden/{id}/untwist":     {ada, "/api/faeden/" + garn.ID + "/untwist", nil, http.StatusOK},
		"POST /api/antraege":                {ada, "/api/antraege", map[string]string{"title": "Neue Bänke"}, http.StatusCreated},
		"POST /api/antraege/{id}/einspruch": {ben, "/api/antraege/" + theirs.ID + "/einspruch", map[string]string{"reason": "Zu teuer"}, http.StatusCreated},
		"POST /api/antraege/{id}/withdraw":  {ada, "/api/antraege/" + mine.ID + "/withdraw", nil, http.StatusOK},
		"POST /api/abstimmungen/{id}/vote":  {cara, "/api/abstimmungen/" + abstimmung + "/vote", map[string]string{"choice": "yes"}, http.StatusOK},
		"POST /api/delegationen":            {ada, "/api/delegationen", map[string]string{"to_account_id": ben.ID}, http.StatusCreated},
		"DELETE /api/delegationen/{id}":     {cara, "/api/delegationen/" + revoke.ID, nil, http.StatusOK},
		"POST /api/chat":                    {ada, "/api/chat", map[string]string{"text": "Guten Morgen"}, http.StatusCreated},
		"DELETE /api/admin/chat/{id}":       {admin, "/api/admin/chat/" + msg.ID, nil, http.StatusNoContent},
		"POST /api/dev/clock":               {anon, "/api/dev/clock", map[string]string{"advance": "1h"}, http.StatusOK},
		"POST /api/konto/camt":              {admin, "/api/konto/camt", "<Document/>", http.StatusConflict}, // passed the guard; no bank account set
		"POST /api/auszahlungen/{id}/status": {admin, "/api/auszahlungen/01a24300-0000-7000-8000-000000000000/status", map[string]string{"status": "geleistet"},
			http.StatusNotFound}, // passed the guard; no such payout
		"PUT /api/admin/konto": {admin, "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei e.V.", "iban": "DE02120300000000202051",
			"position": map[string]float64{"lat": lat, "lon": lon}}, http.StatusOK},
		"POST /api/spenden": {ada, "/api/spenden", map[string]any{"amount_cents": 500, "visible": true},
			http.StatusBadRequest}, // passed the guard; these requests carry no Idempotency-Key
		"POST /api/spenden/{id}/status": {admin, "/api/spenden/01a201cf-e000-7000-8000-000000000001/status", map[string]string{"status": "pending"},
			http.StatusNotFound}, // passed the guard; no such donation
		"PUT /api/admin/accounts/{id}/roles/{role}":    {admin, "/api/admin/accounts/" + neu.ID + "/roles/kassenwart", nil, http.StatusOK},
		"DELETE /api/admin/accounts/{id}/roles/{role}": {admin, "/api/admin/accounts/" + neu.ID + "/roles/kassenwart", nil, http.StatusOK},
		"POST /api/admin/federation/neighbours": {admin, "/api/admin/federation/neighbours", map[string]string{"target": "http://127.0.0.1:1/ap/ortsweberei"},
			http.StatusUnprocessableEntity}, // it passed the guard; nobody answers there
		"POST /api/admin/federation/blocks":            {admin, "/api/admin/federation/blocks", map[string]string{"domain": "spam.example"}, http.StatusOK},
		"DELETE /api/admin/federation/blocks/{domain}": {admin, "/api/admin/federation/blocks/spam.example", nil, http.StatusOK},
		// Moderation: the ones that would need a report, an entry or a block pass the guard and
		// meet an unknown id.
		"POST /api/meldungen":                       {ada, "/api/meldungen", map[string]string{"target": leo.ID, "reason": "Test"}, http.StatusCreated},
		"POST /api/admin/meldungen/{id}/resolve":    {admin, "/api/admin/meldungen/" + nobody + "/resolve", map[string]string{"reason": "x"}, http.StatusNotFound},
		"POST /api/admin/meldungen/{id}/dismiss":    {admin, "/api/admin/meldungen/" + nobody + "/dismiss", map[string]string{"reason": "x"}, http.StatusNotFound},
		"POST /api/admin/meldungen/{id}/forward":    {admin, "/api/admin/meldungen/" + nobody + "/forward", map[string]string{"comment": "x"}, http.StatusNotFound},
		"POST /api/admin/inhalte/hide":              {admin, "/api/admin/inhalte/hide", map[string]string{"target": leo.ID, "reason": "x"}, http.StatusUnprocessableEntity},
		"POST /api/admin/inhalte/unhide":            {admin, "/api/admin/inhalte/unhide", map[string]string{"target": leo.ID, "reason": "x"}, http.StatusUnprocessableEntity},
		"POST /api/admin/accounts/{id}/warn":        {admin, "/api/admin/accounts/" + leo.ID + "/warn", map[string]string{"reason": "Test"}, http.StatusOK},
		"POST /api/admin/accounts/{id}/suspend":     {admin, "/api/admin/accounts/" + leo.ID + "/suspend", map[string]any{"days": 1, "reason": "Test"}, http.StatusOK},
		"POST /api/admin/accounts/{id}/ban":         {admin, "/api/admin/accounts/" + leo.ID + "/ban", map[string]string{"reason": "Test"}, http.StatusOK},
		"POST /api/admin/accounts/{id}/lift":        {admin, "/api/admin/accounts/" + leo.ID + "/lift", map[string]string{"reason": "Test"}, http.StatusOK},
		"POST /api/moderation/log/{id}/appeal":      {ada, "/api/moderation/log/" + nobody + "/appeal", map[string]string{"reason": "x"}, http.StatusNotFound},
		"POST /api/admin/appeals/{id}":              {admin, "/api/admin/appeals/" + nobody, map[string]string{"decision": "upheld", "reason": "x"}, http.StatusNotFound},
		"POST /api/admin/ipsperren":                 {admin, "/api/admin/ipsperren", map[string]any{"cidr": "198.51.100.0/24", "reason": "Test"}, http.StatusCreated},
		"DELETE /api/admin/ipsperren/{id}":          {admin, "/api/admin/ipsperren/" + nobody, nil, http.StatusNotFound},
		"POST /api/streams":                         {admin, "/api/streams", map[string]string{"title": "Bürgerversammlung"}, http.StatusCreated},
		"POST /api/streams/{id}/chat":               {ada, "/api/streams/" + live.ID + "/chat", map[string]string{"text": "Antwort"}, http.StatusCreated},
		"PUT /api/streams/{id}/chat/{message}/vote": {ben, "/api/streams/" + live.ID + "/chat/" + said.ID + "/vote", map[string]int{"vote": 1}, http.StatusOK},
		"PATCH /api/streams/{id}":                   {admin, "/api/streams/" + live.ID, map[string]string{"title": "Webrat live: Fragen"}, http.StatusOK},
		"POST /api/streams/{id}/key":                {admin, "/api/streams/" + live.ID + "/key", nil, http.StatusOK},
		"POST /api/streams/{id}/end":                {admin, "/api/streams/" + live.ID + "/end", nil, http.StatusOK},
		// nginx-rtmp's callbacks: past the guard, this instance has no RTMP secret.
		"POST /internal/rtmp/publish":      {anon, "/internal/rtmp/publish", nil, http.StatusForbidden},
		"POST /internal/rtmp/publish_done": {anon, "/internal/rtmp/publish_done", nil, http.StatusForbidden},
		"POST /internal/rtmp/update":       {anon, "/internal/rtmp/update", nil, http.StatusForbidden},
		"/api/":                            {ada, "/api/nirgends", nil, http.StatusNotFound},
		"/":                                {ada, "/", nil, http.StatusMethodNotAllowed},
	}

	// Every route that takes a write has its case; a pattern without a method takes them all.
	routes := inst.Handler.(*httpapi.Server).Routes()
	for _, p := range routes {
		method, _, found := strings.Cut(p, " ")
		if found && (method == http.MethodGet || method == http.MethodHead) {
			continue
		}
		if _, ok := cases[p]; !ok {
			t.Errorf("route %q takes writes but has no cross-site case here: add one", p)
		}
	}
	for p := range cases {
		if !strings.Contains(strings.Join(routes, "\n")+"\n", p+"\n") {
			t.Errorf("case %q is not a route of the server", p)
		}
	}
	if len(order) != len(cases) {
		t.Fatalf("order lists %d routes, cases %d", len(order), len(cases))
	}

	foreign := map[string]http.Header{
		"a cross-site page":               {"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}},
		"a sibling subdomain":             {"Origin": {"http://evil." + strings.TrimPrefix(inst.URL, "http://")}, "Sec-Fetch-Site": {"same-site"}},
		"a browser without Fetch headers": {"Origin": {"https://evil.example"}},
		"an opaque origin":                {"Origin": {"null"}, "Sec-Fetch-Site": {"cross-site"}},
	}
	methodOf := func(p string) string {
		if method, _, found := strings.Cut(p, " "); found {
			return method
		}
		return http.MethodPost
	}
	for _, p := range order {
		w := cases[p]
		method := methodOf(p)
		for who, h := range foreign {
			before, clockBefore := fingerprint(t, inst)
			res := w.c.With(h).DoWith(method, w.path, w.body, "application/json")
			if res.Status != http.StatusForbidden || res.ErrorCode() != "cross_origin_request" {
				t.Errorf("%s from %s: %d %q, want 403 cross_origin_request; body: %.200s", p, who, res.Status, res.ErrorCode(), res.Body)
			}
			after, clockAfter := fingerprint(t, inst)
			for table := range before {
				if before[table] != after[table] {
					t.Errorf("%s from %s changed %s", p, who, table)
				}
			}
			if d := clockAfter - clockBefore; d > time.Minute || d < -time.Minute {
				t.Errorf("%s from %s moved the dev clock by %s", p, who, d)
			}
		}
	}

	// From our own pages, and from curl: the same requests work.
	own := http.Header{"Origin": {inst.URL}, "Sec-Fetch-Site": {"same-origin"}}
	for _, p := range order {
		w := cases[p]
		method := methodOf(p)
		if res := w.c.With(own).DoWith(method, w.path, w.body, "application/json"); res.Status != w.ok {
			t.Errorf("%s from our own page: %d, want %d; body: %.300s", p, res.Status, w.ok, res.Body)
		}
	}
	ada.Patch("/api/me", map[string]string{"name": "Ada"}).Expect(t, http.StatusOK) // no Origin, no Sec-Fetch-Site
	ada.With(http.Header{"Sec-Fetch-Site": {"none"}}).Patch("/api/me", map[string]string{"name": "Ada L."}).Expect(t, http.StatusOK)

	// The inboxes take signed POSTs from other servers: an Origin does not shut them. (This one
	// carries no signature, so it is refused for that.)
	res := anon.With(foreign["a cross-site page"]).DoWith("POST", "/ap/inbox", `{"type":"Follow"}`, "application/activity+json")
	if res.Status == http.StatusForbidden && res.ErrorCode() == "cross_origin_request" {
		t.Errorf("the shared inbox refused a request for its Origin: %s", res.Body)
	}
	if res.Status < 400 {
		t.Errorf("an unsigned inbox POST was taken: %d", res.Status)
	}
}

// A WebSocket handshake from another site is refused (coder/websocket compares Origin with the
// Host); from our own page it is taken.
func TestCrossSiteWebSocketsAreRefused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	var live struct{ ID string }
	inst.Admin().Post("/api/streams", map[string]string{"title": "Webrat live"}).Expect(t, http.StatusCreated).JSON(t, &live)
	for _, path := range []string{"/ws/map", "/ws/chat", "/ws/streams/" + live.ID + "/chat"} {
		for origin, want := range map[string]int{"https://evil.example": http.StatusForbidden, inst.URL: http.StatusSwitchingProtocols} {
			req, _ := http.NewRequest("GET", inst.URL+path, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			req.Header.Set("Origin", origin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("%s from %s: %d, want %d", path, origin, res.StatusCode, want)
			}
		}
	}
}
