package federation_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/gtspeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
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

	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)

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
	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)
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

// GoToSocial gives every vote of one user on one post the same activity id and starts a new
// poll whenever the Question's endTime changes, which the first Einspruch does: its user then
// votes again, under the same activity id with a new Note id. The changed vote is taken (202)
// and counts instead of the first; the same bytes delivered again (GoToSocial's retry) are
// answered 202 and count nothing twice; a vote cast earlier that reaches us only now does not
// override the later one; option names match as GoToSocial matches them, whatever their case;
// and a vote made after the Antrag closed is not taken.
func TestGoToSocialChangedVote(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.37")
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	peer := gtspeer.Start(t, "127.0.0.38", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)
	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen am Markt"})
	first := peer.WaitStatus(t, a.Fediverse.ID, patience, func(s gtspeer.Status) bool { return s.Poll != nil })
	option := func(st gtspeer.Status, name string) int {
		t.Helper()
		i := slices.IndexFunc(st.Poll.Options, func(o gtspeer.Option) bool { return o.Name == name })
		if i < 0 {
			t.Fatalf("no option %s: %+v", name, st.Poll.Options)
		}
		return i
	}
	votes := func() map[string]int {
		var got shownAntrag
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &got)
		return got.ForeignVotes
	}
	waitVotes := func(what string, want map[string]int) {
		t.Helper()
		waitFor(t, what, patience, func() bool { return maps.Equal(votes(), want) })
	}
	settled := func() {
		t.Helper()
		waitFor(t, "the inbox to be done", patience, func() bool {
			return inst.Count(`SELECT count(*) FROM ap_inbox WHERE processed_at IS NULL AND failed_at IS NULL AND body IS NOT NULL`) == 0
		})
	}

	if err := peer.Vote(ctx, a.Fediverse.ID, option(first, "Ja")); err != nil {
		t.Fatalf("vera votes Ja: %v", err)
	}
	waitVotes("vera's Ja", map[string]int{"yes": 1, "no": 0, "abstain": 0})

	// Ben objects: the deadline moves, and with it the Question's endTime. GoToSocial throws
	// its poll away with vera's vote and makes a new one.
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber ein Baum"}).Expect(t, http.StatusCreated)
	rebuilt := peer.WaitStatus(t, a.Fediverse.ID, patience, func(s gtspeer.Status) bool { return s.Poll != nil && s.Poll.ID != first.Poll.ID })
	if len(rebuilt.Poll.Voted) != 0 {
		t.Fatalf("the rebuilt poll still has vera's vote: %+v", rebuilt.Poll)
	}
	if err := peer.Vote(ctx, a.Fediverse.ID, option(rebuilt, "Nein")); err != nil {
		t.Fatalf("vera votes Nein in the new poll, under the same activity id: %v", err)
	}
	waitVotes("vera's changed vote", map[string]int{"yes": 0, "no": 1, "abstain": 0})

	// GoToSocial retries a delivery with the same bytes.
	voteID := peer.ActorID() + "/activity#vote0/" + a.Fediverse.ID
	if status, body, err := peer.Redeliver(ctx, voteID); err != nil || status != http.StatusAccepted {
		t.Fatalf("the changed vote delivered again: %d %s %v, want 202", status, body, err)
	}
	settled()
	if got, want := votes(), map[string]int{"yes": 0, "no": 1, "abstain": 0}; !maps.Equal(got, want) {
		t.Fatalf("after the redelivery: %v, want %v", got, want)
	}

	// A Ja cast an hour before, in a poll of its own, that reaches us only now: taken, and
	// outdone by the Nein.
	vote := func(name string, published time.Time) error {
		note := map[string]any{"type": "Note", "id": peer.ActorID() + "#" + strconv.FormatInt(published.UnixNano(), 10) + "/votes/0",
			"name": name, "attributedTo": peer.ActorID(), "inReplyTo": a.Fediverse.ID, "to": a.Fediverse.Follow}
		return peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": gtspeer.ASContext, "type": "Create",
			"id": voteID, "actor": peer.ActorID(), "published": published.UTC().Format(time.RFC3339), "to": a.Fediverse.Follow, "object": note})
	}
	if err := vote("Ja", time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("a late delivery of an older vote: %v", err)
	}
	settled()
	if got, want := votes(), map[string]int{"yes": 0, "no": 1, "abstain": 0}; !maps.Equal(got, want) {
		t.Fatalf("an older vote arriving late won: %v, want %v", got, want)
	}

	// GoToSocial matches option names case-insensitively.
	if err := vote("enthaltung", time.Now()); err != nil {
		t.Fatalf("a lower-cased option: %v", err)
	}
	waitVotes("vera's vote for enthaltung", map[string]int{"yes": 0, "no": 0, "abstain": 1})

	// Once the Antrag is decided, GoToSocial still lets its users vote (it never closes a
	// remote poll by itself): such a vote is not taken.
	status := func(want ...string) func() bool {
		return func() bool {
			var st struct{ Status string }
			inst.Client().Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &st)
			return slices.Contains(want, st.Status)
		}
	}
	inst.Advance("15d")
	waitFor(t, "the Abstimmung to open", patience, status("abstimmung"))
	closed := inst.Advance("8d")
	waitFor(t, "the Antrag to be decided", patience, status("angenommen", "abgelehnt"))
	if err := vote("Ja", closed.Add(time.Minute)); err != nil {
		t.Fatalf("a vote after the close: %v", err)
	}
	settled()
	if got, want := votes(), map[string]int{"yes": 0, "no": 0, "abstain": 1}; !maps.Equal(got, want) {
		t.Fatalf("a vote after the close was taken: %v, want %v", got, want)
	}
}
