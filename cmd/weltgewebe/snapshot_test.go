package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// snapshotSite is an Ortsweberei as `snapshot verify` sees it from outside: an actor with
// the snapshot key, and files under /snapshots/.
type snapshotSite struct {
	srv      *httptest.Server
	instance string
	key      ed25519.PrivateKey
	mu       sync.Mutex
	files    map[string][]byte // name under /snapshots/ → content
	actor    []byte
}

func newSnapshotSite(t *testing.T) *snapshotSite {
	s := &snapshotSite{files: map[string][]byte{}, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ortsweberei", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "application/activity+json") {
			http.Error(w, "html", http.StatusNotAcceptable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write(s.actor)
	})
	mux.HandleFunc("GET /snapshots/{name}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, ok := s.files[r.PathValue("name")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.instance = s.srv.URL + "/ortsweberei"
	s.setActorKey(s.key.Public().(ed25519.PublicKey))
	return s
}

func (s *snapshotSite) setActorKey(pub ed25519.PublicKey) {
	actor, _ := json.Marshal(map[string]any{
		"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/data-integrity/v2"},
		"id":       s.instance, "type": "Group",
		"assertionMethod": []map[string]string{{
			"id": s.instance + "#snapshot-key", "type": "Multikey", "controller": s.instance,
			"publicKeyMultibase": proof.EncodeMultikey(pub),
		}},
	})
	s.mu.Lock()
	s.actor = actor
	s.mu.Unlock()
}

// take writes a snapshot with the given kind/base/previous, stores <hash>.json.gz and
// <hash>.sig, and returns its hash.
func (s *snapshotSite) take(t *testing.T, kind, base, previous string, at int, objects ...string) string {
	t.Helper()
	h := snapshot.Header{
		AsOf: time.Date(2026, 12, 1, at, 0, 0, 0, time.UTC), Instance: s.instance, Kind: kind, Base: base, Previous: previous,
		Position: eventstore.Snapshot{Xmin: uint64(100 + at), Xmax: uint64(100 + at)},
	}
	var doc bytes.Buffer
	zw := gzip.NewWriter(&doc)
	w, err := snapshot.NewWriter(zw, h, nil, s.key)
	if err != nil {
		t.Fatal(err)
	}
	w.Section("knoten")
	for _, id := range objects {
		if err := w.Object(snapshot.Object{ID: id, JSON: json.RawMessage(fmt.Sprintf(`{"id":%q}`, id))}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	zw.Close()
	s.mu.Lock()
	s.files[res.Hash+".json.gz"] = doc.Bytes()
	s.files[res.Hash+".sig"] = snapshot.EncodeSignature(res.Signature)
	s.mu.Unlock()
	return res.Hash
}

func (s *snapshotSite) url(hash string) string { return s.srv.URL + "/snapshots/" + hash + ".json.gz" }

func runVerify(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"snapshot", "verify"}, args...), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestSnapshotVerify(t *testing.T) {
	s := newSnapshotSite(t)
	full := s.take(t, snapshot.KindFull, "", "", 2, "a", "b")
	inc1 := s.take(t, snapshot.KindIncremental, full, full, 6, "b")
	inc2 := s.take(t, snapshot.KindIncremental, full, inc1, 10, "c")

	out, err := runVerify(s.url(inc2))
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	for _, want := range []string{inc2 + "  incremental snapshot of " + s.instance, "← " + inc1, "← " + full, "2 links hold, back to its first snapshot", "OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The same files on disk, with the key given: no actor needed.
	dir := t.TempDir()
	for name, b := range s.files {
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	os.Remove(filepath.Join(dir, full+".json.gz"))
	pub := proof.EncodeMultikey(s.key.Public().(ed25519.PublicKey))
	out, err = runVerify(filepath.Join(dir, inc2+".json.gz"), "--key", pub)
	if err != nil || !strings.Contains(out, "1 links hold; the predecessor "+full+" is not beside it") {
		t.Errorf("verify FILE --key: %v\n%s", err, out)
	}

	// --help says how.
	if out, _ := runVerify("--help"); !strings.Contains(out, "usage: weltgewebe snapshot verify") || !strings.Contains(out, "-key") {
		t.Errorf("--help:\n%s", out)
	}
}

func TestSnapshotVerifyRefuses(t *testing.T) {
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey)
	cases := []struct {
		name string
		// prepare returns the URL to verify and extra arguments.
		prepare func(t *testing.T, s *snapshotSite) (string, []string)
		want    string
	}{
		{"one byte changed", func(t *testing.T, s *snapshotSite) (string, []string) {
			h := s.take(t, snapshot.KindFull, "", "", 2, "a")
			zr, _ := gzip.NewReader(bytes.NewReader(s.files[h+".json.gz"]))
			var plain bytes.Buffer
			plain.ReadFrom(zr)
			s.files[h+".json"] = bytes.Replace(plain.Bytes(), []byte(`{"id":"a"}`), []byte(`{"id":"b"}`), 1)
			return s.srv.URL + "/snapshots/" + h + ".json", nil
		}, "should have hash"},
		{"a swapped .sig", func(t *testing.T, s *snapshotSite) (string, []string) {
			a := s.take(t, snapshot.KindFull, "", "", 2, "a")
			b := s.take(t, snapshot.KindFull, "", "", 3, "b")
			s.files[a+".sig"] = s.files[b+".sig"]
			return s.url(a), nil
		}, "detached signature does not match"},
		{"no .sig", func(t *testing.T, s *snapshotSite) (string, []string) {
			a := s.take(t, snapshot.KindFull, "", "", 2, "a")
			delete(s.files, a+".sig")
			return s.url(a), nil
		}, "the detached signature"},
		{"a wrong key on the actor", func(t *testing.T, s *snapshotSite) (string, []string) {
			a := s.take(t, snapshot.KindFull, "", "", 2, "a")
			s.setActorKey(otherKey)
			return s.url(a), nil
		}, "detached signature does not match"},
		{"a wrong --key", func(t *testing.T, s *snapshotSite) (string, []string) {
			return s.url(s.take(t, snapshot.KindFull, "", "", 2, "a")), []string{"--key", proof.EncodeMultikey(otherKey)}
		}, "detached signature does not match"},
		{"an actor without the key", func(t *testing.T, s *snapshotSite) (string, []string) {
			a := s.take(t, snapshot.KindFull, "", "", 2, "a")
			s.actor = []byte(`{"id":"` + s.instance + `","assertionMethod":[]}`)
			return s.url(a), nil
		}, "lists no " + "http"},
		{"a broken link", func(t *testing.T, s *snapshotSite) (string, []string) {
			a := s.take(t, snapshot.KindFull, "", "", 2, "a")
			b := s.take(t, snapshot.KindFull, "", a, 3, "b")
			// An incremental naming b as previous but a as its base: b is a full one.
			return s.url(s.take(t, snapshot.KindIncremental, a, b, 4, "c")), nil
		}, "names base"},
		{"a predecessor that is not what its name says", func(t *testing.T, s *snapshotSite) (string, []string) {
			a := s.take(t, snapshot.KindFull, "", "", 2, "a")
			b := s.take(t, snapshot.KindIncremental, a, a, 3, "b")
			other := s.take(t, snapshot.KindFull, "", "", 1, "x")
			s.files[a+".json.gz"] = s.files[other+".json.gz"]
			return s.url(b), nil
		}, "should have hash "},
		{"not a snapshot", func(t *testing.T, s *snapshotSite) (string, []string) {
			s.files["x.json"] = []byte(`{"hello":"world"}`)
			return s.srv.URL + "/snapshots/x.json", nil
		}, `the document's first member, "@context"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSnapshotSite(t)
			url, extra := c.prepare(t, s)
			out, err := runVerify(append([]string{url}, extra...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("verify = %v, want an error with %q\n%s", err, c.want, out)
			}
			if strings.Contains(out, "OK") {
				t.Errorf("said OK:\n%s", out)
			}
		})
	}
}
