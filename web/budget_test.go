package web

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The first-load budget, gzipped: what the page loads before the app runs (seed 000 §5 allowed
// 150 KB of JavaScript; issue 13: 100 KiB, the basemap renderer included, which a page with a
// basemap preloads with the app).
const (
	budgetJS  = 100 << 10
	budgetCSS = 60_000
)

var modulePreload = regexp.MustCompile(`<link rel="modulepreload" href="(/assets/[^"]+\.js)">`)

var firstLoad = regexp.MustCompile(`<(?:script[^>]*\ssrc|link[^>]*\shref)="(/assets/[^"]+\.(?:js|css))"`)

// TestBudget checks the built app (the one this binary embeds) against the budget: the entry
// script, the chunks it preloads and the stylesheet, as gzipped files the handler serves.
func TestBudget(t *testing.T) {
	if os.Getenv("WG_SKIP_WEB") == "1" {
		t.Skip("WG_SKIP_WEB=1")
	}
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		t.Fatal(err)
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal("web/dist is not built: run `make web` first")
	}
	var js, css int
	for _, m := range firstLoad.FindAllStringSubmatch(string(page), -1) {
		name := strings.TrimPrefix(m[1], "/")
		raw, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatalf("index.html names %s, which is not built: %v", name, err)
		}
		gz, err := fs.ReadFile(files, name+".gz")
		if err != nil {
			gz = gzipBytes(raw)
		}
		if strings.HasSuffix(name, ".js") {
			js += len(gz)
		} else {
			css += len(gz)
		}
		t.Logf("%s: %d bytes, %d gzipped", name, len(raw), len(gz))
	}
	t.Logf("first load: %d bytes JavaScript, %d bytes CSS, gzipped", js, css)
	// With a basemap, the renderer's chunks come with the first load.
	links, err := fs.ReadFile(files, BasemapPreload)
	if err != nil {
		t.Fatalf("the build wrote no %s: %v", BasemapPreload, err)
	}
	renderer := 0
	for _, m := range modulePreload.FindAllStringSubmatch(string(links), -1) {
		name := strings.TrimPrefix(m[1], "/")
		raw, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatalf("%s names %s, which is not built: %v", BasemapPreload, name, err)
		}
		renderer += len(gzipBytes(raw))
	}
	if renderer == 0 {
		t.Fatalf("%s names no chunk", BasemapPreload)
	}
	js += renderer
	t.Logf("with the basemap renderer (%d bytes): %d bytes JavaScript (budget %d), CSS budget %d", renderer, js, budgetJS, budgetCSS)
	if js == 0 || css == 0 {
		t.Fatalf("found no script or stylesheet in index.html")
	}
	if js > budgetJS {
		t.Errorf("first-load JavaScript is %d bytes gzipped, over the budget of %d", js, budgetJS)
	}
	if css > budgetCSS {
		t.Errorf("first-load CSS is %d bytes gzipped, over the budget of %d", css, budgetCSS)
	}
}
