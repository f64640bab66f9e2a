package httpsig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"
)

// The benchmarks come in pairs: the package's operation and the bare RSA operation it
// cannot avoid, so that the difference is what parsing, digesting and the library cost.
// They call Sign and Verify directly, not over a socket, to leave the network out.

// signingString is about what Sign hashes for a typical inbox POST.
var signingString = []byte("(request-target): post /users/bob/inbox\nhost: here.example\ndate: Mon, 02 Jan 2026 15:04:05 GMT\ndigest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")

func benchRequest(b *testing.B, key *rsa.PrivateKey, now time.Time) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "https://here.example/users/bob/inbox", bytes.NewReader(activity))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/activity+json")
	if err := Sign(req, activity, aliceKeyID, key, now); err != nil {
		b.Fatal(err)
	}
	return req
}

func BenchmarkSign(b *testing.B) {
	key, _ := keys(b)
	now := time.Now()
	req := benchRequest(b, key, now)
	for b.Loop() {
		if err := Sign(req, activity, aliceKeyID, key, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawRSASign(b *testing.B) {
	key, _ := keys(b)
	for b.Loop() {
		sum := sha256.Sum256(signingString)
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key, _ := keys(b)
	now := time.Now()
	req := benchRequest(b, key, now)
	resolve := func(context.Context, string, bool) (crypto.PublicKey, string, error) {
		return &key.PublicKey, aliceIRI, nil
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := Verify(ctx, req, activity, req.Host, now, 0, resolve); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawRSAVerify(b *testing.B) {
	key, _ := keys(b)
	sum := sha256.Sum256(signingString)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		sum := sha256.Sum256(signingString)
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
