package federation_test

import (
	"net/http"
	"testing"
)

// A resident of Plagwitz reports, from the Webrat's Melden buttons, a neighbour's Antrag and an
// Einspruch on it: the web sends what the instance resolves for a neighbour's content
// (web/src/einspruchview.ts) — the Antrag's ActivityPub id and the Einspruch's author actor —
// and both reach Plagwitz's queue as remote targets, which its moderators can forward to
// Lindenau. (Our own id of the copy names nothing the moderation knows.)
func TestNeighbourAntragAndEinspruchReportedAsRemote(t *testing.T) {
	t.Parallel()
	a, b, an := neighboursWithAntrag(t, map[string]string{"title": "Gießdienst"})
	a.VerifiedResident("Hans", lat, lon).Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Unsinn"}).Expect(t, http.StatusCreated)

	remote := remoteAntrag(t, b, patience)
	var view struct {
		Fediverse   struct{ ID string }
		Einsprueche []struct{ Author struct{ ID, Name string } }
	}
	waitFor(t, "Plagwitz to show the Einspruch", patience, func() bool {
		b.Client().Get("/api/antraege/"+remote).Expect(t, http.StatusOK).JSON(t, &view)
		return len(view.Einsprueche) == 1
	})
	if view.Fediverse.ID != an.Fediverse.ID || view.Einsprueche[0].Author.Name != "Hans" || view.Einsprueche[0].Author.ID == "" {
		t.Fatalf("Plagwitz's view of the neighbour's Antrag: %+v", view)
	}

	rita := b.VerifiedResident("Rita", lat, lon)
	for _, target := range []string{view.Fediverse.ID, view.Einsprueche[0].Author.ID} {
		rita.Post("/api/meldungen", map[string]string{"target": target, "reason": "Beleidigend"}).Expect(t, http.StatusCreated)
	}
	var queue struct {
		Meldungen []struct {
			Target struct{ Kind, ID string }
		}
	}
	b.Admin().Get("/api/admin/meldungen?state=open").Expect(t, http.StatusOK).JSON(t, &queue)
	got := map[string]string{}
	for _, m := range queue.Meldungen {
		got[m.Target.ID] = m.Target.Kind
	}
	if got[view.Fediverse.ID] != "remote" || got[view.Einsprueche[0].Author.ID] != "remote" {
		t.Errorf("Plagwitz's queue: %+v, want both as remote targets", queue.Meldungen)
	}
}
