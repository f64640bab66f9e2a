package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/adressen"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
)

func adressenImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("adressen import", stderr)
	bounds := fs.String("bounds", "", "keep only what lies inside: minlon,minlat,maxlon,maxlat, or a GeoJSON Polygon/MultiPolygon (text, or a file holding it)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weltgewebe adressen import [flags] REGION.osm.pbf

Replaces the address index (addresses, streets, named places; GET /api/adressen) with what the
OpenStreetMap extract holds (.osm.pbf, or OSM XML). The same file with the same --bounds again
changes nothing. Searches go on answering from the old index until the new one is in place.

flags:
`)
		fs.PrintDefaults()
	}
	// Flags may follow the file name, as the usage line in the docs writes them.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return errors.New("adressen import needs exactly one extract")
	}
	var clip *adressen.Clip
	if *bounds != "" {
		text := *bounds
		if b, err := os.ReadFile(text); err == nil {
			text = string(b)
		} else if t := strings.TrimSpace(text); !strings.HasPrefix(t, "{") && strings.Count(t, ",") != 3 {
			return fmt.Errorf("--bounds: %w", err)
		}
		var err error
		if clip, err = adressen.ParseClip(text); err != nil {
			return fmt.Errorf("--bounds: %w", err)
		}
	}
	if _, err := os.Stat(files[0]); err != nil {
		return err
	}
	d, err := instance.OpenDatabase(ctx, db.config(), quietLogger(stderr))
	if err != nil {
		return err
	}
	c := clock.System{}
	res, err := adressen.NewService(d.Pool, c, ortsweberei.NewService(d.Pool, c)).Import(ctx, files[0], clip)
	if err == nil {
		if res.Unchanged {
			fmt.Fprintf(stdout, "unchanged: %s (sha256 %s) is the index already\n", files[0], res.SHA256[:12])
		} else {
			fmt.Fprintf(stdout, "imported %s: %d addresses, %d streets, %d places\n", files[0], res.Addresses, res.Streets, res.Places)
		}
	}
	return errors.Join(err, d.Close())
}
