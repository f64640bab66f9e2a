package transport

import (
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
)

// With RootCAs the client trusts the CA given and no other: a peer with a certificate of a test
// CA is reached over https, and the same peer is refused by a client that trusts the system's
// roots (or another CA).
func TestRootCAs(t *testing.T) {
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ca.Listen("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello over TLS"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"

	body, err := get(New(Options{AllowLoopback: true, RootCAs: ca.Pool()}), url)
	if err != nil || string(body) != "hello over TLS" {
		t.Fatalf("with the test CA: %q %v", body, err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := get(New(Options{AllowLoopback: true}), url); !errors.As(err, &unknown) {
		t.Fatalf("with the system's roots: %v, want an unknown authority", err)
	}
	other, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(New(Options{AllowLoopback: true, RootCAs: other.Pool()}), url); !errors.As(err, &unknown) {
		t.Fatalf("with another CA: %v, want an unknown authority", err)
	}
}
