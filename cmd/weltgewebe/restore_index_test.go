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
	_, err := fetchChainCandidates(context.Background(), v, srv.URL+"/snapshots/", spool)
	for _, name := range []string{"escaped.json.gz", "escaped.sig"} {
		if _, statErr := os.Stat(filepath.Join(root, name)); statErr == nil {
			t.Errorf("%s was written outside the spool directory", name)
		}
	}
	if err == nil {
		t.Error("an index naming a path as hash was accepted")
	}
}
