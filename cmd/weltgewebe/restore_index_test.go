package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// A hostile index served to restore --from-snapshots URL names a "hash" that starts like one
// and climbs out of the spool directory: it is refused, and nothing is written outside the spool.
func TestRestoreIndexHashCannotLeaveTheSpool(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	spool := filepath.Join(root, "spool")
	if err := os.Mkdir(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	evil := strings.Repeat("a", 64) + "./../../escaped"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshots/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/snapshots/" {
			fmt.Fprintf(w, `{"snapshots":[{"kind":"full","as_of":"2026-12-01T01:00:00Z","hash":%q,"base":"","url":"/snapshots/x.json.gz","signature":"/snapshots/x.sig"}]}`, evil)
			return
		}
		fmt.Fprint(w, "written by the hostile server")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	v := &verifier{client: srv.Client()}
	_, err := fetchChainCandidates(context.Background(), v, srv.URL+"/snapshots/", spool, defaultMaxDownloadBytes)
	for _, name := range []string{"escaped.json.gz", "escaped.sig"} {
		if _, statErr := os.Stat(filepath.Join(root, name)); statErr == nil {
			t.Errorf("%s was written outside the spool directory", name)
		}
	}
	if err == nil {
		t.Error("an index naming a path as hash was accepted")
	}
}

// A chain taken with incrementals every hour (--snapshot-every 1h) is recorded with one slot
// per snapshot and kind: before, two incrementals in one default 4-hour slot made the
// restore fail ("fills the incremental slot …, already taken").
func TestRestoredSlotsAreUniquePerKind(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	docs := []*snapshot.Document{
		{Header: snapshot.Header{Kind: snapshot.KindFull, AsOf: at("2026-12-05T02:00:00Z")}},
		{Header: snapshot.Header{Kind: snapshot.KindIncremental, AsOf: at("2026-12-05T03:00:00Z")}},
		{Header: snapshot.Header{Kind: snapshot.KindIncremental, AsOf: at("2026-12-05T04:00:00Z")}},
		{Header: snapshot.Header{Kind: snapshot.KindIncremental, AsOf: at("2026-12-05T07:00:00Z")}},
		{Header: snapshot.Header{Kind: snapshot.KindIncremental, AsOf: at("2026-12-05T08:00:00Z")}},
	}
	seen := map[string]bool{}
	for i, slot := range restoredSlots(docs) {
		key := docs[i].Kind + " " + slot.UTC().String()
		if seen[key] {
			t.Errorf("snapshot %d (%s at %s) gets the slot %s twice", i, docs[i].Kind, docs[i].AsOf, slot)
		}
		seen[key] = true
		if slot.After(docs[i].AsOf) {
			t.Errorf("snapshot %d: slot %s after its as_of %s", i, slot, docs[i].AsOf)
		}
	}
}
