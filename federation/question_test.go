package federation_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// pollCounts reads a Question the way Mastodon shows it: the option totals by name, the
// number of voters, the end, and whether it is closed.
type pollCounts struct {
	Totals  map[string]int
	Voters  int
	EndTime string
	Closed  bool
}

func pollOf(t *testing.T, q map[string]any) pollCounts {
	t.Helper()
	p := pollCounts{Totals: map[string]int{}}
	opts, _ := q["oneOf"].([]any)
	for _, o := range opts {
		m, _ := o.(map[string]any)
		replies, _ := m["replies"].(map[string]any)
		n, _ := replies["totalItems"].(float64)
		p.Totals[fmt.Sprint(m["name"])] = int(n)
	}
	v, _ := q["votersCount"].(float64)
	p.Voters = int(v)
	p.EndTime, _ = q["endTime"].(string)
	_, p.Closed = q["closed"]
	return p
}

type abstimmungView struct {
	Status   string    `json:"status"`
	ClosesAt time.Time `json:"closes_at"`
	Result   *string   `json:"result"`
	Votes    []struct {
		Name   string `json:"name"`
		Choice string `json:"choice"`
	} `json:"votes"`
	Tally struct{ Yes, No, Abstain, Turnout int } `json:"tally"`
}

// The Antrag's Question carries the live count of the residents' Stimmen (option totals,
// votersCount), ends when the Abstimmung closes and says closed afterwards, both as served and
// as delivered. A Mastodon user's poll vote on it is shown beside the Antrag and never counts.
func TestQuestionCountsOnlyResidents(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	cem := inst.VerifiedResident("Cem Faden", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience

	a := fileAntrag(t, jana, map[string]string{"title": "Bank am Brunnen"})
	peer.FollowAccepted(t, ctx, a.Fediverse.Follow, wait)
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber ein Baum"}).Expect(t, 201)
	inst.Advance("14d")
	abstimmungID := abstimmungOf(t, jana, a.ID)
	var v abstimmungView
	inst.Client().Get("/api/abstimmungen/"+abstimmungID).Expect(t, 200).JSON(t, &v)
	closesAt := v.ClosesAt.UTC().Format(time.RFC3339Nano)

	// latestUpdate waits for a delivered Update(Question) whose poll satisfies ok.
	latestUpdate := func(what string, ok func(pollCounts) bool) pollCounts {
		t.Helper()
		var got pollCounts
		waitFor(t, what, wait, func() bool {
			for _, act := range peer.Received() {
				if act["type"] == "Update" && objectOf(act)["id"] == a.Fediverse.ID {
					if p := pollOf(t, objectOf(act)); ok(p) {
						got = p
						return true
					}
				}
			}
			return false
		})
		return got
	}
	sameTime := func(a, b string) bool {
		ta, err1 := time.Parse(time.RFC3339Nano, a)
		tb, err2 := time.Parse(time.RFC3339Nano, b)
		return err1 == nil && err2 == nil && ta.Equal(tb)
	}

	open := pollOf(t, mustAP(t, a.Fediverse.ID))
	if open.Voters != 0 || open.Totals["Ja"]+open.Totals["Nein"]+open.Totals["Enthaltung"] != 0 || open.Closed || !sameTime(open.EndTime, closesAt) {
		t.Fatalf("the open Question before any Stimme: %+v (closes %s)", open, closesAt)
	}

	jana.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	cem.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)
	want := pollCounts{Totals: map[string]int{"Ja": 1, "Nein": 1, "Enthaltung": 0}, Voters: 2, EndTime: open.EndTime}
	if got := pollOf(t, mustAP(t, a.Fediverse.ID)); !reflect.DeepEqual(got, want) {
		t.Fatalf("served after two Stimmen: %+v, want %+v", got, want)
	}
	latestUpdate("an Update(Question) with both Stimmen", func(p pollCounts) bool { return reflect.DeepEqual(p, want) })

	var before abstimmungView
	inst.Client().Get("/api/abstimmungen/"+abstimmungID).Expect(t, 200).JSON(t, &before)

	// Alice on Mastodon answers the poll, the way Mastodon sends a vote.
	vote := map[string]any{"id": peer.ActorID() + "#votes/1", "type": "Note", "attributedTo": peer.ActorID(),
		"inReplyTo": a.Fediverse.ID, "name": "Ja", "to": []string{a.Fediverse.Follow}}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "#votes/1/activity", "type": "Create", "actor": peer.ActorID(), "object": vote}); err != nil {
		t.Fatal(err)
	}
	var shown struct {
		ForeignVotes map[string]int `json:"foreign_votes"`
	}
	waitFor(t, "the poll vote to be shown", wait, func() bool {
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &shown)
		return shown.ForeignVotes["yes"] == 1
	})
	if want := map[string]int{"yes": 1, "no": 0, "abstain": 0}; !reflect.DeepEqual(shown.ForeignVotes, want) {
		t.Fatalf("the poll vote as shown: %+v, want %v", shown.ForeignVotes, want)
	}
	var after abstimmungView
	inst.Client().Get("/api/abstimmungen/"+abstimmungID).Expect(t, 200).JSON(t, &after)
	if !reflect.DeepEqual(after.Tally, before.Tally) || !reflect.DeepEqual(after.Votes, before.Votes) || after.Tally.Turnout != 2 {
		t.Fatalf("a non-resident's poll vote changed the Abstimmung: %+v → %+v", before, after)
	}
	if got := pollOf(t, mustAP(t, a.Fediverse.ID)); !reflect.DeepEqual(got, want) {
		t.Fatalf("a non-resident's poll vote changed the Question: %+v, want %+v", got, want)
	}

	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "abstain"}).Expect(t, 200)
	want = pollCounts{Totals: map[string]int{"Ja": 1, "Nein": 1, "Enthaltung": 1}, Voters: 3, EndTime: open.EndTime}
	latestUpdate("an Update(Question) with three Stimmen and Alice's not among them", func(p pollCounts) bool { return reflect.DeepEqual(p, want) })

	inst.Advance("168h")
	var final abstimmungView
	inst.Client().Get("/api/abstimmungen/"+abstimmungID).Expect(t, 200).JSON(t, &final)
	if final.Status != "geschlossen" || final.Result == nil {
		t.Fatalf("the Abstimmung after a week: %+v", final)
	}
	want.Closed = true
	served := mustAP(t, a.Fediverse.ID)
	if got := pollOf(t, served); !reflect.DeepEqual(got, want) || served["outcome"] != *final.Result {
		t.Fatalf("the closed Question: %+v outcome %v, want %+v %s", got, served["outcome"], want, *final.Result)
	}
	closed, _ := served["closed"].(string)
	if !sameTime(closed, closesAt) {
		t.Errorf("closed at %s, the Abstimmung closes at %s", closed, closesAt)
	}
	latestUpdate("the closing Update(Question)", func(p pollCounts) bool { return reflect.DeepEqual(p, want) })
}

// Mastodon shows an Antrag's Question by its content (never its name) and computes each
// option's percentage as its total over votersCount. So the content opens with the title (the
// Question has no name: GoToSocial would show it as a content warning), and
// votersCount is the number of residents whose weight counted: with a delegation the weighted
// totals still add up to it, and the percentages to 100 %. A delegation that takes effect
// while the Abstimmung is open moves the count, and its followers get an Update(Question).
func TestQuestionAsMastodonShowsIt(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	cem := inst.VerifiedResident("Cem Faden", lat, lon)
	dan := inst.VerifiedResident("Dan Spule", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience

	const title = `Bänke & <Bäume> für den "Platz"`
	a := fileAntrag(t, jana, map[string]string{"title": title, "details_md": "Zwei **Bänke**."})
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber ein Baum"}).Expect(t, 201)
	peer.FollowAccepted(t, ctx, a.Fediverse.Follow, wait)
	inst.Advance("14d")
	abstimmungID := abstimmungOf(t, jana, a.ID)
	cem.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	jana.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)

	q := mustAP(t, a.Fediverse.ID)
	wantContent := "<p><strong>Bänke &amp; &lt;Bäume&gt; für den &#34;Platz&#34;</strong></p>\n<p>Zwei <strong>Bänke</strong>.</p>"
	if content, _ := q["content"].(string); strings.TrimSpace(content) != wantContent || q["title"] != title || q["name"] != nil {
		t.Fatalf("the Question's content %q, title %q and name %v, want content %q, title %q and no name", q["content"], q["title"], q["name"], wantContent, title)
	}

	before := pollCounts{Totals: map[string]int{"Ja": 1, "Nein": 1, "Enthaltung": 0}, Voters: 2, EndTime: pollOf(t, q).EndTime}
	waitFor(t, "the Update(Question) after both Stimmen", wait, func() bool {
		for _, act := range peer.Received() {
			if act["type"] == "Update" && objectOf(act)["id"] == a.Fediverse.ID && reflect.DeepEqual(pollOf(t, objectOf(act)), before) {
				return true
			}
		}
		return false
	})

	// Dan delegates to Cem during the vote; the next daily batch makes it effective.
	dan.Post("/api/delegationen", map[string]string{"to_account_id": cem.ID}).Expect(t, 201)
	inst.Advance("24h")
	want := pollCounts{Totals: map[string]int{"Ja": 2, "Nein": 1, "Enthaltung": 0}, Voters: 3, EndTime: pollOf(t, q).EndTime}
	var tally abstimmungView
	inst.Client().Get("/api/abstimmungen/"+abstimmungID).Expect(t, 200).JSON(t, &tally)
	if tally.Tally.Yes != 2 || tally.Tally.No != 1 || tally.Tally.Turnout != 3 {
		t.Fatalf("the count with Dan's delegation: %+v", tally.Tally)
	}
	if got := pollOf(t, mustAP(t, a.Fediverse.ID)); !reflect.DeepEqual(got, want) {
		t.Fatalf("the served Question: %+v, want %+v", got, want)
	}
	var delivered pollCounts
	var updateID string
	waitFor(t, "an Update(Question) with Dan's weight", wait, func() bool {
		for _, act := range peer.Received() {
			if act["type"] == "Update" && objectOf(act)["id"] == a.Fediverse.ID {
				if delivered = pollOf(t, objectOf(act)); reflect.DeepEqual(delivered, want) {
					updateID, _ = act["id"].(string)
					return true
				}
			}
		}
		return false
	})
	if up := mustAP(t, updateID); up["type"] != "Update" || objectOf(up)["id"] != a.Fediverse.ID {
		t.Errorf("the Update's id %s serves %v", updateID, up)
	}
	// Mastodon's percentages: each option's total over votersCount.
	percent := 0.0
	for _, n := range delivered.Totals {
		percent += 100 * float64(n) / float64(delivered.Voters)
	}
	if percent != 100 {
		t.Errorf("the options add up to %.1f %%", percent)
	}
	waitDelivered(t, inst) // a refusal of anything we sent would be in by now
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Fatalf("the peer refused some of our requests: %+v", rej)
	}
}
