package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `weltgewebe basemap build` as an admin types it: --help explains it, flags may follow the
// files, and a broken extract is an error (the exit status) with nothing written.
func TestBasemapCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"basemap", "--help"}, &stdout, &stderr); err != nil {
		t.Fatalf("basemap --help: %v", err)
	}
	if !strings.Contains(stdout.String(), "weltgewebe basemap build REGION.osm.pbf OUT.pmtiles") ||
		!strings.Contains(stdout.String(), "osmium-tool") {
		t.Errorf("basemap --help:\n%s", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if err := run(context.Background(), []string{"basemap", "build", "--help"}, &stdout, &stderr); err == nil ||
		!strings.Contains(stderr.String(), "-bounds") {
		t.Errorf("basemap build --help: %v\n%s", err, stderr.String())
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "region.osm.pbf")
	if err := os.WriteFile(bad, []byte("<html>404 Not Found</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "basemap.pmtiles")
	err := run(context.Background(), []string{"basemap", "build", bad, out, "--bounds", "7.41,43.72,7.45,43.76"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not a readable OpenStreetMap PBF extract") {
		t.Errorf("a download error page as the extract: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an archive was written from a broken extract")
	}
	for _, args := range [][]string{
		{"basemap", "build", bad},
		{"basemap", "build", bad, out, "--bounds", "7.45,43.72,7.41,43.76"},
		{"basemap", "build", bad, out, "extra"},
	} {
		if err := run(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
