package snapshot

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// TestLargeSnapshotBoundedMemory writes a snapshot several times larger than the memory the
// test allows itself, through gzip and a pipe, and reads it back, sampling the heap as it
// goes: neither side may hold the document.
func TestLargeSnapshotBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads ~100 MB")
	}
	const n = 400_000
	pad := strings.Repeat("x", 200)
	var peak uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
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
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("document %d MB, heap in use grew by at most %.1f MB", res.Bytes>>20, float64(grown)/(1<<20))
	if res.Bytes < 80<<20 {
		t.Fatalf("the document is only %d bytes; the test proves nothing", res.Bytes)
	}
	if grown > 24<<20 {
		t.Errorf("heap in use grew by %d MB while streaming a %d MB document", grown>>20, res.Bytes>>20)
	}
}
