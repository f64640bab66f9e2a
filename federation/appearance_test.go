package federation_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/gtspeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// servedOver fetches an ActivityPub document of an instance served over https.
func servedOver(t *testing.T, inst *instancetest.Instance, url string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/activity+json")
	res, err := inst.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &m) != nil {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return m
}

func timeOf(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not a time: %v", v)
	}
	return at
}

// A GoToSocial user following the Ortsweberei sees a new Antrag as an ordinary post: its title
// in the text, no content warning, not "edited"; its actor under a name she recognises, not
// "antrag: …"; a count that moves leaves it unedited, and once decided its text says how it
// ended, with the counts.
func TestGoToSocialShowsAnAntragAsAPost(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.41")
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	cem := inst.VerifiedResident("Cem Faden", lat, lon)
	peer := gtspeer.Start(t, "127.0.0.42", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)

	const title = "Bank am Markt"
	a := fileAntrag(t, jana, map[string]string{"title": title, "details_md": "Eine Bank aus **Eiche**."})
	st := peer.WaitStatus(t, a.Fediverse.ID, patience, func(s gtspeer.Status) bool { return s.Poll != nil })
	if st.ContentWarning != "" {
		t.Errorf("the Antrag sits behind the content warning %q", st.ContentWarning)
	}
	if !strings.Contains(st.Content, title) || !strings.Contains(st.Content, "Eiche") {
		t.Errorf("the Antrag's text %q lacks its title or details", st.Content)
	}
	if st.Edited {
		t.Errorf("a new Antrag shows as edited")
	}
	name, err := peer.DisplayName(ctx, a.Fediverse.Follow)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Antrag «" + title + "»"; name != want {
		t.Errorf("the Antrag's actor is shown as %q, want %q", name, want)
	}

	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber ein Baum"}).Expect(t, 201)
	inst.Advance("14d")
	abstimmungID := abstimmungOf(t, jana, a.ID)
	opened := servedOver(t, inst, a.Fediverse.ID)
	if up, at := timeOf(t, opened["updated"]), timeOf(t, opened["opensAt"]); !up.Equal(at) {
		t.Errorf("the opened vote's Question is updated %s, the vote opened %s", up, at)
	}
	// Stimmen move the count, an hour later: that is no edit.
	inst.Advance("1h")
	jana.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	cem.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)
	peer.WaitStatus(t, a.Fediverse.ID, patience, func(s gtspeer.Status) bool {
		return s.Poll != nil && len(s.Poll.Options) == 3 && s.Poll.Options[0].Count == 2 && s.Poll.Options[1].Count == 1
	})
	if counted := servedOver(t, inst, a.Fediverse.ID); counted["updated"] != opened["updated"] {
		t.Errorf("three Stimmen moved updated from %v to %v", opened["updated"], counted["updated"])
	}

	inst.Advance("168h")
	st = peer.WaitStatus(t, a.Fediverse.ID, patience, func(s gtspeer.Status) bool { return s.Poll != nil && s.Poll.Closed != nil })
	for _, want := range []string{"Angenommen", "Ja: 2, Nein: 1, Enthaltung: 0", title} {
		if !strings.Contains(st.Content, want) {
			t.Errorf("the decided Antrag's text %q does not say %q", st.Content, want)
		}
	}
	if st.ContentWarning != "" || !st.Edited {
		t.Errorf("the decided Antrag: content warning %q, edited %v", st.ContentWarning, st.Edited)
	}
	decided := servedOver(t, inst, a.Fediverse.ID)
	if up := timeOf(t, decided["updated"]); !up.Equal(*st.Poll.Closed) || up.Before(timeOf(t, decided["published"])) {
		t.Errorf("the decided Question is updated %s, closed %s, published %v", up, st.Poll.Closed, decided["published"])
	}
	// What she is sent about the Antrag is taken: its Updates are not malformed, and no Stimme
	// arrives shaped as a vote on a poll her server does not own. (Creates from actors she
	// does not follow are dropped as not relevant; which ones are sent is delivery's matter.)
	waitDelivered(t, inst)
	for _, d := range peer.Drops() {
		if d.Type == "Update" || strings.Contains(d.Reason, "poll") || strings.Contains(d.Reason, "malformed") {
			t.Errorf("vera's server dropped %s %s: %s", d.Type, d.ActivityID, d.Reason)
		}
	}
	if r := peer.Rejections(); len(r) != 0 {
		t.Errorf("vera's server refused our requests: %+v", r)
	}
}

// A GoToSocial user following a resident sees the resident's Stimme as a post that names the
// Antrag and the choice and links to the signed Stimme, which verifies: not a poll vote her
// server drops.
func TestGoToSocialShowsAResidentsStimme(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.43")
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	peer := gtspeer.Start(t, "127.0.0.44", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	benIRI := inst.URL + "/ap/users/ben.zwirn"
	follow, err := peer.Follow(ctx, benIRI)
	if err != nil {
		t.Fatalf("vera follows Ben: %v", err)
	}
	peer.WaitAccepted(t, follow, patience)

	a := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen am Markt"})
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zu teuer"}).Expect(t, 201)
	inst.Advance("14d")
	abstimmungID := abstimmungOf(t, jana, a.ID)
	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)
	waitDelivered(t, inst)

	var shown []gtspeer.Status
	for _, r := range peer.Received() {
		if r.Activity["type"] != "Create" || r.Signer != benIRI {
			continue
		}
		if s, ok := peer.Status(objectOf(r.Activity)["id"].(string)); ok {
			shown = append(shown, s)
		}
	}
	if d := peer.Drops(); len(d) != 0 {
		t.Errorf("vera's server dropped what Ben did: %+v", d)
	}
	var post *gtspeer.Status
	for i, s := range shown {
		if strings.Contains(s.Content, "Trinkbrunnen am Markt") && strings.Contains(s.Content, "Nein") {
			post = &shown[i]
		}
	}
	if post == nil {
		t.Fatalf("vera is not shown Ben's Stimme; she is shown %+v", shown)
	}
	if post.ContentWarning != "" || post.Edited || post.Poll != nil {
		t.Errorf("Ben's Stimme as shown: %+v", post)
	}
	note := servedOver(t, inst, post.URI)
	stimme := servedOver(t, inst, note["stimme"].(string))
	if stimme["attributedTo"] != benIRI || stimme["choice"] != "no" || stimme["proof"] == nil {
		t.Fatalf("the signed Stimme the post links to: %v", stimme)
	}
	if !strings.Contains(post.Content, note["stimme"].(string)) {
		t.Errorf("the post %q does not link to the signed Stimme", post.Content)
	}
}

// The same Antrag as Mastodon shows it to someone following it: its title in the text, no
// content warning, not edited when fetched an hour later; Stimmen move the poll without an
// edit; and once decided, the Update's text says how it ended, newer than any edit before.
func TestMastodonShowsAnAntragAsAPost(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	cem := inst.VerifiedResident("Cem Faden", lat, lon)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	const title = "Bank am Markt"
	a := fileAntrag(t, jana, map[string]string{"title": title})
	peer.FollowAccepted(t, ctx, a.Fediverse.Follow, patience)
	inst.Advance("1h")
	st := mastopeer.NewStatus(mustAP(t, a.Fediverse.ID))
	if st.SpoilerText != "" || !strings.Contains(st.Text, title) || st.EditedAt != nil {
		t.Errorf("the new Antrag as Mastodon shows it: %+v", st)
	}

	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber ein Baum"}).Expect(t, 201)
	inst.Advance("14d")
	abstimmungID := abstimmungOf(t, jana, a.ID)
	inst.Advance("1h")
	jana.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	cem.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	ben.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, 200)
	inst.Advance("168h")
	waitFor(t, "the closing Update", patience, func() bool {
		for _, act := range peer.Received() {
			if act["type"] == "Update" && objectOf(act)["id"] == a.Fediverse.ID && objectOf(act)["closed"] != nil {
				return true
			}
		}
		return false
	})
	waitDelivered(t, inst)
	var opensAt, closesAt time.Time
	for _, act := range peer.Received() {
		if act["type"] != "Update" || objectOf(act)["id"] != a.Fediverse.ID {
			continue
		}
		q := objectOf(act)
		st.Update(q)
		if q["opensAt"] != nil {
			opensAt, closesAt = timeOf(t, q["opensAt"]), timeOf(t, q["closesAt"])
		}
		// While the vote runs, the Stimmen move the count and nothing else: each such document
		// says it was last changed when the vote opened. (Its own updated, not the post's
		// edited time after it: deliveries may arrive out of order, and Mastodon keeps the
		// newer state, as st does.)
		if q["closed"] == nil && q["opensAt"] != nil && (q["updated"] == nil || !timeOf(t, q["updated"]).Equal(opensAt)) {
			t.Errorf("during the vote the Antrag is updated %v, the vote opened %s", q["updated"], opensAt)
		}
	}
	if st.Counts["Ja"] != 2 || st.Counts["Nein"] != 1 {
		t.Errorf("the poll's counts: %v", st.Counts)
	}
	for _, want := range []string{title, "Angenommen", "Ja: 2, Nein: 1, Enthaltung: 0"} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("the decided Antrag's text %q does not say %q", st.Text, want)
		}
	}
	if st.SpoilerText != "" || st.EditedAt == nil || !st.EditedAt.Equal(closesAt) {
		t.Errorf("the decided Antrag: content warning %q, edited %v (the vote closed %s)", st.SpoilerText, st.EditedAt, closesAt)
	}
}

// Delivery reads an Antrag, then its Abstimmung. When the vote closes between the two reads (a
// Stimme's Update being built as the close commits), the Question must not say "closed" at the
// close's time without the outcome: Mastodon takes the first document with that `updated` and
// ignores the close's own Update (not newer), so its post would never say how the vote ended.
func TestAQuestionReadAcrossTheCloseIsWhole(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	a := fileAntrag(t, jana, map[string]string{"title": "Bank am Markt"})
	ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Lieber ein Baum"}).Expect(t, 201)
	inst.Advance("14d")
	abst := abstimmungOf(t, jana, a.ID)
	jana.Post("/api/abstimmungen/"+abst+"/vote", map[string]string{"choice": "yes"}).Expect(t, 200)
	ctx := context.Background()
	stale, err := inst.Antraege.Get(ctx, uuid.MustParse(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	inst.Advance("8d") // the vote closes: Abstimmung closed and Antrag decided in one transaction

	q, err := federation.AntragDocument(ctx, inst.Federation, stale)
	if err != nil {
		t.Fatal(err)
	}
	if q.Closed == nil || q.Status != "angenommen" || !strings.Contains(q.Content, "Angenommen") {
		t.Errorf("the Question built from the Antrag read before the close: closed %v, status %q, content %q", q.Closed, q.Status, q.Content)
	}
}
