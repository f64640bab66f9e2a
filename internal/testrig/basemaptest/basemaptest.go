// Package basemaptest gives tests the real Monaco basemap (deploy/osm's extract through
// `weltgewebe basemap build`'s pipeline) and a reader for what is in it.
//
// Building takes seconds of CPU (tilemaker), and `make test` runs every package twice: the
// archive is built once and kept in the temporary directory under a name made of a digest
// of everything it is built from (the extract and the tilemaker profile), so a changed
// profile builds afresh. The basemap package's own tests do not use this cache: they test the
// build itself.
package basemaptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/protomaps/go-pmtiles/pmtiles"

	"github.com/weltgewebe/weltgewebe/internal/basemap"
)

// root is the repository's top directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Extract is the OpenStreetMap extract of Monaco committed in deploy/osm.
func Extract() string { return filepath.Join(root(), "deploy", "osm", "monaco-latest.osm.pbf") }

var (
	once     sync.Once
	built    string
	buildErr error
)

// Monaco returns the path of the Monaco basemap, building it on first use.
func Monaco(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		h := sha256.New()
		for _, f := range []string{Extract(), filepath.Join(root(), "internal", "basemap", "config.json"),
			filepath.Join(root(), "internal", "basemap", "process.lua"),
			// the Go that adds to the data (the earth, the sea)
			filepath.Join(root(), "internal", "basemap", "basemap.go"), filepath.Join(root(), "internal", "basemap", "sea.go")} {
			data, err := os.ReadFile(f)
			if err != nil {
				buildErr = err
				return
			}
			h.Write(data)
		}
		if v, err := exec.Command("tilemaker", "--help").CombinedOutput(); err == nil {
			h.Write(bytes.SplitN(v, []byte("\n"), 2)[0]) // its version line
		}
		built = filepath.Join(os.TempDir(), "weltgewebe-test-monaco-"+hex.EncodeToString(h.Sum(nil))[:16]+".pmtiles")
		if _, err := os.Stat(built); err == nil {
			return
		}
		// Build writes the file atomically: a concurrent test binary sees it whole or not at all.
		_, buildErr = basemap.Build(context.Background(), Extract(), built, basemap.Options{})
	})
	if buildErr != nil {
		t.Fatalf("building the Monaco basemap: %v", buildErr)
	}
	return built
}

// Archive is a PMTiles archive read into memory (test archives are small).
type Archive struct {
	Header pmtiles.HeaderV3
	data   []byte
	tiles  map[uint64]pmtiles.EntryV3
}

// Open reads a PMTiles archive.
func Open(path string) (*Archive, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < pmtiles.HeaderV3LenBytes {
		return nil, fmt.Errorf("%s: %d bytes, shorter than a PMTiles header", path, len(data))
	}
	h, err := pmtiles.DeserializeHeader(data[:pmtiles.HeaderV3LenBytes])
	if err != nil {
		return nil, err
	}
	a := &Archive{Header: h, data: data, tiles: map[uint64]pmtiles.EntryV3{}}
	fetch := func(off, n uint64) ([]byte, error) {
		if off+n > uint64(len(data)) {
			return nil, fmt.Errorf("directory at %d+%d beyond the end of the file", off, n)
		}
		return data[off : off+n], nil
	}
	err = pmtiles.IterateEntries(h, fetch, func(e pmtiles.EntryV3) {
		for i := uint64(0); i < uint64(e.RunLength); i++ {
			a.tiles[e.TileID+i] = e
		}
	})
	return a, err
}

// Has says whether the archive holds tile z/x/y.
func (a *Archive) Has(t maptile.Tile) bool {
	_, ok := a.tiles[pmtiles.ZxyToID(uint8(t.Z), t.X, t.Y)]
	return ok
}

// Tile decodes tile z/x/y with coordinates in longitude/latitude; nil when it is not there.
func (a *Archive) Tile(t maptile.Tile) (mvt.Layers, error) {
	e, ok := a.tiles[pmtiles.ZxyToID(uint8(t.Z), t.X, t.Y)]
	if !ok {
		return nil, nil
	}
	off := a.Header.TileDataOffset + e.Offset
	if off+uint64(e.Length) > uint64(len(a.data)) {
		return nil, fmt.Errorf("tile %v beyond the end of the file", t)
	}
	raw := a.data[off : off+uint64(e.Length)]
	if a.Header.TileCompression == pmtiles.Gzip {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	layers, err := mvt.Unmarshal(raw)
	if err != nil {
		return nil, err
	}
	layers.ProjectToWGS84(t)
	return layers, nil
}

// Tiles lists the tiles of zoom level z.
func (a *Archive) Tiles(z maptile.Zoom) []maptile.Tile {
	var out []maptile.Tile
	for id := range a.tiles {
		tz, x, y := pmtiles.IDToZxy(id)
		if maptile.Zoom(tz) == z {
			out = append(out, maptile.New(x, y, z))
		}
	}
	return out
}
