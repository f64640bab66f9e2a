package snapshot

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func opener(b []byte) Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// testChain is a full snapshot and two incrementals on it.
func testChain(t *testing.T) (full, inc1, inc2 []byte) {
	t.Helper()
	h := fullHeader()
	full, fw := write(t, h, nil, sections{
		{"faeden", []Object{obj("f1", `"v":0`), obj("f2", `"v":0`)}},
		{"knoten", []Object{obj("k1", `"v":0`), obj("k2", `"v":0`), obj("k3", `"v":0`)}},
	})
	h.Kind, h.Base, h.Previous = KindIncremental, fw.Hash, fw.Hash
	h.AsOf = h.AsOf.Add(4 * time.Hour)
	inc1, w1 := write(t, h, map[string][]string{"knoten": {"k2"}, "faeden": {"f1"}}, sections{
		{"faeden", nil},
		{"knoten", []Object{obj("k1", `"v":1`), obj("k4", `"v":1`)}},
	})
	h.Previous = w1.Hash
	h.AsOf = h.AsOf.Add(4 * time.Hour)
	inc2, _ = write(t, h, map[string][]string{"knoten": {"k4"}}, sections{
		// f1 comes back; a section only the incremental has.
		{"faeden", []Object{obj("f1", `"v":2`)}},
		{"garn", []Object{obj("g1", `"v":2`)}},
		{"knoten", []Object{obj("k2", `"v":2`), obj("k3", `"v":2`)}},
	})
	return full, inc1, inc2
}

func TestMerge(t *testing.T) {
	full, inc1, inc2 := testChain(t)
	var got []string
	for e, err := range Merge([]Opener{opener(full), opener(inc1), opener(inc2)}, MergeOptions{Key: testPub(1)}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Section+"/"+string(e.JSON))
	}
	want := []string{
		`faeden/{"id":"f1","v":2}`,
		`faeden/{"id":"f2","v":0}`,
		`garn/{"id":"g1","v":2}`,
		`knoten/{"id":"k1","v":1}`,
		`knoten/{"id":"k2","v":2}`,
		`knoten/{"id":"k3","v":2}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Merge:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Up to the first incremental only.
	got = nil
	for o, err := range MergeSection([]Opener{opener(full), opener(inc1)}, "knoten", MergeOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(o.JSON))
	}
	want = []string{`{"id":"k1","v":1}`, `{"id":"k3","v":0}`, `{"id":"k4","v":1}`}
	if !slices.Equal(got, want) {
		t.Errorf("MergeSection(knoten):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMergeRefusesBrokenChains(t *testing.T) {
	full, inc1, inc2 := testChain(t)
	other, _ := write(t, fullHeader(), nil, sections{{"knoten", []Object{obj("x", "")}}})
	cases := []struct {
		name  string
		chain [][]byte
		opts  MergeOptions
		want  string
	}{
		{"a missing link", [][]byte{full, inc2}, MergeOptions{}, "as previous"},
		{"another full snapshot", [][]byte{other, inc1}, MergeOptions{}, "as previous"},
		{"starts with an incremental", [][]byte{inc1, inc2}, MergeOptions{}, "starts with a full"},
		{"two full snapshots", [][]byte{full, full}, MergeOptions{}, "only the first"},
		{"wrong key", [][]byte{full, inc1}, MergeOptions{Key: testPub(2)}, "proof"},
		{"tampered", [][]byte{full, bytes.Replace(inc1, []byte(`"v":1`), []byte(`"v":7`), 1)}, MergeOptions{Key: testPub(1)}, "signature invalid"},
	}
	for _, c := range cases {
		var chain []Opener
		for _, b := range c.chain {
			chain = append(chain, opener(b))
		}
		var last error
		n := 0
		for _, err := range Merge(chain, c.opts) {
			n++
			last = err
		}
		if last == nil || !strings.Contains(last.Error(), c.want) || !errors.Is(last, ErrVerify) {
			t.Errorf("%s: last of %d yields: %v, want ErrVerify with %q", c.name, n, last, c.want)
		}
	}
}
