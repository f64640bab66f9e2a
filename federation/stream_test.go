package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/gtspeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/jsonld"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
	"github.com/weltgewebe/weltgewebe/vocab"
)

const streamSecret = "rtmp-secret-of-the-federation-test"

// liveStream is a stream an admin made, with the ingest key shown once.
type liveStream struct {
	ID        string `json:"id"`
	IngestKey string `json:"ingest_key"`
}

func makeStream(t *testing.T, inst *instancetest.Instance, title string) liveStream {
	t.Helper()
	var s liveStream
	inst.Admin().Post("/api/streams", map[string]any{"title": title}).Expect(t, http.StatusCreated).JSON(t, &s)
	return s
}

// rtmp drives the stream's state as nginx-rtmp does, through its callbacks.
func rtmp(t *testing.T, inst *instancetest.Instance, call string, s liveStream, client string, want int) {
	t.Helper()
	if status, _ := inst.RTMPCallback(t, call, "secret="+url.QueryEscape(streamSecret), s.IngestKey, client); status != want {
		t.Fatalf("%s: %d, want %d", call, status, want)
	}
}

// A Mastodon user follows the Ortsweberei. When a stream goes live, a public post of the
// Ortsweberei with the link to the stream's page arrives (signed as Mastodon checks); a drop and
// a return of the broadcast send nothing more; the end edits the post, as Mastodon shows an
// edit. The post's id answers the post as it stands; the Ortsweberei's outbox holds its Create
// and its Update, and counts what it lists.
func TestStreamPostReachesMastodonFollowers(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", RTMPSecret: streamSecret})
	peer := mastopeer.Start(t, "127.0.0.71")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)
	group := inst.URL + "/ap/ortsweberei"

	s := makeStream(t, inst, "Webrat live <aus dem Saal>")
	noteID, page := inst.URL+"/ap/streams/"+s.ID, inst.URL+"/streams/"+s.ID
	if code, _ := apGet(t, noteID); code != http.StatusNotFound {
		t.Fatalf("a stream not yet live has a post: %d", code)
	}
	rtmp(t, inst, "publish", s, "1", http.StatusFound)

	create := peer.WaitFor(t, "Create", patience)
	note := objectOf(create)
	if create["actor"] != group || note["id"] != noteID || note["type"] != "Note" || note["attributedTo"] != group || note["url"] != page {
		t.Fatalf("the Ortsweberei's Create of its post: %v", create)
	}
	if !strings.Contains(types(create["to"])+types(note["to"]), "https://www.w3.org/ns/activitystreams#Public") ||
		types(note["cc"]) != group+"/followers" || note["name"] != nil || note["summary"] != nil {
		t.Fatalf("the post is public, to the followers, without a content warning: %v", note)
	}
	shown := mastopeer.NewStatus(note)
	if !strings.Contains(shown.Text, `href="`+page+`"`) || !strings.Contains(shown.Text, "«Webrat live &lt;aus dem Saal&gt;»") ||
		!strings.Contains(shown.Text, "live") || shown.EditedAt != nil {
		t.Fatalf("Mastodon shows: %+v", shown)
	}
	if got := mustAP(t, noteID); got["id"] != noteID || got["content"] != note["content"] || got["updated"] != nil {
		t.Fatalf("the post's id answers the post: %v", got)
	}

	// The broadcast drops and comes back, twice: the same assembly, no news.
	for _, client := range []string{"1", "2"} {
		rtmp(t, inst, "publish_done", s, client, http.StatusNoContent)
		rtmp(t, inst, "publish", s, map[string]string{"1": "2", "2": "3"}[client], http.StatusFound)
	}
	// A stream that never went live has no post, and its end sends nothing.
	never := makeStream(t, inst, "Abgesagt")
	inst.Admin().Post("/api/streams/"+never.ID+"/end", nil).Expect(t, http.StatusOK)
	waitDelivered(t, inst)

	inst.Admin().Post("/api/streams/"+s.ID+"/end", nil).Expect(t, http.StatusOK)
	update := peer.WaitFor(t, "Update", patience)
	ended := objectOf(update)
	if update["actor"] != group || ended["id"] != noteID || ended["updated"] == nil || ended["published"] != note["published"] {
		t.Fatalf("the Update of the post: %v", update)
	}
	shown.Update(ended)
	if shown.EditedAt == nil || !strings.Contains(shown.Text, "Beendet") || !strings.Contains(shown.Text, `href="`+page+`"`) {
		t.Fatalf("Mastodon shows after the end: %+v", shown)
	}
	waitDelivered(t, inst)
	var creates, updates int
	for _, act := range peer.Received() {
		switch act["type"] {
		case "Create":
			creates++
		case "Update":
			updates++
		}
	}
	if creates != 1 || updates != 1 {
		t.Fatalf("the follower got %d Creates and %d Updates, want one each: %v", creates, updates, peer.Received())
	}
	if rej := peer.Rejections(); len(rej) != 0 {
		t.Fatalf("the peer refused some of our requests: %+v", rej)
	}
	if got := mustAP(t, noteID); got["content"] != ended["content"] || got["updated"] != ended["updated"] {
		t.Fatalf("the post's id answers it as it stands now: %v", got)
	}

	// The Ortsweberei's outbox: the Create (the post as it was made) and the Update, served at
	// their ids, and nothing for the drops; its total counts what it lists.
	outbox := mustAP(t, group+"/outbox")
	pageDoc := mustAP(t, group+"/outbox?page=true")
	items, _ := pageDoc["orderedItems"].([]any)
	var about []map[string]any
	for _, it := range items {
		act, _ := it.(map[string]any)
		if o := objectOf(act); o != nil && o["id"] == noteID {
			about = append(about, act)
		}
	}
	if len(about) != 2 || about[0]["type"] != "Update" || about[1]["type"] != "Create" || about[1]["id"] != create["id"] ||
		objectOf(about[1])["content"] != note["content"] || objectOf(about[0])["content"] != ended["content"] {
		b, _ := json.Marshal(about)
		t.Fatalf("the outbox about the stream: %s", b)
	}
	if total, _ := outbox["totalItems"].(float64); len(items) < 20 && int(total) != len(items) {
		t.Fatalf("outbox totalItems %v, lists %d", total, len(items))
	}
	for _, act := range about {
		if got := mustAP(t, act["id"].(string)); got["type"] != act["type"] || objectOf(got)["id"] != noteID {
			t.Fatalf("%s answers %v", act["id"], got)
		}
	}
	// What was delivered and what is served expands under our contexts without losing a term.
	used := map[string]bool{}
	_, served := apGet(t, noteID)
	docs := map[string][]byte{"served " + noteID: served}
	for i, act := range []map[string]any{create, update} {
		b, _ := json.Marshal(act)
		docs[fmt.Sprintf("delivered #%d", i)] = b
	}
	for name, b := range docs {
		jsonld.Check(t, name, b, jsonld.Loader(vocab.KnownContext), used)
	}
	for _, key := range []string{"content", "url", "updated", "attributedTo"} {
		if !used[key] {
			t.Errorf("no document carried %q", key)
		}
	}
}

// A GoToSocial user following the Ortsweberei has the post when the stream goes live, and sees
// it edited to say it ended.
func TestStreamPostReachesGoToSocialFollowers(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.72", RTMPSecret: streamSecret, TLS: testca.Shared(t)})
	peer := gtspeer.Start(t, "127.0.0.73", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	peer.FollowAccepted(t, ctx, inst.URL+"/ap/ortsweberei", patience)

	s := makeStream(t, inst, "Webrat live")
	noteID, page := inst.URL+"/ap/streams/"+s.ID, inst.URL+"/streams/"+s.ID
	rtmp(t, inst, "publish", s, "1", http.StatusFound)
	st := peer.WaitStatus(t, noteID, patience, nil)
	if st.AttributedTo != inst.URL+"/ap/ortsweberei" || !strings.Contains(st.Content, page) || st.ContentWarning != "" || st.Edited {
		t.Fatalf("GoToSocial shows: %+v", st)
	}
	inst.Admin().Post("/api/streams/"+s.ID+"/end", nil).Expect(t, http.StatusOK)
	st = peer.WaitStatus(t, noteID, patience, func(s gtspeer.Status) bool { return s.Edited })
	if !strings.Contains(st.Content, "Beendet") || !strings.Contains(st.Content, page) {
		t.Fatalf("GoToSocial shows after the end: %+v", st)
	}
	if drops, rej := peer.Drops(), peer.Rejections(); len(drops) != 0 || len(rej) != 0 {
		t.Fatalf("GoToSocial dropped %+v, refused %+v", drops, rej)
	}
}
