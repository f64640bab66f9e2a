package adressen

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Clip is the area an import keeps.
type Clip struct {
	area  orb.MultiPolygon
	box   orb.Bound
	geoJS string // as recorded: a GeoJSON geometry
}

// ParseClip reads a clip: "minlon,minlat,maxlon,maxlat", or a GeoJSON Polygon or MultiPolygon
// (or a Feature, or a FeatureCollection of one, holding one).
func ParseClip(s string) (*Clip, error) {
	s = strings.TrimSpace(s)
	if parts := strings.Split(s, ","); len(parts) == 4 && !strings.HasPrefix(s, "{") {
		var v [4]float64
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return nil, invalidClip("a box is four numbers: minlon,minlat,maxlon,maxlat")
			}
			v[i] = f
		}
		if v[0] >= v[2] || v[1] >= v[3] || v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 {
			return nil, invalidClip("the box must be minlon,minlat,maxlon,maxlat in WGS84 degrees, min below max")
		}
		b := orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}
		return clipOf(orb.MultiPolygon{b.ToPolygon()})
	}
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(s), &probe); err != nil {
		return nil, invalidClip("neither a box nor GeoJSON")
	}
	var g orb.Geometry
	switch probe.Type {
	case "Feature":
		f, err := geojson.UnmarshalFeature([]byte(s))
		if err != nil {
			return nil, invalidClip(err.Error())
		}
		g = f.Geometry
	case "FeatureCollection":
		fc, err := geojson.UnmarshalFeatureCollection([]byte(s))
		if err != nil || len(fc.Features) != 1 {
			return nil, invalidClip("a FeatureCollection must hold exactly one feature")
		}
		g = fc.Features[0].Geometry
	default:
		gg, err := geojson.UnmarshalGeometry([]byte(s))
		if err != nil {
			return nil, invalidClip(err.Error())
		}
		g = gg.Geometry()
	}
	switch g := g.(type) {
	case orb.Polygon:
		return clipOf(orb.MultiPolygon{g})
	case orb.MultiPolygon:
		return clipOf(g)
	}
	return nil, invalidClip("the GeoJSON must be a Polygon or MultiPolygon")
}

func clipOf(mp orb.MultiPolygon) (*Clip, error) {
	b, err := geojson.NewGeometry(mp).MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &Clip{area: mp, box: mp.Bound(), geoJS: string(b)}, nil
}

func invalidClip(why string) error {
	return fault.Invalidf("bounds", "invalid_bounds", "The bounds cannot be read: %s.", why)
}

// inBox reports whether a point lies in the clip's bounding box (plus a margin of about 1 km,
// so that a building or street across the edge keeps the nodes that make its point).
func (c *Clip) inBox(lat, lon float64) bool {
	const margin = 0.01
	return lon >= c.box.Min[0]-margin && lon <= c.box.Max[0]+margin && lat >= c.box.Min[1]-margin && lat <= c.box.Max[1]+margin
}

func (c *Clip) contains(p geo.Point) bool {
	return planar.MultiPolygonContains(c.area, orb.Point{p.Lon, p.Lat})
}

// Result is what an import did.
type Result struct {
	Source
	Unchanged bool // the same file with the same clip was imported before: nothing was written
}

// Import replaces the index with the addresses, streets and places of the OpenStreetMap
// extract at path (.osm.pbf, or OSM XML), keeping those inside clip (nil: all). The rows and
// one AdressenImportiert event commit together; searches see the old index until then. The
// same file (by SHA-256) with the same clip again changes nothing.
func (s *Service) Import(ctx context.Context, path string, clip *Clip) (Result, error) {
	sum, err := fileSHA256(path)
	if err != nil {
		return Result{}, err
	}
	var bounds *string
	if clip != nil {
		bounds = &clip.geoJS
	}
	same := func(src Source) bool {
		return src.SHA256 == sum && (src.Bounds == nil) == (bounds == nil) && (bounds == nil || *src.Bounds == *bounds)
	}
	if cur, ok, err := s.Source(ctx); err != nil {
		return Result{}, err
	} else if ok && same(cur) {
		return Result{Source: cur, Unchanged: true}, nil // read nothing
	}
	es, err := readExtract(ctx, path, clip)
	if err != nil {
		return Result{}, err
	}
	// An extract with nothing in it (an empty download, an HTML error page saved as .osm, a clip
	// with latitude and longitude swapped) reads without an error; it must not replace an index.
	if len(es) == 0 {
		why := "it holds no addresses, streets or places"
		if clip != nil {
			why += " within the bounds (longitude first: minlon,minlat,maxlon,maxlat)"
		}
		return Result{}, &ReadError{Err: errors.New(why)}
	}
	// The rank among equal matches: streets and places before addresses (a street's label is
	// not always the shorter: "Avenue des Spélugues 12" has no postcode, its street has), then
	// shorter labels.
	class := func(e entry) int {
		if e.kind == KindAddress {
			return 1
		}
		return 0
	}
	slices.SortFunc(es, func(a, b entry) int {
		la, lb := a.label, b.label
		return cmp.Or(cmp.Compare(class(a), class(b)), cmp.Compare(utf8.RuneCountInString(la), utf8.RuneCountInString(lb)),
			strings.Compare(la, lb), cmp.Compare(a.point.Lat, b.point.Lat), cmp.Compare(a.point.Lon, b.point.Lon))
	})
	src := Source{File: filepath.Base(path), SHA256: sum, Bounds: bounds}
	for _, e := range es {
		switch e.kind {
		case KindAddress:
			src.Addresses++
		case KindStreet:
			src.Streets++
		case KindPlace:
			src.Places++
		}
	}
	res := Result{Source: src}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		// One import at a time; searches read on.
		if _, err := tx.Exec(ctx, `LOCK TABLE adressen_quelle IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("adressen: lock: %w", err)
		}
		cur, ok, err := source(ctx, tx)
		if err != nil {
			return err
		}
		if ok && same(cur) {
			res = Result{Source: cur, Unchanged: true}
			return nil
		}
		// DELETE, not TRUNCATE: searches go on reading the old index until the commit.
		tx.Defer(`DELETE FROM adressen`)
		if err := insert(ctx, tx, es); err != nil {
			return err
		}
		now := s.clock.Now()
		tx.Defer(`
INSERT INTO adressen_quelle (file, sha256, bounds, addresses, streets, places, imported_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (singleton) DO UPDATE SET file = excluded.file, sha256 = excluded.sha256, bounds = excluded.bounds,
	addresses = excluded.addresses, streets = excluded.streets, places = excluded.places, imported_at = excluded.imported_at`,
			src.File, src.SHA256, src.Bounds, src.Addresses, src.Streets, src.Places, now)
		return eventstore.Append(tx, now, Importiert.New(eventstore.Header{Actor: uuid.Nil}, ImportiertV1{
			File: src.File, SHA256: src.SHA256, Bounds: src.Bounds, Addresses: src.Addresses, Streets: src.Streets, Places: src.Places}))
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// insert writes the entries in batches of arrays, one statement each, so that what is in flight
// stays bounded; ord
// is their position, the rank among equal matches.
func insert(ctx context.Context, tx *database.Tx, es []entry) error {
	const batch = 5000
	for start := 0; start < len(es); start += batch {
		part := es[start:min(start+batch, len(es))]
		n := len(part)
		ord := make([]int32, n)
		kind, label, street, hn, postcode, city, name, ts := make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		lat, lon := make([]float64, n), make([]float64, n)
		for i, e := range part {
			ord[i] = int32(start + i)
			kind[i], label[i], street[i], hn[i], postcode[i], city[i], name[i] = e.kind, e.label, e.street, e.hn, e.postcode, e.city, e.name
			lat[i], lon[i] = e.point.Lat, e.point.Lon
			// Terms hold no spaces (normalize.go), so a space separates them.
			ts[i] = strings.Join(append(terms(e.street, e.hn, houseNumberParts(e.hn), e.postcode, e.city, e.name), houseNumberTerms(e.hn)...), " ")
		}
		_, err := tx.Exec(ctx, `
INSERT INTO adressen (ord, kind, label, street, housenumber, postcode, city, name, lat, lon, terms)
SELECT o, k, l, s, h, p, c, n, la, lo, string_to_array(t, ' ')
FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::float8[], $10::float8[], $11::text[]) AS x(o, k, l, s, h, p, c, n, la, lo, t)`,
			ord, kind, label, street, hn, postcode, city, name, lat, lon, ts)
		if err != nil {
			return fmt.Errorf("adressen: insert: %w", err)
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("adressen: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("adressen: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
