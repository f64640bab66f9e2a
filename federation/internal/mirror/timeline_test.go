package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

const timelineHost = "a.example"

// mirrorSnapshot writes a full snapshot of a.example with the given Fäden (each with a body of
// fadenBytes bytes) and one Knoten into s's directory and records it as mirrored.
func mirrorSnapshot(t *testing.T, s *Service, faeden, fadenBytes int) time.Time {
	t.Helper()
	asOf := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	h := snapshot.Header{AsOf: asOf, Instance: "https://" + timelineHost + "/ap/ortsweberei", Kind: snapshot.KindFull}
	var plain bytes.Buffer
	w, err := snapshot.NewWriter(&plain, h, nil, ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	w.Section("faeden")
	body := strings.Repeat("x", fadenBytes)
	for i := range faeden {
		id := fmt.Sprintf("f%06d", i)
		raw, _ := json.Marshal(map[string]any{"id": id, "knoten_id": "k1", "text": body})
		w.Object(snapshot.Object{ID: id, JSON: raw})
	}
	w.Section("knoten")
	w.Object(snapshot.Object{ID: "k1", JSON: json.RawMessage(`{"id":"k1","lat":51.3,"lon":12.3,"dissolved_at":null}`)})
	written, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	dir := filepath.Join(s.cfg.Dir, timelineHost)
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, written.Hash+".json.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cfg.Pool.Exec(context.Background(), `
INSERT INTO snapshot_mirrors (origin, hash, instance, kind, as_of, bytes, signature, public_key, source_url, verified_at)
VALUES ($1, $2, $3, 'full', $4, $5, 'sig', 'z6Mk', 'https://a.example/x', now())`,
		timelineHost, written.Hash, h.Instance, asOf, gz.Len()); err != nil {
		t.Fatal(err)
	}
	return asOf
}

// blockingReader stops at its first Read until released, telling started once it is there.
type blockingReader struct {
	r                 io.Reader
	started, released chan struct{}
	once              bool
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if !b.once {
		b.once = true
		close(b.started)
		<-b.released
	}
	return b.r.Read(p)
}

// Anyone may ask for a mirrored timeline, and each read parses a whole snapshot: while one is
// being read, a second is turned away (ErrBusy, the 503 mirror_busy) instead of piling up.
func TestMirrorTimelineReadsOneAtATime(t *testing.T) {
	t.Parallel()
	s := New(Config{Pool: pgtest.Pool(t), Dir: t.TempDir()})
	asOf := mirrorSnapshot(t, s, 3, 10)
	started, released := make(chan struct{}), make(chan struct{})
	s.SetReadHook(func(r io.Reader) io.Reader {
		return &blockingReader{r: r, started: started, released: released}
	})
	first := make(chan error, 1)
	go func() {
		st, err := s.At(context.Background(), timelineHost, asOf, Box{})
		if err == nil && len(st.Objects["faeden"]) != 3 {
			err = fmt.Errorf("%d Fäden, want 3", len(st.Objects["faeden"]))
		}
		first <- err
	}()
	<-started
	s.SetReadHook(nil)
	if _, err := s.At(context.Background(), timelineHost, asOf, Box{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second read while one is in progress: %v, want ErrBusy", err)
	}
	close(released)
	if err := <-first; err != nil {
		t.Fatalf("the first read: %v", err)
	}
	// Once the first is done, the next one is read.
	if _, err := s.At(context.Background(), timelineHost, asOf, Box{}); err != nil {
		t.Fatalf("a read after the first ended: %v", err)
	}
}

// A hostile neighbour's snapshot may hold many large Fäden, which wait in memory for their
// Knoten (the file's order puts "faeden" first): past TimelineBytes the read is refused.
func TestMirrorTimelineBoundsTheMemoryHeld(t *testing.T) {
	t.Parallel()
	s := New(Config{Pool: pgtest.Pool(t), Dir: t.TempDir(), TimelineBytes: 1 << 20})
	asOf := mirrorSnapshot(t, s, 40, 64<<10) // 40 Fäden of 64 KiB: 2.5 MiB
	if _, err := s.At(context.Background(), timelineHost, asOf, Box{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a snapshot with 2.5 MiB of Fäden under a 1 MiB bound: %v, want ErrTooLarge", err)
	}
}
