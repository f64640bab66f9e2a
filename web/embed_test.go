package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

var built = fstest.MapFS{
	"index.html":              {Data: []byte(`<html><head><!--WG_CONFIG--></head><body>app</body></html>`)},
	"sw.js":                   {Data: []byte(`self.x=1`)},
	"manifest.webmanifest":    {Data: []byte(`{}`)},
	"assets/app-ABC.js":       {Data: []byte(`console.log("app")`)},
	"assets/app-ABC.js.gz":    {Data: gzipBytes([]byte(`console.log("app")`))},
	"assets/app-ABC.css":      {Data: []byte(`body{}`)},
	"icons/icon-192.png":      {Data: []byte("\x89PNG")},
	".keep":                   {Data: nil},
	"assets/outline-1_2.json": {Data: []byte(`{"coast":[]}`)},
	"assets/esm-XYZ.js":       {Data: []byte(`class PMTiles{}`)},
	BasemapPreload:            {Data: []byte(`<link rel="modulepreload" href="/assets/esm-XYZ.js">` + "\n")},
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAppRoutesGetThePage(t *testing.T) {
	h := NewHandler(built, Options{})
	for _, p := range []string{"/", "/index.html", "/knoten/123", "/webrat", "/streams", "/streams/01a245b9-84f3-7b66-8a1e-c9986296d566"} {
		rec := get(t, h, p)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<body>app</body>") {
			t.Errorf("%s: %d %q, want the page", p, rec.Code, rec.Body.String())
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", p, cc)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "media-src 'self' blob:") {
			t.Errorf("%s: Content-Security-Policy %q", p, csp)
		}
	}
}

func TestOtherPartsOfTheInstanceNeverGetThePage(t *testing.T) {
	h := NewHandler(built, Options{})
	for _, p := range []string{"/api/nothing", "/ap/actor", "/.well-known/webfinger", "/ws/map", "/tiles/x.pmtiles", "/api", "/assets/missing.js", "/favicon.ico"} {
		if rec := get(t, h, p); rec.Code != 404 || strings.Contains(rec.Body.String(), "app") {
			t.Errorf("%s: %d %q, want 404 without the page", p, rec.Code, rec.Body.String())
		}
	}
}

func TestCacheHeaders(t *testing.T) {
	h := NewHandler(built, Options{})
	cases := map[string]string{
		"/assets/app-ABC.js":    "public, max-age=31536000, immutable",
		"/assets/app-ABC.css":   "public, max-age=31536000, immutable",
		"/sw.js":                "no-cache",
		"/manifest.webmanifest": "no-cache",
		"/icons/icon-192.png":   "public, max-age=86400",
	}
	for p, want := range cases {
		rec := get(t, h, p)
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != want {
			t.Errorf("%s: %d, Cache-Control %q, want 200 and %q", p, rec.Code, rec.Header().Get("Cache-Control"), want)
		}
	}
	if ct := get(t, h, "/manifest.webmanifest").Header().Get("Content-Type"); ct != "application/manifest+json" {
		t.Errorf("manifest Content-Type %q", ct)
	}
	if ct := get(t, h, "/assets/app-ABC.js").Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("script Content-Type %q", ct)
	}
}

func TestPrecompressedAndRevalidated(t *testing.T) {
	h := NewHandler(built, Options{})
	rec := get(t, h, "/assets/app-ABC.js", "Accept-Encoding", "br, gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != `console.log("app")` {
		t.Errorf("gunzipped %q", b)
	}
	if plain := get(t, h, "/assets/app-ABC.js"); plain.Header().Get("Content-Encoding") != "" || plain.Body.String() != `console.log("app")` {
		t.Errorf("without Accept-Encoding: %v %q", plain.Header(), plain.Body.String())
	}
	page := get(t, h, "/")
	if rec := get(t, h, "/", "If-None-Match", page.Header().Get("ETag")); rec.Code != http.StatusNotModified {
		t.Errorf("revalidating the page: %d, want 304", rec.Code)
	}
}

func TestPageCarriesTheConfiguration(t *testing.T) {
	body := get(t, NewHandler(built, Options{}), "/").Body.String()
	if !strings.Contains(body, `<script id="wg-config" type="application/json">{}</script>`) {
		t.Errorf("no basemap: %s", body)
	}
	if modulePreload.MatchString(body) {
		t.Errorf("no basemap, but its renderer is preloaded: %s", body)
	}
	body = get(t, NewHandler(built, Options{Basemap: "/x.pmtiles", Dev: true}), "/").Body.String()
	if !strings.Contains(body, `{"basemap":"/tiles/basemap.pmtiles","dev":true}`) {
		t.Errorf("with basemap: %s", body)
	}
	// With a basemap, the renderer's chunks are preloaded with the app.
	links := modulePreload.FindAllStringSubmatch(body, -1)
	if len(links) != 1 || links[0][1] != "/assets/esm-XYZ.js" {
		t.Errorf("with basemap, the renderer preloaded: %q", links)
	}
	if rec := get(t, NewHandler(built, Options{}), "/"+BasemapPreload); strings.Contains(rec.Body.String(), "esm-XYZ") {
		t.Errorf("the build's preload list is served: %d %s", rec.Code, rec.Body)
	}
}

func TestBasemapRanges(t *testing.T) {
	if rec := get(t, NewHandler(built, Options{}), BasemapPath); rec.Code != 404 {
		t.Errorf("no basemap configured: %d, want 404", rec.Code)
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	file := filepath.Join(t.TempDir(), "region.pmtiles")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h := NewHandler(built, Options{Basemap: file})
	rec := get(t, h, BasemapPath, "Range", "bytes=10-24")
	if rec.Code != http.StatusPartialContent || rec.Body.String() != "012345678901234" || rec.Header().Get("Content-Range") != "bytes 10-24/10000" {
		t.Fatalf("range: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag: the pmtiles client cannot tell versions apart")
	}
	if rec := get(t, h, BasemapPath, "Range", "bytes=9990-", "If-Range", etag); rec.Code != http.StatusPartialContent || rec.Body.Len() != 10 {
		t.Errorf("If-Range with the current ETag: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := get(t, h, BasemapPath); rec.Code != 200 || rec.Body.Len() != len(data) {
		t.Errorf("whole file: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	os.Remove(file)
	if rec := get(t, h, BasemapPath); rec.Code != 404 {
		t.Errorf("file gone: %d, want 404", rec.Code)
	}
}

// `basemap build` replaces the archive under a running instance (a new file renamed over the
// old): the next request reads the new one under a new ETag, so the pmtiles client, which
// compares ETags across its range requests, never stitches tiles of two versions together; a
// range asked for If-Range the old version gets the whole new file instead. Browsers and
// proxies may keep the archive an hour, not for good: it changes with every monthly rebuild.
func TestBasemapReplaced(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "basemap.pmtiles")
	if err := os.WriteFile(file, bytes.Repeat([]byte("a"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	h := NewHandler(built, Options{Basemap: file})
	old := get(t, h, BasemapPath, "Range", "bytes=0-9")
	if cc := old.Header().Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", cc)
	}
	if ct := old.Header().Get("Content-Type"); ct != "application/vnd.pmtiles" {
		t.Errorf("Content-Type %q", ct)
	}
	etag := old.Header().Get("ETag")
	if rec := get(t, h, BasemapPath, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("revalidating the current version: %d, want 304", rec.Code)
	}

	next := filepath.Join(dir, ".basemap.pmtiles.tmp")
	if err := os.WriteFile(next, bytes.Repeat([]byte("b"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, file); err != nil {
		t.Fatal(err)
	}
	rec := get(t, h, BasemapPath, "Range", "bytes=0-9")
	if rec.Header().Get("ETag") == etag || rec.Body.String() != "bbbbbbbbbb" {
		t.Errorf("after the rebuild: ETag %s (before %s), %q", rec.Header().Get("ETag"), etag, rec.Body.String())
	}
	if rec := get(t, h, BasemapPath, "Range", "bytes=0-9", "If-Range", etag); rec.Code != http.StatusOK || rec.Body.Len() != 1000 {
		t.Errorf("a range of the old version after the rebuild: %d, %d bytes; want the whole new file", rec.Code, rec.Body.Len())
	}
	if rec := get(t, h, BasemapPath, "If-None-Match", etag); rec.Code != http.StatusOK {
		t.Errorf("revalidating the old version after the rebuild: %d, want 200", rec.Code)
	}
}

func TestNotBuilt(t *testing.T) {
	h := NewHandler(fstest.MapFS{".keep": {}}, Options{})
	rec := get(t, h, "/")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make build") {
		t.Errorf("%d %q", rec.Code, rec.Body.String())
	}
	if rec := get(t, h, "/api/x"); rec.Code != 404 {
		t.Errorf("/api/x: %d", rec.Code)
	}
}
