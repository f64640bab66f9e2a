package federation_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// localKeys are a local actor's keys, read from its instance's database: what a test needs to
// speak for a resident the way their own server does.
type localKeys struct {
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
}

func keysOf(t *testing.T, inst *instancetest.Instance, path string) localKeys {
	t.Helper()
	var pemText string
	var seed []byte
	if err := inst.Pool.QueryRow(context.Background(), `SELECT rsa_private_pem, ed25519_seed FROM ap_keys WHERE actor = $1`, path).Scan(&pemText, &seed); err != nil {
		t.Fatalf("keys of %s: %v", path, err)
	}
	block, _ := pem.Decode([]byte(pemText))
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return localKeys{rsa: k, ed: ed25519.NewKeyFromSeed(seed)}
}

// postSigned delivers activity to inbox signed with the actor's key, as its server would.
func postSigned(t *testing.T, inbox, actor string, k localKeys, activity any) (int, string) {
	t.Helper()
	body, err := json.Marshal(activity)
	if err != nil {
		t.Fatal(err)
	}
	return postSignedBody(t, inbox, actor, k, body)
}

// postSignedBody is postSigned for a body given as it is to be sent.
func postSignedBody(t *testing.T, inbox, actor string, k localKeys, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := httpsig.Sign(req, body, actor+"#main-key", k.rsa, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type remoteVote struct {
	Voter struct {
		ID, Name string
	}
	Choice, Object string
}

type remoteView struct {
	Votes []remoteVote
	Tally *tallyOut `json:"tally"`
}

// A neighbour keeps a remote resident's Stimme only if it was cast within the Abstimmung's
// window as the origin announced it; its author's server can delete it again (the recount
// drops it), nobody else can; and blocking the origin's domain leaves nothing of it.
func TestRemoteStimmenWindowDeleteAndBlock(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	const wait = patience
	federate(t, a, b, wait)
	ada := a.VerifiedResident("Ada", lat, lon)
	ben := a.VerifiedResident("Ben", lat, lon)
	a.VerifiedResident("Cem", lat, lon)
	an := fileAntrag(t, ada, map[string]string{"title": "Brücke"})
	ben.Post("/api/antraege/"+an.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	advance("14d", a, b)
	var local struct {
		AbstimmungID string `json:"abstimmung_id"`
	}
	ada.Get("/api/antraege/"+an.ID).Expect(t, 200).JSON(t, &local)
	var abst struct {
		OpensAt  time.Time `json:"opens_at"`
		ClosesAt time.Time `json:"closes_at"`
	}
	ada.Get("/api/abstimmungen/"+local.AbstimmungID).Expect(t, 200).JSON(t, &abst)
	ada.Post("/api/abstimmungen/"+local.AbstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	ben.Post("/api/abstimmungen/"+local.AbstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)

	remoteID := remoteAntrag(t, b, wait)
	view := func() remoteView {
		var v remoteView
		b.Client().Get("/api/antraege/"+remoteID).Expect(t, 200).JSON(t, &v)
		return v
	}
	waitFor(t, "the neighbour to verify both Stimmen", wait, func() bool { return len(view().Votes) == 2 })
	if v := view(); *v.Tally != (tallyOut{1, 1, 0}) {
		t.Fatalf("the neighbour's count: %+v", v)
	}

	// processed waits until b has handled the activity (its inbox job finished).
	processed := func(t *testing.T, activityID string) {
		t.Helper()
		waitFor(t, "b to process "+activityID, wait, func() bool {
			return b.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, activityID) == 1
		})
	}
	// stimme is a Create{Stimme} exactly as a's resident would send it, signed by them.
	stimme := func(t *testing.T, handle, n, choice string, at time.Time) (map[string]any, string, localKeys) {
		t.Helper()
		voter := a.URL + "/ap/users/" + handle
		mustAP(t, voter) // an actor's keys are made when first needed
		k := keysOf(t, a, "/ap/users/"+handle)
		obj := &vocab.Stimme{Context: vocab.Context, ID: a.URL + "/ap/stimmen/forged-" + n, Type: []string{"Note", "Stimme"},
			AttributedTo: voter, InReplyTo: an.Fediverse.ID, Antrag: an.Fediverse.ID, Abstimmung: a.URL + "/ap/abstimmungen/" + local.AbstimmungID,
			Name: vocab.ChoiceNames[choice], Choice: choice, Published: at.UTC(), To: []string{vocab.Public}}
		doc, _ := json.Marshal(obj)
		signed, err := proof.Sign(doc, k.ed, voter+"#ed25519-key", at)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"@context": vocab.Context, "id": a.URL + "/ap/activities/forged-" + n, "type": "Create",
			"actor": voter, "object": json.RawMessage(signed), "to": []string{vocab.Public}}, voter, k
	}
	send := func(t *testing.T, act map[string]any, actor string, k localKeys) {
		t.Helper()
		if code, body := postSigned(t, b.URL+"/ap/inbox", actor, k, act); code != http.StatusAccepted {
			t.Fatalf("%v: %d %s", act["id"], code, body)
		}
		processed(t, act["id"].(string))
	}

	t.Run("outside the window", func(t *testing.T) {
		// Cem, who did not vote, "votes" an hour before the Abstimmung opened; Ada "changes
		// her mind" an hour after it closes. Both signed correctly, both refused.
		act, voter, k := stimme(t, "cem", "early", "no", abst.OpensAt.Add(-time.Hour))
		send(t, act, voter, k)
		act, voter, k = stimme(t, "ada", "late", "no", abst.ClosesAt.Add(time.Hour))
		send(t, act, voter, k)
		if v := view(); len(v.Votes) != 2 || *v.Tally != (tallyOut{1, 1, 0}) {
			t.Fatalf("a Stimme outside the window was taken: %+v", v)
		}
		// Inside the window the same Stimme counts: the refusals were about the time.
		act, voter, k = stimme(t, "cem", "in-time", "no", abst.OpensAt.Add(time.Hour))
		send(t, act, voter, k)
		if v := view(); len(v.Votes) != 3 || *v.Tally != (tallyOut{1, 2, 0}) {
			t.Fatalf("Cem's Stimme in the window: %+v", v)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		var bens string
		for _, v := range view().Votes {
			if v.Voter.Name == "Ben" {
				bens = v.Object
			}
		}
		if bens == "" {
			t.Fatalf("no Stimme of Ben: %+v", view())
		}
		del := func(actor, n string) map[string]any {
			return map[string]any{"@context": vocab.ActivityStreams, "id": actor + "#deletes/" + n, "type": "Delete", "actor": actor,
				"object": map[string]any{"id": bens, "type": "Tombstone"}, "to": []string{vocab.Public}}
		}
		// Ada cannot delete Ben's Stimme.
		adaIRI := a.URL + "/ap/users/ada"
		send(t, del(adaIRI, "1"), adaIRI, keysOf(t, a, "/ap/users/ada"))
		if v := view(); len(v.Votes) != 3 {
			t.Fatalf("someone else's Delete removed Ben's Stimme: %+v", v)
		}
		benIRI := a.URL + "/ap/users/ben"
		send(t, del(benIRI, "2"), benIRI, keysOf(t, a, "/ap/users/ben"))
		v := view()
		if len(v.Votes) != 2 || *v.Tally != (tallyOut{1, 1, 0}) {
			t.Fatalf("after Ben's server deleted his Stimme: %+v", v)
		}
		for _, x := range v.Votes {
			if x.Voter.Name == "Ben" {
				t.Fatalf("Ben's Stimme is still shown: %+v", v)
			}
		}
	})

	// A Stimme counts only as its voter signed it: one whose choice was changed after signing
	// is refused, though its key is found and the voter is a resident.
	t.Run("a proof that no longer matches", func(t *testing.T) {
		a.VerifiedResident("Dan", lat, lon)
		before := view()
		act, voter, k := stimme(t, "dan", "tampered", "no", abst.OpensAt.Add(time.Minute))
		var obj map[string]any
		if err := json.Unmarshal(act["object"].(json.RawMessage), &obj); err != nil {
			t.Fatal(err)
		}
		obj["choice"], obj["name"] = "yes", vocab.ChoiceNames["yes"]
		act["object"] = obj
		send(t, act, voter, k)
		if v := view(); len(v.Votes) != len(before.Votes) || *v.Tally != *before.Tally {
			t.Fatalf("a Stimme changed after signing was taken: %+v, tally %+v", v.Votes, *v.Tally)
		}
		// Signed as sent, Dan's Stimme counts: the refusal was about the proof.
		act, voter, k = stimme(t, "dan", "as-signed", "no", abst.OpensAt.Add(time.Minute))
		send(t, act, voter, k)
		if v := view(); len(v.Votes) != len(before.Votes)+1 || v.Tally.No != before.Tally.No+1 {
			t.Fatalf("Dan's Stimme as signed: %+v, tally %+v", v.Votes, *v.Tally)
		}
	})

	// Only verified residents vote, here as at the origin: a resident of the origin whose
	// actor says verified: false is refused, though everything else about the Stimme holds.
	t.Run("an unverified resident", func(t *testing.T) {
		a.Resident("Udo", lat, lon)
		before := view()
		act, voter, k := stimme(t, "udo", "unverified", "yes", abst.OpensAt.Add(time.Minute))
		send(t, act, voter, k)
		if v := view(); len(v.Votes) != len(before.Votes) || *v.Tally != *before.Tally {
			t.Fatalf("an unverified resident's Stimme was taken: %+v, tally %+v", v.Votes, *v.Tally)
		}
	})

	// A Stimme dated days ahead (in the window, but after it reached us) is refused: taken, it
	// would count as the voter's latest and shadow the Stimme they actually cast next.
	t.Run("a Stimme from the future", func(t *testing.T) {
		choiceOf := func(name string) string {
			for _, v := range view().Votes {
				if v.Voter.Name == name {
					return v.Choice
				}
			}
			return ""
		}
		was := choiceOf("Cem")
		act, voter, k := stimme(t, "cem", "future", "yes", abst.ClosesAt.Add(-time.Minute))
		send(t, act, voter, k)
		if got := choiceOf("Cem"); got != was {
			t.Fatalf("a Stimme dated %s was taken: Cem's choice is %q, was %q", abst.ClosesAt.Add(-time.Minute), got, was)
		}
		act, voter, k = stimme(t, "cem", "next", "abstain", abst.OpensAt.Add(30*time.Minute))
		send(t, act, voter, k)
		if got := choiceOf("Cem"); got != "abstain" {
			t.Fatalf("Cem's next Stimme: his choice is %q", got)
		}
	})

	t.Run("Block", func(t *testing.T) {
		// Nothing of a's is on its way or being processed: what the block removes stays removed.
		waitDelivered(t, a)
		waitInboxIdle(t, b)
		b.Admin().Post("/api/admin/federation/blocks", map[string]string{"domain": "127.0.0.1"}).Expect(t, http.StatusOK)
		b.Client().Get("/api/antraege/"+remoteID).Expect(t, http.StatusNotFound)
		var list struct{ Antraege []struct{ Remote bool } }
		b.Client().Get("/api/antraege").Expect(t, 200).JSON(t, &list)
		if len(list.Antraege) != 0 {
			t.Errorf("the blocked domain's Anträge are listed: %+v", list)
		}
		for _, table := range []string{"remote_antraege", "remote_stimmen", "remote_einsprueche", "ap_actors", "ap_followers", "ap_following"} {
			if n := b.Count(`SELECT count(*) FROM ` + table); n != 0 {
				t.Errorf("%s still holds %d rows from the blocked domain", table, n)
			}
		}
	})
}
