package snapshot

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
)

// FuzzRead: whatever the input, Read does not panic, and what it accepts is one canonical
// JSON document whose hash it computed from exactly those bytes.
func FuzzRead(f *testing.F) {
	doc, _ := write(f, fullHeader(), nil, sampleContent)
	f.Add(doc)
	inc := fullHeader()
	inc.Kind, inc.Base, inc.Previous = KindIncremental, strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	doc2, _ := write(f, inc, map[string][]string{"knoten": {"k0", "k9"}}, sampleContent)
	f.Add(doc2)
	f.Add([]byte(`{"@context":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var objects int64
		d, err := Read(bytes.NewReader(b), func(string, Object) error { objects++; return nil })
		if err != nil {
			return
		}
		if b[0] == 0x1f {
			return // gzip: the canonical check below is for plain input
		}
		if c, err := jcs.Transform(b); err != nil || !bytes.Equal(c, b) {
			t.Fatalf("accepted a document that is not canonical (%v):\n%q", err, b)
		}
		if d.Objects != objects || d.Bytes != int64(len(b)) {
			t.Fatalf("counted %d objects, %d bytes of %d", d.Objects, d.Bytes, len(b))
		}
	})
}
