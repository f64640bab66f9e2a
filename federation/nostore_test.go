package federation_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Federation's error answers are written as the API's are (respond.Error) and, like them, are
// not for caches to keep: a 404 of an object that exists a moment later, or the refusal of one
// request, must not be served again from a cache in front of the instance.
func TestErrorAnswersAreNotStored(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	host := strings.TrimPrefix(inst.URL, "http://")
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/ap/inbox", http.StatusUnauthorized},
		{http.MethodGet, "/ap/antraege/" + uuid.NewString(), http.StatusNotFound},
		{http.MethodGet, "/ap/users/nobody", http.StatusNotFound},
		{http.MethodGet, "/.well-known/webfinger?resource=acct:nobody@" + host, http.StatusNotFound},
		{http.MethodGet, "/nodeinfo/1.0", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(c.method, inst.URL+c.path, bytes.NewReader([]byte(`{}`)))
		req.Header.Set("Content-Type", "application/activity+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: %d, Cache-Control %q; want %d, no-store", c.method, c.path, res.StatusCode, res.Header.Get("Cache-Control"), c.status)
		}
	}
}
