package chat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/chat"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// TestStreamSocketOpenedAsTheStreamGoesLive: a viewer whose socket opens while the stream goes
// live ends up told it is live. The socket is held just before it joins its room until the
// go-live has reached the screens already there (not parallel: the hook is the package's).
func TestStreamSocketOpenedAsTheStreamGoesLive(t *testing.T) {
	const secret = "rtmp-secret-of-the-test"
	inst := instancetest.Start(t, instancetest.Options{RTMPSecret: secret})
	var st struct {
		ID        string `json:"id"`
		IngestKey string `json:"ingest_key"`
	}
	inst.Admin().Post("/api/streams", map[string]string{"title": "Versammlung"}).Expect(t, http.StatusCreated).JSON(t, &st)
	room := uuid.MustParse(st.ID)

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	type f struct{ Type, State string }
	open := func() <-chan f {
		conn, _, err := websocket.Dial(ctx, strings.Replace(inst.URL, "http://", "ws://", 1)+"/ws/streams/"+st.ID+"/chat", nil)
		if err != nil {
			t.Error(err)
			return nil
		}
		t.Cleanup(func() { conn.CloseNow() })
		out := make(chan f, 100)
		go func() {
			defer close(out)
			for {
				_, b, err := conn.Read(ctx)
				if err != nil {
					return
				}
				var x f
				_ = json.Unmarshal(b, &x)
				out <- x
			}
		}()
		return out
	}
	read := func(ch <-chan f, what string) f {
		t.Helper()
		select {
		case x, ok := <-ch:
			if !ok {
				t.Fatalf("%s: the socket closed", what)
			}
			return x
		case <-ctx.Done():
			t.Fatalf("%s: nothing came", what)
		}
		return f{}
	}
	until := func(ch <-chan f, what string, ok func(f) bool) (last string) {
		t.Helper()
		for {
			x := read(ch, what)
			if x.Type == "state" {
				last = x.State
			}
			if ok(x) {
				return last
			}
		}
	}

	first := open()
	until(first, "first socket", func(x f) bool { return x.Type == "ready" })

	held, release := make(chan struct{}), make(chan struct{})
	chat.SetBeforeJoin(func(r uuid.UUID) {
		if r == room {
			close(held)
			<-release
		}
	})
	t.Cleanup(func() { chat.SetBeforeJoin(nil) })
	seconds := make(chan (<-chan f), 1)
	go func() { seconds <- open() }() // Dial returns at the upgrade, before the hook
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the second socket never came to its room")
	}
	if status, _ := inst.RTMPCallback(t, "publish", "secret="+secret, st.IngestKey, "1"); status != http.StatusFound {
		t.Fatalf("publish: %d", status)
	}
	until(first, "first socket", func(x f) bool { return x.Type == "state" && x.State == "live" })
	close(release)
	second := <-seconds
	if second == nil {
		t.Fatal("no second socket")
	}

	// A message written now comes after everything the second socket was told before it.
	jana := inst.VerifiedResident("Jana", lat, lon)
	jana.Post("/api/streams/"+st.ID+"/chat", map[string]string{"text": "Los geht's"}).Expect(t, http.StatusCreated)
	last := until(second, "second socket", func(x f) bool { return x.Type == "message" })
	if last != "live" {
		t.Fatalf("the socket opened as the stream went live last said %q", last)
	}
}
