package instance_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// The panel's list of residents (GET /api/admin/accounts) is the moderators' too: each with its
// roles and the sanction in force, so that the panel offers what fits (lift a suspension, a
// ban). Residents without a role get 403 moderator_required; the list never shows an address or
// an e-mail.
func TestModeratorsListResidentsWithTheirSanctions(t *testing.T) {
	t.Parallel()
	inst, admin, mods := startModeration(t, "Mona Moderat")
	mod := mods[0]
	ben := inst.VerifiedResident("Ben", lat, lon)

	type resident struct {
		ID       string   `json:"id"`
		Roles    []string `json:"roles"`
		Sanction *struct {
			State  string     `json:"state"`
			Until  *time.Time `json:"until"`
			Reason string     `json:"reason"`
		} `json:"sanction"`
		Address *string `json:"address"`
		Email   *string `json:"email"`
	}
	list := func(c *instancetest.Client) map[string]resident {
		t.Helper()
		var out struct{ Accounts []resident }
		c.Get("/api/admin/accounts?verified=true").Expect(t, http.StatusOK).JSON(t, &out)
		m := map[string]resident{}
		for _, a := range out.Accounts {
			if a.Address != nil || a.Email != nil {
				t.Errorf("the list shows an address or e-mail: %+v", a)
			}
			m[a.ID] = a
		}
		return m
	}
	got := list(mod)
	if r, ok := got[ben.ID]; !ok || r.Sanction != nil || len(r.Roles) != 0 {
		t.Fatalf("Ben in the moderator's list: %+v (listed %v)", r, ok)
	}
	if r := got[mod.ID]; len(r.Roles) != 1 || r.Roles[0] != "moderator" {
		t.Errorf("Mona's roles in the list: %+v", r.Roles)
	}

	mod.Post("/api/admin/accounts/"+ben.ID+"/suspend", map[string]any{"days": 3, "reason": "Beleidigungen"}).Expect(t, http.StatusOK)
	if s := list(mod)[ben.ID].Sanction; s == nil || s.State != "suspended" || s.Until == nil || s.Reason != "Beleidigungen" {
		t.Errorf("Ben suspended, in the list: %+v", s)
	}
	admin.Post("/api/admin/accounts/"+ben.ID+"/ban", map[string]string{"reason": "wiederholt"}).Expect(t, http.StatusOK)
	if s := list(admin)[ben.ID].Sanction; s == nil || s.State != "banned" || s.Until != nil {
		t.Errorf("Ben banned, in the list: %+v", s)
	}
	admin.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]string{"reason": "Gespräch geführt"}).Expect(t, http.StatusOK)
	// The ban is lifted; the suspension, still running, is in force again.
	if s := list(mod)[ben.ID].Sanction; s == nil || s.State != "suspended" || s.Reason != "Beleidigungen" {
		t.Errorf("Ben's ban lifted, his suspension running, in the list: %+v", s)
	}
	mod.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]string{"reason": "Gespräch geführt"}).Expect(t, http.StatusOK)
	if s := list(mod)[ben.ID].Sanction; s != nil {
		t.Errorf("Ben's lifted sanctions still in the list: %+v", s)
	}

	if code := ben.Get("/api/admin/accounts?verified=true").Expect(t, http.StatusForbidden).ErrorCode(); code != "moderator_required" {
		t.Errorf("a resident lists the residents: %s", code)
	}
}
