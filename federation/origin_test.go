package federation_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Only the Antrag's own Ortsweberei speaks for its residents. An actor on another server whose
// document claims to be a verified resident of the origin (its ortsweberei the origin's Group,
// verified: true), with a valid proof and a valid HTTP signature, adds neither a Stimme nor an
// Einspruch to a neighbour's view of the Antrag; nothing of it is stored. The same Stimme by a
// resident of the origin counts.
func TestNeighbourTakesStimmenOnlyFromTheOrigin(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	forger := mastopeer.Start(t, "127.0.0.9")
	const wait = patience
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	federate(t, a, b, wait)
	ada := a.VerifiedResident("Ada", lat, lon)
	ben := a.VerifiedResident("Ben", lat, lon)
	a.VerifiedResident("Cem", lat, lon)
	an := fileAntrag(t, ada, map[string]string{"title": "Brücke", "details_md": "Aus *Holz*."})
	ben.Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	advance("14d", a, b)
	var local struct {
		AbstimmungID string `json:"abstimmung_id"`
	}
	ada.Get("/api/antraege/"+an.ID).Expect(t, 200).JSON(t, &local)
	var abst struct {
		OpensAt time.Time `json:"opens_at"`
	}
	ada.Get("/api/abstimmungen/"+local.AbstimmungID).Expect(t, 200).JSON(t, &abst)
	ada.Post("/api/abstimmungen/"+local.AbstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)

	remoteID := remoteAntrag(t, b, wait)
	type view struct {
		DetailsHTML string `json:"details_html"`
		Einsprueche []struct {
			Author struct{ ID string }
			Reason string
		}
		Votes []remoteVote
		Tally *tallyOut `json:"tally"`
	}
	get := func() view {
		var v view
		b.Client().Get("/api/antraege/"+remoteID).Expect(t, 200).JSON(t, &v)
		return v
	}
	waitFor(t, "the neighbour to verify Ada's Stimme and see Ben's Einspruch", wait, func() bool {
		v := get()
		return len(v.Votes) == 1 && len(v.Einsprueche) == 1
	})
	// The title opens the Question's content for Mastodon; the neighbour keeps the details.
	if v := get(); v.DetailsHTML != "<p>Aus <em>Holz</em>.</p>\n" {
		t.Errorf("the neighbour's details: %q", v.DetailsHTML)
	}

	// Mallory lives on another server and claims to be a verified resident of Lindenau.
	mallory := forger.BaseURL() + "/users/mallory"
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	forger.PutDocument("/users/mallory", map[string]any{
		"@context": vocab.Context, "id": mallory, "type": []string{"Person", "Garnrolle"}, "preferredUsername": "mallory", "name": "Mallory",
		"inbox": mallory + "/inbox", "outbox": mallory + "/outbox", "followers": mallory + "/followers",
		"publicKey": map[string]any{"id": mallory + "#main-key", "owner": mallory,
			"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		"assertionMethod": []any{map[string]any{"id": mallory + "#ed25519-key", "type": "Multikey", "controller": mallory,
			"publicKeyMultibase": proof.EncodeMultikey(edPub)}},
		"ortsweberei": a.URL + "/ap/ortsweberei", "verified": true,
	})
	at := abst.OpensAt.Add(time.Hour).UTC()
	signedStimme := func(t *testing.T, id, voter string, key ed25519.PrivateKey) json.RawMessage {
		t.Helper()
		obj := &vocab.Stimme{Context: vocab.Context, ID: id, Type: []string{"Note", "Stimme"}, AttributedTo: voter,
			InReplyTo: an.Fediverse.ID, Antrag: an.Fediverse.ID, Abstimmung: a.URL + "/ap/abstimmungen/" + local.AbstimmungID,
			Name: "Nein", Choice: "no", Published: at, To: []string{vocab.Public}}
		doc, _ := json.Marshal(obj)
		signed, err := proof.Sign(doc, key, voter+"#ed25519-key", at)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	processed := func(t *testing.T, activityID string) {
		t.Helper()
		waitFor(t, "b to process "+activityID, wait, func() bool {
			return b.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, activityID) == 1
		})
	}
	before := map[string]int{"remote_stimmen": b.Count(`SELECT count(*) FROM remote_stimmen`), "remote_einsprueche": b.Count(`SELECT count(*) FROM remote_einsprueche`)}
	for _, act := range []map[string]any{
		{"@context": vocab.Context, "id": mallory + "/activities/1", "type": "Create", "actor": mallory, "to": []string{vocab.Public},
			"object": signedStimme(t, mallory+"/stimmen/1", mallory, edKey)},
		{"@context": vocab.Context, "id": mallory + "/activities/2", "type": "Create", "actor": mallory, "to": []string{vocab.Public},
			"object": map[string]any{"id": mallory + "/einsprueche/1", "type": []string{"Note", "Einspruch"}, "attributedTo": mallory,
				"inReplyTo": an.Fediverse.ID, "antrag": an.Fediverse.ID, "content": "<p>Gefälscht</p>", "reason": "Gefälscht",
				"published": at.Format(time.RFC3339), "to": []string{vocab.Public}}},
	} {
		body, _ := json.Marshal(act)
		code, res, err := forger.Deliver(ctx, b.URL+"/ap/inbox", body, mastopeer.SignOptions{KeyID: mallory + "#main-key", Key: rsaKey})
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("Mallory's delivery: %d %s %v", code, res, err)
		}
		processed(t, act["id"].(string))
	}
	v := get()
	for _, x := range v.Votes {
		if x.Voter.ID == mallory {
			t.Errorf("a Stimme from another server counts on the neighbour: %+v", v.Votes)
		}
	}
	for _, e := range v.Einsprueche {
		if e.Author.ID == mallory {
			t.Errorf("an Einspruch from another server is shown on the neighbour: %+v", v.Einsprueche)
		}
	}
	if len(v.Votes) != 1 || *v.Tally != (tallyOut{1, 0, 0}) || len(v.Einsprueche) != 1 {
		t.Fatalf("the neighbour's view after Mallory's forgeries: %+v", v)
	}
	after := map[string]int{"remote_stimmen": b.Count(`SELECT count(*) FROM remote_stimmen`), "remote_einsprueche": b.Count(`SELECT count(*) FROM remote_einsprueche`)}
	if !maps.Equal(before, after) {
		t.Fatalf("the forgeries stored something: %v → %v", before, after)
	}

	// The same Stimme, by a resident of Lindenau sent from Lindenau, counts: the refusal was
	// about where Mallory's actor lives.
	cem := a.URL + "/ap/users/cem"
	mustAP(t, cem)
	k := keysOf(t, a, "/ap/users/cem")
	act := map[string]any{"@context": vocab.Context, "id": a.URL + "/ap/activities/cem-1", "type": "Create", "actor": cem,
		"to": []string{vocab.Public}, "object": signedStimme(t, a.URL+"/ap/stimmen/cem-1", cem, k.ed)}
	if code, body := postSigned(t, b.URL+"/ap/inbox", cem, k, act); code != http.StatusAccepted {
		t.Fatalf("Cem's Stimme: %d %s", code, body)
	}
	processed(t, act["id"].(string))
	if v := get(); len(v.Votes) != 2 || *v.Tally != (tallyOut{1, 1, 0}) {
		t.Fatalf("Cem's Stimme from Lindenau: %+v", v)
	}
}
