package instance_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Text that is not text is refused where the request is read — for every kind of field, in
// the body, the query and the path — with 400 invalid_text naming the field, and nothing is
// stored. Before, U+0000 reached PostgreSQL (a 500) and invalid UTF-8 or an unpaired surrogate
// was stored as U+FFFD without a word.
func TestTextThatIsNotTextIsRefused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	anon := inst.Client()
	a := fileAntrag(t, ben, "Fremder Antrag")

	bad := map[string]string{
		"U+0000":                `\u0000`,
		"invalid UTF-8":         "\xff\xfe",
		"a cut-off sequence":    "\xe2\x82",
		"a lone high surrogate": `\ud800`,
		"a lone low surrogate":  `\udc00`,
		"a reversed pair":       `\ude00\ud83d`,
	}
	// body builds a JSON body with one string field holding raw, already JSON-escaped.
	type target struct {
		c      *instancetest.Client
		method string
		path   string
		body   func(raw string) string
		field  string
	}
	reg := func(field string) func(string) string {
		return func(raw string) string {
			m := map[string]string{"name": `"Eve"`, "address": `"Merseburger Straße 1"`, "email": `"eve@example.org"`, "password": `"correct horse battery"`}
			m[field] = `"x` + raw + `y"`
			return fmt.Sprintf(`{"name":%s,"address":%s,"lat":%v,"lon":%v,"email":%s,"password":%s}`, m["name"], m["address"], lat, lon, m["email"], m["password"])
		}
	}
	one := func(tmpl string) func(string) string {
		return func(raw string) string { return strings.Replace(tmpl, "RAW", raw, 1) }
	}
	targets := []target{
		{anon, "POST", "/api/auth/register", reg("name"), "name"},
		{anon, "POST", "/api/auth/register", reg("address"), "address"},
		{anon, "POST", "/api/auth/register", reg("email"), "email"},
		{anon, "POST", "/api/auth/register", reg("password"), "password"},
		{anon, "POST", "/api/auth/login", one(`{"email":"` + ada.Email + `","password":"RAW"}`), "password"},
		{ada, "PATCH", "/api/me", one(`{"address":"Lützner Straße RAW"}`), "address"},
		{ada, "PATCH", "/api/me", one(`{"name":"Ada RAW"}`), "name"},
		{ada, "POST", "/api/knoten", one(fmt.Sprintf(`{"type":"idee","title":"Bank","description":"RAW","lat":%v,"lon":%v}`, lat, lon)), "description"},
		{ada, "POST", "/api/knoten", one(fmt.Sprintf(`{"type":"idee","title":"RAW","lat":%v,"lon":%v}`, lat, lon)), "title"},
		{ada, "POST", "/api/knoten", one(fmt.Sprintf(`{"type":"ideeRAW","title":"Bank","lat":%v,"lon":%v}`, lat, lon)), "type"},
		{ada, "POST", "/api/antraege", one(`{"title":"Bänke","details_md":"**RAW**"}`), "details_md"},
		{ada, "POST", "/api/antraege/" + a.ID + "/einspruch", one(`{"reason":"RAW"}`), "reason"},
		{ada, "POST", "/api/chat", one(`{"text":"Hallo RAW"}`), "text"},
		{ada, "POST", "/api/faeden", one(`{"to_knoten_id":"RAW","type":"gespraech"}`), "to_knoten_id"},
		{admin, "PUT", "/api/admin/ortsweberei", one(`{"name":"Lindenau RAW"}`), "name"},
		{admin, "PUT", "/api/admin/ortsweberei", one(`{"name":"Lindenau","bounds":{"type":"MultiPolygon","coordinates":[],"note":"RAW"}}`), "bounds"},
		{admin, "POST", "/api/admin/federation/blocks", one(`{"domain":"spamRAW.example"}`), "domain"},
		{anon, "POST", "/api/dev/clock", one(`{"advance":"1hRAW"}`), "advance"},
	}
	for name, raw := range bad {
		for _, tg := range targets {
			before := inst.Rows()
			res := tg.c.DoWith(tg.method, tg.path, tg.body(raw), "application/json")
			var e struct {
				Error struct{ Code, Field string } `json:"error"`
			}
			res.JSON(t, &e)
			if res.Status != http.StatusBadRequest || e.Error.Code != "invalid_text" || e.Error.Field != tg.field {
				t.Errorf("%s in %s %s %s: %d %+v, want 400 invalid_text %q; body: %.200s", name, tg.method, tg.path, tg.field, res.Status, e.Error, tg.field, res.Body)
			}
			assertNothingWritten(t, inst, before)
		}
	}

	// The query and the path: percent-encoded, they decode to the same bytes.
	for name, raw := range map[string]string{"U+0000": "%00", "invalid UTF-8": "%FF", "an encoded surrogate": "%ED%A0%80"} {
		for _, tc := range []struct {
			c            *instancetest.Client
			method, path string
			field        string
		}{
			{anon, "GET", "/api/knoten?q=Bank" + raw, "q"},
			{anon, "GET", "/api/knoten?type=idee" + raw, "type"},
			{anon, "GET", "/api/antraege?status=offen" + raw, "status"},
			{anon, "GET", "/api/delegationen?from=" + raw, "from"},
			{anon, "GET", "/api/knoten?" + raw + "=1", "query"},
			{anon, "GET", "/api/knoten/" + raw, "path"},
			{anon, "GET", "/ap/users/" + raw, "path"},
			{admin, "DELETE", "/api/admin/federation/blocks/spam" + raw + ".example", "path"},
		} {
			before := inst.Rows()
			res := tc.c.Do(tc.method, tc.path, nil)
			var e struct {
				Error struct{ Code, Field string } `json:"error"`
			}
			res.JSON(t, &e)
			if res.Status != http.StatusBadRequest || e.Error.Code != "invalid_text" || e.Error.Field != tc.field {
				t.Errorf("%s in %s %s: %d %+v, want 400 invalid_text %q; body: %.200s", name, tc.method, tc.path, res.Status, e.Error, tc.field, res.Body)
			}
			assertNothingWritten(t, inst, before)
		}
	}

	// What is text goes through unchanged: a surrogate pair, and U+FFFD sent as itself.
	var k struct{ Description string }
	ada.Post("/api/knoten", fmt.Sprintf(`{"type":"idee","title":"Bank","description":"\ud83e\uddf5 \ufffd ok","lat":%v,"lon":%v}`, lat, lon)).
		Expect(t, http.StatusCreated).JSON(t, &k)
	if k.Description != "🧵 \ufffd ok" {
		t.Errorf("description stored as %q", k.Description)
	}
	var found struct{ Knoten []struct{ Title string } }
	anon.Get("/api/knoten?q="+url.QueryEscape("🧵")).Expect(t, http.StatusOK)
	anon.Get("/api/knoten?q=Bank").Expect(t, http.StatusOK).JSON(t, &found)
	if len(found.Knoten) != 1 {
		t.Errorf("search for a valid word: %+v", found)
	}
}

// A body that is not one object with each field once is refused: null decoded into nothing and
// answered 200 having changed nothing; of a field named twice, the last silently counted.
func TestBodyMustBeOneObject(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	for _, tc := range []struct{ body, code, field string }{
		{`null`, "invalid_field_type", ""},
		{` null `, "invalid_field_type", ""},
		{`"Ada"`, "invalid_field_type", ""},
		{`42`, "invalid_field_type", ""},
		{`true`, "invalid_field_type", ""},
		{`{"name":"Ada","name":"Eve"}`, "duplicate_field", "name"},
		{`{"name":"Ada","NAME":"Eve"}`, "duplicate_field", "NAME"},
		{`{"on_map":true,"address":"x","address":"y"}`, "duplicate_field", "address"},
	} {
		before := inst.Rows()
		res := ada.Patch("/api/me", tc.body)
		var e struct {
			Error struct{ Code, Field string } `json:"error"`
		}
		res.JSON(t, &e)
		if res.Status != http.StatusBadRequest || e.Error.Code != tc.code || e.Error.Field != tc.field {
			t.Errorf("PATCH /api/me %s: %d %+v, want 400 %s %q", tc.body, res.Status, e.Error, tc.code, tc.field)
		}
		assertNothingWritten(t, inst, before)
	}
	if name := ada.Get("/api/me").Expect(t, http.StatusOK).Map(t)["name"]; name != "Ada" {
		t.Errorf("name is %v", name)
	}
	ada.Patch("/api/me", `{}`).Expect(t, http.StatusOK)
}

// A client that announces a body over the limit and waits for "100 Continue" is answered 413
// at once, before it sends a byte of it — not asked for the body and then cut off.
func TestOversizedBodyIsRefusedBeforeItIsSent(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(inst.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/auth/register HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", strings.TrimPrefix(inst.URL, "http://"), 10<<20)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("answered %d %s, want 413 before the body", res.StatusCode, res.Status)
	}
	var body struct{ Error struct{ Code string } }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Error.Code != "body_too_large" {
		t.Errorf("body: %+v %v", body, err)
	}
}
