package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

func types(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		var s []string
		for _, x := range t {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, ",")
	}
	return ""
}

func objectOf(act map[string]any) map[string]any {
	o, _ := act["object"].(map[string]any)
	return o
}

// A Mastodon user follows the Ortsweberei and a single Antrag, and receives what happens to
// it, signed the way Mastodon checks. Replies come back as comments; poll votes of people who
// are not residents are shown and never counted.
func TestMastodonFollowsAndReceives(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience

	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", wait)

	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen am Markt", "details_md": "Wasser **für alle**."})
	announce := peer.WaitFor(t, "Announce", wait)
	if announce["actor"] != inst.URL+"/ap/ortsweberei" || announce["object"] != a.Fediverse.ID {
		t.Fatalf("the Ortsweberei announces the new Antrag: %v", announce)
	}
	// Mastodon fetches the announced Question from its origin; a Create from the Antrag's own
	// actor, whom nobody there follows, it would drop, and none is sent.
	q := mustAP(t, a.Fediverse.ID)
	if !strings.Contains(types(q["type"]), "Question") || q["title"] != "Trinkbrunnen am Markt" || q["name"] != nil || len(q["oneOf"].([]any)) != 3 {
		t.Fatalf("the announced Question: %v", q)
	}
	waitDelivered(t, inst)
	for _, act := range peer.Received() {
		if act["type"] == "Create" {
			t.Fatalf("a follower of the Ortsweberei was sent a Create it drops: %v", act)
		}
	}

	// Follow the single Antrag.
	peer.FollowAccepted(t, ctx, a.Fediverse.Follow, wait)
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	einspruch := peer.WaitFor(t, "Create", wait)
	if o := objectOf(einspruch); !strings.Contains(types(o["type"]), "Einspruch") || o["inReplyTo"] != a.Fediverse.ID || o["reason"] != "Zu teuer" {
		t.Fatalf("Create{Einspruch}: %v", einspruch)
	}
	for {
		up := peer.WaitFor(t, "Update", wait)
		if objectOf(up)["extended"] == true {
			if up["actor"] != a.Fediverse.Follow {
				t.Fatalf("the Antrag's own actor updates its Question: %v", up["actor"])
			}
			break
		}
	}

	// A reply, and a poll vote, from the Fediverse.
	note := map[string]any{
		"id": peer.ActorID() + "/statuses/1", "type": "Note", "attributedTo": peer.ActorID(),
		"inReplyTo": a.Fediverse.ID, "content": `<p onmouseover="alert(0)">Gute Idee!<script>alert(1)</script>` +
			`<a href="javascript:alert(2)" onclick="alert(3)">klick</a><img src="x" onerror="alert(4)">` +
			`<a href="https://example.org/wasser" target="_blank" class="u-url">Mehr</a><style>p{}</style></p>`,
		"published": time.Now().UTC().Format(time.RFC3339), "to": []string{"https://www.w3.org/ns/activitystreams#Public"},
	}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "/statuses/1/activity", "type": "Create", "actor": peer.ActorID(), "object": note}); err != nil {
		t.Fatal(err)
	}
	vote := map[string]any{"id": peer.ActorID() + "#votes/1", "type": "Note", "attributedTo": peer.ActorID(),
		"inReplyTo": a.Fediverse.ID, "name": "Ja", "to": []string{inst.URL + "/ap/antraege/" + a.ID + "/actor"}}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.ActorID() + "#votes/1/activity", "type": "Create", "actor": peer.ActorID(), "object": vote}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Comments []struct {
			ContentHTML string `json:"content_html"`
			AuthorName  string `json:"author_name"`
		} `json:"comments"`
		ForeignVotes map[string]int `json:"foreign_votes"`
	}
	deadline := time.Now().Add(wait)
	for {
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &got)
		if len(got.Comments) == 1 && got.ForeignVotes["yes"] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got.Comments) != 1 {
		t.Fatalf("the reply is a comment: %+v", got.Comments)
	}
	if text := checkSanitised(t, got.Comments[0].ContentHTML); !strings.Contains(text, "Gute Idee!") || !strings.Contains(text, "Mehr") ||
		!strings.Contains(got.Comments[0].ContentHTML, `href="https://example.org/wasser"`) {
		t.Fatalf("the reply's text and its safe link are kept: %s", got.Comments[0].ContentHTML)
	}
	if want := map[string]int{"yes": 1, "no": 0, "abstain": 0}; !maps.Equal(got.ForeignVotes, want) {
		t.Fatalf("the poll vote is counted beside the Antrag: %+v, want %v", got.ForeignVotes, want)
	}

	// Unfollow.
	if err := peer.Unfollow(ctx, a.Fediverse.Follow); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(wait)
	for inst.Count(`SELECT count(*) FROM ap_followers WHERE local LIKE 'antrag:%'`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Undo{Follow} did not remove the follower")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitDelivered(t, inst) // a refusal of anything we sent would be in by now
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Fatalf("the peer refused some of our requests: %+v", rej)
	}
}

// One actor's activities take effect in the order they came, whatever order their jobs run in:
// a changed poll vote is processed after the first one even when the first one's job never
// runs before it.
func TestOneActorsActivitiesInTheOrderTheyCame(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	vote := func(n, name string) string {
		t.Helper()
		return replyTo(t, ctx, peer, inst, a, n, map[string]any{"name": name, "to": []string{a.Fediverse.Follow}})
	}
	jobOf := func(activity string) int64 {
		// A vote is taken under a key that begins with its activity id (inboxKey).
		return int64(inst.Count(`SELECT id FROM river_job WHERE kind = 'federation_inbox'
AND EXISTS (SELECT FROM jsonb_array_elements_text(args->'activity_ids') k WHERE split_part(k, ' ', 1) = $1)`, activity))
	}
	processed := func(ids ...string) bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE split_part(activity_id, ' ', 1) = ANY($1) AND processed_at IS NOT NULL`, ids) == len(ids)
	}
	votes := func() map[string]int {
		var view struct {
			ForeignVotes map[string]int `json:"foreign_votes"`
		}
		inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &view)
		return view.ForeignVotes
	}

	river := inst.Jobs.Client()
	if err := river.QueuePause(ctx, "federation_inbox", nil); err != nil {
		t.Fatal(err)
	}
	// The pause reaches the queue's producer by a notification, a moment later, and until it
	// has, a job may still run at once. A first vote whose job ran is no test of the order:
	// the next pair of votes is sent, until a first vote's job is held back before it ever ran.
	var first, second string
	var j int64 // the first vote's job
	for n := 1; ; n += 2 {
		first, second = vote(strconv.Itoa(n), "Nein"), vote(strconv.Itoa(n+1), "Ja")
		j1, j2 := jobOf(first), jobOf(second)
		if j1 == j2 {
			t.Fatalf("both votes in one job (%d): the test needs two", j1)
		}
		// The first vote's job is held back; only the second's runs.
		if _, err := river.JobCancel(ctx, j1); err != nil {
			t.Fatal(err)
		}
		if inst.Count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'cancelled' AND attempted_at IS NULL`, j1) == 1 {
			j = j1
			break
		}
		if n > 100 {
			t.Fatal("the paused queue still runs jobs")
		}
	}
	if err := river.QueueResume(ctx, "federation_inbox", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both votes to be processed by the second one's job", patience, func() bool { return processed(first, second) })
	want := map[string]int{"yes": 1, "no": 0, "abstain": 0}
	if got := votes(); !maps.Equal(got, want) {
		t.Fatalf("after the second vote's job: %v, want %v (the changed vote)", got, want)
	}
	// The first job, run late, finds its vote done and changes nothing.
	if _, err := river.JobRetry(ctx, j); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first job to finish", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'completed'`, j) == 1
	})
	if got := votes(); !maps.Equal(got, want) {
		t.Fatalf("after the first vote's job ran late: %v, want %v", got, want)
	}
}

// Only replies their authors made public become comments: addressed to as:Public in to
// ("public") or cc ("unlisted"). A followers-only or a direct reply to the Antrag is not shown
// and not stored. Poll votes are shown as numbers per option, never with who voted.
func TestOnlyPublicRepliesBecomeComments(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen"})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	followers := peer.ActorID() + "/followers"

	var sent []string
	send := func(n string, obj map[string]any) {
		t.Helper()
		sent = append(sent, replyTo(t, ctx, peer, inst, a, n, obj))
	}
	send("1", map[string]any{"content": "<p>öffentlich</p>", "to": []string{mastopeer.Public}, "cc": []string{followers}})
	send("2", map[string]any{"content": "<p>ungelistet</p>", "to": []string{followers}, "cc": []string{mastopeer.Public}})
	send("3", map[string]any{"content": "<p>nur für Folgende</p>", "to": []string{followers}, "cc": []string{a.Fediverse.Follow}})
	send("4", map[string]any{"content": "<p>direkt</p>", "to": []string{a.Fediverse.Follow}})
	// Three poll votes, the way Mastodon sends them: addressed to the poll's author only.
	send("5", map[string]any{"name": "Nein", "to": []string{a.Fediverse.Follow}})
	send("6", map[string]any{"name": "Ja", "to": []string{a.Fediverse.Follow}}) // Alice changes her vote
	waitFor(t, "all six to be processed", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM ap_inbox WHERE split_part(activity_id, ' ', 1) = ANY($1) AND processed_at IS NOT NULL`, sent) == len(sent) // a vote's key begins with its id
	})

	res := inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200)
	var view struct {
		Comments []struct {
			ContentHTML string `json:"content_html"`
		} `json:"comments"`
		ForeignVotes map[string]int `json:"foreign_votes"`
	}
	res.JSON(t, &view)
	var texts []string
	for _, c := range view.Comments {
		texts = append(texts, checkSanitised(t, c.ContentHTML))
	}
	if fmt.Sprint(texts) != "[öffentlich ungelistet]" {
		t.Errorf("the comments shown: %q, want the public and the unlisted reply only", texts)
	}
	if n := inst.Count(`SELECT count(*) FROM antrag_kommentare`); n != 2 {
		t.Errorf("%d replies stored, want 2: a followers-only or direct reply is not kept", n)
	}
	if want := map[string]int{"yes": 1, "no": 0, "abstain": 0}; !maps.Equal(view.ForeignVotes, want) {
		t.Errorf("foreign_votes: %v, want %v", view.ForeignVotes, want)
	}
	var raw map[string]json.RawMessage
	res.JSON(t, &raw)
	if strings.Contains(string(raw["foreign_votes"]), peer.Host()) {
		t.Errorf("foreign_votes names the voter: %s", raw["foreign_votes"])
	}

	// The public reply edited to followers-only is no longer shown.
	upd := map[string]any{"@context": mastopeer.ASContext, "id": peer.ActorID() + "/statuses/1#updates/1", "type": "Update", "actor": peer.ActorID(),
		"to": []string{followers}, "object": map[string]any{"id": peer.ActorID() + "/statuses/1", "type": "Note", "attributedTo": peer.ActorID(),
			"inReplyTo": a.Fediverse.ID, "content": "<p>doch nicht öffentlich</p>", "to": []string{followers}}}
	if err := peer.Send(ctx, inst.URL+"/ap/inbox", upd); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reply made non-public to be gone", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM antrag_kommentare`) == 1
	})
}

// A withdrawn Antrag stays: its Question is updated (closed, status zurueckgezogen), not
// deleted, and the outbox says the same as the delivery: an Update.
func TestWithdrawnAntragIsAnUpdate(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience
	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen"})
	peer.FollowAccepted(t, ctx, a.Fediverse.Follow, wait)
	jana.Post("/api/antraege/"+a.ID+"/withdraw", nil).Expect(t, 200)

	up := peer.WaitFor(t, "Update", wait)
	if q := objectOf(up); q["id"] != a.Fediverse.ID || q["status"] != "zurueckgezogen" || q["closed"] == nil || up["actor"] != a.Fediverse.Follow {
		t.Fatalf("the delivered withdrawal: %v", up)
	}
	if q := mustAP(t, a.Fediverse.ID); q["status"] != "zurueckgezogen" {
		t.Fatalf("the withdrawn Antrag as served: %v", q)
	}
	_, pages := walkOutbox(t, a.Fediverse.Follow+"/outbox")
	if len(pages) == 0 || len(pages[0].Items) == 0 {
		t.Fatalf("the Antrag's outbox is empty")
	}
	if latest := pages[0].Items[0]; latest["type"] != "Update" || latest["object"] != a.Fediverse.ID {
		t.Fatalf("the withdrawal in the outbox: %v, want an Update of %s", latest, a.Fediverse.ID)
	}
	waitDelivered(t, inst)
	for _, act := range peer.Received() {
		if act["type"] == "Delete" {
			t.Fatalf("a Delete was delivered: %v", act)
		}
	}
}

// Following a resident brings what the resident does in public: their Einsprüche and Stimmen
// (as posts that link to the signed Stimme), from their own actor, addressed to their
// followers too.
func TestResidentFollowersReceiveTheirDoings(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	const wait = patience
	benIRI := inst.URL + "/ap/users/ben.zwirn"
	peer.FollowAccepted(t, ctx, "ben.zwirn@"+strings.TrimPrefix(inst.URL, "http://"), wait)

	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen"})
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	inst.Advance("14d")
	abstimmungID := abstimmungOf(t, jana, a.ID)
	jana.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)

	// Both, in either order: deliveries to one host run side by side.
	var got []string
	for range 2 {
		act := peer.WaitFor(t, "Create", wait)
		o := objectOf(act)
		cc, _ := json.Marshal(act["cc"])
		if act["actor"] != benIRI || o["attributedTo"] != benIRI || !strings.Contains(string(cc), benIRI+"/followers") {
			t.Fatalf("Ben's Create to his followers: %v", act)
		}
		switch ty := types(o["type"]); {
		case strings.Contains(ty, "Einspruch"):
			got = append(got, "Einspruch")
		case ty == "Note" && o["stimme"] != nil:
			// The Stimme as a post Mastodon shows (the signed Stimme is shaped like a vote
			// in a poll Mastodon does not own): not a reply, with text, to the public.
			content, _ := o["content"].(string)
			if o["inReplyTo"] != nil || o["name"] != nil || !strings.Contains(content, "Trinkbrunnen") || !strings.Contains(content, "Nein") {
				t.Fatalf("Ben's Stimme as a post: %v", o)
			}
			got = append(got, "Stimme")
		default:
			t.Fatalf("a Create of %s to Ben's followers", ty)
		}
	}
	if slices.Sort(got); !slices.Equal(got, []string{"Einspruch", "Stimme"}) {
		t.Fatalf("Ben's followers got %v, want his Einspruch and his Stimme", got)
	}
	// Only Ben's own doings: not Jana's Stimme, not the Antrag and its Updates.
	waitDelivered(t, inst)
	for _, act := range peer.Received() {
		if act["type"] != "Accept" && act["actor"] != benIRI {
			t.Errorf("a follower of Ben got %s by %v", act["type"], act["actor"])
		}
	}
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Fatalf("the peer refused some of our requests: %+v", rej)
	}
}
