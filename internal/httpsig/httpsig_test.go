package httpsig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ssb "code.superseriousbusiness.org/httpsig"
)

const (
	aliceKeyID = "https://remote.example/users/alice#main-key"
	aliceIRI   = "https://remote.example/users/alice"
)

var (
	keysOnce       sync.Once
	oldKey, newKey *rsa.PrivateKey
)

// keys returns two 2048-bit keys, generated once because that takes a while.
func keys(tb testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		if oldKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if newKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return oldKey, newKey
}

// staticResolver always answers with pub and counts its calls by refresh flag.
type staticResolver struct {
	pub              crypto.PublicKey
	cached, refetchd atomic.Int32
}

func (s *staticResolver) resolve(_ context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	if refresh {
		s.refetchd.Add(1)
	} else {
		s.cached.Add(1)
	}
	if keyID != aliceKeyID {
		return nil, "", errors.New("unknown key")
	}
	return s.pub, aliceIRI, nil
}

type outcome struct {
	res Result
	err error
}

// inbox starts a real HTTP server whose handler reads the body and runs Verify at now.
// Each request's outcome arrives on the returned channel.
func inbox(t *testing.T, now time.Time, resolve KeyResolver) (string, <-chan outcome) {
	t.Helper()
	out := make(chan outcome, 1)
	var host string // the server's own, set before any request arrives
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			out <- outcome{err: err}
			return
		}
		res, err := Verify(r.Context(), r, body, host, now, 0, resolve)
		out <- outcome{res, err}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	return srv.URL, out
}

// send delivers req and returns what the server's Verify said.
func send(t *testing.T, req *http.Request, out <-chan outcome) (Result, error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	o := <-out
	if (o.err == nil) != (resp.StatusCode == http.StatusAccepted) {
		t.Fatalf("status %d but error %v", resp.StatusCode, o.err)
	}
	return o.res, o.err
}

var activity = []byte(`{"@context":"https://www.w3.org/ns/activitystreams","type":"Follow","actor":"https://remote.example/users/alice","object":"https://here.example/users/bob"}`)

func newPost(t *testing.T, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/users/bob/inbox", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/activity+json")
	return req
}

func TestRoundTripPost(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	res := &staticResolver{pub: &key.PublicKey}
	url, out := inbox(t, now, res.resolve)

	req := newPost(t, url, activity)
	if err := Sign(req, activity, aliceKeyID, key, now); err != nil {
		t.Fatal(err)
	}
	sig := req.Header.Get("Signature")
	for _, want := range []string{`keyId="` + aliceKeyID + `"`, `algorithm="rsa-sha256"`, `headers="(request-target) host date digest"`, `signature="`} {
		if !strings.Contains(sig, want) {
			t.Errorf("Signature %q lacks %s", sig, want)
		}
	}
	if d := req.Header.Get("Digest"); !strings.HasPrefix(d, "SHA-256=") {
		t.Errorf("Digest = %q", d)
	}
	if d := req.Header.Get("Date"); !strings.HasSuffix(d, " GMT") {
		t.Errorf("Date = %q", d)
	}
	got, err := send(t, req, out)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Result{KeyID: aliceKeyID, Owner: aliceIRI}) {
		t.Errorf("Result = %+v", got)
	}
	if res.refetchd.Load() != 0 {
		t.Errorf("a valid signature caused %d refetches", res.refetchd.Load())
	}
}

func TestRoundTripGet(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	res := &staticResolver{pub: &key.PublicKey}
	url, out := inbox(t, now, res.resolve)

	// A path that needs escaping and a query: both must be signed as sent on the wire.
	req, _ := http.NewRequest(http.MethodGet, url+"/users/b%2Fob/outbox?page=true&min_id=1", nil)
	req.Header.Set("Accept", "application/activity+json")
	if err := Sign(req, nil, aliceKeyID, key, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.Header.Get("Signature"), `headers="(request-target) host date"`) {
		t.Errorf("GET signature: %s", req.Header.Get("Signature"))
	}
	if req.Header.Get("Digest") != "" {
		t.Error("GET without body got a Digest")
	}
	if _, err := send(t, req, out); err != nil {
		t.Fatal(err)
	}
}

func TestSignTwiceReplaces(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	url, out := inbox(t, now, (&staticResolver{pub: &key.PublicKey}).resolve)
	req := newPost(t, url, activity)
	if err := Sign(req, activity, aliceKeyID, key, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := Sign(req, activity, aliceKeyID, key, now); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Signature", "Digest", "Date"} {
		if n := len(req.Header.Values(h)); n != 1 {
			t.Errorf("%d %s headers after signing twice", n, h)
		}
	}
	if _, err := send(t, req, out); err != nil {
		t.Fatal(err)
	}
}

// The cases a hostile or broken peer produces. Each must be refused with its own error.
func TestRefusals(t *testing.T) {
	key, otherKey := keys(t)
	now := time.Now()
	other := []byte(`{"type":"Delete"}`)

	cases := []struct {
		name string
		// prepare signs (or mis-signs) req; body is what will actually be sent.
		prepare func(t *testing.T, req *http.Request) []byte
		want    error
	}{
		{"no signature", func(t *testing.T, req *http.Request) []byte {
			return activity
		}, ErrNoSignature},
		{"garbled signature", func(t *testing.T, req *http.Request) []byte {
			req.Header.Set("Signature", `keyId="a",keyId="b",headers="date",signature="AAAA"`)
			return activity
		}, ErrMalformedSignature},
		{"tampered body", func(t *testing.T, req *http.Request) []byte {
			must(t, Sign(req, activity, aliceKeyID, key, now))
			return other
		}, ErrDigestMismatch},
		{"digest header removed", func(t *testing.T, req *http.Request) []byte {
			must(t, Sign(req, activity, aliceKeyID, key, now))
			req.Header.Del("Digest")
			return activity
		}, ErrMissingDigest},
		{"digest not signed", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "host", "date"}, ssb.DigestSha256, algRSASHA256))
			return activity
		}, ErrHeaderNotSigned},
		{"only SHA-512 digest", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "host", "date", "digest"}, ssb.DigestSha512, algRSASHA256))
			return activity
		}, ErrDigestAlgorithm},
		{"wrong key", func(t *testing.T, req *http.Request) []byte {
			must(t, Sign(req, activity, aliceKeyID, otherKey, now))
			return activity
		}, ErrBadSignature},
		{"stale date", func(t *testing.T, req *http.Request) []byte {
			must(t, Sign(req, activity, aliceKeyID, key, now.Add(-2*time.Hour)))
			return activity
		}, ErrDateSkew},
		{"future date", func(t *testing.T, req *http.Request) []byte {
			must(t, Sign(req, activity, aliceKeyID, key, now.Add(2*time.Hour)))
			return activity
		}, ErrDateSkew},
		{"date not signed", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "host", "digest"}, ssb.DigestSha256, algRSASHA256))
			return activity
		}, ErrHeaderNotSigned},
		{"host not signed", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "date", "digest"}, ssb.DigestSha256, algRSASHA256))
			return activity
		}, ErrHeaderNotSigned},
		{"request-target not signed", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"host", "date", "digest"}, ssb.DigestSha256, algRSASHA256))
			return activity
		}, ErrHeaderNotSigned},
		{"unknown algorithm", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "host", "date", "digest"}, ssb.DigestSha256, "rsa-sha512"))
			return activity
		}, ErrUnsupportedAlgorithm},
		{"hmac algorithm", func(t *testing.T, req *http.Request) []byte {
			must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "host", "date", "digest"}, ssb.DigestSha256, "hmac-sha256"))
			return activity
		}, ErrUnsupportedAlgorithm},
		{"signed for another host", func(t *testing.T, req *http.Request) []byte {
			req.Host = "other.example"
			must(t, Sign(req, activity, aliceKeyID, key, now))
			req.Host = ""
			return activity
		}, ErrBadSignature},
		{"replayed with the Host it was signed for", func(t *testing.T, req *http.Request) []byte {
			// A delivery to other.example, captured there and sent on to us unchanged:
			// its signature verifies over what arrived, but it was made for someone else.
			req.Host = "other.example"
			must(t, Sign(req, activity, aliceKeyID, key, now))
			return activity
		}, ErrHostMismatch},
		{"signed for another path", func(t *testing.T, req *http.Request) []byte {
			must(t, Sign(req, activity, aliceKeyID, key, now))
			req.URL.Path = "/users/carol/inbox"
			return activity
		}, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := &staticResolver{pub: &key.PublicKey}
			url, out := inbox(t, now, res.resolve)
			req := newPost(t, url, nil)
			body := tc.prepare(t, req)
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
			_, err := send(t, req, out)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// Junk must never cost a key fetch; a bad signature costs exactly one refetch.
			wantCached, wantRefetch := int32(0), int32(0)
			if tc.want == ErrBadSignature {
				wantCached, wantRefetch = 1, 1
			}
			if c, r := res.cached.Load(), res.refetchd.Load(); c != wantCached || r != wantRefetch {
				t.Errorf("resolver called %d times cached, %d refetching; want %d, %d", c, r, wantCached, wantRefetch)
			}
			t.Logf("%v", err)
		})
	}
}

func TestHS2019Accepted(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	url, out := inbox(t, now, (&staticResolver{pub: &key.PublicKey}).resolve)
	for _, alg := range []string{algHS2019, "HS2019", ""} {
		req := newPost(t, url, activity)
		must(t, sign(req, activity, aliceKeyID, key, now, []string{"(request-target)", "host", "date", "digest"}, ssb.DigestSha256, alg))
		if _, err := send(t, req, out); err != nil {
			t.Errorf("algorithm %q: %v", alg, err)
		}
	}
}

// Mastodon signs request-target without the query string; such a signature must still
// verify, while one over a different path must not (see "signed for another path").
func TestQueryNotSigned(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	url, out := inbox(t, now, (&staticResolver{pub: &key.PublicKey}).resolve)
	req, _ := http.NewRequest(http.MethodGet, url+"/users/bob/outbox", nil)
	must(t, Sign(req, nil, aliceKeyID, key, now))
	req.URL.RawQuery = "page=true"
	if _, err := send(t, req, out); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRotation(t *testing.T) {
	old, fresh := keys(t)
	now := time.Now()
	var cached, refreshed atomic.Int32
	resolve := func(_ context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
		if refresh {
			refreshed.Add(1)
			return &fresh.PublicKey, aliceIRI, nil
		}
		cached.Add(1)
		return &old.PublicKey, aliceIRI, nil
	}
	url, out := inbox(t, now, resolve)
	req := newPost(t, url, activity)
	must(t, Sign(req, activity, aliceKeyID, fresh, now))
	res, err := send(t, req, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Owner != aliceIRI {
		t.Errorf("Owner = %q", res.Owner)
	}
	if cached.Load() != 1 || refreshed.Load() != 1 {
		t.Errorf("resolver calls: %d cached, %d refreshed; want exactly 1 each", cached.Load(), refreshed.Load())
	}
}

// A key that is wrong before and after refetching is tried once each, never in a loop.
func TestWrongKeyNoLoop(t *testing.T) {
	key, a := keys(t)
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var calls atomic.Int32
	resolve := func(_ context.Context, _ string, refresh bool) (crypto.PublicKey, string, error) {
		calls.Add(1)
		if refresh {
			return &b.PublicKey, aliceIRI, nil
		}
		return &a.PublicKey, aliceIRI, nil
	}
	url, out := inbox(t, now, resolve)
	req := newPost(t, url, activity)
	must(t, Sign(req, activity, aliceKeyID, key, now))
	if _, err := send(t, req, out); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("resolver called %d times, want 2", calls.Load())
	}
}

func TestResolverErrorSurfaced(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	errGone := errors.New("actor fetch: 410 Gone")
	resolve := func(context.Context, string, bool) (crypto.PublicKey, string, error) {
		return nil, "", errGone
	}
	url, out := inbox(t, now, resolve)
	req := newPost(t, url, activity)
	must(t, Sign(req, activity, aliceKeyID, key, now))
	_, err := send(t, req, out)
	if !errors.Is(err, ErrKeyResolution) || !errors.Is(err, errGone) {
		t.Fatalf("err = %v, want ErrKeyResolution wrapping the resolver's error", err)
	}
}

// When the cached key verifies nothing and the refetch fails, the refetch error is the
// one reported: it is what a later retry could fix.
func TestRefreshErrorSurfaced(t *testing.T) {
	key, wrong := keys(t)
	now := time.Now()
	errDown := errors.New("remote unreachable")
	resolve := func(_ context.Context, _ string, refresh bool) (crypto.PublicKey, string, error) {
		if refresh {
			return nil, "", errDown
		}
		return &wrong.PublicKey, aliceIRI, nil
	}
	url, out := inbox(t, now, resolve)
	req := newPost(t, url, activity)
	must(t, Sign(req, activity, aliceKeyID, key, now))
	if _, err := send(t, req, out); !errors.Is(err, ErrKeyResolution) || !errors.Is(err, errDown) {
		t.Fatalf("err = %v", err)
	}
}

func TestNonRSAKeyRefused(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	url, out := inbox(t, now, (&staticResolver{pub: edPub}).resolve)
	req := newPost(t, url, activity)
	must(t, Sign(req, activity, aliceKeyID, key, now))
	if _, err := send(t, req, out); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("err = %v", err)
	}
}

// A Host header that disagrees with the request's host (as a confused proxy or a handler
// that rewrites headers could produce) is refused before any key is looked at.
func TestHostHeaderMismatch(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	res := &staticResolver{pub: &key.PublicKey}
	out := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Header.Set("Host", "elsewhere.example")
		_, err := Verify(r.Context(), r, body, r.Host, now, time.Hour, res.resolve)
		out <- outcome{err: err}
	}))
	defer srv.Close()
	req := newPost(t, srv.URL, activity)
	must(t, Sign(req, activity, aliceKeyID, key, now))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if o := <-out; !errors.Is(o.err, ErrHostMismatch) {
		t.Fatalf("err = %v", o.err)
	}
	if res.cached.Load() != 0 {
		t.Error("resolver was called")
	}
}

// The round trips above use the library on both sides, which would hide a mistake both
// sides share. Here the signing string is built by hand from the draft, in both directions:
// our signature must verify over it, and a signature made over it the way Mastodon does
// (an extra signed content-type, headers separated by ", ") must pass Verify.
func TestSigningStringByHand(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	url, out := inbox(t, now, (&staticResolver{pub: &key.PublicKey}).resolve)

	req, _ := http.NewRequest(http.MethodGet, url+"/users/b%2Fob/outbox?page=true", nil)
	must(t, Sign(req, nil, aliceKeyID, key, now))
	str := "(request-target): get /users/b%2Fob/outbox?page=true\n" +
		"host: " + req.URL.Host + "\n" +
		"date: " + now.UTC().Format(http.TimeFormat)
	p, err := parseSignature(req.Header.Get("Signature"))
	must(t, err)
	sig, _ := base64.StdEncoding.DecodeString(p.signature)
	sum := sha256.Sum256([]byte(str))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("our signature is not over the draft's signing string: %v", err)
	}

	post := newPost(t, url, activity)
	digest := sha256.Sum256(activity)
	date := now.UTC().Format(http.TimeFormat)
	post.Header.Set("Date", date)
	post.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(digest[:]))
	str = "(request-target): post /users/bob/inbox\n" +
		"host: " + post.URL.Host + "\n" +
		"date: " + date + "\n" +
		"digest: SHA-256=" + base64.StdEncoding.EncodeToString(digest[:]) + "\n" +
		"content-type: application/activity+json"
	sum = sha256.Sum256([]byte(str))
	sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	must(t, err)
	post.Header.Set("Signature", `keyId="`+aliceKeyID+`", algorithm="rsa-sha256", headers="(request-target) host date digest content-type", signature="`+base64.StdEncoding.EncodeToString(sig)+`"`)
	if _, err := send(t, post, out); err != nil {
		t.Errorf("hand-made Mastodon-style signature refused: %v", err)
	}
}

func TestParseParams(t *testing.T) {
	good := `keyId="https://a.example/u#k", algorithm="hs2019",created=1700000000,headers="(request-target) Host date",signature="QUJD"`
	p, err := parseSignature(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.keyID != "https://a.example/u#k" || p.algorithm != "hs2019" || p.created != "1700000000" ||
		strings.Join(p.headers, " ") != "(request-target) host date" || p.signature != "QUJD" {
		t.Errorf("parsed %+v", p)
	}
	// Escapes are read as escapes (the fast path for values without one must not take a
	// value up to an escaped quote); an escaped quote in keyId is then refused as not plain.
	kv, err := parseParams(`keyId="a\\b",x="q\"r",y="",signature="QUJD"`)
	if err != nil || kv["keyId"] != `a\b` || kv["x"] != `q"r` || kv["y"] != "" || kv["signature"] != "QUJD" {
		t.Errorf("parseParams with escapes = %q, %v", kv, err)
	}
	for _, bad := range []string{
		``,
		`keyId="a\"",signature="QUJD"`,
		`keyId="a\",signature="QUJD"`,
		`keyId="a"`,
		`signature="QUJD"`,
		`keyId="a",signature="QUJD",keyId="b"`,
		`keyId="a,headers=\"date\"",signature="QUJD"`,
		`keyId="a",signature="not base64!"`,
		`keyId="a",signature="QUJD`,
		`keyId="a" junk,signature="QUJD"`,
		`keyId="a",created=soon,signature="QUJD"`,
	} {
		if _, err := parseSignature(bad); !errors.Is(err, ErrMalformedSignature) {
			t.Errorf("parseSignature(%q) = %v, want ErrMalformedSignature", bad, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Which Host a server takes as meant for it.
func TestForHost(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"lindenau.example.org", "lindenau.example.org", true},
		{"Lindenau.Example.ORG.", "lindenau.example.org", true},
		{"lindenau.example.org:443", "lindenau.example.org", true},
		{"lindenau.example.org:8443", "lindenau.example.org", false},
		{"lindenau.example.org", "lindenau.example.org:8443", true}, // Mastodon signs the bare name
		{"lindenau.example.org:8443", "lindenau.example.org:8443", true},
		{"lindenau.example.org:9443", "lindenau.example.org:8443", false},
		{"plagwitz.example.org", "lindenau.example.org", false},
		{"example.org", "lindenau.example.org", false},
		{"lindenau.example.org.evil", "lindenau.example.org", false},
		{"", "lindenau.example.org", false},
		{"[::1]:8080", "[::1]:8080", true},
		{"127.0.0.2:8080", "127.0.0.1:8080", false},
	} {
		if got := ForHost(tc.got, tc.want); got != tc.ok {
			t.Errorf("ForHost(%q, %q) = %v, want %v", tc.got, tc.want, got, tc.ok)
		}
	}
}

// Mastodon signs (and sends) the bare host name, also to a server on another port; such a
// request is for us.
func TestBareHostAccepted(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	res := &staticResolver{pub: &key.PublicKey}
	url, out := inbox(t, now, res.resolve)
	req := newPost(t, url, activity)
	req.Host = "127.0.0.1"
	must(t, Sign(req, activity, aliceKeyID, key, now))
	if _, err := send(t, req, out); err != nil {
		t.Fatal(err)
	}
}
