// Package basemap builds the map residents see under the pins: an OpenStreetMap extract
// becomes vector tiles in the Protomaps basemap layers (earth, water, landuse, roads,
// buildings, places, pois, boundaries; German names where OSM has them) in one PMTiles
// archive, which the instance serves at /tiles/basemap.pmtiles and the web app draws with
// protomaps-leaflet.
//
// It lives in internal/ rather than instance/: it is an operator's tool run by `weltgewebe
// basemap build`, offline, before the instance serves; no part of the running instance
// (no domain, no tables, no handler) depends on it, and it should not grow into one.
//
// The work is done by real tools, not by hand-written tile code: osmium (Debian osmium-tool)
// cuts the extract to the bounds, tilemaker (Debian tilemaker) turns it into MBTiles with the
// profile embedded here (config.json, process.lua), and go-pmtiles converts that to PMTiles.
// The profile travels inside the binary so that the tiles always match the renderer the same
// binary serves.
//
// One thing is ours: the sea (sea.go). OpenStreetMap has only coastlines, and the tools that turn
// them into sea polygons need the whole planet or a download; the build assembles the water of
// its box from the extract's coastline and adds it, with the earth, to the data tilemaker reads.
package basemap

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/protomaps/go-pmtiles/pmtiles"
)

//go:embed config.json process.lua
var profile embed.FS

// MaxZoom is the deepest zoom level built: streets and house numbers. The app draws the
// tiles of this level enlarged beyond it.
const MaxZoom = 15

// MinZoom is the shallowest zoom level built (config.json). Below it a town's map is a dot of a
// few pixels, and those levels were nearly all of the build's work: tilemaker 2.2 looks up,
// for each tile of a low zoom level, every zoom-15 tile beneath it — a billion for zoom 0.
// Monaco took 11 s of CPU with levels 0–3, 0.3 s without.
const MinZoom = 4

// MarginKM is how far beyond the bounds the tiles reach, so that the streets just outside an
// Ortsweberei still lead somewhere when a resident pans to its edge.
const MarginKM = 1.0

// Bounds is a longitude/latitude box in degrees (WGS 84).
type Bounds struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// ParseBounds reads "minlon,minlat,maxlon,maxlat".
func ParseBounds(s string) (Bounds, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return Bounds{}, fmt.Errorf("bounds %q: want minlon,minlat,maxlon,maxlat", s)
	}
	var v [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Bounds{}, fmt.Errorf("bounds %q: %q is not a number", s, p)
		}
		v[i] = f
	}
	b := Bounds{v[0], v[1], v[2], v[3]}
	return b, b.check()
}

func (b Bounds) check() error {
	switch {
	case b.MinLon < -180 || b.MaxLon > 180 || b.MinLat < -85 || b.MaxLat > 85:
		return fmt.Errorf("bounds %s: outside -180..180 longitude, -85..85 latitude", b)
	case b.MinLon >= b.MaxLon || b.MinLat >= b.MaxLat:
		return fmt.Errorf("bounds %s: the minimum must be smaller than the maximum", b)
	}
	return nil
}

func (b Bounds) String() string {
	return fmt.Sprintf("%.6f,%.6f,%.6f,%.6f", b.MinLon, b.MinLat, b.MaxLon, b.MaxLat)
}

// grow widens b by km on every side (a degree of longitude shrinks towards the poles).
func (b Bounds) grow(km float64) Bounds {
	dLat := km / 111.32
	dLon := dLat / math.Cos((b.MinLat+b.MaxLat)/2*math.Pi/180)
	return Bounds{
		MinLon: math.Max(-180, b.MinLon-dLon), MinLat: math.Max(-85, b.MinLat-dLat),
		MaxLon: math.Min(180, b.MaxLon+dLon), MaxLat: math.Min(85, b.MaxLat+dLat),
	}
}

// Options tune a build.
type Options struct {
	// Bounds to build; nil: the extract's own bounds (from its header, else from its data).
	// The tiles reach MarginKM beyond them.
	Bounds *Bounds
	// Log receives the tools' progress; nil discards it (their errors are in the error).
	Log io.Writer
}

// Result describes a built archive.
type Result struct {
	Bounds   Bounds // the bounds built, margin included
	Bytes    int64
	Tiles    uint64 // addressed tiles
	Duration time.Duration
	// SeaPolygons is how many water polygons were assembled from the coastline (0 inland).
	SeaPolygons int
	// Warnings name what the build left out of the map, such as a broken coastline.
	Warnings []string
}

// ErrMissingTool is returned when osmium or tilemaker is not installed.
var ErrMissingTool = errors.New("missing tool")

// Build turns the OpenStreetMap extract (.osm.pbf) into the PMTiles archive out. out appears
// complete or not at all: it is written beside itself under a temporary name and renamed,
// and every temporary file is removed whatever happens.
func Build(ctx context.Context, extract, out string, o Options) (Result, error) {
	start := time.Now()
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	osmium, err := lookTool("osmium", "osmium-tool")
	if err != nil {
		return Result{}, err
	}
	tilemaker, err := lookTool("tilemaker", "tilemaker")
	if err != nil {
		return Result{}, err
	}
	// The tools run in a work directory: a relative path must still name the same file.
	if extract, err = filepath.Abs(extract); err != nil {
		return Result{}, err
	}
	if st, err := os.Stat(extract); err != nil {
		return Result{}, fmt.Errorf("extract: %w", err)
	} else if st.IsDir() {
		return Result{}, fmt.Errorf("extract %s is a directory, not an .osm.pbf file", extract)
	}

	var b Bounds
	if o.Bounds != nil {
		if err := o.Bounds.check(); err != nil {
			return Result{}, err
		}
		b = *o.Bounds
	} else if b, err = extractBounds(ctx, osmium, extract); err != nil {
		return Result{}, err
	}
	b = b.grow(MarginKM)

	work, err := os.MkdirTemp("", "weltgewebe-basemap-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(work)
	for _, name := range []string{"config.json", "process.lua"} {
		data, _ := profile.ReadFile(name)
		if err := os.WriteFile(filepath.Join(work, name), data, 0o600); err != nil {
			return Result{}, err
		}
	}

	// Cut to the bounds when they are narrower than the extract (a region's file and an
	// Ortsweberei's bounds); tilemaker clips its tiles to them in any case, but would hold all
	// of a large extract in memory. An extract already cut is not cut again: osmium extract's
	// ID sets grow with the highest OpenStreetMap ID, not with the file (1.9 GB for Monaco).
	input := extract
	if o.Bounds != nil {
		input = filepath.Join(work, "clipped.osm.pbf")
		if err := runTool(ctx, logw, work, osmium, "extract", "--bbox", b.String(), "--strategy", "smart", "--set-bounds",
			"-F", "pbf", "--overwrite", "--output", input, extract); err != nil {
			return Result{}, fmt.Errorf("%s is not a readable OpenStreetMap PBF extract: %w", extract, err)
		}
	}
	// The earth (one closed way over the bounds: OpenStreetMap has no land polygon) and the sea
	// assembled from the coastline (sea.go), merged into the data; tilemaker reads only PBF,
	// hence osmium. Merging reads the whole extract: a broken one fails here. -F pbf: read as
	// PBF whatever the file is called.
	box := orb.Bound{Min: orb.Point{b.MinLon, b.MinLat}, Max: orb.Point{b.MaxLon, b.MaxLat}}
	coast, maxID, err := readCoastline(ctx, input)
	if err != nil {
		return Result{}, fmt.Errorf("%s is not a readable OpenStreetMap PBF extract: %w", extract, err)
	}
	var warnings []string
	sea := seaPolygons(coast, box, func(format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf(format, args...))
	})
	earthXML, earth := filepath.Join(work, "earth.osm"), filepath.Join(work, "earth.osm.pbf")
	var extra bytes.Buffer
	if err := extraOSM(&extra, maxID, box, sea); err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(earthXML, extra.Bytes(), 0o600); err != nil {
		return Result{}, err
	}
	if err := runTool(ctx, logw, work, osmium, "cat", "--overwrite", "--output", earth, earthXML); err != nil {
		return Result{}, err
	}
	merged := filepath.Join(work, "input.osm.pbf")
	if err := runTool(ctx, logw, work, osmium, "merge", "--overwrite", "--output", merged, "-F", "pbf", input, earth); err != nil {
		return Result{}, fmt.Errorf("%s is not a readable OpenStreetMap PBF extract (or not sorted by type and id, as Geofabrik's are; `osmium sort` sorts one): %w", extract, err)
	}
	mbtiles := filepath.Join(work, "basemap.mbtiles")
	if err := runTool(ctx, logw, work, tilemaker, "--input", merged, "--output", mbtiles, "--bbox", b.String(),
		"--config", filepath.Join(work, "config.json"), "--process", filepath.Join(work, "process.lua")); err != nil {
		return Result{}, fmt.Errorf("tilemaker: %w", err)
	}
	if _, err := os.Stat(mbtiles); err != nil {
		return Result{}, fmt.Errorf("tilemaker wrote no tiles: %w", err)
	}

	res, err := convert(ctx, mbtiles, out, work, logw)
	if err != nil {
		return Result{}, err
	}
	res.Bounds = b
	res.SeaPolygons = len(sea)
	res.Warnings = warnings
	res.Duration = time.Since(start)
	return res, nil
}

// convert writes the MBTiles as PMTiles to out through a temporary file beside it.
func convert(ctx context.Context, mbtiles, out, work string, logw io.Writer) (Result, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return Result{}, err
	}
	tmpName := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	tiles, err := os.CreateTemp(work, "tiles-")
	if err != nil {
		return Result{}, err
	}
	defer tiles.Close()
	if err := pmtiles.Convert(log.New(logw, "pmtiles: ", 0), mbtiles, tmpName, true, tiles); err != nil {
		return Result{}, fmt.Errorf("converting to PMTiles: %w", err)
	}
	f, err := os.Open(tmpName)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	head := make([]byte, pmtiles.HeaderV3LenBytes)
	if _, err := io.ReadFull(f, head); err != nil {
		return Result{}, fmt.Errorf("reading back the archive: %w", err)
	}
	h, err := pmtiles.DeserializeHeader(head)
	if err != nil {
		return Result{}, fmt.Errorf("reading back the archive: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	// On disk before it takes the name: a crash must not leave a named but empty archive.
	if err := f.Sync(); err != nil {
		return Result{}, err
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return Result{}, err
	}
	// go-pmtiles' Convert does not take the context: an interrupt during it is seen here, and
	// the old archive stays.
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return Result{}, err
	}
	done = true
	return Result{Bytes: st.Size(), Tiles: h.AddressedTilesCount}, nil
}

func lookTool(name, debianPackage string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed; it comes with the Debian package %s (`sudo apt-get install %s`, or `make deps`)",
			ErrMissingTool, name, debianPackage, debianPackage)
	}
	return p, nil
}

// runTool runs a tool in dir; its output goes to logw, and the end of it into the error.
func runTool(ctx context.Context, logw io.Writer, dir, tool string, args ...string) error {
	var tail tailBuffer
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(logw, &tail)
	cmd.Stderr = io.MultiWriter(logw, &tail)
	if err := cmd.Run(); err != nil {
		if msg := tail.String(); msg != "" {
			return fmt.Errorf("%s: %v: %s", filepath.Base(tool), err, msg)
		}
		return fmt.Errorf("%s: %w", filepath.Base(tool), err)
	}
	return nil
}

// extractBounds reads the bounding box from the extract's header (Geofabrik's extracts carry
// one), else from its data.
func extractBounds(ctx context.Context, osmium, extract string) (Bounds, error) {
	var info struct {
		Header struct{ Boxes [][4]float64 }
		Data   struct{ Bbox [4]float64 }
	}
	read := func(args ...string) error {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, osmium, append([]string{"fileinfo", "-j", "-F", "pbf"}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s is not a readable OpenStreetMap PBF extract: osmium: %v: %s", extract, err, strings.TrimSpace(stderr.String()))
		}
		return json.Unmarshal(stdout.Bytes(), &info)
	}
	if err := read(extract); err != nil {
		return Bounds{}, err
	}
	if len(info.Header.Boxes) > 0 {
		x := info.Header.Boxes[0]
		b := Bounds{x[0], x[1], x[2], x[3]}
		if b.check() == nil {
			return b, nil
		}
	}
	if err := read("-e", extract); err != nil {
		return Bounds{}, err
	}
	x := info.Data.Bbox
	b := Bounds{x[0], x[1], x[2], x[3]}
	if err := b.check(); err != nil {
		return Bounds{}, fmt.Errorf("%s has no usable bounds (an empty extract?); give --bounds: %w", extract, err)
	}
	return b, nil
}

// tailBuffer keeps the last few KB written to it: enough of a tool's output to say what went
// wrong, without the progress lines that come before.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.ReplaceAll(string(t.b), "\r", "\n")
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "; ")
}
