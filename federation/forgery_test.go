package federation_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Only an object's own origin creates or changes it. Lindenau follows two neighbours,
// Plagwitz and Gohlis. Gohlis (a neighbour, signing correctly as itself) and a resident of
// Plagwitz (signing as herself, not as the Antrag) try to change Plagwitz's Antrag on
// Lindenau: by announcing a forged copy, by updating it, by deleting it, by undoing
// Plagwitz's follow and by accepting a follow Lindenau sent elsewhere. Lindenau's copy is left
// exactly as it was. Plagwitz itself, with its clock far ahead, sends a state dated 2099; it
// is kept, but it does not shadow what Plagwitz sends next, which still applies.
func TestOnlyTheOriginChangesItsObjects(t *testing.T) {
	t.Parallel()
	l := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	p := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	g := instancetest.Start(t, instancetest.Options{Host: "127.0.0.3", Name: "Gohlis"})
	const wait = patience
	federate(t, l, p, wait)
	l.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": g.URL}).Expect(t, http.StatusAccepted)
	waitFor(t, "Lindenau to follow both neighbours", wait, func() bool {
		return l.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 2
	})
	jana := p.VerifiedResident("Jana Weber", lat, lon)
	an := fileAntrag(t, jana, map[string]string{"title": "Bücherschrank", "details_md": "Am *Felsenkeller*."})
	remoteID := remoteAntrag(t, l, wait)

	// copyAt is Lindenau's copy of the Antrag, all of what a forgery could change. The date
	// of the state is not in it, since fetching the Antrag again from Plagwitz renews it; it
	// must only never lie ahead.
	copyAt := func(t *testing.T) string {
		t.Helper()
		var row string
		var updated time.Time
		if err := l.Pool.QueryRow(context.Background(), `
SELECT concat_ws('|', title, details_html, status, actor, applicant, applicant_name, amount_cents, outcome, origin_yes,
                 decision_deadline, opens_at, closes_at, closed_at), source_updated
FROM remote_antraege WHERE iri = $1`, an.Fediverse.ID).Scan(&row, &updated); err != nil {
			t.Fatal(err)
		}
		if updated.After(time.Now().Add(time.Minute)) {
			t.Fatalf("Lindenau's copy is dated %s", updated)
		}
		return row
	}
	genuine := copyAt(t)
	if !strings.HasPrefix(genuine, "Bücherschrank|") {
		t.Fatalf("Lindenau's copy: %s", genuine)
	}
	// forged is Plagwitz's Antrag as Plagwitz serves it, with a different title, status and
	// count and a far-future updated.
	forged := func(attributedTo string) map[string]any {
		q := mustAP(t, an.Fediverse.ID)
		q["title"], q["content"], q["status"], q["outcome"] = "Gefälscht", "<p><strong>Gefälscht</strong></p>", "angenommen", "angenommen"
		q["yesWeight"], q["noWeight"], q["abstainWeight"] = 99, 0, 0
		q["updated"] = "2099-01-01T00:00:00Z"
		if attributedTo != "" {
			q["attributedTo"] = attributedTo
		}
		return q
	}
	processed := func(t *testing.T, activityID string) {
		t.Helper()
		waitFor(t, "Lindenau to process "+activityID, wait, func() bool {
			return l.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, activityID) == 1
		})
	}
	// send delivers an activity to Lindenau signed by a local actor of inst (path), as that
	// actor's own server would, and waits until Lindenau has processed it.
	n := 0
	send := func(t *testing.T, inst *instancetest.Instance, path string, act map[string]any) {
		t.Helper()
		n++
		actor := inst.URL + path
		mustAP(t, actor) // its keys are made when first needed
		act["@context"], act["id"], act["actor"] = vocab.Context, fmt.Sprintf("%s/ap/activities/forged-%d", inst.URL, n), actor
		if code, body := postSigned(t, l.URL+"/ap/inbox", actor, keysOf(t, inst, path), act); code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", act["type"], code, body)
		}
		processed(t, act["id"].(string))
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if now := copyAt(t); now != genuine {
			t.Fatalf("Lindenau's copy of Plagwitz's Antrag changed:\n was %s\n now %s", genuine, now)
		}
		var view struct{ Title, Status string }
		l.Client().Get("/api/antraege/"+remoteID).Expect(t, 200).JSON(t, &view)
		if view.Title != "Bücherschrank" || view.Status != "offen" {
			t.Fatalf("Lindenau shows %+v", view)
		}
	}

	t.Run("a neighbour announces a forged copy", func(t *testing.T) {
		send(t, g, "/ap/ortsweberei", map[string]any{"type": "Announce", "object": forged(""), "to": []string{vocab.Public}})
		unchanged(t)
	})
	t.Run("a neighbour announces a forged copy under its own actor", func(t *testing.T) {
		send(t, g, "/ap/ortsweberei", map[string]any{"type": "Announce", "object": forged(g.URL + "/ap/ortsweberei"), "to": []string{vocab.Public}})
		unchanged(t)
	})
	t.Run("a neighbour updates it", func(t *testing.T) {
		send(t, g, "/ap/ortsweberei", map[string]any{"type": "Update", "object": forged(g.URL + "/ap/ortsweberei"), "to": []string{vocab.Public}})
		unchanged(t)
	})
	t.Run("a resident of the origin updates it as her own", func(t *testing.T) {
		jana := p.URL + "/ap/users/jana.weber"
		send(t, p, "/ap/users/jana.weber", map[string]any{"type": "Update", "object": forged(jana), "to": []string{vocab.Public}})
		unchanged(t)
	})
	t.Run("a neighbour deletes it", func(t *testing.T) {
		send(t, g, "/ap/ortsweberei", map[string]any{"type": "Delete", "object": map[string]any{"id": an.Fediverse.ID, "type": "Tombstone"},
			"to": []string{vocab.Public}})
		unchanged(t)
	})
	t.Run("a neighbour undoes the origin's follow", func(t *testing.T) {
		var followID string
		if err := l.Pool.QueryRow(context.Background(), `SELECT follow_id FROM ap_followers WHERE follower = $1`, p.URL+"/ap/ortsweberei").Scan(&followID); err != nil {
			t.Fatal(err)
		}
		send(t, g, "/ap/ortsweberei", map[string]any{"type": "Undo", "object": map[string]any{"id": followID, "type": "Follow",
			"actor": p.URL + "/ap/ortsweberei", "object": l.URL + "/ap/ortsweberei"}})
		if n := l.Count(`SELECT count(*) FROM ap_followers WHERE follower = $1`, p.URL+"/ap/ortsweberei"); n != 1 {
			t.Fatalf("Plagwitz no longer follows Lindenau")
		}
	})
	t.Run("a neighbour accepts a follow sent elsewhere", func(t *testing.T) {
		followID := l.URL + "/ap/ortsweberei#follows/pending"
		elsewhere := "http://127.0.0.99:9/ap/ortsweberei"
		if _, err := l.Pool.Exec(context.Background(), `
INSERT INTO ap_actors (iri, host, type, inbox, fetched_at) VALUES ($1, '127.0.0.99:9', 'Group Ortsweberei', $1 || '/inbox', now());
`, elsewhere); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Pool.Exec(context.Background(), `INSERT INTO ap_following (remote, follow_id, created_at) VALUES ($1, $2, now())`,
			elsewhere, followID); err != nil {
			t.Fatal(err)
		}
		send(t, g, "/ap/ortsweberei", map[string]any{"type": "Accept", "object": map[string]any{"id": followID, "type": "Follow",
			"actor": l.URL + "/ap/ortsweberei", "object": elsewhere}})
		if n := l.Count(`SELECT count(*) FROM ap_following WHERE follow_id = $1 AND accepted`, followID); n != 0 {
			t.Fatalf("an Accept from Gohlis accepted a follow sent to another server")
		}
	})

	// Plagwitz's own Antrag actor, with a clock far ahead: its state is taken, its date is not.
	t.Run("the origin's state from the future does not shadow the next", func(t *testing.T) {
		path := "/ap/antraege/" + an.ID + "/actor"
		q := forged("")
		q["title"], q["status"], q["outcome"] = "Aus der Zukunft", "offen", nil
		q["yesWeight"], q["noWeight"], q["abstainWeight"] = nil, nil, nil
		send(t, p, path, map[string]any{"type": "Update", "object": q, "to": []string{vocab.Public}})
		var title string
		var updated time.Time
		if err := l.Pool.QueryRow(context.Background(), `SELECT title, source_updated FROM remote_antraege WHERE iri = $1`, an.Fediverse.ID).Scan(&title, &updated); err != nil {
			t.Fatal(err)
		}
		if title != "Aus der Zukunft" || updated.Year() == 2099 {
			t.Fatalf("the origin's Update: %q, updated %s", title, updated)
		}
		// Plagwitz's next genuine change (a withdrawal is an Update) still applies.
		jana.Post("/api/antraege/"+an.ID+"/withdraw", nil).Expect(t, 200)
		waitFor(t, "Lindenau to see the withdrawal", wait, func() bool {
			var view struct{ Title, Status string }
			l.Client().Get("/api/antraege/"+remoteID).Expect(t, 200).JSON(t, &view)
			return view.Status == "zurueckgezogen" && view.Title == "Bücherschrank"
		})
	})

	// Nothing was stored that only a forgery could have brought.
	if n := l.Count(`SELECT count(*) FROM remote_antraege`); n != 1 {
		t.Fatalf("Lindenau keeps %d Anträge, want Plagwitz's one", n)
	}
}
