package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
	"github.com/weltgewebe/weltgewebe/internal/transport"
)

type fixedKey struct{ pub ed25519.PublicKey }

func (k fixedKey) SnapshotKey(context.Context, string, bool) (ed25519.PublicKey, error) {
	return k.pub, nil
}

// A snapshot refused after its download (here: the origin serves a file whose hash is not the
// announced one) is not fetched again: neither by the hourly catch-up, which lists it again
// from the origin's index, nor for a second announcement of the same hash.
func TestRefusedSnapshotIsNotFetchedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

	var fileRequests atomic.Int64
	var origin *httptest.Server
	var hash string
	var sigText, tampered []byte
	origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/snapshots/":
			json.NewEncoder(w).Encode(map[string]any{"instance": origin.URL + "/ap/ortsweberei", "snapshots": []map[string]any{{
				"kind": "full", "as_of": time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC), "hash": hash, "previous": nil, "base": nil,
				"url": "/snapshots/" + hash + ".json.gz", "signature": "/snapshots/" + hash + ".sig"}}})
		case r.URL.Path == "/snapshots/"+hash+".sig":
			w.Write(sigText)
		case r.URL.Path == "/snapshots/"+hash+".json.gz":
			fileRequests.Add(1)
			w.Write(tampered)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	group := origin.URL + "/ap/ortsweberei"

	h := snapshot.Header{AsOf: time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC), Instance: group, Kind: snapshot.KindFull}
	var plain bytes.Buffer
	sw, err := snapshot.NewWriter(&plain, h, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	written, err := sw.Close()
	if err != nil {
		t.Fatal(err)
	}
	hash, sigText = written.Hash, snapshot.EncodeSignature(written.Signature)
	// The same state under another name: another hash than the one announced and signed.
	forged := bytes.Replace(plain.Bytes(), []byte(`"instance":"http://127.0.0.1:`), []byte(`"instance":"http://127.0.0.9:`), 1)
	if bytes.Equal(forged, plain.Bytes()) {
		t.Fatalf("the document has no instance to tamper with: %.300s", plain.Bytes())
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(forged)
	zw.Close()
	tampered = gz.Bytes()

	clk := clock.System{}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Pool: pool, Clock: clk, Dir: t.TempDir(), Keys: fixedKey{key.Public().(ed25519.PublicKey)},
		Blocks: blocks.New(pool, clk, clk), Client: transport.New(transport.Options{AllowLoopback: true, AllowHTTP: true})})
	s.SetRiver(rc)
	w := &worker{s: s}
	// runQueued works each queued mirror job, as River would, and ends it as River would.
	runQueued := func() (reasons []string) {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT id, args FROM river_job WHERE kind = 'federation_mirror_snapshot' AND state = 'available'`)
		if err != nil {
			t.Fatal(err)
		}
		type queued struct {
			id   int64
			args []byte
		}
		var jobs []queued
		for rows.Next() {
			var q queued
			rows.Scan(&q.id, &q.args)
			jobs = append(jobs, q)
		}
		rows.Close()
		for _, q := range jobs {
			var args Args
			if err := json.Unmarshal(q.args, &args); err != nil {
				t.Fatal(err)
			}
			err := w.Work(ctx, &river.Job[Args]{Args: args})
			var cancel *river.JobCancelError
			if !errors.As(err, &cancel) {
				t.Fatalf("the job for the tampered file: %v, want it cancelled", err)
			}
			reasons = append(reasons, err.Error())
			pool.Exec(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, q.id)
		}
		return reasons
	}

	// The first catch-up queues it; the job fetches the file and refuses it.
	if err := s.CatchUp(ctx, []string{group}); err != nil {
		t.Fatal(err)
	}
	if r := runQueued(); len(r) != 1 || !strings.Contains(r[0], "hash") {
		t.Fatalf("the first catch-up's jobs: %v, want one refused for its hash", r)
	}
	// Two more hourly catch-ups, and the origin announces the same hash again.
	for range 2 {
		if err := s.CatchUp(ctx, []string{group}); err != nil {
			t.Fatal(err)
		}
		runQueued()
	}
	n := convert.SnapshotNote{Instance: group, Hash: hash, Kind: "full", AsOf: h.AsOf, URL: origin.URL + "/snapshots/" + hash + ".json.gz",
		SignatureURL: origin.URL + "/snapshots/" + hash + ".sig", Signature: strings.TrimSpace(string(sigText))}
	if err := s.Enqueue(ctx, n); err != nil {
		t.Fatal(err)
	}
	runQueued()
	if got := fileRequests.Load(); got != 1 {
		t.Fatalf("the refused file was fetched %d times, want once", got)
	}
	var reason string
	if err := pool.QueryRow(ctx, `SELECT reason FROM snapshot_mirror_refusals WHERE hash = $1`, hash).Scan(&reason); err != nil ||
		!strings.Contains(reason, "hash") {
		t.Fatalf("the recorded refusal: %q (%v)", reason, err)
	}

}
