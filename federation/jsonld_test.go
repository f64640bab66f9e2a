package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/jsonld"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// A running Ortsweberei with everything that federates in it: Knoten, Fäden (one twisted, one
// expired), a delegation, an Antrag with an Einspruch, its Abstimmung with Stimmen, closed;
// and a Mastodon peer following the Ortsweberei and the Antrag, which has received what was
// delivered.
type federatedWorld struct {
	inst                               *instancetest.Instance
	peer                               *mastopeer.Peer
	antragID, abstimmungID             string
	knotenID, garnID, expiredFadenID   string
	delegationID, einspruchAccount     string
	stimmeEvents, antragGestelltEvents []int64
}

func buildFederatedWorld(t *testing.T) *federatedWorld {
	t.Helper()
	w := &federatedWorld{inst: instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"}), peer: mastopeer.Start(t, "127.0.0.9")}
	inst := w.inst
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	cem := inst.VerifiedResident("Cem Faden", lat, lon)

	w.peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", wait)

	var k struct {
		ID    string `json:"id"`
		Faden struct {
			ID string `json:"id"`
		} `json:"faden"`
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Trinkbrunnen", "description": "Am <Markt>", "lat": 51.0, "lon": lon}).Expect(t, 201).JSON(t, &k)
	w.knotenID, w.expiredFadenID = k.ID, k.Faden.ID
	var garn struct {
		ID string `json:"id"`
	}
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}).Expect(t, 201).JSON(t, &garn)
	ben.Post("/api/faeden/"+garn.ID+"/twist", nil).Expect(t, 200)
	w.garnID = garn.ID
	var d struct {
		ID string `json:"id"`
	}
	cem.Post("/api/delegationen", map[string]string{"to_account_id": ben.ID}).Expect(t, 201).JSON(t, &d)
	w.delegationID = d.ID

	a := fileAntrag(t, jana, map[string]any{"title": "Trinkbrunnen am Markt", "details_md": "Wasser **für alle**.",
		"amount_cents": 45000, "knoten_id": k.ID})
	w.antragID = a.ID
	w.peer.FollowAccepted(t, ctx, a.Fediverse.Follow, wait)
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	w.einspruchAccount = ben.ID

	inst.Advance("14d") // the extended deadline passes: the Abstimmung opens; the delegation is in effect
	abstimmungID := abstimmungOf(t, jana, a.ID)
	w.abstimmungID = abstimmungID
	jana.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)
	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "abstain"}).Expect(t, 200)
	inst.Advance("7d") // it closes

	waitFor(t, "the closed Question to be delivered", wait, func() bool {
		for _, act := range w.peer.Received() {
			if act["type"] == "Update" && objectOf(act)["closed"] != nil {
				return true
			}
		}
		return false
	})
	w.stimmeEvents = eventIDs(t, inst, `type IN ('StimmeAbgegeben', 'StimmeGeaendert')`)
	w.antragGestelltEvents = eventIDs(t, inst, `type = 'AntragGestellt'`)
	if len(w.stimmeEvents) != 3 || len(w.antragGestelltEvents) != 1 {
		t.Fatalf("Stimme events %v, Antrag events %v", w.stimmeEvents, w.antragGestelltEvents)
	}
	return w
}

func eventIDs(t *testing.T, inst *instancetest.Instance, where string) []int64 {
	t.Helper()
	rows, err := inst.Pool.Query(context.Background(), `SELECT id FROM events WHERE `+where+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// Everything the instance serves to the Fediverse and everything it delivered expands, with
// our contexts only, to the IRIs our vocabulary defines: nothing dropped, nothing mapped
// elsewhere. And every activity id it delivered dereferences to that activity.
func TestServedAndDeliveredDocuments(t *testing.T) {
	t.Parallel()
	w := buildFederatedWorld(t)
	u := w.inst.URL

	t.Run("JSONLD", func(t *testing.T) {
		docs := map[string][]byte{} // what a fetch of the URL answered, or what was delivered
		fetch := func(url string) {
			t.Helper()
			if _, done := docs[url]; done {
				return
			}
			code, b := apGet(t, url)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", url, code, b)
			}
			docs[url] = b
		}
		actors := []string{u + "/ap/instance", u + "/ap/ortsweberei", u + "/ap/users/jana.weber", u + "/ap/antraege/" + w.antragID + "/actor"}
		for _, a := range actors {
			fetch(a)
			fetch(a + "/followers")
			fetch(a + "/following")
			// The outbox, each of its pages, and each item's own activity.
			_, pages := walkOutbox(t, a+"/outbox")
			fetch(a + "/outbox")
			for _, p := range pages {
				fetch(p.URL)
				for _, it := range p.Items {
					fetch(it["id"].(string))
				}
			}
		}
		fetch(u + "/ap/knoten/" + w.knotenID)
		fetch(u + "/ap/faeden/" + w.garnID)
		fetch(u + "/ap/antraege/" + w.antragID)
		fetch(u + "/ap/antraege/" + w.antragID + "/einsprueche/" + w.einspruchAccount)
		fetch(u + "/ap/abstimmungen/" + w.abstimmungID)
		fetch(u + "/ap/delegationen/" + w.delegationID)
		for _, id := range w.stimmeEvents {
			fetch(fmt.Sprintf("%s/ap/stimmen/%d", u, id))
			fetch(fmt.Sprintf("%s/ap/activities/%d/update", u, id))
		}
		fetch(fmt.Sprintf("%s/ap/activities/%d/announce", u, w.antragGestelltEvents[0]))
		for i, act := range w.peer.Received() {
			b, _ := json.Marshal(act)
			docs[fmt.Sprintf("delivered #%d %v %v", i, act["type"], act["id"])] = b
		}

		used := map[string]bool{}
		names := make([]string, 0, len(docs))
		for name := range docs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			jsonld.Check(t, name, docs[name], jsonld.Loader(vocab.KnownContext), used)
		}
		// The documents above must really carry what the vocabulary is about, or the check
		// proves little: the poll, the close, the proofs, the places, the delegations.
		for _, key := range []string{"oneOf", "replies", "totalItems", "votersCount", "endTime", "closed", "outcome",
			"yesWeight", "delegations", "delegator", "proof", "proofValue", "verificationMethod", "assertionMethod",
			"publicKeyMultibase", "publicKey", "sharedInbox", "latitude", "longitude", "h3", "permanent", "twisted",
			"fadenType", "knoten", "antrag", "abstimmung", "opensAt", "closesAt", "reason", "choice", "applicant", "title",
			"amountCents", "verified", "orderedItems", "first", "next", "partOf", "inReplyTo", "expiresAt", "effectiveAt"} {
			if !used[key] {
				t.Errorf("no document carried %q", key)
			}
		}
		t.Logf("%d documents checked", len(docs))
	})

	t.Run("DeliveredIDsDereference", func(t *testing.T) {
		received := w.peer.Received()
		checked := map[string]bool{}
		for _, act := range received {
			id, _ := act["id"].(string)
			if strings.Contains(id, "#") {
				// Follow and Accept ids are fragments of their actor (Mastodon does the same):
				// they name an exchange, not a document.
				if act["type"] != "Accept" && act["type"] != "Follow" {
					t.Errorf("%v %s: only Follow and Accept have fragment ids", act["type"], id)
				}
				continue
			}
			if !strings.HasPrefix(id, u+"/ap/activities/") {
				t.Errorf("delivered %v with id %s", act["type"], id)
				continue
			}
			checked[fmt.Sprint(act["type"])] = true
			served := mustAP(t, id)
			if served["id"] != id || served["type"] != act["type"] || served["actor"] != act["actor"] || idOf(served["object"]) != idOf(act["object"]) {
				t.Errorf("%s serves %v %v %v, delivered as %v %v %v", id, served["type"], served["actor"], idOf(served["object"]),
					act["type"], act["actor"], idOf(act["object"]))
			}
		}
		for _, typ := range []string{"Announce", "Create", "Update"} {
			if !checked[typ] {
				t.Errorf("no %s was delivered to check", typ)
			}
		}
		// An id we never minted is not found, not an error.
		if code, _ := apGet(t, u+"/ap/activities/999999999"); code != http.StatusNotFound {
			t.Errorf("an unknown activity: %d", code)
		}
		if code, _ := apGet(t, fmt.Sprintf("%s/ap/activities/%d/update", u, w.antragGestelltEvents[0])); code != http.StatusNotFound {
			t.Errorf("a new Antrag is announced and created, not updated: %d", code)
		}
	})

	t.Run("ExpiredFaden", func(t *testing.T) {
		// Jana's first Faden to the Knoten expired after seven days; Ben's Garn holds it.
		if code, b := apGet(t, u+"/ap/faeden/"+w.expiredFadenID); code != http.StatusGone {
			t.Errorf("an expired Faden: %d %s", code, b)
		}
		if k := mustAP(t, u+"/ap/knoten/"+w.knotenID); k["permanent"] != true || k["latitude"] != 51.0 {
			t.Errorf("the Knoten held by Garn: %v", k)
		}
	})
}

func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["id"].(string)
		return s
	}
	return ""
}
