package federation_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// The activities Mastodon and GoToSocial send (federation/testdata), re-homed onto test peers
// and our instance, delivered signed, and handled: follows accepted, replies shown as comments,
// votes of non-residents shown and not counted, deletes and undos honoured, an ambiguous vote
// refused.
func TestFixturesFromMastodonAndGoToSocial(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana", lat, lon)
	var a struct{ ID string }
	jana.Post("/api/antraege", map[string]string{"title": "Gießdienst"}).Expect(t, 201).JSON(t, &a)
	masto := mastopeer.Start(t, "127.0.0.9")
	gts := mastopeer.Start(t, "127.0.0.10")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	load := func(server, name string, peer *mastopeer.Peer) map[string]any {
		t.Helper()
		b, err := os.ReadFile("testdata/" + server + "/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer(
			"https://mastodon.example/users/anna", peer.ActorID(), "https://gts.example/users/jonas", peer.ActorID(),
			"https://mastodon.example", peer.BaseURL(), "https://gts.example", peer.BaseURL(),
			"https://lindenau.example.org", inst.URL, "0b6f2c1e-5d7a-4c3e-9f1a-2d4b8e6a7c90", a.ID,
		).Replace(string(b))
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	send := func(server, name string, peer *mastopeer.Peer) {
		t.Helper()
		if err := peer.Send(ctx, inst.URL+"/ap/inbox", load(server, name, peer)); err != nil {
			t.Fatalf("%s/%s: %v", server, name, err)
		}
	}
	count := func(sql string) func() int { return func() int { return inst.Count(sql) } }
	eventually := func(what string, got func() int, want int) {
		t.Helper()
		waitFor(t, what, patience, func() bool { return got() == want })
	}

	for _, s := range []struct {
		server string
		peer   *mastopeer.Peer
	}{{"mastodon", masto}, {"gotosocial", gts}} {
		send(s.server, "follow", s.peer)
		s.peer.WaitFor(t, "Accept", patience)
	}
	eventually("both follows", count(`SELECT count(*) FROM ap_followers WHERE local = 'ortsweberei'`), 2)

	send("mastodon", "create_note_reply_to_question", masto)
	send("gotosocial", "create_note_reply_to_question", gts)
	eventually("two comments", count(`SELECT count(*) FROM antrag_kommentare`), 2)
	send("mastodon", "vote", masto)
	send("gotosocial", "vote", gts)
	// Ja and Nein at once on a single-choice question: refused.
	if err := gts.Send(ctx, inst.URL+"/ap/inbox", load("gotosocial", "vote_object_array", gts)); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("an ambiguous vote: %v", err)
	}
	eventually("two shown votes", count(`SELECT count(*) FROM antrag_fremdstimmen`), 2)

	var view struct {
		Comments []struct {
			ContentHTML string `json:"content_html"`
		}
		ForeignVotes   map[string]int `json:"foreign_votes"`
		EinspruchCount int            `json:"einspruch_count"`
	}
	inst.Client().Get("/api/antraege/"+a.ID).Expect(t, 200).JSON(t, &view)
	var texts []string
	for _, c := range view.Comments {
		texts = append(texts, checkSanitised(t, c.ContentHTML))
	}
	for _, want := range []string{"Ich gieße gern mit, wenn es Schläuche gibt.", "Gute Idee, aber wer zahlt die Wartung der Bänke?"} {
		if !strings.Contains(strings.Join(texts, "\n"), want) {
			t.Errorf("the comments lost %q: %q", want, texts)
		}
	}
	if view.ForeignVotes["yes"]+view.ForeignVotes["no"]+view.ForeignVotes["abstain"] != 2 {
		t.Fatalf("foreign votes: %+v", view.ForeignVotes)
	}

	send("mastodon", "delete_tombstone", masto)
	eventually("the deleted reply gone", count(`SELECT count(*) FROM antrag_kommentare`), 1)
	send("mastodon", "announce", masto)
	send("mastodon", "undo_follow", masto)
	send("gotosocial", "undo_follow", gts)
	eventually("both unfollowed", count(`SELECT count(*) FROM ap_followers`), 0)
	if n := inst.Count(`SELECT count(*) FROM remote_antraege`); n != 0 {
		t.Errorf("a boost by a non-neighbour stored an Antrag (%d)", n)
	}
	waitDelivered(t, inst) // a refusal of anything we sent would be in by now
	for _, p := range []*mastopeer.Peer{masto, gts} {
		if rej := p.Rejections(); len(rej) != 0 {
			t.Errorf("%s refused our requests: %+v", p.Host(), rej)
		}
	}
}

// checkSanitised fails the test unless a comment's HTML is what the sanitiser policy
// (bluemonday's UGC policy, process.go) lets through: no script or other active or embedding
// element, no event handler, style, class or target attribute, no URL but http(s), mailto or
// relative ones, and every link marked rel="nofollow". It returns the comment's text.
func checkSanitised(t *testing.T, fragment string) string {
	t.Helper()
	nodes, err := html.ParseFragment(strings.NewReader(fragment), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		t.Fatalf("comment is not HTML: %v", err)
	}
	var text strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			text.WriteString(n.Data)
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Script, atom.Style, atom.Iframe, atom.Object, atom.Embed, atom.Form, atom.Input, atom.Button, atom.Link, atom.Meta, atom.Base, atom.Svg:
				t.Errorf("comment keeps a <%s> element: %s", n.Data, fragment)
			}
			rel := ""
			for _, at := range n.Attr {
				key := strings.ToLower(at.Key)
				switch {
				case strings.HasPrefix(key, "on"), key == "style", key == "class", key == "target", key == "srcdoc", key == "formaction":
					t.Errorf("comment keeps %s=%q on <%s>: %s", at.Key, at.Val, n.Data, fragment)
				case key == "href" || key == "src" || key == "action" || key == "cite":
					v := strings.ToLower(strings.TrimSpace(at.Val))
					if u, err := url.Parse(v); err != nil || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "mailto") {
						t.Errorf("comment keeps the URL %q: %s", at.Val, fragment)
					}
				case key == "rel":
					rel = at.Val
				}
			}
			if n.DataAtom == atom.A && !slices.Contains(strings.Fields(rel), "nofollow") {
				t.Errorf("a link without rel=nofollow: %s", fragment)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return text.String()
}
