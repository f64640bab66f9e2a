package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/weltgewebe/weltgewebe/internal/basemap"
)

const basemapUsage = `usage: weltgewebe basemap build REGION.osm.pbf OUT.pmtiles [--bounds minlon,minlat,maxlon,maxlat] [--verbose]

Builds the map the web app draws under the pins from an OpenStreetMap extract: vector tiles
(zoom 4–15: streets, buildings, house numbers, water, parks, places; German names where
OpenStreetMap has them) in one PMTiles archive. Serve it with "weltgewebe serve --basemap OUT.pmtiles".

Needs osmium (Debian package osmium-tool) and tilemaker (Debian package tilemaker).
OUT is replaced only by a complete archive; on any error it is left as it was.

flags:
`

// basemapCmd runs `weltgewebe basemap build`.
func basemapCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "build" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, basemapUsage)
			return nil
		}
		fmt.Fprint(stderr, basemapUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("basemap build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boundsFlag := fs.String("bounds", "", "minlon,minlat,maxlon,maxlat to build (default: the extract's bounds); the tiles reach 1 km beyond")
	verbose := fs.Bool("verbose", false, "show the tools' progress")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), basemapUsage)
		fs.PrintDefaults()
	}
	// Flags may come after the two files, as the usage line shows them.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		files = append(files, rest[0])
		rest = rest[1:]
	}
	if len(files) != 2 {
		fs.Usage()
		return errors.New("basemap build needs REGION.osm.pbf and OUT.pmtiles")
	}
	var o basemap.Options
	if *boundsFlag != "" {
		b, err := basemap.ParseBounds(*boundsFlag)
		if err != nil {
			return fmt.Errorf("--bounds: %w", err)
		}
		o.Bounds = &b
	}
	if *verbose {
		o.Log = stderr
	}
	res, err := basemap.Build(ctx, files[0], files[1], o)
	if err != nil {
		return fmt.Errorf("basemap build: %w", err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "basemap written to %s: %.1f MB, %d tiles, zoom %d–%d, bounds %s, %d sea polygons, in %.1f s\n",
		files[1], float64(res.Bytes)/1e6, res.Tiles, basemap.MinZoom, basemap.MaxZoom, res.Bounds, res.SeaPolygons, res.Duration.Seconds())
	return nil
}
