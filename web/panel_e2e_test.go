package web_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// TestModerationPanelClickThrough runs e2e/panel.e2e.mjs (issue 16, round 2): what the
// moderation panel offers, clicked in headless Chromium against a real instance. Ada (an admin)
// makes Mia a moderator and Ben the Kasse from the residents tab; Ria, on her phone, reports an
// Einspruch and a Fediverse Kommentar from their Melden buttons, and both show in Mia's queue;
// Mia warns Ria (Ria sees the warning in her account dialog) and suspends her for 3 days (Ria's
// chat message is refused with the German message); Ada bans Otto and lifts the ban; Ada puts a
// word on the word list and Mia's chat message with it is refused; Ada blocks an IP range and a
// domain and lifts both. Afterwards the API is asked the same: the roles, the reports, the
// public log's entries, and no block left.
func TestModerationPanelClickThrough(t *testing.T) {
	b := requireBrowser(t)
	inst := instancetest.Start(t, instancetest.Options{Name: "Panel-Weberei", Bounds: lindenau})
	adminEmail := "ada-panel@example.org"
	if _, err := inst.Accounts.CreateAdmin(context.Background(), "Ada Admin", adminEmail, "admin password"); err != nil {
		t.Fatal(err)
	}
	mia := inst.VerifiedResident("Mia Moderatorin", 51.3380, 12.3300)
	ria := inst.VerifiedResident("Ria Rufer", 51.3372, 12.3290)
	otto := inst.VerifiedResident("Otto Laut", 51.3400, 12.3350)
	ben := inst.VerifiedResident("Ben Bedenken", 51.3390, 12.3320)
	// The Ortskonto exists (an admin set its bank account): the Kasse is a role to give.
	inst.Admin().Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Panel-Weberei", "iban": "DE02120300000000202051",
		"position": map[string]float64{"lat": 51.3370, "lon": 12.3295}}).Expect(t, http.StatusOK)
	// Otto's Antrag with Ben's Einspruch and a reply from the Fediverse.
	const title, einspruch = "Bank am Teich", "Die Bank versperrt den Weg zum Steg."
	var a struct{ ID string }
	otto.Post("/api/antraege", map[string]any{"title": title, "details_md": "Eine Bank."}).Expect(t, http.StatusCreated).JSON(t, &a)
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": einspruch}).Expect(t, http.StatusCreated)
	const kommentarIRI = "https://social.example/users/troll/statuses/1"
	if err := inst.Antraege.AddComment(context.Background(), antrag.Kommentar{AntragID: uuid.MustParse(a.ID), IRI: kommentarIRI,
		Author: "https://social.example/users/troll", AuthorName: "Troll (@troll@social.example)",
		ContentHTML: "<p>Alles Quatsch hier</p>", Published: time.Now()}); err != nil {
		t.Fatal(err)
	}

	b.run(t, "e2e/panel.e2e.mjs", "WG_URL="+inst.URL, "WG_PASSWORD="+instancetest.ResidentPassword,
		"WG_ADMIN_EMAIL="+adminEmail, "WG_ADMIN_PASSWORD=admin password", "WG_TITLE="+title, "WG_EINSPRUCH="+einspruch,
		"WG_MIA_EMAIL="+mia.Email, "WG_RIA_EMAIL="+ria.Email)

	// What the clicks did, as the API says it.
	var prof struct{ Roles []string }
	inst.Client().Get("/api/accounts/"+mia.ID).Expect(t, http.StatusOK).JSON(t, &prof)
	if strings.Join(prof.Roles, ",") != "moderator" {
		t.Errorf("Mia's roles: %v, want moderator", prof.Roles)
	}
	inst.Client().Get("/api/accounts/"+ben.ID).Expect(t, http.StatusOK).JSON(t, &prof)
	if strings.Join(prof.Roles, ",") != "kassenwart" {
		t.Errorf("Ben's roles: %v, want kassenwart", prof.Roles)
	}
	var queue struct {
		Meldungen []struct{ Target struct{ Kind, ID string } }
	}
	mia.Get("/api/admin/meldungen?state=open").Expect(t, http.StatusOK).JSON(t, &queue)
	var targets []string
	for _, m := range queue.Meldungen {
		targets = append(targets, m.Target.Kind+" "+m.Target.ID)
	}
	sort.Strings(targets)
	if want := "einspruch " + a.ID + "/" + ben.ID + ",kommentar " + kommentarIRI; strings.Join(targets, ",") != want {
		t.Errorf("the open reports: %v, want %s", targets, want)
	}
	var log struct {
		Eintraege []struct {
			Action string
			Target struct{ Kind, ID string }
		}
	}
	inst.Client().Get("/api/moderation/log").Expect(t, http.StatusOK).JSON(t, &log)
	var actions []string
	for _, e := range log.Eintraege {
		actions = append(actions, e.Action+" "+e.Target.Kind)
	}
	// Newest first.
	want := "unblock_domain domain,unblock_ip ip,block_domain domain,block_ip ip,lift account,ban account,suspend account,warn account"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("the public log: %s\nwant %s", got, want)
	}
	var ips struct{ Ipsperren []any }
	inst.Admin().Get("/api/admin/ipsperren").Expect(t, http.StatusOK).JSON(t, &ips)
	var blocks struct{ Blocks []string }
	inst.Admin().Get("/api/admin/federation/blocks").Expect(t, http.StatusOK).JSON(t, &blocks)
	if len(ips.Ipsperren) != 0 || len(blocks.Blocks) != 0 {
		t.Errorf("blocks left after lifting: %v, %v", ips.Ipsperren, blocks.Blocks)
	}
}
