package proof

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

func TestMultikeyRoundTrip(t *testing.T) {
	for range 50 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s := EncodeMultikey(pub)
		if !strings.HasPrefix(s, "z6Mk") {
			t.Fatalf("EncodeMultikey = %q, want the z6Mk… form", s)
		}
		got, err := DecodeMultikey(s)
		if err != nil {
			t.Fatalf("DecodeMultikey(%q): %v", s, err)
		}
		if !got.Equal(pub) {
			t.Fatalf("round trip changed the key: %x != %x", got, pub)
		}
	}
}

// TestMultikeyFEP521a checks the FEP's own vector, so that our keys read the same on
// Mitra, Mastodon and the rest as they do here.
func TestMultikeyFEP521a(t *testing.T) {
	var v struct {
		PublicKeyHex       string `json:"publicKeyHex"`
		PublicKeyMultibase string `json:"publicKeyMultibase"`
	}
	if err := json.Unmarshal(readTestdata(t, "fep-521a/multikey.json"), &v); err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(v.PublicKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodeMultikey(raw); got != v.PublicKeyMultibase {
		t.Errorf("EncodeMultikey = %q, want %q", got, v.PublicKeyMultibase)
	}
	got, err := DecodeMultikey(v.PublicKeyMultibase)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != v.PublicKeyHex {
		t.Errorf("DecodeMultikey = %x, want %s", got, v.PublicKeyHex)
	}
}

func TestDecodeMultikeyRejects(t *testing.T) {
	valid := make([]byte, 32)
	valid[0] = 1
	multi := func(prefix []byte, key []byte) string {
		return "z" + base58.Encode(append(append([]byte{}, prefix...), key...))
	}
	good := multi([]byte{0xed, 0x01}, valid)
	if _, err := DecodeMultikey(good); err != nil {
		t.Fatalf("control case rejected: %v", err)
	}
	for name, s := range map[string]string{
		"empty":                   "",
		"prefix only":             "z",
		"no multibase prefix":     good[1:],
		"base64url multibase":     "u" + good[1:],
		"not base58 (0, O, I, l)": "z6Mk0OIl",
		"x25519-pub multicodec":   multi([]byte{0xec, 0x01}, valid),
		"ed25519-priv multicodec": multi([]byte{0x80, 0x26}, valid),
		"multicodec only":         multi([]byte{0xed, 0x01}, nil),
		"key too short":           multi([]byte{0xed, 0x01}, valid[:31]),
		"key too long":            multi([]byte{0xed, 0x01}, append(valid, 0)),
		"raw key, no multicodec":  multi(nil, valid),
		// Publishing the W3C example secret key where a public key belongs must fail.
		"secret key": "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq",
	} {
		t.Run(name, func(t *testing.T) {
			key, err := DecodeMultikey(s)
			if !errors.Is(err, ErrMultikey) {
				t.Fatalf("DecodeMultikey(%q) = %x, %v; want ErrMultikey", s, key, err)
			}
		})
	}
}

func TestEncodeMultikeyPanicsOnBadKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a 31-byte key")
		}
	}()
	EncodeMultikey(make([]byte, 31))
}
