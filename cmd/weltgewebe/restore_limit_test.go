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

// restore --from-snapshots URL downloads into $TMPDIR: a server sending more than --max-bytes
// is cut off with an error naming the bound, whether it announces the length or not, and
// nothing of the file stays in the spool.
func TestRestoreDownloadIsBounded(t *testing.T) {
	t.Parallel()
	hash := strings.Repeat("a", 64)
	const limit = 1000
	for _, tc := range []struct {
		name          string
		size          int
		contentLength bool
		refused       bool
	}{
		{"larger, with Content-Length", 5000, true, true},
		{"larger, without Content-Length", 5000, false, true},
		{"exactly the bound", limit, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			mux.HandleFunc("GET /snapshots/", func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/snapshots/":
					fmt.Fprintf(w, `{"snapshots":[{"kind":"full","as_of":"2026-12-01T01:00:00Z","hash":%q,"base":"","url":"/snapshots/%[1]s.json.gz","signature":"/snapshots/%[1]s.sig"}]}`, hash)
				case "/snapshots/" + hash + ".json.gz":
					if tc.contentLength {
						w.Header().Set("Content-Length", fmt.Sprint(tc.size))
					} else {
						w.(http.Flusher).Flush() // headers out before the body: chunked, no length
					}
					w.Write([]byte(strings.Repeat("x", tc.size)))
				default:
					fmt.Fprint(w, "sig")
				}
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			spool := t.TempDir()
			_, err := fetchChainCandidates(context.Background(), &verifier{client: srv.Client()}, srv.URL+"/snapshots/", spool, limit)
			if !tc.refused {
				if err != nil {
					t.Fatalf("a file of exactly --max-bytes: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("--max-bytes %d", limit)) {
				t.Fatalf("a %d-byte file under --max-bytes %d: %v, want an error naming the bound", tc.size, limit, err)
			}
			if _, err := os.Stat(filepath.Join(spool, hash+".json.gz")); err == nil {
				t.Error("the cut-off file stays in the spool")
			}
		})
	}
}
