package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
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

// Delivery jobs keep no order between them: a Create or Update of an Antrag that Lindenau
// sent before its moderator hid it may reach Plagwitz after the Delete (a retry). Plagwitz
// keeps the Delete as a tombstone, so such a late delivery brings no words back, neither the
// Antrag's nor its Einsprüche's (which lose theirs with it: no Delete comes for each). The
// origin's first Update after the Antrag is shown again was sent after the Delete, and brings
// the Antrag's words back; the Einsprüche's stay gone, as nothing sends them again.
func TestHiddenAntragStaysWordlessWhenAnOlderDeliveryComesLate(t *testing.T) {
	t.Parallel()
	a, b, an := neighboursWithAntrag(t, map[string]string{"title": "Gießdienst mit Schimpfwort", "details_md": "Ein *Schimpfwort* im Text."})
	remote := remoteAntrag(t, b, patience)
	hans := a.VerifiedResident("Hans", lat, lon)
	hans.Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Eine Beleidigung"}).Expect(t, http.StatusCreated)
	type shown struct {
		Title, DetailsHTML, Status string
		Einsprueche                []struct{ Reason string }
	}
	view := func() (v shown) {
		b.Client().Get("/api/antraege/"+remote).Expect(t, http.StatusOK).JSON(t, &struct {
			Title       *string `json:"title"`
			DetailsHTML *string `json:"details_html"`
			Status      *string `json:"status"`
			Einsprueche *[]struct{ Reason string }
		}{&v.Title, &v.DetailsHTML, &v.Status, &v.Einsprueche})
		return v
	}
	waitFor(t, "Plagwitz to show Hans's Einspruch", patience, func() bool {
		v := view()
		return len(v.Einsprueche) == 1 && v.Einsprueche[0].Reason == "Eine Beleidigung"
	})
	// What Lindenau sent Plagwitz before the hiding: the Antrag's Create, and its Update
	// after Hans's Einspruch.
	create, update := sentBy(t, a, "Create", an), sentBy(t, a, "Update", an)

	a.Admin().Post("/api/admin/inhalte/hide", map[string]string{"target": an.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	waitFor(t, "Plagwitz to take the Delete", patience, func() bool { return view().Status == "zurueckgezogen" })

	deliverLate(t, a, b, an, create, update)
	if v := view(); v.Title != "" || v.DetailsHTML != "" || v.Status != "zurueckgezogen" {
		t.Errorf("after the late Create and Update, Plagwitz shows: %+v", v)
	}
	if n := b.Count(`SELECT count(*) FROM remote_antraege WHERE title LIKE '%Schimpfwort%' OR details_html LIKE '%Schimpfwort%'`); n != 0 {
		t.Errorf("Plagwitz keeps the hidden Antrag's words")
	}
	if n := b.Count(`SELECT count(*) FROM remote_einsprueche WHERE reason <> ''`); n != 0 {
		t.Errorf("Plagwitz keeps the words of %d Einsprüche of the hidden Antrag", n)
	}

	// Shown again at Lindenau: its next Update (after Frieda's Einspruch) brings the words back.
	a.Admin().Post("/api/admin/inhalte/unhide", map[string]string{"target": an.ID, "reason": "Versehen"}).Expect(t, http.StatusOK)
	frieda := a.VerifiedResident("Frieda", lat, lon)
	frieda.Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, http.StatusCreated)
	waitFor(t, "Plagwitz to show the Antrag again", patience, func() bool { return view().Title == "Gießdienst mit Schimpfwort" })
	waitFor(t, "Plagwitz to show Frieda's Einspruch", patience, func() bool {
		var reasons []string
		for _, e := range view().Einsprueche {
			reasons = append(reasons, e.Reason)
		}
		return slices.Contains(reasons, "Zu teuer")
	})
	if v := view(); v.Status == "zurueckgezogen" || !strings.Contains(v.DetailsHTML, "Schimpfwort") {
		t.Errorf("shown again, Plagwitz shows: %+v", v)
	}
	if n := b.Count(`SELECT count(*) FROM remote_einsprueche WHERE reason = 'Eine Beleidigung'`); n != 0 {
		t.Errorf("Hans's reason came back at Plagwitz, which had dropped it for good")
	}
}

// The same when Plagwitz never had the Antrag (its Create still being retried when the Delete
// comes): the Delete leaves a tombstone, the late Create stores nothing, and the Antrag comes
// once Lindenau shows it again and sends it anew.
func TestHiddenAntragNeverSeenStaysOutAtTheNeighbour(t *testing.T) {
	t.Parallel()
	a, b, an := neighboursWithAntrag(t, map[string]string{"title": "Gießdienst mit Schimpfwort", "details_md": "Ein *Schimpfwort* im Text."})
	remoteAntrag(t, b, patience)
	create := sentBy(t, a, "Create", an)
	// As if the Create had not reached Plagwitz yet.
	if _, err := b.Pool.Exec(context.Background(), `DELETE FROM remote_antraege WHERE iri = $1`, an.Fediverse.ID); err != nil {
		t.Fatal(err)
	}

	a.Admin().Post("/api/admin/inhalte/hide", map[string]string{"target": an.ID, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	waitFor(t, "Plagwitz to take the Delete", patience, func() bool {
		return b.Count(`SELECT count(*) FROM ap_inbox WHERE body::jsonb->>'type' = 'Delete' AND processed_at IS NOT NULL`) == 1
	})
	deliverLate(t, a, b, an, create)
	if n := b.Count(`SELECT count(*) FROM remote_antraege`); n != 0 {
		t.Errorf("Plagwitz stored the hidden Antrag from its late Create (%d rows)", n)
	}

	a.Admin().Post("/api/admin/inhalte/unhide", map[string]string{"target": an.ID, "reason": "Versehen"}).Expect(t, http.StatusOK)
	a.VerifiedResident("Frieda", lat, lon).Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, http.StatusCreated)
	waitFor(t, "Plagwitz to keep the Antrag shown again", patience, func() bool {
		return b.Count(`SELECT count(*) FROM remote_antraege WHERE title = 'Gießdienst mit Schimpfwort'`) == 1
	})
}

// sentBy is the last activity of the type that the Ortsweberei inst queued about the Antrag.
func sentBy(t *testing.T, inst *instancetest.Instance, typ string, an antragRef) map[string]any {
	t.Helper()
	var body []byte
	waitFor(t, "the "+typ+" to be queued", patience, func() bool {
		err := inst.Pool.QueryRow(context.Background(), `SELECT body::text FROM ap_outgoing
WHERE body->>'type' = $1 AND body->'object'->>'id' = $2 ORDER BY id DESC LIMIT 1`, typ, an.Fediverse.ID).Scan(&body)
		return err == nil
	})
	var act map[string]any
	if err := json.Unmarshal(body, &act); err != nil {
		t.Fatal(err)
	}
	return act
}

// deliverLate delivers to b activities the Antrag's actor at a sent earlier, as a retried
// delivery job would after the ones sent since: signed by that actor, with new ids (b never
// took them, else its inbox would drop them as seen), and waits until b processed each.
func deliverLate(t *testing.T, a, b *instancetest.Instance, an antragRef, acts ...map[string]any) {
	t.Helper()
	actor := an.Fediverse.ID + "/actor"
	keys := keysOf(t, a, "/ap/antraege/"+an.ID+"/actor")
	for i, act := range acts {
		act["id"] = act["id"].(string) + "#late" + strconv.Itoa(i)
		if code, body := postSigned(t, b.URL+"/ap/inbox", actor, keys, act); code != http.StatusAccepted {
			t.Fatalf("late %s: %d %s", act["type"], code, body)
		}
		waitFor(t, "the late "+act["type"].(string)+" to be processed", patience, func() bool {
			return b.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, act["id"]) == 1
		})
	}
}
