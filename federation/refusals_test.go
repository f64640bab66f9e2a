package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/mastopeer"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// errorCode reads the code of an error answer ({"error": {"code", "message"}}).
func errorCode(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error answer with a code and a message: %s", body)
	}
	return e.Error.Code, e.Error.Message
}

// An inbox that cannot get the signing key says so with a code and a fixed message: not
// what our fetch ran into (a refused connection, where a redirect led), which would let a
// sender probe our network through us.
func TestInboxErrorsTellNothingOfOurFetches(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	peer := mastopeer.Start(t, "127.0.0.9")
	// A server that sends every request on to a private address.
	redirector := startFake(t, "127.0.0.16", func(int, *http.Request) (int, http.Header) {
		return http.StatusFound, http.Header{"Location": {"http://10.255.255.1:8080/internal/admin"}}
	})
	closed, err := net.Listen("tcp", "127.0.0.17:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "http://" + closed.Addr().String() // nothing listens here once it is closed
	closed.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, actor := range []string{nobody + "/users/x", redirector.URL + "/users/x", "http://10.255.255.1:8080/users/x"} {
		body, _ := json.Marshal(map[string]any{"@context": vocab.ActivityStreams, "id": actor + "/activities/1", "type": "Create", "actor": actor,
			"object": map[string]any{"id": actor + "/notes/1", "type": "Note", "attributedTo": actor, "content": "Hallo"}})
		before := federationRows(inst)
		code, res, err := peer.Deliver(ctx, inst.URL+"/ap/inbox", body, mastopeer.SignOptions{KeyID: actor + "#main-key", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s", actor, code, res)
		}
		c, msg := errorCode(t, res)
		if c != "key_unavailable" {
			t.Errorf("%s: refused as %q, want key_unavailable", actor, c)
		}
		for _, leak := range []string{"refused", "10.255.255.1", "internal", "dial", "127.0.0.1", "redirect", "not allowed"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: the answer tells of our fetch (%q): %s", actor, leak, res)
			}
		}
		if after := federationRows(inst); !maps.Equal(before, after) {
			t.Fatalf("a refused request stored something: %v → %v", before, after)
		}
	}
}
