// Package web is the resident-facing web app: a PWA built from web/src into web/dist by
// `make web` (npm and esbuild), embedded into the binary and served at /. See web/README.md.
//
// Hashed assets (/assets/…) are cached for good; the page itself, the service worker and the
// manifest are revalidated on every load. Paths without a file extension that name no file get
// the page (the app routes itself); paths of the API, the feeds and the federation never do.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Options configure the web app.
type Options struct {
	// Basemap is a PMTiles file served at /tiles/basemap.pmtiles. Empty: the app draws its
	// built-in outline (coastlines and borders) instead.
	Basemap string
	// Dev tells the app that the instance clock can move (it then reads /api/dev/clock).
	Dev bool
}

// BasemapPreload is the built app's list of the basemap renderer's chunks, as modulepreload
// links (not served itself: its name starts with a dot).
const BasemapPreload = ".basemap-preload.html"

// BasemapPath is where the basemap is served.
const BasemapPath = "/tiles/basemap.pmtiles"

// Handler serves the web app built into the binary.
func Handler(o Options) http.Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	return NewHandler(files, o)
}

// NewHandler serves the web app from files (a built dist directory).
func NewHandler(files fs.FS, o Options) http.Handler {
	h := &handler{files: map[string]*file{}, basemap: o.Basemap}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(name, ".gz") || strings.HasPrefix(path.Base(name), ".") {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		f := newFile(name, data)
		if gz, err := fs.ReadFile(files, name+".gz"); err == nil {
			f.gz = gz
		}
		h.files[name] = f
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: reading the built app: %v", err))
	}
	if idx, ok := h.files["index.html"]; ok {
		cfg := map[string]any{}
		if o.Basemap != "" {
			cfg["basemap"] = BasemapPath
		}
		if o.Dev {
			cfg["dev"] = true
		}
		js, _ := json.Marshal(cfg)
		head := `<script id="wg-config" type="application/json">` + string(js) + `</script>`
		if o.Basemap != "" {
			// The renderer is needed at once when there is a basemap: fetched with the app,
			// not after it ran (scripts/build.mjs lists its chunks).
			preload, _ := fs.ReadFile(files, BasemapPreload)
			head += "\n" + string(bytes.TrimSpace(preload))
		}
		page := bytes.Replace(idx.data, []byte("<!--WG_CONFIG-->"), []byte(head), 1)
		h.index = newFile("index.html", page)
		h.index.gz = gzipBytes(page)
		delete(h.files, "index.html")
	}
	return h
}

type file struct {
	name  string
	data  []byte
	gz    []byte
	etag  string
	ctype string
}

func newFile(name string, data []byte) *file {
	sum := sha256.Sum256(data)
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".webmanifest":
		ctype = "application/manifest+json"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".json":
		ctype = "application/json"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return &file{name: name, data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
}

type handler struct {
	files   map[string]*file
	index   *file // nil: the app has not been built
	basemap string
}

// pagePolicy lets the page load and talk to nothing but the instance. Styles set from script
// (Leaflet positions everything that way) are not covered by style-src; the JSON island with
// the configuration is not a script the browser runs.
const pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; media-src 'self' blob:; worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// Paths that belong to other parts of the instance: never the page.
var reserved = []string{"/api/", "/ap/", "/.well-known/", "/ws/", "/tiles/"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == BasemapPath {
		h.serveBasemap(w, r)
		return
	}
	for _, prefix := range reserved {
		if strings.HasPrefix(p, prefix) || p == strings.TrimSuffix(prefix, "/") {
			http.NotFound(w, r)
			return
		}
	}
	if h.index == nil {
		notBuilt(w)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if f, ok := h.files[name]; ok {
		switch {
		case strings.HasPrefix(name, "assets/"):
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		case strings.HasPrefix(name, "icons/"):
			w.Header().Set("Cache-Control", "public, max-age=86400")
		default: // sw.js, the manifest: a new build must reach clients at once
			w.Header().Set("Cache-Control", "no-cache")
		}
		serve(w, r, f)
		return
	}
	if name == "" || name == "index.html" || path.Ext(name) == "" {
		hdr := w.Header()
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("Content-Security-Policy", pagePolicy)
		hdr.Set("Referrer-Policy", "same-origin")
		serve(w, r, h.index)
		return
	}
	http.NotFound(w, r)
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	body := f.data
	if f.gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body = f.gz
			hdr.Set("Content-Encoding", "gzip")
			hdr.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-gz"`)
		} else {
			hdr.Set("ETag", f.etag)
		}
	} else {
		hdr.Set("ETag", f.etag)
	}
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0"
		}
	}
	return false
}

// serveBasemap answers range requests into the PMTiles file, as the pmtiles client makes them.
func (h *handler) serveBasemap(w http.ResponseWriter, r *http.Request) {
	if h.basemap == "" {
		http.Error(w, "this instance has no basemap", http.StatusNotFound)
		return
	}
	f, err := os.Open(h.basemap)
	if err != nil {
		http.Error(w, "basemap not readable", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.Error(w, "basemap not readable", http.StatusNotFound)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/vnd.pmtiles")
	hdr.Set("Cache-Control", "public, max-age=3600")
	// The pmtiles client checks that every range comes from the same version of the file. Size
	// and time alone do not tell a rebuild renamed over the old file within the same clock tick
	// of the file system (or copied with its time kept) from the old file; its inode does.
	var inode uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		inode = uint64(sys.Ino)
	}
	hdr.Set("ETag", fmt.Sprintf(`"%x-%x-%x"`, st.Size(), st.ModTime().UnixNano(), inode))
	http.ServeContent(w, r, "basemap.pmtiles", st.ModTime(), f)
}

func notBuilt(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, `<!doctype html><html lang="de"><meta charset="utf-8"><title>Weltgewebe</title>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem">
<h1>Die Web-App ist nicht gebaut</h1>
<p>Diese Instanz läuft und ihre HTTP-API antwortet unter <code>/api/</code>, aber das Programm
wurde ohne die Web-App gebaut. Bau es mit <code>make build</code> (oder <code>make web</code>
vor <code>go build</code>).</p>
<p lang="en">The web app was not built into this binary: run <code>make build</code>.</p>
</body></html>`)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
