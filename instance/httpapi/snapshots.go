package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// The snapshots are served read-only under /snapshots/ (docs/SNAPSHOTS.md, "Serving"): an index
// by date, and each snapshot's two files at a URL named by its hash, which never changes what
// it serves.

func (s *Server) snapshotRoutes() {
	if s.Snapshots == nil {
		return
	}
	// One pattern for the whole tree, so that every name below it — a well-formed one or not —
	// is answered here, in JSON, and never by the web app.
	s.handle("GET /snapshots/", s.snapshots)
}

type snapshotIndexJSON struct {
	Instance  string              `json:"instance"` // the actor whose assertionMethod holds the key
	Key       string              `json:"key"`      // the key's id there
	Snapshots []snapshotEntryJSON `json:"snapshots"`
}

type snapshotEntryJSON struct {
	Date      string    `json:"date"` // the local date (the Ortsweberei's time zone) of as_of
	Kind      string    `json:"kind"`
	AsOf      time.Time `json:"as_of"`
	Hash      string    `json:"hash"`
	Previous  *string   `json:"previous"`
	Base      *string   `json:"base"`
	Bytes     int64     `json:"bytes"`
	URL       string    `json:"url"`
	Signature string    `json:"signature"`
}

var errNoSnapshot = fault.NotFoundf("snapshot_not_found",
	"There is no snapshot by this name; GET /snapshots/ lists them (<hash>.json.gz and <hash>.sig).")

// immutable is how long a cache may keep a snapshot's file: a year, the longest RFC 9111 asks
// caches to honour; the content of a hash's URL never changes.
const immutable = "public, max-age=31536000, immutable"

func (s *Server) snapshots(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(r.URL.Path, "/snapshots/")
	if name == "" {
		return s.snapshotIndex(w, r)
	}
	// The name must be exactly <64 lowercase hex>.json.gz or .sig: nothing else is looked up,
	// and the file opened is the one the service names from the hash, so no path can reach
	// outside the directory.
	hash, suffix, ok := splitSnapshotName(name)
	if !ok {
		return errNoSnapshot
	}
	open, contentType := s.Snapshots.Open, "application/gzip"
	if suffix == ".sig" {
		open, contentType = s.Snapshots.OpenSignature, "text/plain; charset=us-ascii"
	}
	f, _, err := open(r.Context(), hash)
	if errors.Is(err, snapshot.ErrNoSnapshot) {
		return errNoSnapshot
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Cache-Control", immutable)
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match with 304 (the ETag above), HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, f)
	return nil
}

func splitSnapshotName(name string) (hash, suffix string, ok bool) {
	for _, suffix := range []string{".json.gz", ".sig"} {
		if hash, found := strings.CutSuffix(name, suffix); found && isHash(hash) {
			return hash, suffix, true
		}
	}
	return "", "", false
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func (s *Server) snapshotIndex(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.Snapshots.List(r.Context())
	if err != nil {
		return err
	}
	loc := s.Snapshots.Schedule().Location
	out := snapshotIndexJSON{Instance: s.Snapshots.Instance(), Key: snapshot.KeyID(s.Snapshots.Instance()),
		Snapshots: make([]snapshotEntryJSON, 0, len(rs))}
	for _, rec := range rs {
		e := snapshotEntryJSON{Date: rec.AsOf.In(loc).Format(time.DateOnly), Kind: rec.Kind, AsOf: rec.AsOf, Hash: rec.Hash,
			Bytes: rec.Bytes, URL: "/snapshots/" + rec.Hash + ".json.gz", Signature: "/snapshots/" + rec.Hash + ".sig"}
		if rec.Previous != "" {
			e.Previous = &rec.Previous
		}
		if rec.Base != "" {
			e.Base = &rec.Base
		}
		out.Snapshots = append(out.Snapshots, e)
	}
	respond.JSON(w, http.StatusOK, out)
	return nil
}
