package basemap_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"
	"github.com/protomaps/go-pmtiles/pmtiles"

	"github.com/weltgewebe/weltgewebe/internal/basemap"
	"github.com/weltgewebe/weltgewebe/internal/testrig/basemaptest"
)

// The extract's own bounds (its header): Monaco.
var monaco = basemap.Bounds{MinLon: 7.409205, MinLat: 43.72335, MaxLon: 7.448637, MaxLat: 43.75169}

var (
	once    sync.Once
	archive string
	result  basemap.Result
	err     error
)

// buildMonaco runs the real pipeline once per test binary (these tests test the build, so
// they do not take basemaptest's cached archive).
func buildMonaco(t *testing.T) (string, basemap.Result) {
	t.Helper()
	once.Do(func() {
		dir, e := os.MkdirTemp("", "basemap-test-")
		if e != nil {
			err = e
			return
		}
		archive = filepath.Join(dir, "monaco.pmtiles")
		// A relative path, as an admin types it (`make run` does).
		cwd, _ := os.Getwd()
		extract, e := filepath.Rel(cwd, basemaptest.Extract())
		if e != nil {
			err = e
			return
		}
		result, err = basemap.Build(context.Background(), extract, archive, basemap.Options{})
	})
	if err != nil {
		t.Fatalf("basemap build: %v", err)
	}
	return archive, result
}

func TestMain(m *testing.M) {
	code := m.Run()
	if archive != "" {
		os.RemoveAll(filepath.Dir(archive))
	}
	os.Exit(code)
}

// The Monaco extract becomes an archive the app's renderer can draw: zoom 0–15 vector tiles
// clipped to Monaco, in the Protomaps layers, with street names, German names where OSM has
// them, and house numbers at zoom 15.
func TestBuildMonaco(t *testing.T) {
	path, res := buildMonaco(t)
	a, err := basemaptest.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Header
	if h.TileType != pmtiles.Mvt || h.MinZoom != basemap.MinZoom || h.MaxZoom != 15 {
		t.Errorf("header: tile type %d, zoom %d–%d; want vector tiles, zoom %d–15", h.TileType, h.MinZoom, h.MaxZoom, basemap.MinZoom)
	}
	e7 := func(v int32) float64 { return float64(v) / 1e7 }
	got := basemap.Bounds{MinLon: e7(h.MinLonE7), MinLat: e7(h.MinLatE7), MaxLon: e7(h.MaxLonE7), MaxLat: e7(h.MaxLatE7)}
	// Monaco plus the margin (1 km ≈ 0.009° latitude, 0.0125° longitude here), not the world.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"west", got.MinLon, monaco.MinLon - 0.0125}, {"south", got.MinLat, monaco.MinLat - 0.009},
		{"east", got.MaxLon, monaco.MaxLon + 0.0125}, {"north", got.MaxLat, monaco.MaxLat + 0.009}} {
		if math.Abs(c.got-c.want) > 0.002 {
			t.Errorf("header bounds %s = %.5f, want %.5f (Monaco plus 1 km): %v", c.name, c.got, c.want, got)
		}
	}
	if res.Bytes <= 0 || res.Tiles == 0 {
		t.Errorf("result: %+v", res)
	}

	// Every z15 tile over Monaco, decoded.
	layersSeen := map[string]int{}
	var roads, addresses, german []string
	streetNamed := map[string]string{}
	z15 := a.Tiles(15)
	if len(z15) == 0 {
		t.Fatal("no tiles at zoom 15")
	}
	for _, tile := range z15 {
		c := tile.Center()
		if !inside(monaco, c) {
			continue
		}
		layers, err := a.Tile(tile)
		if err != nil {
			t.Fatalf("tile %v: %v", tile, err)
		}
		for _, l := range layers {
			layersSeen[l.Name] += len(l.Features)
			for _, f := range l.Features {
				name, _ := f.Properties["name"].(string)
				if de, ok := f.Properties["name:de"].(string); ok && de != "" && de != name {
					german = append(german, l.Name+": "+name+" → "+de)
				}
				switch {
				case l.Name == "roads" && name != "":
					roads = append(roads, name)
					streetNamed[name], _ = f.Properties["kind"].(string)
				case l.Name == "buildings" && f.Properties["kind"] == "address":
					hn, _ := f.Properties["addr_housenumber"].(string)
					if _, ok := f.Geometry.(orb.Point); !ok || hn == "" {
						t.Errorf("address feature %v: want a point with addr_housenumber", f.Properties)
					}
					addresses = append(addresses, hn)
				case l.Name == "boundaries":
					if _, ok := f.Properties["kind_detail"].(float64); !ok {
						t.Errorf("boundary kind_detail %#v: the renderer wants the admin level as a number", f.Properties["kind_detail"])
					}
				}
			}
		}
	}
	for _, l := range []string{"earth", "water", "landuse", "roads", "buildings", "places", "pois", "boundaries"} {
		if layersSeen[l] == 0 {
			t.Errorf("layer %s: no features in the zoom 15 tiles over Monaco (seen %v)", l, layersSeen)
		}
	}
	if kind := streetNamed["Boulevard des Moulins"]; kind != "major_road" && kind != "minor_road" {
		t.Errorf("Boulevard des Moulins: kind %q, want a road the renderer draws and labels (of %d named road pieces)", kind, len(roads))
	}
	if len(addresses) < 100 {
		t.Errorf("%d house numbers at zoom 15 over Monaco, want the extract's (hundreds)", len(addresses))
	}
	if len(german) == 0 {
		t.Error("no feature carries a German name (name:de) beside its local one")
	}
	t.Logf("Monaco: %d bytes, %d tiles; z15 features per layer %v; %d house numbers; German names e.g. %v",
		res.Bytes, res.Tiles, layersSeen, len(addresses), german[:min(3, len(german))])

	// House numbers belong to zoom 15 alone: at 14 they would cover the map.
	for _, tile := range a.Tiles(14) {
		layers, err := a.Tile(tile)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			for _, f := range l.Features {
				if f.Properties["kind"] == "address" {
					t.Fatalf("a house number at zoom 14 (%v)", tile)
				}
			}
		}
	}
	// Clipped: nothing far outside the bounds.
	far := maptile.At(orb.Point{7.6, 43.9}, 15)
	if a.Has(far) {
		t.Errorf("tile %v, 15 km from Monaco, is in the archive", far)
	}
}

// --bounds cuts a larger extract to an Ortsweberei's area (plus the margin): the archive
// says so in its header and holds no tile beyond.
func TestBuildWithBounds(t *testing.T) {
	ville := basemap.Bounds{MinLon: 7.415, MinLat: 43.728, MaxLon: 7.428, MaxLat: 43.738} // Monaco-Ville, La Condamine
	out := filepath.Join(t.TempDir(), "ville.pmtiles")
	if _, err := basemap.Build(context.Background(), basemaptest.Extract(), out, basemap.Options{Bounds: &ville}); err != nil {
		t.Fatal(err)
	}
	a, err := basemaptest.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Header
	e7 := func(v int32) float64 { return float64(v) / 1e7 }
	got := basemap.Bounds{MinLon: e7(h.MinLonE7), MinLat: e7(h.MinLatE7), MaxLon: e7(h.MaxLonE7), MaxLat: e7(h.MaxLatE7)}
	if math.Abs(got.MinLon-(ville.MinLon-0.0125)) > 0.002 || math.Abs(got.MaxLat-(ville.MaxLat+0.009)) > 0.002 {
		t.Errorf("header bounds %v, want %v plus 1 km", got, ville)
	}
	// Beyond the bounds plus the margin and one zoom-15 tile (≈ 0.011° of longitude): nothing.
	limit := basemap.Bounds{MinLon: ville.MinLon - 0.025, MinLat: ville.MinLat - 0.018, MaxLon: ville.MaxLon + 0.025, MaxLat: ville.MaxLat + 0.018}
	z15 := a.Tiles(15)
	for _, tile := range z15 {
		if !inside(limit, tile.Center()) {
			t.Errorf("tile %v (centre %v) lies outside %v", tile, tile.Center(), ville)
		}
	}
	if len(z15) == 0 {
		t.Error("no zoom 15 tiles")
	}
}

func inside(b basemap.Bounds, p orb.Point) bool {
	return p[0] >= b.MinLon && p[0] <= b.MaxLon && p[1] >= b.MinLat && p[1] <= b.MaxLat
}

// What is not an OpenStreetMap extract is refused with a clear error: no archive appears,
// an existing one stays as it was, and no temporary file is left behind.
func TestBuildRefusesBrokenExtract(t *testing.T) {
	good, err := os.ReadFile(basemaptest.Extract())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		content []byte // nil: no such file
	}{
		{"text.osm.pbf", []byte("this is not OpenStreetMap data\n")},
		{"truncated.osm.pbf", good[:len(good)/2]},
		{"empty.osm.pbf", []byte{}},
		{"missing.osm.pbf", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // the build's work directory goes here: it must be gone after
			in := filepath.Join(t.TempDir(), c.name)
			if c.content != nil {
				if err := os.WriteFile(in, c.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			outDir := t.TempDir()
			out := filepath.Join(outDir, "basemap.pmtiles")
			fresh := filepath.Join(outDir, "fresh.pmtiles")
			if err := os.WriteFile(out, []byte("the archive served until now"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, target := range []string{out, fresh} {
				_, err := basemap.Build(context.Background(), in, target, basemap.Options{})
				if err == nil {
					t.Fatalf("%s built into %s", c.name, target)
				}
				if c.content != nil && !strings.Contains(err.Error(), "not a readable OpenStreetMap PBF extract") {
					t.Errorf("error %q does not say what is wrong with the extract", err)
				}
				if c.content == nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("missing extract: %v", err)
				}
				t.Logf("%s: %v", c.name, err)
			}
			if data, _ := os.ReadFile(out); string(data) != "the archive served until now" {
				t.Errorf("the existing archive was changed: %q", data)
			}
			entries, _ := os.ReadDir(outDir)
			if len(entries) != 1 {
				t.Errorf("the output directory holds %d files, want only the old archive: %v", len(entries), entries)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

// Without tilemaker the build says which Debian package brings it, and writes nothing.
func TestBuildNamesMissingTool(t *testing.T) {
	osmium, err := exec.LookPath("osmium")
	if err != nil {
		t.Fatal("osmium is not installed (Debian osmium-tool; make deps)")
	}
	bin := t.TempDir()
	if err := os.Symlink(osmium, filepath.Join(bin, "osmium")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	out := filepath.Join(t.TempDir(), "basemap.pmtiles")
	_, err = basemap.Build(context.Background(), basemaptest.Extract(), out, basemap.Options{})
	if !errors.Is(err, basemap.ErrMissingTool) || !strings.Contains(err.Error(), "Debian package tilemaker") {
		t.Fatalf("without tilemaker: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an archive appeared: %v", err)
	}
}

func TestParseBounds(t *testing.T) {
	b, err := basemap.ParseBounds(" 7.41, 43.72,7.45,43.76")
	if err != nil || b != (basemap.Bounds{MinLon: 7.41, MinLat: 43.72, MaxLon: 7.45, MaxLat: 43.76}) {
		t.Errorf("ParseBounds: %v, %v", b, err)
	}
	for _, s := range []string{"", "7.41,43.72,7.45", "7.45,43.72,7.41,43.76", "7.41,43.76,7.45,43.72",
		"a,b,c,d", "7.41,43.72,7.45,NaN", "7,89,8,90", "-181,0,1,1"} {
		if _, err := basemap.ParseBounds(s); err == nil {
			t.Errorf("ParseBounds(%q) accepted", s)
		}
	}
}

// The sea off Monaco is water, assembled from the coastline (OpenStreetMap has no sea
// polygon); the old town on its rock, the harbour's quays and the land behind stay land.
func TestBuildMonacoSea(t *testing.T) {
	path, res := buildMonaco(t)
	a, err := basemaptest.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	for _, c := range []struct {
		name string
		at   orb.Point
		sea  bool
	}{
		{"the sea off Monte-Carlo", orb.Point{7.435, 43.735}, true},
		{"the sea south of Fontvieille", orb.Point{7.42, 43.72}, true},
		{"Port Hercule, the harbour", orb.Point{7.4245, 43.7345}, true},
		{"Monaco-Ville on its rock", orb.Point{7.4215, 43.7315}, false},
		{"Boulevard des Moulins", orb.Point{7.4285, 43.7425}, false},
		{"Beausoleil, inland", orb.Point{7.425, 43.745}, false},
	} {
		for _, z := range []maptile.Zoom{15, 12} {
			tile := maptile.At(c.at, z)
			layers, err := a.Tile(tile)
			if err != nil || layers == nil {
				t.Fatalf("%s: tile %v: %v (missing: %v)", c.name, tile, err, layers == nil)
			}
			sea := atSea(layers, c.at)
			if sea != c.sea {
				t.Errorf("%s (%v) at zoom %d: sea %v, want %v", c.name, c.at, z, sea, c.sea)
			}
		}
	}
}

// A coastline with a piece that cannot be joined to the rest (a gap in the data) draws the
// sea of the rest and says what it left out, rather than flooding the land or failing.
// atSea reports whether p lies in an ocean polygon of the tile's water layer.
func atSea(layers mvt.Layers, p orb.Point) bool {
	for _, l := range layers {
		if l.Name != "water" {
			continue
		}
		for _, f := range l.Features {
			if f.Properties["kind"] != "ocean" {
				continue
			}
			switch g := f.Geometry.(type) {
			case orb.Polygon:
				if planar.PolygonContains(g, p) {
					return true
				}
			case orb.MultiPolygon:
				if planar.MultiPolygonContains(g, p) {
					return true
				}
			}
		}
	}
	return false
}

func TestBuildWarnsOfBrokenCoastline(t *testing.T) {
	dir := t.TempDir()
	var s strings.Builder
	s.WriteString("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n")
	nodes := [][2]float64{
		{10.00, 54.05}, {10.05, 54.051}, {10.10, 54.05}, // the coast, eastwards: the sea to the south
		{10.06, 54.09}, {10.05, 54.08}, // a stray piece heading south-west, across the coast
	}
	for i, n := range nodes {
		fmt.Fprintf(&s, "<node id=\"%d\" version=\"1\" timestamp=\"2026-01-01T00:00:00Z\" lat=\"%.5f\" lon=\"%.5f\"/>\n", i+1, n[1], n[0])
	}
	way := func(id int, tags string, refs ...int) {
		fmt.Fprintf(&s, "<way id=\"%d\" version=\"1\" timestamp=\"2026-01-01T00:00:00Z\">", id)
		for _, r := range refs {
			fmt.Fprintf(&s, "<nd ref=\"%d\"/>", r)
		}
		s.WriteString(tags + "</way>\n")
	}
	way(1, `<tag k="natural" v="coastline"/>`, 1, 2)
	way(2, `<tag k="natural" v="coastline"/>`, 2, 3)
	way(3, `<tag k="natural" v="coastline"/>`, 4, 5)
	s.WriteString("</osm>\n")
	xmlPath, pbf := filepath.Join(dir, "coast.osm"), filepath.Join(dir, "coast.osm.pbf")
	if err := os.WriteFile(xmlPath, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("osmium", "cat", "-o", pbf, xmlPath).CombinedOutput(); err != nil {
		t.Fatalf("osmium cat: %v: %s", err, out)
	}
	out := filepath.Join(dir, "coast.pmtiles")
	res, err := basemap.Build(context.Background(), pbf, out, basemap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SeaPolygons != 1 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "cannot be continued") {
		t.Fatalf("%d sea polygons, warnings %q; want the sea south of the coast and a warning about the stray piece", res.SeaPolygons, res.Warnings)
	}
	a, err := basemaptest.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at  orb.Point
		sea bool
	}{{orb.Point{10.05, 54.045}, true}, {orb.Point{10.05, 54.07}, false}, {orb.Point{10.055, 54.085}, false}} {
		tile := maptile.At(c.at, 14)
		layers, err := a.Tile(tile)
		if err != nil {
			t.Fatal(err)
		}
		sea := atSea(layers, c.at)
		if sea != c.sea {
			t.Errorf("%v: sea %v, want %v (tile %v: %d layers)", c.at, sea, c.sea, tile, len(layers))
		}
	}
}
