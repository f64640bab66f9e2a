package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/testrig/gtspeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// A Mastodon moderator forwards a user's report about one of our residents and an Antrag to
// us, as Mastodon does: a Flag from its instance actor, delivered to our shared inbox (or a
// personal inbox), "object" the account and the posts. Each of our targets becomes one report
// in the queue, source fediverse, the reporter the sending server's actor; what is not ours is
// left out. A Flag naming too many objects is refused, and a blocked domain's are refused as
// everything else it sends.
func TestFlagFromMastodonBecomesReports(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	admin := inst.Admin()
	jana := inst.VerifiedResident("Jana", lat, lon)
	var a antragRef
	jana.Post("/api/antraege", map[string]string{"title": "Gießdienst"}).Expect(t, 201).JSON(t, &a)
	var handle string
	if err := inst.Pool.QueryRow(context.Background(), `SELECT handle FROM accounts WHERE id = $1`, jana.ID).Scan(&handle); err != nil {
		t.Fatal(err)
	}
	janaActor := inst.URL + "/ap/users/" + handle
	masto := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	reports := func() []string {
		rows, err := inst.Pool.Query(ctx, `SELECT target_kind || ' ' || target_id || ' ' || reason FROM moderation_meldungen
WHERE source = 'fediverse' AND reporter_actor = $1 ORDER BY target_kind, created_at`, masto.InstanceActorID())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}

	// The account, its Antrag (by its Question), something of another server and one of ours
	// that is no content: two reports, the comment as their reason.
	if _, err := masto.Report(ctx, inst.URL+"/ap/inbox", []string{janaActor, a.Fediverse.ID, "https://elsewhere.example/users/x",
		inst.URL + "/ap/ortsweberei"}, "Beleidigt <b>andere</b>\u0007 im Antrag."); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two reports", patience, func() bool { return len(reports()) == 2 })
	got := reports()
	want := []string{"account " + jana.ID + " Beleidigt <b>andere</b> im Antrag.", "antrag " + a.ID + " Beleidigt <b>andere</b> im Antrag."}
	if !slices.Equal(got, want) {
		t.Fatalf("reports:\n got %q\nwant %q", got, want)
	}

	// Mastodon names only the account, as a string, when no post is ticked; to the account's
	// own inbox. The Antrag's actor stands for the Antrag.
	if _, err := masto.Report(ctx, a.Fediverse.Follow+"/inbox", []string{a.Fediverse.Follow}, ""); err == nil {
		waitFor(t, "a third report", patience, func() bool { return len(reports()) == 3 })
	} else {
		t.Fatal(err)
	}

	// The queue shows the reporting server, never a local reporter.
	var queue struct {
		Meldungen []struct {
			Source   string          `json:"source"`
			Reporter json.RawMessage `json:"reporter"`
		} `json:"meldungen"`
	}
	admin.Get("/api/admin/meldungen?state=open").Expect(t, 200).JSON(t, &queue)
	if len(queue.Meldungen) != 3 || queue.Meldungen[0].Source != "fediverse" || !strings.Contains(string(queue.Meldungen[0].Reporter), masto.InstanceActorID()) {
		t.Errorf("queue: %+v", queue.Meldungen)
	}

	// Bounds: more than 100 objects is refused at the door (400, not retried), nothing kept.
	many := []string{janaActor}
	for i := range 100 {
		many = append(many, fmt.Sprintf("%s/ap/knoten/%s#%d", inst.URL, uuid.NewString(), i))
	}
	if _, err := masto.Report(ctx, inst.URL+"/ap/inbox", many, "zu viel"); err == nil || !strings.Contains(err.Error(), "flag_too_many_objects") {
		t.Errorf("a Flag with 101 objects: %v", err)
	}
	// A Flag without an object is no report.
	if _, err := masto.Report(ctx, inst.URL+"/ap/inbox", nil, "nichts"); err == nil || !strings.Contains(err.Error(), "flag_without_object") {
		t.Errorf("a Flag without an object: %v", err)
	}

	// A blocked domain's Flags are refused like everything it sends.
	admin.Post("/api/admin/federation/blocks", map[string]string{"domain": masto.Host(), "reason": "Spam"}).Expect(t, http.StatusOK)
	if _, err := masto.Report(ctx, inst.URL+"/ap/inbox", []string{janaActor}, "noch einmal"); err == nil || !strings.Contains(err.Error(), "domain_blocked") {
		t.Errorf("a blocked domain's Flag: %v", err)
	}
	waitDelivered(t, inst)
	if n := len(reports()); n != 3 {
		t.Errorf("%d reports after the refused Flags, want 3", n)
	}
}

// A moderator forwards a report about a Mastodon user's post: the Mastodon server gets a Flag
// it takes (mastopeer checks the signature, the WebFinger round trip and the shape as
// Mastodon does) from our instance actor, naming the account first and then the post, with
// the comment; at its shared inbox.
func TestForwardedReportReachesMastodon(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	masto := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	post := mastodonPost(t, ctx, masto)
	report := uuid.New()
	// As the forward action calls it (instance/moderation's Forward; the API's remote targets
	// are https IRIs, the peer speaks http): in the action's transaction.
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		return inst.Federation.ForwardTx(ctx, tx, report, []string{post}, "Verstößt gegen unsere Hausregeln.")
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the peer to take the report", patience, func() bool { return len(masto.Reports()) == 1 })
	r := masto.Reports()[0]
	if r.Actor != inst.URL+"/ap/instance" || r.Account != masto.ActorID() || !slices.Equal(r.Statuses, []string{post}) ||
		r.Comment != "Verstößt gegen unsere Hausregeln." || !strings.HasPrefix(r.ID, inst.URL+"/") {
		t.Errorf("the report the peer took: %+v", r)
	}
	var flag map[string]any
	for _, act := range masto.Received() {
		if mastopeer.HasType(act, "Flag") {
			flag = act
		}
	}
	if obj, _ := flag["object"].([]any); len(obj) != 2 || obj[0] != masto.ActorID() {
		t.Errorf("the Flag's object: %v", flag["object"])
	}
	if rej := masto.Rejections(); len(rej) != 0 {
		t.Errorf("the peer refused: %+v", rej)
	}
	// The Flag's id is a name, not an address: Mastodon and GoToSocial keep it as the report's
	// uri and never fetch it, and what it carries is for its addressee only. So it answers a
	// plain 404 with a code that says so, the same for every id (signed or not, ours or not).
	for _, u := range []string{r.ID, inst.URL + "/ap/flags/" + uuid.NewString()} {
		got := fetchAP(t, u)
		if got.Status != http.StatusNotFound || !strings.Contains(string(got.Body), `"flag_not_served"`) {
			t.Errorf("GET %s: %d %s", u, got.Status, got.Body)
		}
	}
	// Delivered to the shared inbox, as every delivery to a Mastodon server.
	var inbox string
	waitFor(t, "the delivery recorded", patience, func() bool {
		return inst.Pool.QueryRow(ctx, `SELECT args->'inboxes'->>0 FROM river_job WHERE kind = 'federation_deliver' AND state = 'completed'
ORDER BY id DESC LIMIT 1`).Scan(&inbox) == nil
	})
	if inbox != masto.SharedInboxURL() {
		t.Errorf("delivered to %s, want the shared inbox %s", inbox, masto.SharedInboxURL())
	}
}

// A GoToSocial moderator forwards a report about one of our residents: a Flag from its
// instance account (/users/<host>, its key behind a cut-down actor), to the resident's own
// inbox (GoToSocial delivers to the account's inbox). It becomes one report.
func TestFlagFromGoToSocialBecomesAReport(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.33")
	jana := inst.VerifiedResident("Jana", lat, lon)
	var handle string
	if err := inst.Pool.QueryRow(context.Background(), `SELECT handle FROM accounts WHERE id = $1`, jana.ID).Scan(&handle); err != nil {
		t.Fatal(err)
	}
	janaActor := inst.URL + "/ap/users/" + handle
	peer := gtspeer.Start(t, "127.0.0.34", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	if _, err := peer.Report(ctx, janaActor+"/inbox", []string{janaActor}, "spammt"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the report", patience, func() bool {
		return inst.Count(`SELECT count(*) FROM moderation_meldungen WHERE source = 'fediverse' AND target_kind = 'account'
  AND target_id = $1 AND reporter_actor = $2 AND reason = 'spammt'`, jana.ID, peer.InstanceActorID()) == 1
	})
}

// A resident reports a GoToSocial account, a moderator forwards the report through the API:
// the report is marked forwarded and logged, and GoToSocial takes the Flag (signed by our
// instance actor, at the account's inbox, naming the account).
func TestReportForwardedThroughTheAPI(t *testing.T) {
	t.Parallel()
	inst := startTLS(t, "127.0.0.35")
	admin := inst.Admin()
	jana := inst.VerifiedResident("Jana", lat, lon)
	peer := gtspeer.Start(t, "127.0.0.36", nil)
	var m struct{ ID string }
	jana.Post("/api/meldungen", map[string]string{"target": peer.ActorID(), "reason": "Belästigt uns im Antrag"}).
		Expect(t, http.StatusCreated).JSON(t, &m)
	admin.Post("/api/admin/meldungen/"+m.ID+"/forward", map[string]string{"comment": "Bitte prüfen."}).Expect(t, http.StatusNoContent)
	flag := peer.WaitFor(t, "Flag", patience)
	obj, _ := flag["object"].([]any)
	if mastopeer.IDOf(flag["actor"]) != inst.URL+"/ap/instance" || len(obj) != 1 || obj[0] != peer.ActorID() || flag["content"] != "Bitte prüfen." {
		t.Errorf("the Flag: %v", flag)
	}
	for _, d := range peer.Drops() {
		if d.Type == "Flag" {
			t.Errorf("GoToSocial dropped the Flag: %s", d.Reason)
		}
	}
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Errorf("GoToSocial refused: %+v", rej)
	}
	if n := inst.Count(`SELECT count(*) FROM moderation_meldungen WHERE id = $1 AND forwarded_at IS NOT NULL`, m.ID); n != 1 {
		t.Errorf("the report is not marked forwarded")
	}
}

// A resident reports a Mastodon account and one of its posts, and a moderator forwards both
// reports through the API: the test peer speaks plain http, which the instance's dev setting
// (the one that lets federation reach it) makes reportable. Mastodon takes each Flag as a
// report from our domain about its account, the second with the post.
func TestReportAboutMastodonForwardedThroughTheAPI(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	admin := inst.Admin()
	jana := inst.VerifiedResident("Jana", lat, lon)
	masto := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	post := mastodonPost(t, ctx, masto)
	for i, target := range []string{masto.ActorID(), post} {
		var m struct{ ID string }
		jana.Post("/api/meldungen", map[string]string{"target": target, "reason": "Belästigt uns"}).Expect(t, http.StatusCreated).JSON(t, &m)
		admin.Post("/api/admin/meldungen/"+m.ID+"/forward", map[string]string{"comment": "Bitte prüfen."}).Expect(t, http.StatusNoContent)
		waitFor(t, "the peer to take the report", patience, func() bool { return len(masto.Reports()) == i+1 })
		if n := inst.Count(`SELECT count(*) FROM moderation_meldungen WHERE id = $1 AND forwarded_at IS NOT NULL`, m.ID); n != 1 {
			t.Errorf("the report about %s is not marked forwarded", target)
		}
	}
	got := masto.Reports()
	for i, want := range [][]string{nil, {post}} {
		r := got[i]
		if r.Actor != inst.URL+"/ap/instance" || r.Account != masto.ActorID() || !slices.Equal(r.Statuses, want) || r.Comment != "Bitte prüfen." {
			t.Errorf("report %d the peer took: %+v", i, r)
		}
	}
	if rej := masto.Rejections(); len(rej) != 0 {
		t.Errorf("the peer refused: %+v", rej)
	}
}

// mastodonPost publishes a post of the peer's account, the one a report is about, and returns
// its id.
func mastodonPost(t *testing.T, ctx context.Context, masto *mastopeer.Peer) string {
	t.Helper()
	create, err := masto.Publish(ctx, map[string]any{"content": "<p>Etwas Gemeines.</p>"})
	if err != nil {
		t.Fatal(err)
	}
	return mastopeer.IDOf(create["object"])
}
