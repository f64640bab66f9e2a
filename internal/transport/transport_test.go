package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server is a real HTTP server on ip (127.0.0.1 unless said otherwise) that counts hits,
// so a test can prove a refused request never reached it.
type server struct {
	*httptest.Server
	hits atomic.Int32
	port string
}

func startServer(t *testing.T, ip string, tls bool, h http.HandlerFunc) *server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, "hello from %s", r.Host)
	}))
	s.Listener.Close()
	s.Listener = l
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(l.Addr().String())
	return s
}

func get(c *Client, url string) ([]byte, error) {
	body, _, err := c.Get(context.Background(), url, "application/activity+json", nil)
	return body, err
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	s := startServer(t, "127.0.0.1", false, nil)
	c := New(Options{AllowHTTP: true})
	_, err := get(c, s.URL)
	wantErr(t, err, ErrForbiddenAddress)
	// A name is only refused at dial time, after resolution: this is the check DNS
	// rebinding would have to get past.
	_, err = get(c, "http://localhost:"+s.port+"/")
	wantErr(t, err, ErrForbiddenAddress)
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Errorf("localhost was not refused by the dialer: %v", err)
	}
	if s.hits.Load() != 0 {
		t.Errorf("server was reached %d times", s.hits.Load())
	}
}

func TestLoopbackAllowed(t *testing.T) {
	var ua, accept string
	s := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		ua, accept = r.UserAgent(), r.Header.Get("Accept")
		io.WriteString(w, "ok")
	})
	c := New(Options{AllowHTTP: true, AllowLoopback: true})
	for _, u := range []string{s.URL, "http://localhost:" + s.port + "/x"} {
		body, err := get(c, u)
		if err != nil || string(body) != "ok" {
			t.Fatalf("%s: %q, %v", u, body, err)
		}
	}
	if ua != DefaultUserAgent || accept != "application/activity+json" {
		t.Errorf("User-Agent %q, Accept %q", ua, accept)
	}
}

func TestAllowHostsByAddress(t *testing.T) {
	one := startServer(t, "127.0.0.1", false, nil)
	two := startServer(t, "127.0.0.2", false, nil)
	c := New(Options{AllowHTTP: true, AllowHosts: []string{"127.0.0.2"}})
	if body, err := get(c, two.URL); err != nil || !strings.HasPrefix(string(body), "hello") {
		t.Fatalf("allowed host: %q, %v", body, err)
	}
	_, err := get(c, one.URL)
	wantErr(t, err, ErrForbiddenAddress)
	if one.hits.Load() != 0 {
		t.Error("forbidden server was reached")
	}
}

func TestAllowHostsByName(t *testing.T) {
	a := startServer(t, "127.0.0.1", false, nil)
	b := startServer(t, "127.0.0.1", false, nil)
	c := New(Options{AllowHTTP: true, AllowHosts: []string{"LocalHost.:" + a.port}})
	if _, err := get(c, "http://localhost:"+a.port+"/"); err != nil {
		t.Fatalf("allowed name and port: %v", err)
	}
	// Same name, other port: not listed.
	_, err := get(c, "http://localhost:"+b.port+"/")
	wantErr(t, err, ErrForbiddenAddress)
	// Same address, but the listing names a host, not what it resolves to.
	_, err = get(c, a.URL)
	wantErr(t, err, ErrForbiddenAddress)
	if b.hits.Load() != 0 || a.hits.Load() != 1 {
		t.Errorf("hits: a %d (want 1), b %d (want 0)", a.hits.Load(), b.hits.Load())
	}
}

func TestSchemes(t *testing.T) {
	plain := startServer(t, "127.0.0.1", false, nil)
	secure := startServer(t, "127.0.0.1", true, nil)
	c := New(Options{AllowLoopback: true})
	trust(c, secure)

	_, err := get(c, plain.URL)
	wantErr(t, err, ErrInsecureScheme)
	if plain.hits.Load() != 0 {
		t.Error("http server was reached")
	}
	if _, err := get(c, secure.URL); err != nil {
		t.Fatalf("https: %v", err)
	}
	_, err = get(c, "ftp://127.0.0.1/")
	wantErr(t, err, ErrUnsupportedScheme)

	// Do is guarded too, not only the helpers.
	req, _ := http.NewRequest(http.MethodGet, plain.URL, nil)
	_, err = c.Do(req)
	wantErr(t, err, ErrInsecureScheme)
}

// trust makes c accept the test server's self-signed certificate.
func trust(c *Client, s *server) {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c.tr.TLSClientConfig.RootCAs = pool
}

func TestRedirectToForbiddenHost(t *testing.T) {
	target := startServer(t, "127.0.0.1", false, nil)
	for _, dest := range []string{
		target.URL + "/",                             // IP literal, checked before dialling
		"http://localhost:" + target.port + "/",      // name, checked at dial time
		"http://[::ffff:127.0.0.1]:" + target.port,   // mapped form
		"http://169.254.169.254/latest/meta-data/",   // cloud metadata
		"http://2130706433:" + target.port + "/",     // numeric host
		"http://10.0.0.1/",                           // private
		"http://0.0.0.0:" + target.port + "/",        // unspecified
		"http://[fd00::1]/",                          // unique local
		"http://100.64.0.1/",                         // CGNAT
		"http://[::ffff:169.254.169.254]/latest/",    // mapped link-local
		"http://[64:ff9b::a9fe:a9fe]/latest/",        // NAT64 of 169.254.169.254
		"http://localhost:" + target.port + "/again", // same again, to be sure
	} {
		t.Run(dest, func(t *testing.T) {
			front := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, dest, http.StatusFound)
			})
			c := New(Options{AllowHTTP: true, AllowHosts: []string{"localhost:" + front.port}})
			_, err := get(c, "http://localhost:"+front.port+"/")
			wantErr(t, err, ErrForbiddenAddress)
			if front.hits.Load() != 1 {
				t.Errorf("allowed front server hit %d times", front.hits.Load())
			}
		})
	}
	if target.hits.Load() != 0 {
		t.Errorf("forbidden target was reached %d times", target.hits.Load())
	}
}

func TestRedirectAcrossAllowedHosts(t *testing.T) {
	var sawSig atomic.Value
	back := startServer(t, "127.0.0.2", false, func(w http.ResponseWriter, r *http.Request) {
		sawSig.Store(r.Header.Get("Signature"))
		io.WriteString(w, "back")
	})
	front := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, back.URL+"/obj", http.StatusMovedPermanently)
	})
	c := New(Options{AllowHTTP: true, AllowHosts: []string{"127.0.0.1", "127.0.0.2"}})
	sign := func(r *http.Request) error {
		r.Header.Set("Signature", "for "+r.URL.String())
		return nil
	}
	body, resp, err := c.Get(context.Background(), front.URL+"/obj", "", sign)
	if err != nil || string(body) != "back" {
		t.Fatalf("%q, %v", body, err)
	}
	if got := resp.Request.URL.String(); got != back.URL+"/obj" {
		t.Errorf("final URL %s", got)
	}
	if got := sawSig.Load(); got != "for "+back.URL+"/obj" {
		t.Errorf("redirect target saw Signature %q; want one made for its own URL", got)
	}

	// Without a signer to redo it, the old signature is dropped, not forwarded.
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/obj", nil)
	req.Header.Set("Signature", "for "+front.URL+"/obj")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := sawSig.Load(); got != "" {
		t.Errorf("redirect target saw forwarded Signature %q", got)
	}
}

// A 307 keeps the POST and its body, so the new hop gets a signature over the same body
// for its own URL.
func TestPostRedirect307(t *testing.T) {
	type seen struct{ url, body, sig string }
	got := make(chan seen, 1)
	back := startServer(t, "127.0.0.2", false, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.Path, string(b), r.Header.Get("Signature")}
		w.WriteHeader(http.StatusAccepted)
	})
	front := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, back.URL+"/inbox", http.StatusTemporaryRedirect)
	})
	c := New(Options{AllowHTTP: true, AllowHosts: []string{"127.0.0.1", "127.0.0.2"}})
	body := []byte(`{"type":"Announce"}`)
	sign := func(r *http.Request, b []byte) error {
		r.Header.Set("Signature", fmt.Sprintf("%s %s %d", r.Method, r.URL, len(b)))
		return nil
	}
	if _, err := c.Post(context.Background(), front.URL+"/inbox", "application/activity+json", body, sign); err != nil {
		t.Fatal(err)
	}
	want := seen{"/inbox", string(body), fmt.Sprintf("POST %s/inbox %d", back.URL, len(body))}
	if g := <-got; g != want {
		t.Errorf("redirect target saw %+v, want %+v", g, want)
	}
}

func TestRedirectHTTPSToHTTP(t *testing.T) {
	plain := startServer(t, "127.0.0.1", false, nil)
	secure := startServer(t, "127.0.0.1", true, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL, http.StatusFound)
	})
	c := New(Options{AllowLoopback: true})
	trust(c, secure)
	_, err := get(c, secure.URL)
	wantErr(t, err, ErrInsecureScheme)
	if plain.hits.Load() != 0 {
		t.Error("http target was reached")
	}
}

func TestRedirectLimit(t *testing.T) {
	// /hop/N redirects to /hop/N-1; /hop/0 answers.
	s := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/hop/%d", &n)
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		io.WriteString(w, "arrived")
	})
	c := New(Options{AllowHTTP: true, AllowLoopback: true})
	if body, err := get(c, s.URL+"/hop/3"); err != nil || string(body) != "arrived" {
		t.Fatalf("3 redirects: %q, %v", body, err)
	}
	s.hits.Store(0)
	_, err := get(c, s.URL+"/hop/4")
	wantErr(t, err, ErrTooManyRedirects)
	if s.hits.Load() != 4 {
		t.Errorf("%d requests for 4 redirects; want 4 (the fifth is never sent)", s.hits.Load())
	}
}

// IP literals in the forms parsers disagree about. Each must be refused without reaching
// the server, which listens on 127.0.0.1 (and so, on Linux, answers 0.0.0.0 as well).
func TestIPLiteralForms(t *testing.T) {
	s := startServer(t, "127.0.0.1", false, nil)
	p := s.port
	forms := []string{
		"http://127.0.0.1:" + p,
		"http://127.0.0.2:" + p,
		"http://[::ffff:127.0.0.1]:" + p,
		"http://[::ffff:7f00:1]:" + p,
		"http://[0:0:0:0:0:ffff:127.0.0.1]:" + p,
		"http://2130706433:" + p,
		"http://0x7f000001:" + p,
		"http://0x7f.0.0.1:" + p,
		"http://017700000001:" + p,
		"http://127.1:" + p,
		"http://0.0.0.0:" + p,
		"http://0:" + p,
		"http://[::]:" + p,
		"http://[::1]:" + p,
		"http://[::127.0.0.1]:" + p,
		"http://[64:ff9b::7f00:1]:" + p,
		"http://[2002:7f00:1::1]:" + p,
		"http://[fe80::1%25lo]:" + p,
	}
	c := New(Options{AllowHTTP: true})
	for _, u := range forms {
		if _, err := url.Parse(u); err != nil {
			t.Logf("%s: Go does not parse it (%v); nothing to guard", u, err)
			continue
		}
		_, err := get(c, u)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: err = %v, want ErrForbiddenAddress", u, err)
		}
	}
	if s.hits.Load() != 0 {
		t.Errorf("server reached %d times", s.hits.Load())
	}

	// With AllowLoopback the mapped form does reach the server, which shows the refusal
	// above was the guard's doing and not a dead address; 0.0.0.0 stays refused, since it
	// is not a loopback address, only routed like one.
	c = New(Options{AllowHTTP: true, AllowLoopback: true})
	if _, err := get(c, "http://[::ffff:127.0.0.1]:"+p); err != nil {
		t.Errorf("mapped loopback with AllowLoopback: %v", err)
	}
	_, err := get(c, "http://0.0.0.0:"+p)
	wantErr(t, err, ErrForbiddenAddress)
}

func TestBodyLimit(t *testing.T) {
	s := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Query().Get("n"), "%d", &n)
		if r.URL.Query().Get("chunked") != "" {
			// Flushing first makes the server send no Content-Length, so only the
			// reading limit can catch it.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		w.Write([]byte(strings.Repeat("x", n)))
	})
	small := New(Options{AllowHTTP: true, AllowLoopback: true, MaxBodyBytes: 10})
	if body, err := get(small, s.URL+"/?n=10"); err != nil || len(body) != 10 {
		t.Fatalf("exactly at the limit: %d bytes, %v", len(body), err)
	}
	_, err := get(small, s.URL+"/?n=11")
	wantErr(t, err, ErrTooLarge)
	_, err = get(small, s.URL+"/?n=11&chunked=1")
	wantErr(t, err, ErrTooLarge)

	def := New(Options{AllowHTTP: true, AllowLoopback: true})
	if body, err := get(def, fmt.Sprintf("%s/?n=%d&chunked=1", s.URL, DefaultMaxBodyBytes)); err != nil || len(body) != DefaultMaxBodyBytes {
		t.Fatalf("1 MiB: %d bytes, %v", len(body), err)
	}
	_, err = get(def, fmt.Sprintf("%s/?n=%d&chunked=1", s.URL, DefaultMaxBodyBytes+1))
	wantErr(t, err, ErrTooLarge)
}

func TestPost(t *testing.T) {
	type seen struct{ body, ctype, sig string }
	got := make(chan seen, 1)
	s := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{string(b), r.Header.Get("Content-Type"), r.Header.Get("Signature")}
		if r.URL.Path == "/down" {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := New(Options{AllowHTTP: true, AllowLoopback: true})
	body := []byte(`{"type":"Like"}`)
	sign := func(r *http.Request, b []byte) error {
		r.Header.Set("Signature", fmt.Sprintf("over %d bytes", len(b)))
		return nil
	}
	resp, err := c.Post(context.Background(), s.URL+"/inbox", "application/activity+json", body, sign)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%v, %v", resp, err)
	}
	if g := <-got; g.body != string(body) || g.ctype != "application/activity+json" || g.sig != "over 15 bytes" {
		t.Errorf("server saw %+v", g)
	}

	resp, err = c.Post(context.Background(), s.URL+"/down", "application/activity+json", body, sign)
	wantErr(t, err, ErrStatus)
	<-got
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("resp = %v", resp)
	}
	if msg, _ := io.ReadAll(resp.Body); strings.TrimSpace(string(msg)) != "try later" {
		t.Errorf("error body %q", msg)
	}

	// Nothing is signed, let alone sent, for a forbidden address.
	signed := false
	_, err = New(Options{AllowHTTP: true}).Post(context.Background(), s.URL+"/inbox", "application/activity+json", body,
		func(*http.Request, []byte) error { signed = true; return nil })
	wantErr(t, err, ErrForbiddenAddress)
	if signed {
		t.Error("a request to a forbidden address was signed")
	}
}

func TestGetStatus(t *testing.T) {
	s := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	})
	c := New(Options{AllowHTTP: true, AllowLoopback: true})
	body, resp, err := c.Get(context.Background(), s.URL, "", nil)
	wantErr(t, err, ErrStatus)
	if resp == nil || resp.StatusCode != http.StatusGone || strings.TrimSpace(string(body)) != "gone" {
		t.Errorf("resp %v, body %q", resp, body)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	s := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := New(Options{AllowHTTP: true, AllowLoopback: true, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := get(c, s.URL)
	if err == nil {
		t.Fatal("no timeout")
	}
	// Without the timeout the request would wait for the handler, which waits for the test:
	// a minute is long enough for any busy machine and far short of that.
	if d := time.Since(start); d > time.Minute {
		t.Errorf("timed out after %s", d)
	}
}

// The address policy itself, over addresses no test server can listen on.
func TestAddressPolicy(t *testing.T) {
	g := newGuard(Options{})
	for _, s := range []string{
		"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "127.0.0.1", "127.255.255.254",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1",
		"239.255.255.250", "255.255.255.255", "192.0.0.170", "198.18.0.1",
		"::", "::1", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "fec0::1",
		"::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1", "::10.0.0.1",
		"64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b:1::1", "2002:a00:1::1", "2002:7f00:1::",
	} {
		if err := g.checkAddr(netip.MustParseAddr(s)); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{
		"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "192.169.0.1",
		"2606:4700:4700::1111", "2a01:4f8::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	} {
		if err := g.checkAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	lo := newGuard(Options{AllowLoopback: true})
	for _, s := range []string{"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"} {
		if err := lo.checkAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("AllowLoopback: %s refused: %v", s, err)
		}
	}
	for _, s := range []string{"10.0.0.1", "0.0.0.0", "64:ff9b::7f00:1"} {
		if err := lo.checkAddr(netip.MustParseAddr(s)); err == nil {
			t.Errorf("AllowLoopback: %s allowed", s)
		}
	}
}

// What the guard refuses is told apart from what may go through another time.
func TestRefused(t *testing.T) {
	s := startServer(t, "127.0.0.1", false, nil)
	c := New(Options{})
	for _, u := range []string{"https://10.1.2.3/x", "http://example.org/x", "ftp://example.org/x", "http://127.0.0.1:" + s.port + "/"} {
		if _, err := get(c, u); !Refused(err) {
			t.Errorf("%s: err = %v, want a refusal", u, err)
		}
	}
	c = New(Options{AllowHTTP: true, AllowLoopback: true})
	closed := startServer(t, "127.0.0.1", false, nil)
	closed.Close()
	if _, err := get(c, closed.URL); err == nil || Refused(err) {
		t.Errorf("a refused connection: err = %v, want an error that is no refusal", err)
	}
}
