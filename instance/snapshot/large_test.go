package snapshot

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestLargeSnapshotBoundedMemory writes a snapshot several times larger than the memory the
// test allows itself, through gzip and a pipe, and reads it back, sampling the heap as it
// goes: neither side may hold the document.
func TestLargeSnapshotBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads ~100 MB")
	}
	if raceDetector {
		t.Skip("a memory bound, measured without the race detector (make test's second pass)")
	}
	const n = 400_000
	pad := strings.Repeat("x", 200)
	var mu sync.Mutex // the writer samples in its goroutine, the reader in the test's
	var peak uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapInuse)
		mu.Unlock()
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	pr, pw := io.Pipe()
	written := make(chan Written, 1)
	go func() {
		zw := gzip.NewWriter(pw)
		w, err := NewWriter(zw, fullHeader(), nil, testKey(1))
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		err = w.Section("knoten")
		for i := 0; i < n && err == nil; i++ {
			id := fmt.Sprintf("%08d", i)
			err = w.Object(Object{ID: id, JSON: json.RawMessage(`{"id":"` + id + `","titel":"` + pad + `"}`)})
			if i%20_000 == 0 {
				sample()
			}
		}
		var res Written
		if err == nil {
			res, err = w.Close()
		}
		if err == nil {
			err = zw.Close()
		}
		written <- res
		pw.CloseWithError(err)
	}()

	count := 0
	doc, err := Read(pr, func(section string, o Object) error {
		if count%20_000 == 0 {
			sample()
		}
		count++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res := <-written
	if count != n || doc.Hash != res.Hash || doc.Bytes != res.Bytes {
		t.Fatalf("read %d objects, hash %s, %d bytes; wrote %d, %s, %d bytes", count, doc.Hash, doc.Bytes, n, res.Hash, res.Bytes)
	}
	if err := verifyBoth(doc, res.Signature, testPub(1)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	grown := int64(peak) - int64(base.HeapInuse)
	mu.Unlock()
	t.Logf("document %d MB, heap in use grew by at most %.1f MB", res.Bytes>>20, float64(grown)/(1<<20))
	if res.Bytes < 80<<20 {
		t.Fatalf("the document is only %d bytes; the test proves nothing", res.Bytes)
	}
	if grown > 24<<20 {
		t.Errorf("heap in use grew by %d MB while streaming a %d MB document", grown>>20, res.Bytes>>20)
	}
}

// TestMergeBoundedMemory merges a large full snapshot with an incremental on it, both
// generated on the fly each time they are opened: the merged state streams through.
func TestMergeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("merges ~60 MB")
	}
	if raceDetector {
		t.Skip("a memory bound, measured without the race detector (make test's second pass)")
	}
	const n = 250_000
	pad := strings.Repeat("y", 200)
	full := fullHeader()
	// The full snapshot's hash is needed for the incremental's header: write it once to learn it.
	gen := func(w io.Writer, h Header, gone map[string][]string, ids func(yield func(string, string) bool)) (Written, error) {
		sw, err := NewWriter(w, h, gone, testKey(1))
		if err != nil {
			return Written{}, err
		}
		if err := sw.Section("knoten"); err != nil {
			return Written{}, err
		}
		for id, v := range ids {
			if err := sw.Object(Object{ID: id, JSON: json.RawMessage(`{"id":"` + id + `","v":"` + v + `"}`)}); err != nil {
				return Written{}, err
			}
		}
		return sw.Close()
	}
	fullIDs := func(yield func(string, string) bool) {
		for i := 0; i < n; i++ {
			if !yield(fmt.Sprintf("%08d", i), pad) {
				return
			}
		}
	}
	// Every 1000th object changed, every 1000th (offset 500) gone.
	incIDs := func(yield func(string, string) bool) {
		for i := 0; i < n; i += 1000 {
			if !yield(fmt.Sprintf("%08d", i), "changed") {
				return
			}
		}
	}
	var incGone []string
	for i := 500; i < n; i += 1000 {
		incGone = append(incGone, fmt.Sprintf("%08d", i))
	}
	fw, err := gen(io.Discard, full, nil, fullIDs)
	if err != nil {
		t.Fatal(err)
	}
	inc := full
	inc.Kind, inc.Base, inc.Previous = KindIncremental, fw.Hash, fw.Hash
	streamed := func(h Header, gone map[string][]string, ids func(func(string, string) bool)) Opener {
		return func() (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() {
				_, err := gen(pw, h, gone, ids)
				pw.CloseWithError(err)
			}()
			return pr, nil
		}
	}
	chain := []Opener{streamed(full, nil, fullIDs), streamed(inc, map[string][]string{"knoten": incGone}, incIDs)}

	runtime.GC()
	var base, m runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	count, changed := 0, 0
	for o, err := range MergeSection(chain, "knoten", MergeOptions{Key: testPub(1)}) {
		if err != nil {
			t.Fatal(err)
		}
		count++
		if strings.HasSuffix(string(o.JSON), `"v":"changed"}`) {
			changed++
		}
		if count%10_000 == 0 {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
	}
	if want := n - n/1000; count != want || changed != n/1000 {
		t.Fatalf("merged %d objects (%d changed), want %d (%d changed)", count, changed, want, n/1000)
	}
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("merged %d objects of ~%d MB, heap in use grew by at most %.1f MB", count, n*230>>20, float64(grown)/(1<<20))
	if grown > 24<<20 {
		t.Errorf("heap in use grew by %d MB while merging", grown>>20)
	}
}
