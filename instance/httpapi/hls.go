package httpapi

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
)

// HLS from an ingest this instance runs itself (serve --ingest, docs/STREAMS.md "The ingest
// in one binary"): with no nginx in front, the instance serves nginx-rtmp's files at /hls/ as
// the production nginx's locations do (deploy/nginx/weltgewebe.conf): the same two names,
// the same cache headers, 404 for anything else. A playlist changes with every segment:
// revalidated on each request. A segment never changes (its name is the clock's
// milliseconds): cached for a year.
var (
	hlsPlaylist = regexp.MustCompile(`^/hls/[0-9a-f-]+\.m3u8$`)
	hlsSegment  = regexp.MustCompile(`^/hls/[0-9a-f-]+-[0-9]+\.ts$`)
)

func (s *Server) hls(w http.ResponseWriter, r *http.Request) {
	var typ, cache string
	switch p := r.URL.Path; {
	case hlsPlaylist.MatchString(p):
		typ, cache = "application/vnd.apple.mpegurl", "no-cache"
	case hlsSegment.MatchString(p):
		typ, cache = "video/mp2t", "public, max-age=31536000, immutable"
	default:
		http.NotFound(w, r)
		return
	}
	// The patterns allow neither a slash nor a dot-dot: the name stays inside HLSDir.
	f, err := os.Open(filepath.Join(s.HLSDir, filepath.Base(r.URL.Path)))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.Log.WarnContext(r.Context(), "hls: open", "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", cache)
	http.ServeContent(w, r, "", st.ModTime(), f)
}
