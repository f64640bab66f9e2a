package basemap

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

var seaBox = orb.Bound{Min: orb.Point{0, 0}, Max: orb.Point{10, 10}}

func line(pts ...float64) orb.LineString {
	var l orb.LineString
	for i := 0; i+1 < len(pts); i += 2 {
		l = append(l, orb.Point{pts[i], pts[i+1]})
	}
	return l
}

func reversed(l orb.LineString) orb.LineString {
	r := l.Clone()
	r.Reverse()
	return r
}

// The water lies right of the coastline's direction; the tests name points that must be sea
// and points that must stay land.
func TestSeaPolygons(t *testing.T) {
	straight := line(-1, 5, 11, 5) // eastwards: the sea to the south
	island := line(2, 1, 3, 1, 3, 2, 2, 2, 2, 1)
	tongues := line(2, 11, 2, 8, 4, 8, 4, 11, 6, 11, 6, 8, 8, 8, 8, 11) // land tongues from the north
	for _, c := range []struct {
		name      string
		chains    []orb.LineString
		sea, land []orb.Point
		warn      string
	}{
		{"straight coast", []orb.LineString{straight}, []orb.Point{{5, 2}, {0.1, 0.1}, {9.9, 4.9}}, []orb.Point{{5, 8}, {0.1, 9.9}}, ""},
		{"reversed coast", []orb.LineString{reversed(straight)}, []orb.Point{{5, 8}, {9.9, 9.9}}, []orb.Point{{5, 2}}, ""},
		{"island in the sea", []orb.LineString{straight, island}, []orb.Point{{5, 2}, {1, 1}}, []orb.Point{{2.5, 1.5}, {5, 8}}, ""},
		{"only an island: the box is at sea", []orb.LineString{island}, []orb.Point{{5, 5}, {9.9, 0.1}}, []orb.Point{{2.5, 1.5}}, ""},
		{"two land tongues: one sea entering and leaving twice", []orb.LineString{tongues}, []orb.Point{{5, 9}, {5, 2}, {1, 9}, {9, 9}}, []orb.Point{{3, 9}, {7, 9}}, ""},
		{"two bays", []orb.LineString{reversed(tongues)}, []orb.Point{{3, 9}, {7, 9}}, []orb.Point{{5, 9}, {5, 2}, {1, 9}}, ""},
		{"a coast ending inside the box is continued to its edge", []orb.LineString{line(3, 5, 7, 5)}, []orb.Point{{5, 2}, {0.1, 4.9}}, []orb.Point{{5, 8}}, ""},
		{"a coast ending on the box's edge", []orb.LineString{line(0, 5, 10, 5)}, []orb.Point{{5, 2}}, []orb.Point{{5, 8}}, ""},
		{"joined from two ways", joinChains([]coastline{{first: 2, last: 3, line: line(5, 5, 11, 5)}, {first: 1, last: 2, line: line(-1, 5, 5, 5)}}),
			[]orb.Point{{5, 2}}, []orb.Point{{5, 8}}, ""},
		{"a broken piece whose continuation crosses the coast is left out", []orb.LineString{straight, line(3, 8, 5, 7)},
			[]orb.Point{{5, 2}}, []orb.Point{{5, 8}, {9, 6}, {1, 9}}, "cannot be continued"},
		{"an island off a broken coast: no sea rather than a flooded box", []orb.LineString{island, line(6, 5.5, 4, 3.5)},
			nil, []orb.Point{{5, 5}, {1, 1}, {9, 1}}, "only islands"},
		{"no coastline: land", nil, nil, []orb.Point{{5, 5}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var warnings []string
			sea := seaPolygons(c.chains, seaBox, func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) })
			for _, p := range c.sea {
				if !planar.MultiPolygonContains(sea, p) {
					t.Errorf("%v is not sea: %v", p, sea)
				}
			}
			for _, p := range c.land {
				if planar.MultiPolygonContains(sea, p) {
					t.Errorf("%v is sea: %v", p, sea)
				}
			}
			if got := strings.Join(warnings, "; "); (c.warn == "") != (got == "") || !strings.Contains(got, c.warn) {
				t.Errorf("warnings %q, want %q", got, c.warn)
			}
		})
	}
}
