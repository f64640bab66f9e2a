package federation_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/gtspeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
)

// startTLS starts an instance served over https with the test CA, the way a GoToSocial server
// has to reach it.
func startTLS(t *testing.T, host string) *instancetest.Instance {
	t.Helper()
	return instancetest.Start(t, instancetest.Options{Host: host, TLS: testca.Shared(t)})
}

// foreignVotesAndComments reads an Antrag as the API shows it.
type shownAntrag struct {
	Comments []struct {
		ContentHTML string `json:"content_html"`
	} `json:"comments"`
	ForeignVotes map[string]int `json:"foreign_votes"`
}

// A GoToSocial user follows the Ortsweberei and is accepted, sees the new Antrag as a boosted
// poll, votes in it and replies to it; the vote is shown (not counted) and the reply is a
// comment. Every one of these deliveries is signed with a keyId that names a /main-key stub
// whose owner sits inside publicKey.
func TestGoToSocialFollowsVotesReplies(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.31")
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	peer := gtspeer.Start(t, "127.0.0.32", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	follow, err := peer.Follow(ctx, inst.URL+"/ap/ortsweberei")
	if err != nil {
		t.Fatalf("vera follows the Ortsweberei: %v", err)
	}
	peer.WaitAccepted(t, follow, patience)

	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen am Markt", "details_md": "Wasser **für alle**."})
	peer.WaitFor(t, "Announce", patience)
	st := peer.WaitStatus(t, a.Fediverse.ID, patience, func(s gtspeer.Status) bool { return s.Poll != nil })
	yes := slices.IndexFunc(st.Poll.Options, func(o gtspeer.Option) bool { return o.Name == "Ja" })
	if yes < 0 {
		t.Fatalf("the poll's options: %+v", st.Poll.Options)
	}
	if err := peer.Vote(ctx, a.Fediverse.ID, yes); err != nil {
		t.Fatalf("vera votes: %v", err)
	}
	if _, err := peer.Reply(ctx, a.Fediverse.ID, "<p>Gute Idee!</p>"); err != nil {
		t.Fatalf("vera replies: %v", err)
	}
	var got shownAntrag
	waitFor(t, "the vote and the reply to be shown", patience, func() bool {
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &got)
		return got.ForeignVotes["yes"] == 1 && len(got.Comments) == 1
	})
	if !strings.Contains(got.Comments[0].ContentHTML, "Gute Idee!") {
		t.Fatalf("the reply: %+v", got.Comments)
	}
	if err := peer.Unfollow(ctx, inst.URL+"/ap/ortsweberei"); err != nil {
		t.Fatalf("vera unfollows: %v", err)
	}
	if r := peer.Rejections(); len(r) != 0 {
		t.Fatalf("the peer refused our requests: %+v", r)
	}
}

// A sender accepted once is not refused when its key document cannot be had: a second process
// of the instance (nothing in its memory) and, later, the stored actor gone stale both know the
// key's id from the actor stored with it, and confirm it from the actor itself.
func TestKnownSenderNeedsNoKeyStub(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.33")
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	peer := gtspeer.Start(t, "127.0.0.34", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	follow, err := peer.Follow(ctx, inst.URL+"/ap/ortsweberei")
	if err != nil {
		t.Fatalf("vera follows the Ortsweberei: %v", err)
	}
	peer.WaitAccepted(t, follow, patience)
	a := fileAntrag(t, jana, map[string]string{"title": "Bank am Teich"})
	peer.WaitStatus(t, a.Fediverse.ID, patience, nil)

	// The keys in memory are gone (a restart, or the hour they are kept), and the key stub is
	// away for a moment: the actor stored with the key's id is enough.
	peer.SetKeyStubDown(true)
	federation.ForgetKeys(inst.Federation)
	if _, err := peer.Reply(ctx, a.Fediverse.ID, "<p>Eins</p>"); err != nil {
		t.Fatalf("a reply while the key stub is away: %v", err)
	}
	// A day later the stored actor is stale: its key is confirmed from the actor document.
	if _, err := inst.Pool.Exec(ctx, `UPDATE ap_actors SET fetched_at = fetched_at - interval '25 hours' WHERE iri = $1`, peer.ActorID()); err != nil {
		t.Fatal(err)
	}
	federation.ForgetKeys(inst.Federation)
	if _, err := peer.Reply(ctx, a.Fediverse.ID, "<p>Zwei</p>"); err != nil {
		t.Fatalf("a reply once the stored actor is stale: %v", err)
	}
	var got shownAntrag
	waitFor(t, "both replies", patience, func() bool {
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &got)
		return len(got.Comments) == 2
	})
}

// A POST to an inbox without a signature is an authentication failure, 401, as Mastodon and
// GoToSocial answer it, whatever its body: the body of an unauthenticated request is not read.
func TestUnsignedInboxPostIs401(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	for _, body := range []string{"", "hello", `{"type":"Follow"}`,
		`{"@context":"https://www.w3.org/ns/activitystreams","id":"https://x.example/1","type":"Follow","actor":"https://x.example/u","object":"` + inst.URL + `/ap/ortsweberei"}`} {
		for _, path := range []string{"/ap/inbox", "/ap/ortsweberei/inbox"} {
			res := inst.Client().DoWith("POST", path, body, "application/activity+json")
			if res.Status != http.StatusUnauthorized || res.ErrorCode() != "signature_missing" {
				t.Errorf("unsigned POST %s %q: %d %s, want 401 signature_missing", path, body, res.Status, res.Body)
			}
		}
	}
}
