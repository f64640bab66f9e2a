package instancetest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// RTMPCallback posts a callback as nginx-rtmp does (call: publish, update or publish_done): a
// form naming the key the broadcaster sent and nginx's id of the connection, with query (the
// secret, and whatever nginx's config adds) in the URL. It returns the status and the
// Location; like nginx-rtmp, it follows no redirect.
func (i *Instance) RTMPCallback(t testing.TB, call, query, key, client string) (int, string) {
	t.Helper()
	form := url.Values{"call": {call}, "app": {"live"}, "name": {key}, "clientid": {client}, "addr": {"127.0.0.1"}, "type": {"live"}}
	req, err := http.NewRequest("POST", i.URL+"/internal/rtmp/"+call+"?"+query, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := i.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Location")
}
