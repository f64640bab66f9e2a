package federation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// patience bounds every wait of these tests for something to happen. It is a safety net only:
// the tests wait for the thing itself (a row, a request, a job's state), never for time to
// pass, and a busy machine may take its time.
const patience = time.Minute

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// antragRef is what a test needs of an Antrag it filed: its id, and its ActivityPub id and the
// actor to follow for it.
type antragRef struct {
	ID        string                      `json:"id"`
	Fediverse struct{ ID, Follow string } `json:"fediverse"`
}

// fileAntrag files an Antrag as the resident c.
func fileAntrag(t *testing.T, c *instancetest.Client, filing any) antragRef {
	t.Helper()
	var a antragRef
	c.Post("/api/antraege", filing).Expect(t, 201).JSON(t, &a)
	return a
}

// replyTo sends, as the peer, a Mastodon-shaped reply to the Antrag (a Note; with a name and no
// content, a poll vote) to inst's shared inbox and returns the activity's id. obj gives the
// Note's addressing and content; n makes its ids.
func replyTo(t *testing.T, ctx context.Context, peer *mastopeer.Peer, inst *instancetest.Instance, a antragRef, n string, obj map[string]any) string {
	t.Helper()
	obj["id"], obj["type"], obj["attributedTo"], obj["inReplyTo"] = peer.ActorID()+"/statuses/"+n, "Note", peer.ActorID(), a.Fediverse.ID
	act := map[string]any{"@context": mastopeer.ASContext, "id": peer.ActorID() + "/statuses/" + n + "/activity", "type": "Create",
		"actor": peer.ActorID(), "to": obj["to"], "cc": obj["cc"], "object": obj}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", act); err != nil {
		t.Fatal(err)
	}
	return act["id"].(string)
}

// federate makes two instances neighbours (a's admin asks) and waits until they follow each other.
func federate(t *testing.T, a, b *instancetest.Instance, timeout time.Duration) {
	t.Helper()
	a.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": b.URL}).Expect(t, http.StatusAccepted)
	waitFor(t, "the two to follow each other", timeout, func() bool {
		return a.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1 && b.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1
	})
}

// advance moves the dev clocks of an origin and its neighbours on by d, the neighbours' first.
// Real Ortswebereien read one time; a neighbour believes no time its origin claims beyond its
// own clock, so a test that moved only the origin's clock would show a neighbour times from
// its future.
func advance(d string, origin *instancetest.Instance, neighbours ...*instancetest.Instance) {
	for _, n := range neighbours {
		n.Advance(d)
	}
	origin.Advance(d)
}

// abstimmungOf returns the id of an Antrag's Abstimmung, once it is open.
func abstimmungOf(t *testing.T, c *instancetest.Client, antragID string) string {
	t.Helper()
	var an struct {
		AbstimmungID string `json:"abstimmung_id"`
	}
	c.Get("/api/antraege/"+antragID).Expect(t, 200).JSON(t, &an)
	if an.AbstimmungID == "" {
		t.Fatalf("Antrag %s has no Abstimmung", antragID)
	}
	return an.AbstimmungID
}

// remoteAntrag waits until inst lists an Antrag of a neighbour and returns its id there.
func remoteAntrag(t *testing.T, inst *instancetest.Instance, timeout time.Duration) string {
	t.Helper()
	var id string
	waitFor(t, "the neighbour to list the Antrag", timeout, func() bool {
		var list struct {
			Antraege []struct {
				ID     string
				Remote bool
			}
		}
		inst.Client().Get("/api/antraege").Expect(t, 200).JSON(t, &list)
		for _, x := range list.Antraege {
			if x.Remote {
				id = x.ID
			}
		}
		return id != ""
	})
	return id
}

type tallyOut struct{ Yes, No, Abstain int }

// Three Ortswebereien on 127.0.0.1, .2 and .3 federate with each other. An Antrag of the first
// is objected to, voted on (with a delegation) and closed there; the other two list it read-only,
// show the Stimmen they verified, and recount the same result.
func TestThreeOrtswebereienFederate(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	c := instancetest.Start(t, instancetest.Options{Host: "127.0.0.3", Name: "Connewitz"})
	const wait = patience

	adminA, adminB := a.Admin(), b.Admin()
	adminA.Post("/api/admin/federation/neighbours", map[string]string{"target": b.URL}).Expect(t, http.StatusAccepted)
	adminA.Post("/api/admin/federation/neighbours", map[string]string{"target": c.URL}).Expect(t, http.StatusAccepted)
	adminB.Post("/api/admin/federation/neighbours", map[string]string{"target": c.URL}).Expect(t, http.StatusAccepted)
	for _, inst := range []*instancetest.Instance{a, b, c} {
		waitFor(t, inst.URL+" to follow and be followed by both neighbours", wait, func() bool {
			return inst.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 2 &&
				inst.Count(`SELECT count(*) FROM ap_followers WHERE local = 'ortsweberei'`) == 2
		})
	}

	ada := a.VerifiedResident("Ada", lat, lon)
	ben := a.VerifiedResident("Ben", lat, lon)
	cem := a.VerifiedResident("Cem", lat, lon)
	dan := a.VerifiedResident("Dan", lat, lon)
	dan.Post("/api/delegationen", map[string]string{"to_account_id": cem.ID}).Expect(t, 201)
	var antrag struct {
		ID        string
		Fediverse struct{ ID string } `json:"fediverse"`
	}
	ada.Post("/api/antraege", map[string]string{"title": "Brücke über die Weiße Elster", "details_md": "Eine *Fußgängerbrücke*."}).Expect(t, 201).JSON(t, &antrag)
	ben.Post("/api/antraege/"+antrag.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)

	remoteID := map[*instancetest.Instance]string{}
	for _, inst := range []*instancetest.Instance{b, c} {
		waitFor(t, inst.URL+" to list the neighbour's Antrag", wait, func() bool {
			var list struct {
				Antraege []struct {
					ID     string
					Remote bool
					Origin string
					Title  string
				}
			}
			inst.Client().Get("/api/antraege").Expect(t, 200).JSON(t, &list)
			for _, x := range list.Antraege {
				if x.Remote && x.Title == "Brücke über die Weiße Elster" && x.Origin == a.URL[len("http://"):] {
					remoteID[inst] = x.ID
					return true
				}
			}
			return false
		})
	}

	advance("14d", a, b, c) // the extended deadline: the Abstimmung opens
	var local struct {
		AbstimmungID string `json:"abstimmung_id"`
	}
	ada.Get("/api/antraege/"+antrag.ID).Expect(t, 200).JSON(t, &local)
	vote := func(c *instancetest.Client, choice string) {
		c.Post("/api/abstimmungen/"+local.AbstimmungID+"/vote", map[string]string{"choice": choice}).Expect(t, 200)
	}
	vote(cem, "yes") // carries Dan's weight
	vote(ada, "no")
	vote(ben, "no")
	vote(ada, "yes") // changes her mind
	advance("7d", a, b, c)

	var closed struct {
		Result string
		Tally  tallyOut
	}
	ada.Get("/api/abstimmungen/"+local.AbstimmungID).Expect(t, 200).JSON(t, &closed)
	if closed.Result != "angenommen" || closed.Tally != (tallyOut{3, 1, 0}) {
		t.Fatalf("the origin's count: %+v", closed)
	}

	for _, inst := range []*instancetest.Instance{b, c} {
		var view struct {
			Remote      bool
			Status      string
			Result      string
			Einsprueche []struct{ Reason string }
			Votes       []struct {
				Voter  struct{ Name string }
				Choice string
			}
			Tally       *tallyOut `json:"tally"`
			OriginTally *tallyOut `json:"origin_tally"`
		}
		var last []byte
		deadline := time.Now().Add(wait)
		for {
			res := inst.Client().Get("/api/antraege/"+remoteID[inst]).Expect(t, 200)
			res.JSON(t, &view)
			last = res.Body
			if view.Status == "angenommen" && view.Tally != nil && view.OriginTally != nil && len(view.Votes) == 3 && *view.Tally == closed.Tally {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not see the close: %s", inst.URL, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !view.Remote || view.Result != "angenommen" || *view.OriginTally != closed.Tally {
			t.Fatalf("%s: %+v", inst.URL, view)
		}
		names := map[string]string{}
		for _, v := range view.Votes {
			names[v.Voter.Name] = v.Choice
		}
		if fmt.Sprint(names) != fmt.Sprint(map[string]string{"Ada": "yes", "Ben": "no", "Cem": "yes"}) {
			t.Fatalf("%s shows the verified Stimmen by name: %v", inst.URL, names)
		}
		if len(view.Einsprueche) != 1 || view.Einsprueche[0].Reason != "Zu teuer" {
			t.Fatalf("%s shows the Einspruch: %+v", inst.URL, view.Einsprueche)
		}
		// Read-only: residents here cannot act on the neighbour's Antrag.
		local := inst.VerifiedResident("Nachbar", lat, lon)
		local.Post("/api/antraege/"+remoteID[inst]+"/einspruch", map[string]string{"reason": "x"}).Expect(t, http.StatusNotFound)
	}
}

// A Follow or Accept is queued in the transaction that records the follow: a transaction
// that rolls back sends nothing, one that commits sends it.
func TestDeliveryQueuedInTheFollowsTransaction(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	fake := startFake(t, "127.0.0.14", func(int, *http.Request) (int, http.Header) { return http.StatusAccepted, nil })
	ctx := context.Background()
	activity := func(n string) vocab.Activity {
		return vocab.Activity{Context: vocab.Context, ID: inst.URL + "/ap/ortsweberei#follows/" + n, Type: "Follow",
			Actor: inst.URL + "/ap/ortsweberei", Object: fake.URL + "/users/f0"}
	}
	errRolledBack := errors.New("the follow could not be recorded")
	err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		if err := federation.EnqueueInTx(ctx, inst.Federation, tx, fake.URL+"/inbox", activity("rolled-back")); err != nil {
			return err
		}
		return errRolledBack
	})
	if !errors.Is(err, errRolledBack) {
		t.Fatal(err)
	}
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		return federation.EnqueueInTx(ctx, inst.Federation, tx, fake.URL+"/inbox", activity("committed"))
	}); err != nil {
		t.Fatal(err)
	}
	// Once every delivery job has made its requests, a Follow that leaked out of the rolled-back
	// transaction would be among them.
	waitDeliveryJobs(t, inst)
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].ActivityID != activity("committed").ID {
		t.Fatalf("requests: %+v", reqs)
	}
}
