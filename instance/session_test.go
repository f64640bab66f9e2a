package instance_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// GET /api/session answers 200 for anybody: the account for a session, null for nobody and for
// a session that is not one (where GET /api/me answers 401, which a browser logs as an error
// on every anonymous visit).
func TestSessionAnswersWithoutAnError(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	var who struct {
		Account *struct{ ID, Name string } `json:"account"`
	}
	ada.Get("/api/session").Expect(t, http.StatusOK).JSON(t, &who)
	if who.Account == nil || who.Account.ID != ada.ID || who.Account.Name != "Ada" {
		t.Errorf("Ada's session: %+v", who.Account)
	}
	for name, c := range map[string]*instancetest.Client{"no session": inst.Client(), "forged session": forged(inst)} {
		res := c.Get("/api/session").Expect(t, http.StatusOK)
		if body := strings.TrimSpace(string(res.Body)); body != `{"account":null}` {
			t.Errorf("%s: %s", name, body)
		}
	}
}

// The limits the instance tells the app are the ones it applies: a title of the told length
// is taken, one character more is refused.
func TestToldLimitsAreTheRules(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	var ow struct{ Limits map[string]int }
	inst.Client().Get("/api/ortsweberei").Expect(t, http.StatusOK).JSON(t, &ow)
	n := ow.Limits["knoten_title"]
	if n != knoten.MaxTitle {
		t.Fatalf("told knoten_title %d, the rule is %d", n, knoten.MaxTitle)
	}
	for _, k := range []string{"knoten_description", "antrag_title", "antrag_details", "einspruch_reason", "chat_text", "name"} {
		if ow.Limits[k] <= 0 {
			t.Errorf("limit %s missing: %v", k, ow.Limits)
		}
	}
	ada := inst.Resident("Ada", lat, lon)
	body := func(title string) map[string]any {
		return map[string]any{"type": "idee", "title": title, "lat": lat, "lon": lon}
	}
	ada.Post("/api/knoten", body(strings.Repeat("ß", n))).Expect(t, http.StatusCreated)
	if code := ada.Post("/api/knoten", body(strings.Repeat("ß", n+1))).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_title" {
		t.Errorf("a title of %d characters: %s", n+1, code)
	}
}
