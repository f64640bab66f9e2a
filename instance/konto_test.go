package instance_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// kontoInstance is an instance whose admin has set the Ortskonto.
func kontoInstance(t *testing.T, opts ...instancetest.Options) (*instancetest.Instance, *instancetest.Client) {
	t.Helper()
	inst := instancetest.Start(t, opts...)
	admin := inst.Admin()
	admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Lindenau e.V.",
		"iban": "DE02 1203 0000 0000 2020 51", "bic": "BYLADEM1001", "position": map[string]float64{"lat": lat, "lon": lon}}).
		Expect(t, http.StatusOK)
	return inst, admin
}

// donate posts a donation with an Idempotency-Key.
func donate(c *instancetest.Client, key string, body any) *instancetest.Response {
	return c.With(http.Header{"Idempotency-Key": {key}}).Post("/api/spenden", body)
}

type spendeOut struct {
	ID          string `json:"id"`
	Reference   string `json:"reference"`
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"`
	Visible     bool   `json:"visible"`
	Donor       *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"donor"`
}

func donated(t *testing.T, res *instancetest.Response) spendeOut {
	t.Helper()
	var out struct {
		Spende       spendeOut `json:"spende"`
		Ueberweisung struct {
			IBAN             string `json:"iban"`
			Verwendungszweck string `json:"verwendungszweck"`
			BetragCents      int64  `json:"betrag_cents"`
		} `json:"ueberweisung"`
	}
	res.Expect(t, http.StatusCreated).JSON(t, &out)
	if out.Ueberweisung.IBAN != "DE02120300000000202051" || out.Ueberweisung.Verwendungszweck != out.Spende.Reference ||
		out.Ueberweisung.BetragCents != out.Spende.AmountCents {
		t.Fatalf("transfer instructions: %s", res.Body)
	}
	return out.Spende
}

// Every amount that is not a whole number of cents from 1 to 100,000,000, every currency but
// EUR and a missing or non-boolean visible are refused with 400 and their own code, and
// nothing is stored.
func TestDonationInputIsRefused(t *testing.T) {
	t.Parallel()
	inst, _ := kontoInstance(t)
	jana := inst.Resident("Jana", lat, lon)
	before := inst.Rows()
	for i, c := range []struct {
		body, code string
	}{
		{`{"amount_cents": 12.5, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": 1250.0, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": 1e3, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": -100, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": "1250", "visible": true}`, "invalid_amount"},
		{`{"amount_cents": 0, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": 100000001, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": 99999999999999999999999, "visible": true}`, "invalid_amount"},
		{`{"amount_cents": null, "visible": true}`, "invalid_amount"},
		{`{"visible": true}`, "invalid_amount"},
		{`{"amount_cents": 1250, "currency": "USD", "visible": true}`, "invalid_currency"},
		{`{"amount_cents": 1250, "currency": "eur", "visible": true}`, "invalid_currency"},
		{`{"amount_cents": 1250, "currency": 978, "visible": true}`, "invalid_currency"},
		{`{"amount_cents": 1250}`, "invalid_visible"},
		{`{"amount_cents": 1250, "visible": "ja"}`, "invalid_visible"},
		{`{"amount_cents": 1250, "visible": 1}`, "invalid_visible"},
		{`{"amount_cents": 1250, "visible": true, "message": "` + strings.Repeat("ä", 281) + `"}`, "invalid_message"},
		{`{"amount_cents": 1250, "visible": true, "message": 5}`, "invalid_message"},
		{`{"amount_cents": 1250, "visible": true, "betrag": 5}`, "unknown_field"},
	} {
		res := donate(jana, "key-"+string(rune('a'+i)), c.body)
		if res.Status != http.StatusBadRequest || res.ErrorCode() != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.body, res.Status, res.Body, c.code)
		}
	}
	// The limits themselves are taken.
	donated(t, donate(jana, "min", `{"amount_cents": 1, "visible": false}`))
	donated(t, donate(jana, "max", `{"amount_cents": 100000000, "currency": "EUR", "visible": true}`))
	after := inst.Rows()
	for table, n := range before {
		want := n
		if table == "spenden" || table == "events" || table == "spenden_idempotenz" {
			want += 2 // the two taken
		}
		if after[table] != want {
			t.Errorf("refused donations stored something in %s: %d rows, want %d", table, after[table], want)
		}
	}
	if k := inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Map(t); k["pending_cents"] != float64(100000001) {
		t.Fatalf("pending after two donations: %v", k["pending_cents"])
	}
}

func TestDonationNeedsLoginAndConfiguredKonto(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	donate(inst.Client(), "k", `{"amount_cents": 100, "visible": true}`).Expect(t, http.StatusUnauthorized)
	jana := inst.Resident("Jana", lat, lon)
	if code := donate(jana, "k", `{"amount_cents": 100, "visible": true}`).Expect(t, http.StatusConflict).ErrorCode(); code != "konto_not_configured" {
		t.Fatalf("no bank: %s", code)
	}
	if got := inst.Count("SELECT count(*) FROM spenden_idempotenz"); got != 0 {
		t.Fatalf("a refused donation kept its key: %d", got)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	inst, _ := kontoInstance(t)
	jana := inst.Resident("Jana", lat, lon)
	body := `{"amount_cents": 2500, "visible": true, "message": "Für den Brunnen"}`

	if code := jana.Post("/api/spenden", body).Expect(t, http.StatusBadRequest).ErrorCode(); code != "idempotency_key_missing" {
		t.Fatalf("no key: %s", code)
	}
	for _, key := range []string{strings.Repeat("k", 256), "mit leerzeichen", "ümlaut"} {
		if code := donate(jana, key, body).Expect(t, http.StatusBadRequest).ErrorCode(); code != "invalid_idempotency_key" {
			t.Fatalf("key %q: %s", key, code)
		}
	}

	first := donate(jana, "spende-1", body)
	sp := donated(t, first)
	if first.Header.Get("Idempotency-Replayed") != "" {
		t.Fatal("a first answer says it is replayed")
	}
	// A settled donation does not change what a retry of its request answers.
	admin := inst.Admin()
	admin.Post("/api/spenden/"+sp.ID+"/status", map[string]string{"status": "pending"}).Expect(t, http.StatusOK)
	again := donate(jana, "spende-1", body).Expect(t, http.StatusCreated)
	if again.Header.Get("Idempotency-Replayed") != "true" || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("retry: replayed %q, body\n%s\nfirst\n%s", again.Header.Get("Idempotency-Replayed"), again.Body, first.Body)
	}
	// The same key with another donation is refused; another account's same key is its own.
	if code := donate(jana, "spende-1", `{"amount_cents": 2600, "visible": true, "message": "Für den Brunnen"}`).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "idempotency_key_reused" {
		t.Fatalf("reused key: %s", code)
	}
	donated(t, donate(inst.Resident("Max", lat, lon), "spende-1", body))
	if n := inst.Count("SELECT count(*) FROM spenden"); n != 2 {
		t.Fatalf("%d donations, want 2", n)
	}

	// Concurrent retries: one donation, every answer the same.
	const retries = 8
	var wg sync.WaitGroup
	answers := make([]*instancetest.Response, retries)
	for i := range retries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = donate(jana, "gleichzeitig", `{"amount_cents": 700, "visible": false}`)
		}()
	}
	wg.Wait()
	replayed := 0
	for _, a := range answers {
		a.Expect(t, http.StatusCreated)
		if !bytes.Equal(a.Body, answers[0].Body) {
			t.Fatalf("concurrent retries answered differently:\n%s\n%s", a.Body, answers[0].Body)
		}
		if a.Header.Get("Idempotency-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != retries-1 {
		t.Fatalf("%d of %d answers replayed, want %d", replayed, retries, retries-1)
	}
	if n := inst.Count("SELECT count(*) FROM spenden WHERE amount_cents = 700"); n != 1 {
		t.Fatalf("%d donations from %d concurrent retries with one key", n, retries)
	}
	if n := inst.Count("SELECT count(*) FROM events WHERE type = 'SpendeInitiiert'"); n != 3 {
		t.Fatalf("%d SpendeInitiiert events, want 3", n)
	}
}

// Only the treasurer moves donations: a resident gets 403, a Kassenwart (given the role by an
// admin) may, and a step the machine does not allow is 409 and changes nothing.
func TestTreasurerTransitions(t *testing.T) {
	t.Parallel()
	inst, admin := kontoInstance(t)
	jana := inst.Resident("Jana", lat, lon)
	kasse := inst.Resident("Karl Kasse", lat, lon)
	sp := donated(t, donate(jana, "k", `{"amount_cents": 1000, "visible": true}`))
	status := "/api/spenden/" + sp.ID + "/status"

	for _, c := range []*instancetest.Client{jana, kasse} {
		if code := c.Post(status, map[string]string{"status": "pending"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "treasurer_required" {
			t.Fatalf("resident moves a donation: %s", code)
		}
	}
	jana.Get("/api/spenden").Expect(t, http.StatusForbidden)

	// Roles: only admins give them, unknown ones are refused, they are public.
	if code := jana.Do("PUT", "/api/admin/accounts/"+kasse.ID+"/roles/kassenwart", nil).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
		t.Fatalf("resident gives a role: %s", code)
	}
	if code := admin.Do("PUT", "/api/admin/accounts/"+kasse.ID+"/roles/kaiser", nil).Expect(t, http.StatusBadRequest).ErrorCode(); code != "unknown_role" {
		t.Fatalf("unknown role: %s", code)
	}
	var prof struct {
		Roles []string `json:"roles"`
	}
	admin.Do("PUT", "/api/admin/accounts/"+kasse.ID+"/roles/kassenwart", nil).Expect(t, http.StatusOK).JSON(t, &prof)
	if len(prof.Roles) != 1 || prof.Roles[0] != "kassenwart" {
		t.Fatalf("roles after grant: %v", prof.Roles)
	}
	admin.Do("PUT", "/api/admin/accounts/"+kasse.ID+"/roles/kassenwart", nil).Expect(t, http.StatusOK) // again: no change
	inst.Client().Get("/api/accounts/"+kasse.ID).Expect(t, http.StatusOK).JSON(t, &prof)
	kasse.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &prof)
	if len(prof.Roles) != 1 {
		t.Fatalf("roles in /api/me: %v", prof.Roles)
	}
	if n := inst.Count("SELECT count(*) FROM events WHERE type = 'RolleVergeben'"); n != 1 {
		t.Fatalf("%d RolleVergeben events, want 1", n)
	}

	// Illegal steps: 409, nothing written.
	before, events := inst.Rows(), inst.Count("SELECT count(*) FROM events")
	konto := inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Body
	for _, to := range []string{"settled", "reversed", "initiated"} {
		res := kasse.Post(status, map[string]string{"status": to})
		want, code := http.StatusConflict, "illegal_transition"
		if to == "initiated" {
			want, code = http.StatusBadRequest, "invalid_status"
		}
		if res.Status != want || res.ErrorCode() != code {
			t.Fatalf("initiated → %s: %d %s", to, res.Status, res.Body)
		}
	}
	if after := inst.Rows(); !equalCounts(before, after) || inst.Count("SELECT count(*) FROM events") != events ||
		!bytes.Equal(konto, inst.Client().Get("/api/konto").Body) {
		t.Fatal("a refused transition changed something")
	}

	for _, to := range []string{"pending", "settled"} {
		var out spendeOut
		kasse.Post(status, map[string]string{"status": to, "note": "Kontoauszug 12"}).Expect(t, http.StatusOK).JSON(t, &out)
		if out.Status != to {
			t.Fatalf("status %s after moving to %s", out.Status, to)
		}
	}
	if code := kasse.Post(status, map[string]string{"status": "failed"}).Expect(t, http.StatusConflict).ErrorCode(); code != "illegal_transition" {
		t.Fatalf("settled → failed: %s", code)
	}
	k := inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Map(t)
	if k["balance_cents"] != float64(1000) || k["pending_cents"] != float64(0) {
		t.Fatalf("konto after settling: %v", k)
	}
	// The role taken away, the treasurer is a resident again.
	admin.Do("DELETE", "/api/admin/accounts/"+kasse.ID+"/roles/kassenwart", nil).Expect(t, http.StatusOK)
	kasse.Post(status, map[string]string{"status": "reversed"}).Expect(t, http.StatusForbidden)
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// An anonymous donor's id and name appear in none of the public answers about the Ortskonto,
// nor in a stranger's; a visible donor's do.
func TestAnonymousDonorStaysAnonymous(t *testing.T) {
	t.Parallel()
	inst, admin := kontoInstance(t)
	anon := inst.Resident("Annegret Unbekannt", lat, lon)
	vis := inst.Resident("Viktor Sichtbar", lat, lon)
	stranger := inst.Resident("Stefan Fremd", lat, lon)
	a := donated(t, donate(anon, "a", `{"amount_cents": 5000, "visible": false, "message": "Gruß von Annegret"}`))
	v := donated(t, donate(vis, "v", `{"amount_cents": 300, "visible": true, "message": "Für alle"}`))
	for _, id := range []string{a.ID, v.ID} {
		for _, to := range []string{"pending", "settled"} {
			admin.Post("/api/spenden/"+id+"/status", map[string]string{"status": to}).Expect(t, http.StatusOK)
		}
	}
	a2 := donated(t, donate(anon, "a2", `{"amount_cents": 700, "visible": false}`)) // stays initiated
	admin.Post("/api/spenden/"+a.ID+"/status", map[string]string{"status": "reversed"}).Expect(t, http.StatusOK)

	public := map[string][]byte{
		"konto":            inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Body,
		"journal":          inst.Client().Get("/api/konto/journal").Expect(t, http.StatusOK).Body,
		"stranger konto":   stranger.Get("/api/konto").Expect(t, http.StatusOK).Body,
		"stranger journal": stranger.Get("/api/konto/journal?limit=1").Expect(t, http.StatusOK).Body,
		"stranger spende":  stranger.Get("/api/spenden/"+a.ID).Expect(t, http.StatusNotFound).Body,
		"stranger spende2": stranger.Get("/api/spenden/"+a2.ID).Expect(t, http.StatusNotFound).Body,
		"stranger mine":    stranger.Get("/api/me/spenden").Expect(t, http.StatusOK).Body,
	}
	for what, body := range public {
		for _, secret := range []string{anon.ID, "Annegret", "Unbekannt", a.Reference, a2.Reference} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("%s names the anonymous donor (%q): %s", what, secret, body)
			}
		}
	}
	if !bytes.Contains(public["konto"], []byte("Viktor Sichtbar")) || !bytes.Contains(public["journal"], []byte("Viktor Sichtbar")) {
		t.Errorf("the visible donor is missing: %s\n%s", public["konto"], public["journal"])
	}
	var journal struct {
		Buchungen []struct {
			Kind        string `json:"kind"`
			AmountCents int64  `json:"amount_cents"`
			Donor       any    `json:"donor"`
		} `json:"buchungen"`
		Next *int64 `json:"next"`
	}
	if err := json.Unmarshal(public["journal"], &journal); err != nil {
		t.Fatal(err)
	}
	// Newest first: the reversal, the visible one, the anonymous one.
	if len(journal.Buchungen) != 3 || journal.Buchungen[0].Kind != "storno" || journal.Buchungen[0].Donor != "anonym" ||
		journal.Buchungen[0].AmountCents != -5000 || journal.Buchungen[2].Donor != "anonym" || journal.Next != nil {
		t.Fatalf("journal: %s", public["journal"])
	}
	// Nor does the event log, which the map feed and federation follow.
	if n := inst.Count(`SELECT count(*) FROM events WHERE type LIKE 'Spende%' AND (actor_id = $1 OR payload::text LIKE '%' || $2 || '%')`,
		anon.ID, anon.ID); n != 0 {
		t.Errorf("%d donation events name the anonymous donor", n)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'SpendeInitiiert' AND actor_id = $1 AND h3_index IS NOT NULL`, vis.ID); n != 1 {
		t.Errorf("the visible donation's event: %d with its donor and cell, want 1", n)
	}
	// The donor and the treasurer see who gave.
	for _, c := range []*instancetest.Client{anon, admin} {
		var out spendeOut
		c.Get("/api/spenden/"+a.ID).Expect(t, http.StatusOK).JSON(t, &out)
		if out.Donor == nil || out.Donor.ID != anon.ID || out.Visible {
			t.Fatalf("donor or treasurer does not see the donor: %+v", out)
		}
	}
	var list struct {
		Spenden []spendeOut `json:"spenden"`
	}
	admin.Get("/api/spenden?status=initiated").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Spenden) != 1 || list.Spenden[0].ID != a2.ID || list.Spenden[0].Donor == nil || list.Spenden[0].Donor.Name != "Annegret Unbekannt" {
		t.Fatalf("treasurer's list: %+v", list)
	}
	anon.Get("/api/me/spenden").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Spenden) != 2 {
		t.Fatalf("own donations: %+v", list)
	}
}

func TestKontoSettings(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Bounds: lindenau})
	admin := inst.Admin()
	jana := inst.Resident("Jana", lat, lon)
	ok := map[string]any{"empfaenger": "Ortsweberei e.V.", "iban": "DE02120300000000202051", "position": map[string]float64{"lat": lat, "lon": lon}}
	if code := jana.Do("PUT", "/api/admin/konto", ok).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
		t.Fatalf("resident sets the konto: %s", code)
	}
	for _, c := range []struct {
		change map[string]any
		status int
		code   string
	}{
		{map[string]any{"iban": "DE03120300000000202051"}, http.StatusBadRequest, "invalid_iban"}, // check digits off by one
		{map[string]any{"iban": "DE0212030000000020205"}, http.StatusBadRequest, "invalid_iban"},  // a digit short
		{map[string]any{"iban": "XX"}, http.StatusBadRequest, "invalid_iban"},
		{map[string]any{"bic": "BANK"}, http.StatusBadRequest, "invalid_bic"},
		{map[string]any{"empfaenger": ""}, http.StatusBadRequest, "invalid_empfaenger"},
		{map[string]any{"position": map[string]float64{"lat": 48.1, "lon": 11.5}}, http.StatusUnprocessableEntity, "outside_ortsweberei"},
	} {
		body := map[string]any{}
		for k, v := range ok {
			body[k] = v
		}
		for k, v := range c.change {
			body[k] = v
		}
		res := admin.Do("PUT", "/api/admin/konto", body)
		if res.Status != c.status || res.ErrorCode() != c.code {
			t.Errorf("%v: %d %s", c.change, res.Status, res.Body)
		}
	}
	if k := inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Map(t); k["bank"] != nil || k["position"] != nil {
		t.Fatalf("refused settings were stored: %v", k)
	}
	ok["iban"] = "de02 1203 0000 0000 2020 51"
	admin.Do("PUT", "/api/admin/konto", ok).Expect(t, http.StatusOK)
	k := inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Map(t)
	if bank, _ := k["bank"].(map[string]any); bank == nil || bank["iban"] != "DE02120300000000202051" {
		t.Fatalf("konto: %v", k)
	}
}
