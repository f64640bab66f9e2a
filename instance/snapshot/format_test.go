package snapshot

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

const testInstance = "https://ort.example/ortsweberei"

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testPub(seed byte) ed25519.PublicKey { return testKey(seed).Public().(ed25519.PublicKey) }

func fullHeader() Header {
	return Header{
		AsOf:     time.Date(2026, 12, 5, 1, 0, 0, 123000, time.UTC),
		Instance: testInstance,
		Kind:     KindFull,
		Position: eventstore.Snapshot{Xmin: 1040, Xmax: 1044, Running: []uint64{1042, 1041}},
	}
}

// sections is test content: per section, objects in the order to write them.
type sections = []struct {
	name    string
	objects []Object
}

func obj(id string, members string) Object {
	if members != "" {
		members = "," + members
	}
	return Object{ID: id, JSON: json.RawMessage(fmt.Sprintf(`{"id":%q%s}`, id, members))}
}

// write writes a document and returns its bytes and what Close said.
func write(t testing.TB, h Header, gone map[string][]string, content sections) ([]byte, Written) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h, gone, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range content {
		if err := w.Section(s.name); err != nil {
			t.Fatal(err)
		}
		for _, o := range s.objects {
			if err := w.Object(o); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

var sampleContent = sections{
	{"faeden", []Object{obj("f1", `"von":"k1","nach":"k2"`)}},
	{"garnrollen", nil},
	{"knoten", []Object{
		// Not canonical as given: member order, whitespace, an escaped "<", a number with
		// an exponent. The writer canonicalises.
		{ID: "k1", JSON: json.RawMessage(`{ "titel": "Gemeinschafts\u003cgarten>", "id": "k1", "lat": 5.35e1 }`)},
		obj("k2", `"titel":"Ä\n\"quoted\"","tags":["a","b"],"n":{"z":1,"a":[true,null]}`),
		obj("k\u00e4", `"titel":"non-ASCII id"`),
	}},
}

func TestWriteReadRoundTrip(t *testing.T) {
	doc, res := write(t, fullHeader(), nil, sampleContent)

	// The whole document is one canonical JSON object, as JCS writes it.
	if c, err := jcs.Transform(doc); err != nil || !bytes.Equal(c, doc) {
		t.Fatalf("document is not canonical (%v):\n%s\n%s", err, doc, c)
	}
	if res.Objects != 4 || res.Bytes != int64(len(doc)) {
		t.Errorf("Written %+v for %d bytes", res, len(doc))
	}
	if !strings.Contains(string(doc), `"position":{"running":[1041,1042],"xmax":1044,"xmin":1040}`) {
		t.Errorf("position not as expected in %s", doc)
	}

	for _, gz := range []bool{false, true} {
		in := doc
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(doc)
			zw.Close()
			in = b.Bytes()
		}
		var got []string
		d, err := Read(bytes.NewReader(in), func(section string, o Object) error {
			got = append(got, section+"/"+o.ID+" "+string(o.JSON))
			return nil
		})
		if err != nil {
			t.Fatalf("Read (gzip %v): %v", gz, err)
		}
		want := []string{
			`faeden/f1 {"id":"f1","nach":"k2","von":"k1"}`,
			`knoten/k1 {"id":"k1","lat":53.5,"titel":"Gemeinschafts<garten>"}`,
			`knoten/k2 {"id":"k2","n":{"a":[true,null],"z":1},"tags":["a","b"],"titel":"Ä\n\"quoted\""}`,
			`knoten/kä {"id":"kä","titel":"non-ASCII id"}`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("objects read:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if d.Hash != res.Hash {
			t.Errorf("hash read %s, written %s", d.Hash, res.Hash)
		}
		h := fullHeader()
		if !d.AsOf.Equal(h.AsOf) || d.Kind != KindFull || d.Instance != testInstance || d.Base != "" || d.Previous != "" ||
			fmt.Sprint(d.Position) != "{1040 1044 [1041 1042]}" || len(d.Gone) != 0 ||
			strings.Join(d.Sections, ",") != "faeden,garnrollen,knoten" || d.Objects != 4 {
			t.Errorf("document read: %+v", d)
		}
		if err := verifyBoth(d, res.Signature, testPub(1)); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	inc := fullHeader()
	inc.Kind, inc.Base = KindIncremental, strings.Repeat("ab", 32)
	cases := []struct {
		name   string
		header Header
		gone   map[string][]string
		steps  func(w *Writer) error
		want   string
	}{
		{"out-of-order ids", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			w.Object(obj("b", ""))
			return w.Object(obj("a", ""))
		}, "strictly ascending"},
		{"duplicate ids", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			w.Object(obj("a", ""))
			return w.Object(obj("a", ""))
		}, "strictly ascending"},
		{"sections out of order", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			return w.Section("faeden")
		}, "names must be strictly ascending"},
		{"id differs from JSON", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			return w.Object(Object{ID: "a", JSON: json.RawMessage(`{"id":"b"}`)})
		}, `has "id" "b"`},
		{"no id", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			return w.Object(Object{ID: "a", JSON: json.RawMessage(`{"x":1}`)})
		}, `no string member "id"`},
		{"broken JSON", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			return w.Object(Object{ID: "a", JSON: json.RawMessage(`{"id":"a","x":`)})
		}, "not one JSON object"},
		{"an array", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			return w.Object(Object{ID: "a", JSON: json.RawMessage(`["id"]`)})
		}, "not a JSON object"},
		{"too deep", fullHeader(), nil, func(w *Writer) error {
			w.Section("knoten")
			return w.Object(Object{ID: "a", JSON: json.RawMessage(`{"id":"a","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`)})
		}, "nested deeper"},
		{"object and gone", inc, map[string][]string{"knoten": {"a"}}, func(w *Writer) error {
			w.Section("knoten")
			return w.Object(obj("a", ""))
		}, "both an object and gone"},
		{"calls after an error", fullHeader(), nil, func(w *Writer) error {
			w.Section("B")
			w.Section("knoten")
			_, err := w.Close()
			return err
		}, "bad section name"},
	}
	for _, c := range cases {
		w, err := NewWriter(io.Discard, c.header, c.gone, testKey(1))
		if err != nil {
			t.Fatalf("%s: NewWriter: %v", c.name, err)
		}
		if err := c.steps(w); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}

	bad := []struct {
		name string
		edit func(h *Header)
		gone map[string][]string
		want string
	}{
		{"full with base", func(h *Header) { h.Base = strings.Repeat("0", 64) }, nil, "no base"},
		{"full with gone", func(h *Header) {}, map[string][]string{"knoten": {"x"}}, "no gone"},
		{"incremental without base", func(h *Header) { h.Kind = KindIncremental }, nil, "needs the hash of its base"},
		{"bad previous", func(h *Header) { h.Previous = "ABC" }, nil, "previous"},
		{"bad kind", func(h *Header) { h.Kind = "partial" }, nil, "kind"},
		{"relative instance", func(h *Header) { h.Instance = "/ortsweberei" }, nil, "instance"},
		{"running outside", func(h *Header) { h.Position.Running = []uint64{9999} }, nil, "outside"},
		{"huge position", func(h *Header) { h.Position.Xmax = 1 << 60 }, nil, "2^53"},
		{"nanoseconds", func(h *Header) { h.AsOf = h.AsOf.Add(1) }, nil, "microsecond"},
	}
	for _, c := range bad {
		h := fullHeader()
		c.edit(&h)
		if _, err := NewWriter(io.Discard, h, c.gone, testKey(1)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewWriter = %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestStringsAsJCS: the envelope's strings are written as JCS writes them.
func TestStringsAsJCS(t *testing.T) {
	for _, s := range []string{"", "a", "\"\\/", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "<>&", "Ä€😀", "\u2028\u2029"} {
		m, _ := json.Marshal(s)
		want, err := jcs.Transform(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, JCS %s", s, got, want)
		}
		// And the reader reads it back.
		src := newSource(bytes.NewReader(want))
		if got, err := src.str(100, "s"); err != nil || got != s {
			t.Errorf("str(%s) = %q, %v", want, got, err)
		}
	}
}

func TestReadRefusesTampering(t *testing.T) {
	inc := fullHeader()
	inc.Kind, inc.Base, inc.Previous = KindIncremental, strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	doc, res := write(t, inc, map[string][]string{"knoten": {"k0", "k9"}}, sampleContent)
	if _, err := Read(bytes.NewReader(doc), nil); err != nil {
		t.Fatalf("the untouched document: %v", err)
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(doc, []byte(old)) {
			t.Fatalf("%q not in the document", old)
		}
		return bytes.Replace(doc, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		doc  []byte
		want string // in the error from Read, or "" when Read succeeds and Verify must fail
	}{
		{"a reordered member", replace(`{"id":"f1","nach":"k2","von":"k1"}`, `{"nach":"k2","id":"f1","von":"k1"}`), "not in canonical form"},
		{"whitespace", replace(`"id":"f1",`, `"id": "f1",`), "not in canonical form"},
		{"a non-canonical number", replace(`"lat":53.5`, `"lat":5.35e1`), "not in canonical form"},
		{"reordered objects", replace(`{"id":"k1",`, `{"id":"k3",`), "strictly ascending"},
		{"an unknown member", replace(`"format":`, `"foo":1,"format":`), `want member "format"`},
		{"a missing member", replace(`,"kind":"incremental"`, ``), `want member "kind"`},
		{"another format", replace(Format, "weltgewebe-snapshot/2"), "format"},
		{"empty gone list", replace(`"gone":{"knoten":["k0","k9"]}`, `"gone":{"faeden":[],"knoten":["k0","k9"]}`), "is empty"},
		{"unsorted gone", replace(`["k0","k9"]`, `["k9","k0"]`), "strictly ascending"},
		{"gone and present", replace(`["k0","k9"]`, `["k0","k1"]`), "both an object and gone"},
		{"incremental without base", replace(`"base":"`+inc.Base+`"`, `"base":null`), "without a base"},
		{"kind full with gone", replace(`"kind":"incremental"`, `"kind":"full"`), "a full snapshot with"},
		{"uppercase hash", replace(inc.Previous, strings.ToUpper(inc.Previous)), "lowercase hex"},
		{"a trailing newline", append(bytes.Clone(doc), '\n'), "bytes after the document"},
		{"truncated", doc[:len(doc)-10], "ends"},
		{"leading zero", replace(`"xmax":1044`, `"xmax":01044`), "canonical form"},
		{"huge string", replace(`"instance":"`, `"instance":"`+strings.Repeat("x", 5000)), "longer than"},
		{"deep nesting", replace(`"tags":["a","b"]`, `"tags":`+strings.Repeat("[", 100000)), "nested deeper"},
		{"huge number", replace(`"xmin":1040`, `"xmin":`+strings.Repeat("9", 1000)), "digits"},
		{"a huge number in an object", replace(`"lat":53.5`, `"lat":`+strings.Repeat("1", 1<<20)), "canonicalization"},
		{"a huge string in an object", replace(`"titel":"non-ASCII id"`, `"titel":"`+strings.Repeat("x", MaxObjectBytes)+`"`), "longer than"},
		{"escaped slash", replace(`"titel":"non-ASCII id"`, `"titel":"non\/ASCII id"`), "not in canonical form"},
		// Canonical and well-formed, but not what was signed.
		{"one byte in an object", replace(`"von":"k1"`, `"von":"k3"`), ""},
	}
	for _, c := range cases {
		d, err := Read(bytes.NewReader(c.doc), nil)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: Read: %v", c.name, err)
				continue
			}
			if err := verifyBoth(d, res.Signature, testPub(1)); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "detached signature") {
				t.Errorf("%s: Verify = %v, want the detached signature refused", c.name, err)
			}
			if err := VerifyDocument(d, testPub(1)); !errors.Is(err, ErrVerify) {
				t.Errorf("%s: VerifyProof = %v, want refused", c.name, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Read = %v, want ErrFormat with %q", c.name, err, c.want)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	doc, res := write(t, fullHeader(), nil, sampleContent)
	d, err := Read(bytes.NewReader(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, other := write(t, fullHeader(), nil, sampleContent[:1])
	if err := verifyBoth(d, other.Signature, testPub(1)); err == nil || !strings.Contains(err.Error(), "detached signature") {
		t.Errorf("swapped .sig: %v", err)
	}
	if err := verifyBoth(d, res.Signature, testPub(2)); err == nil {
		t.Errorf("wrong key: accepted")
	}
	if err := VerifyDocument(d, testPub(2)); !errors.Is(err, ErrVerify) {
		t.Errorf("wrong key, proof: %v", err)
	}
	sig, err := DecodeSignature(append(EncodeSignature(res.Signature), '\n'))
	if err != nil || !bytes.Equal(sig, res.Signature) {
		t.Errorf("DecodeSignature(EncodeSignature) = %x, %v", sig, err)
	}
	if _, err := DecodeSignature([]byte("AAAA")); err == nil {
		t.Errorf("DecodeSignature of 3 bytes: accepted")
	}
}

// verifyBoth checks the detached signature and the proof.
func verifyBoth(d *Document, sig []byte, pub ed25519.PublicKey) error {
	if err := VerifyDetached(d.Hash, sig, pub); err != nil {
		return err
	}
	return VerifyDocument(d, pub)
}

// An instance without sections still has a snapshot: "objects":{}.
func TestEmptySnapshot(t *testing.T) {
	doc, res := write(t, fullHeader(), nil, nil)
	if !strings.Contains(string(doc), `"objects":{},"position"`) {
		t.Errorf("empty snapshot: %s", doc)
	}
	d, err := Read(bytes.NewReader(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Objects != 0 || len(d.Sections) != 0 || verifyBoth(d, res.Signature, testPub(1)) != nil {
		t.Errorf("empty snapshot read: %+v", d)
	}
}
