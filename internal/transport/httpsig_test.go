package transport

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/httpsig"
)

// The client and package httpsig together, as a delivery will use them: a signed POST that
// is redirected (307) to another allowed host must arrive with a signature that verifies
// for that host, and a signed GET likewise.
func TestSignedDeliveryThroughRedirect(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const keyID = "https://here.example/users/bob#main-key"
	resolve := func(context.Context, string, bool) (crypto.PublicKey, string, error) {
		return &key.PublicKey, "https://here.example/users/bob", nil
	}
	verified := make(chan error, 1)
	back := startServer(t, "127.0.0.2", false, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := httpsig.Verify(r.Context(), r, body, r.Host, time.Now(), 0, resolve)
		verified <- err
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	front := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, back.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c := New(Options{AllowHTTP: true, AllowHosts: []string{"127.0.0.1", "127.0.0.2"}})

	body := []byte(`{"type":"Create"}`)
	_, err = c.Post(context.Background(), front.URL+"/inbox", "application/activity+json", body,
		func(r *http.Request, b []byte) error { return httpsig.Sign(r, b, keyID, key, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-verified; err != nil {
		t.Fatalf("POST after redirect: %v", err)
	}

	_, _, err = c.Get(context.Background(), front.URL+"/users/alice", "application/activity+json",
		func(r *http.Request) error { return httpsig.Sign(r, nil, keyID, key, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-verified; err != nil {
		t.Fatalf("GET after redirect: %v", err)
	}
}
