package gtspeer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
)

const patience = 30 * time.Second

// Two peers find each other the way GoToSocial instances do: over https only, WebFinger and
// signed GETs, the key behind a /main-key stub whose owner sits inside publicKey. A Follow is
// accepted, an Undo ends it.
func TestTwoPeersFollow(t *testing.T) {
	a, b := Start(t, "127.0.0.1", nil), Start(t, "127.0.0.1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	follow, err := a.Follow(ctx, b.Handle())
	if err != nil {
		t.Fatal(err)
	}
	a.WaitAccepted(t, follow, patience)
	if got := b.Followers(); len(got) != 1 || got[0] != a.ActorID() {
		t.Fatalf("b's followers: %v", got)
	}
	f := b.WaitFor(t, "Follow", patience)
	if f["id"] != follow || f["to"] != b.ActorID() || f["cc"] != nil || !strings.Contains(follow, "/users/vera/follow/") {
		t.Fatalf("the Follow is shaped as GoToSocial's: %v", f)
	}
	if err := a.Unfollow(ctx, b.ActorID()); err != nil {
		t.Fatal(err)
	}
	undo := b.WaitFor(t, "Undo", patience)
	if inner, _ := undo["object"].(map[string]any); inner["id"] != follow || !strings.HasPrefix(undo["id"].(string), a.BaseURL()+"/") {
		t.Fatalf("Undo embeds the Follow and has a fallback id: %v", undo)
	}
	if len(b.Followers()) != 0 {
		t.Fatalf("still followed: %v", b.Followers())
	}
	if r := append(a.Rejections(), b.Rejections()...); len(r) != 0 {
		t.Fatalf("refused: %+v", r)
	}
}

// What a client without a signature gets: the key stub (a cut-down actor, the owner nested,
// no top-level owner), and 401 for the actor; an inbox POST without a signature is 401, one
// whose key cannot be fetched is 500, one with the wrong key 401.
func TestRefusals(t *testing.T) {
	p := Start(t, "127.0.0.1", nil)
	hc := &http.Client{Transport: testca.Shared(t).Transport(), Timeout: patience}
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, p.BaseURL()+path, nil)
		req.Header.Set("Accept", activityJSON)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc map[string]any
		json.NewDecoder(res.Body).Decode(&doc)
		return res.StatusCode, doc
	}
	code, stub := get("/users/vera/main-key")
	key, _ := stub["publicKey"].(map[string]any)
	if code != 200 || stub["id"] != p.ActorID() || stub["owner"] != nil || key["owner"] != p.ActorID() || key["id"] != p.KeyID() {
		t.Fatalf("main-key: %d %v", code, stub)
	}
	if code, _ := get("/users/vera"); code != http.StatusUnauthorized {
		t.Fatalf("unsigned actor GET: %d, want 401", code)
	}

	post := func(body string, sign func(*http.Request)) int {
		req, _ := http.NewRequest(http.MethodPost, p.InboxURL(), strings.NewReader(body))
		req.Header.Set("Content-Type", postContentType)
		if sign != nil {
			sign(req)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	act := `{"@context":"https://www.w3.org/ns/activitystreams","id":"https://x/1","type":"Follow","actor":"https://x/u","object":"` + p.ActorID() + `"}`
	if code := post(act, nil); code != http.StatusUnauthorized {
		t.Fatalf("unsigned POST: %d, want 401", code)
	}
	// Signed by a peer that is gone: its key cannot be fetched.
	gone := Start(t, "127.0.0.1", nil)
	gone.srv.Close()
	if code := post(act, func(r *http.Request) { gone.sign(r, []byte(act)) }); code != http.StatusInternalServerError {
		t.Fatalf("key not fetchable: %d, want 500", code)
	}
	// Signed with one key, claiming another peer's keyId.
	other := Start(t, "127.0.0.1", nil)
	if code := post(act, func(r *http.Request) {
		gone.sign(r, []byte(act))
		r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), gone.KeyID(), other.KeyID(), 1))
	}); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d, want 401", code)
	}
	if code := post(act, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }); code != http.StatusNotAcceptable {
		t.Fatalf("application/json: %d, want 406", code)
	}
}

// A Flag is taken as GoToSocial takes it (typeutils.ASFlagToReport, federatingdb.Flag): one
// object must be an account of the receiving host (none, or two: 400), that account must be the
// one whose inbox received it (403), and the server that signed it must be the Flag actor's
// (403). Statuses ride along. (Sent here from a's vera, as Misskey sends reports from the
// reporting user: the peers' instance accounts are not found by WebFinger.)
func TestFlags(t *testing.T) {
	a, b := Start(t, "127.0.0.1", nil), Start(t, "127.0.0.1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	flag := func(actor string, objects ...string) error {
		_, err := mastopeer.SendFlag(b.InboxURL(), a.BaseURL()+"/reports/"+newULID(), actor, objects, "spam", func(body []byte) (int, []byte, error) {
			return a.Deliver(ctx, b.InboxURL(), body)
		})
		return err
	}
	for _, c := range []struct {
		actor   string
		objects []string
		status  string // "" when taken
	}{
		{a.ActorID(), []string{b.ActorID()}, ""},
		{a.ActorID(), []string{b.ActorID(), b.ActorID() + "/statuses/01J0000000000000000000000"}, ""},
		{a.ActorID(), []string{a.ActorID()}, "400"},
		{a.ActorID(), []string{b.ActorID(), b.InstanceActorID()}, "400"},
		{a.ActorID(), []string{b.InstanceActorID()}, "403"},
		{"https://elsewhere.example/users/elsewhere.example", []string{b.ActorID()}, "403"},
	} {
		err := flag(c.actor, c.objects...)
		if (c.status == "" && err != nil) || (c.status != "" && (err == nil || !strings.Contains(err.Error(), ": "+c.status+" "))) {
			t.Errorf("a Flag by %s about %v: %v, want %q", c.actor, c.objects, err, c.status)
		}
	}
}
