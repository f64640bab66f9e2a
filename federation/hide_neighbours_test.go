package federation_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// A moderator of Lindenau hides an Einspruch that its neighbour Plagwitz mirrors: Plagwitz
// gets the Delete from the Einspruch's author, drops its words and no longer shows it, as
// Lindenau's public list does not; a Delete of it from anyone but its origin changes nothing.
func TestHiddenEinspruchLosesItsWordsAtTheNeighbour(t *testing.T) {
	t.Parallel()
	a, b, an := neighboursWithAntrag(t, map[string]string{"title": "Gießdienst"})
	hans := a.VerifiedResident("Hans", lat, lon)
	hans.Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Eine Beleidigung"}).Expect(t, http.StatusCreated)
	einspruch := an.Fediverse.ID + "/einsprueche/" + hans.ID

	type shown struct {
		Einsprueche []struct {
			Author struct{ ID, Name string }
			Reason string
		}
	}
	remote := remoteAntrag(t, b, patience)
	view := func() shown {
		var v shown
		b.Client().Get("/api/antraege/"+remote).Expect(t, http.StatusOK).JSON(t, &v)
		return v
	}
	waitFor(t, "Plagwitz to show the Einspruch", patience, func() bool {
		v := view()
		return len(v.Einsprueche) == 1 && v.Einsprueche[0].Reason == "Eine Beleidigung"
	})

	// A Delete of it from another server is not believed.
	masto := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	forged := map[string]any{"@context": vocab.ActivityStreams, "id": masto.ActorID() + "#delete-1", "type": "Delete", "actor": masto.ActorID(),
		"to": []string{vocab.Public}, "object": map[string]any{"id": einspruch, "type": "Tombstone"}}
	if err := masto.Send(ctx, b.URL+"/ap/inbox", forged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Plagwitz to process the forged Delete", patience, func() bool {
		return b.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, forged["id"]) == 1
	})
	if v := view(); len(v.Einsprueche) != 1 || v.Einsprueche[0].Reason != "Eine Beleidigung" {
		t.Fatalf("after a Delete from another server: %+v", v)
	}

	a.Admin().Post("/api/admin/inhalte/hide", map[string]string{"target": an.ID + "/" + hans.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	waitFor(t, "Plagwitz to take the Delete", patience, func() bool { return len(view().Einsprueche) == 0 })
	// Its words are gone; a wordless tombstone stays (who, when), against a late Create.
	if n := b.Count(`SELECT count(*) FROM remote_einsprueche WHERE reason = '' AND deleted_at IS NOT NULL AND author = $1`,
		a.URL+"/ap/users/"+handleOf(t, a, hans.ID)); n != 1 {
		t.Errorf("Plagwitz keeps %d tombstones of the Einspruch, want 1", n)
	}
	if n := b.Count(`SELECT count(*) FROM remote_einsprueche WHERE reason <> ''`); n != 0 {
		t.Errorf("Plagwitz keeps %d Einsprüche' words", n)
	}
}

// A moderator of Lindenau hides an Antrag its neighbour Plagwitz mirrors: Plagwitz gets the
// Delete from the Antrag's actor, marks its copy withdrawn (as for every Delete of an Antrag)
// and drops its title and text, as Lindenau no longer shows them.
func TestHiddenAntragLosesItsWordsAtTheNeighbour(t *testing.T) {
	t.Parallel()
	a, b, an := neighboursWithAntrag(t, map[string]string{"title": "Gießdienst mit Schimpfwort", "details_md": "Ein *Schimpfwort* im Text."})
	remote := remoteAntrag(t, b, patience)
	type shown struct{ Title, DetailsHTML, Status string }
	view := func() (v shown) {
		b.Client().Get("/api/antraege/"+remote).Expect(t, http.StatusOK).JSON(t, &struct {
			Title       *string `json:"title"`
			DetailsHTML *string `json:"details_html"`
			Status      *string `json:"status"`
		}{&v.Title, &v.DetailsHTML, &v.Status})
		return v
	}
	if v := view(); v.Title != "Gießdienst mit Schimpfwort" || !strings.Contains(v.DetailsHTML, "Schimpfwort") {
		t.Fatalf("Plagwitz before: %+v", v)
	}

	a.Admin().Post("/api/admin/inhalte/hide", map[string]string{"target": an.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	waitFor(t, "Plagwitz to take the Delete", patience, func() bool { return view().Status == "zurueckgezogen" })
	if v := view(); v.Title != "" || v.DetailsHTML != "" {
		t.Errorf("Plagwitz still shows the hidden Antrag's words: %+v", v)
	}
	if n := b.Count(`SELECT count(*) FROM remote_antraege WHERE title LIKE '%Schimpfwort%' OR details_html LIKE '%Schimpfwort%'`); n != 0 {
		t.Errorf("Plagwitz keeps the hidden Antrag's words")
	}
}

// neighboursWithAntrag starts Lindenau and Plagwitz as neighbours, and files an Antrag at
// Lindenau (its resident Jana's).
func neighboursWithAntrag(t *testing.T, filing map[string]string) (a, b *instancetest.Instance, an antragRef) {
	t.Helper()
	a = instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b = instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	federate(t, a, b, patience)
	return a, b, fileAntrag(t, a.VerifiedResident("Jana", lat, lon), filing)
}
