package basemap

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/planar"
	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"
)

// The sea. OpenStreetMap draws no water polygon for it, only natural=coastline ways with the
// land on their left and the water on their right; the tools that make sea polygons
// (osmcoastline, the files of osmdata.openstreetmap.de) work on the whole planet and need a
// download. An Ortsweberei's box holds a few coastline pieces, so the sea is assembled here,
// offline, from the extract's own coastline.

// coastline is one chain of coastline ways joined end to end, as read.
type coastline struct {
	first, last osm.NodeID
	line        orb.LineString
}

// readCoastline reads the natural=coastline ways of the extract and joins them into chains.
// Only those ways and their nodes are kept: two passes over the file, ways then nodes. It
// also returns the highest id of each type, above which the build numbers its own objects.
func readCoastline(ctx context.Context, path string) ([]orb.LineString, maxIDs, error) {
	var ways []*osm.Way
	var maxID maxIDs
	need := map[osm.NodeID]orb.Point{}
	// Filters would run in the decoder's goroutines: the objects are looked at here instead.
	if err := scanPBF(ctx, path, func(s *osmpbf.Scanner) { s.SkipNodes = true }, func(o osm.Object) {
		switch o := o.(type) {
		case *osm.Way:
			maxID.way = max(maxID.way, o.ID)
			if o.Tags.Find("natural") != "coastline" || len(o.Nodes) < 2 {
				return
			}
			ways = append(ways, o)
			for _, n := range o.Nodes {
				need[n.ID] = orb.Point{math.NaN(), math.NaN()}
			}
		case *osm.Relation:
			maxID.relation = max(maxID.relation, o.ID)
		}
	}); err != nil {
		return nil, maxID, err
	}
	if err := scanPBF(ctx, path, func(s *osmpbf.Scanner) { s.SkipWays, s.SkipRelations = true, true }, func(o osm.Object) {
		n := o.(*osm.Node)
		maxID.node = max(maxID.node, n.ID)
		if _, ok := need[n.ID]; ok {
			need[n.ID] = orb.Point{n.Lon, n.Lat}
		}
	}); err != nil {
		return nil, maxID, err
	}

	// Join by shared end nodes; a way whose node is missing from the extract is cut there.
	var pieces []coastline
	for _, w := range ways {
		var cur coastline
		flush := func() {
			if len(cur.line) >= 2 {
				pieces = append(pieces, cur)
			}
			cur = coastline{}
		}
		for _, n := range w.Nodes {
			p := need[n.ID]
			if math.IsNaN(p[0]) {
				flush()
				continue
			}
			if len(cur.line) == 0 {
				cur.first = n.ID
			}
			cur.last = n.ID
			cur.line = append(cur.line, p)
		}
		flush()
	}
	return joinChains(pieces), maxID, nil
}

func scanPBF(ctx context.Context, path string, setup func(*osmpbf.Scanner), each func(osm.Object)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s := osmpbf.New(ctx, f, 2)
	defer s.Close()
	setup(s)
	for s.Scan() {
		each(s.Object())
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("reading the coastline from %s: %w", path, err)
	}
	return nil
}

// joinChains appends each piece to the one whose end is its start until none joins.
func joinChains(pieces []coastline) []orb.LineString {
	byFirst := map[osm.NodeID]int{}
	for i, p := range pieces {
		if p.first != p.last {
			byFirst[p.first] = i
		}
	}
	used := make([]bool, len(pieces))
	// Start from pieces nothing leads into, then what is left are rings.
	into := map[osm.NodeID]bool{}
	for _, p := range pieces {
		into[p.last] = true
	}
	var out []orb.LineString
	follow := func(i int) {
		used[i] = true
		c := pieces[i]
		line := append(orb.LineString(nil), c.line...)
		for c.last != pieces[i].first {
			j, ok := byFirst[c.last]
			if !ok || used[j] {
				break
			}
			used[j] = true
			c = pieces[j]
			line = append(line, c.line[1:]...)
		}
		out = append(out, line)
	}
	for i, p := range pieces {
		if !used[i] && !into[p.first] {
			follow(i)
		}
	}
	for i := range pieces {
		if !used[i] {
			follow(i)
		}
	}
	return out
}

// seaPolygons assembles the water on the right of the coastline chains within box. Rings
// wholly inside are islands (holes in the sea around them). A chain crossing the box cuts it
// into pieces entering and leaving at its edge; a water ring follows a piece to where it
// leaves, then the box's edge clockwise to where the next piece enters, and so on until it
// closes. A chain that ends inside the box (an extract cut by a polygon ends its coast where
// the polygon does) is continued straight, in the direction of its last few hundred metres,
// to the box's edge; when that would cross another coastline the data has a gap, and the
// chain is left out with a warning rather than flooding the land. No coastline in the box: no
// sea (the box is taken to be land).
func seaPolygons(chains []orb.LineString, box orb.Bound, warn func(string, ...any)) orb.MultiPolygon {
	var islands []orb.Ring
	var open []orb.LineString
	broken := false
	for i, c := range chains {
		if len(c) < 2 {
			continue
		}
		if c[0] == c[len(c)-1] {
			if ringInside(c, box) {
				r := orb.Ring(c)
				if r.Orientation() != orb.CCW {
					warn("coastline ring at %v runs clockwise (water inside it); left out", c[0])
					continue
				}
				islands = append(islands, r)
				continue
			}
			// Start it outside the box so that clipping does not split one crossing in two.
			open = append(open, rotateOutside(c, box))
			continue
		}
		ext, ok := extend(c, box, chains, i)
		if !ok {
			broken = true
			warn("coastline from %v to %v ends inside the map's box and cannot be continued to its edge without crossing the coast (a gap in the data?); left out", c[0], c[len(c)-1])
			continue
		}
		open = append(open, ext)
	}

	type piece struct {
		line       orb.LineString
		entry, out float64 // positions on the box's edge, clockwise
		used       bool
	}
	var pieces []*piece
	for _, c := range open {
		for _, l := range clip.LineString(box, c) {
			if len(l) < 2 {
				continue
			}
			in, out := edgePos(box, l[0]), edgePos(box, l[len(l)-1])
			if in < 0 || out < 0 {
				warn("coastline piece from %v to %v does not reach the box's edge; left out", l[0], l[len(l)-1])
				continue
			}
			pieces = append(pieces, &piece{line: l, entry: in, out: out})
		}
	}

	var sea orb.MultiPolygon
	if len(pieces) == 0 {
		if len(islands) == 0 {
			return nil
		}
		if broken {
			// The coast the islands lie off is missing: flooding the box would drown it.
			warn("only islands are left of the coastline; no sea drawn")
			return nil
		}
		// Only islands: the box is at sea around them.
		sea = orb.MultiPolygon{{boxRing(box)}}
	}
	perimeter := 2 * ((box.Max[0] - box.Min[0]) + (box.Max[1] - box.Min[1]))
	ahead := func(from, to float64) float64 { // clockwise distance along the edge
		d := to - from
		if d < 0 {
			d += perimeter
		}
		return d
	}
	for _, start := range pieces {
		if start.used {
			continue
		}
		var ring orb.Ring
		p := start
		for steps := 0; ; steps++ {
			if steps > len(pieces) {
				warn("the coastline pieces do not close into a ring at %v; left out", start.line[0])
				ring = nil
				break
			}
			p.used = true
			ring = append(ring, p.line...)
			// The next entry clockwise from where p leaves (p's own entry counts: a bay).
			var next *piece
			best := math.Inf(1)
			for _, q := range pieces {
				if q.used && q != start {
					continue
				}
				if d := ahead(p.out, q.entry); d < best {
					best, next = d, q
				}
			}
			for _, c := range cornersBetween(box, p.out, best, perimeter) {
				ring = append(ring, c)
			}
			if next == start {
				ring = append(ring, start.line[0])
				break
			}
			p = next
		}
		if len(ring) >= 4 {
			sea = append(sea, orb.Polygon{ring})
		}
	}
	// Each island is a hole in the water polygon around it.
	for _, isl := range islands {
		for i := range sea {
			if planar.RingContains(sea[i][0], isl[0]) {
				sea[i] = append(sea[i], isl)
				break
			}
		}
	}
	return sea
}

func ringInside(c orb.LineString, box orb.Bound) bool {
	for _, p := range c {
		if !strictlyInside(p, box) {
			return false
		}
	}
	return true
}

// strictlyInside: a point on the box's edge is where a coast leaves it, not inside.
func strictlyInside(p orb.Point, box orb.Bound) bool {
	return p[0] > box.Min[0] && p[0] < box.Max[0] && p[1] > box.Min[1] && p[1] < box.Max[1]
}

func rotateOutside(c orb.LineString, box orb.Bound) orb.LineString {
	for i, p := range c[:len(c)-1] {
		if !box.Contains(p) {
			r := append(append(orb.LineString{}, c[i:len(c)-1]...), c[:i+1]...)
			return r
		}
	}
	return c
}

// extend continues a chain's ends that lie inside the box straight to its edge; false when a
// continuation would cross a coastline.
func extend(c orb.LineString, box orb.Bound, chains []orb.LineString, self int) (orb.LineString, bool) {
	out := c
	if strictlyInside(c[0], box) {
		rev := c.Clone()
		rev.Reverse()
		p, ok := continuation(rev, box, chains, self)
		if !ok {
			return nil, false
		}
		out = append(orb.LineString{p}, out...)
	}
	if strictlyInside(c[len(c)-1], box) {
		p, ok := continuation(c, box, chains, self)
		if !ok {
			return nil, false
		}
		out = append(out.Clone(), p)
	}
	return out, true
}

// continuation is where the line, continued beyond its last point in the direction of its
// last stretch (up to ~300 m back), leaves the box.
func continuation(l orb.LineString, box orb.Bound, chains []orb.LineString, self int) (orb.Point, bool) {
	end := l[len(l)-1]
	from := l[0]
	const back = 0.003 // degrees, about 300 m
	for i := len(l) - 2; i >= 0; i-- {
		from = l[i]
		if planar.Distance(from, end) >= back {
			break
		}
	}
	dx, dy := end[0]-from[0], end[1]-from[1]
	if dx == 0 && dy == 0 {
		return orb.Point{}, false
	}
	t := math.Inf(1)
	for _, c := range [][2]float64{{box.Min[0], dx}, {box.Max[0], dx}} {
		if c[1] != 0 {
			if s := (c[0] - end[0]) / c[1]; s > 0 {
				t = math.Min(t, s)
			}
		}
	}
	for _, c := range [][2]float64{{box.Min[1], dy}, {box.Max[1], dy}} {
		if c[1] != 0 {
			if s := (c[0] - end[1]) / c[1]; s > 0 {
				t = math.Min(t, s)
			}
		}
	}
	p := orb.Point{end[0] + t*dx, end[1] + t*dy}
	for i, other := range chains {
		for j := 1; j < len(other); j++ {
			if i == self && planar.Distance(other[j-1], end) <= back && planar.Distance(other[j], end) <= back {
				continue // its own last stretch, whose wiggles gave the direction
			}
			if segmentsCross(end, p, other[j-1], other[j]) {
				return orb.Point{}, false
			}
		}
	}
	return p, true
}

func segmentsCross(a, b, c, d orb.Point) bool {
	cross := func(o, p, q orb.Point) float64 { return (p[0]-o[0])*(q[1]-o[1]) - (p[1]-o[1])*(q[0]-o[0]) }
	d1, d2 := cross(c, d, a), cross(c, d, b)
	d3, d4 := cross(a, b, c), cross(a, b, d)
	return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))
}

// edgePos is a point's position on the box's edge, measured clockwise from the north-west
// corner (north edge eastwards, east edge southwards, …); -1 when it is not on the edge.
func edgePos(box orb.Bound, p orb.Point) float64 {
	w, h := box.Max[0]-box.Min[0], box.Max[1]-box.Min[1]
	eps := 1e-9 * math.Max(w, h)
	switch {
	case math.Abs(p[1]-box.Max[1]) <= eps:
		return p[0] - box.Min[0]
	case math.Abs(p[0]-box.Max[0]) <= eps:
		return w + (box.Max[1] - p[1])
	case math.Abs(p[1]-box.Min[1]) <= eps:
		return w + h + (box.Max[0] - p[0])
	case math.Abs(p[0]-box.Min[0]) <= eps:
		return 2*w + h + (p[1] - box.Min[1])
	}
	return -1
}

// cornersBetween lists the box's corners passed going clockwise dist from position from.
func cornersBetween(box orb.Bound, from, dist, perimeter float64) []orb.Point {
	w, h := box.Max[0]-box.Min[0], box.Max[1]-box.Min[1]
	corners := []struct {
		pos float64
		p   orb.Point
	}{
		{w, orb.Point{box.Max[0], box.Max[1]}},
		{w + h, orb.Point{box.Max[0], box.Min[1]}},
		{2*w + h, orb.Point{box.Min[0], box.Min[1]}},
		{0, orb.Point{box.Min[0], box.Max[1]}},
	}
	type at struct {
		d float64
		p orb.Point
	}
	var out []at
	for _, c := range corners {
		d := c.pos - from
		if d < 0 {
			d += perimeter
		}
		if d > 0 && d < dist {
			out = append(out, at{d, c.p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].d < out[j].d })
	pts := make([]orb.Point, len(out))
	for i, a := range out {
		pts[i] = a.p
	}
	return pts
}

func boxRing(box orb.Bound) orb.Ring {
	return orb.Ring{{box.Min[0], box.Max[1]}, {box.Max[0], box.Max[1]}, {box.Max[0], box.Min[1]},
		{box.Min[0], box.Min[1]}, {box.Min[0], box.Max[1]}}
}

// epoch stands for the synthetic objects' time: osmium's XML reader wants a valid one.
var epoch = time.Unix(0, 0).UTC()

type maxIDs struct {
	node     osm.NodeID
	way      osm.WayID
	relation osm.RelationID
}

// extraOSM numbers its objects just above the extract's own of each type: tilemaker's stores
// grow with the highest id (Monaco's sea numbered from 2^36 took it to 8.7 GB; its ways
// numbered after the highest node id, to 1.4 GB instead of 0.44). It writes the earth (one closed way over the box: OpenStreetMap has no land polygon) and
// the sea (multipolygon relations tagged weltgewebe:sea) as OSM XML, sorted as osmium merge
// wants it.
func extraOSM(w io.Writer, above maxIDs, box orb.Bound, sea orb.MultiPolygon) error {
	o := &osm.OSM{Version: "0.6", Generator: "weltgewebe"}
	nodeID, wayID := above.node+1, above.way+1
	addWay := func(r orb.Ring, tags osm.Tags) osm.WayID {
		w := &osm.Way{ID: wayID, Version: 1, Visible: true, Timestamp: epoch, Tags: tags}
		wayID++
		first := nodeID
		for i, p := range r {
			if i == len(r)-1 && p == r[0] {
				w.Nodes = append(w.Nodes, osm.WayNode{ID: first})
				break
			}
			o.Nodes = append(o.Nodes, &osm.Node{ID: nodeID, Version: 1, Visible: true, Timestamp: epoch, Lon: p[0], Lat: p[1]})
			w.Nodes = append(w.Nodes, osm.WayNode{ID: nodeID})
			nodeID++
		}
		if w.Nodes[len(w.Nodes)-1].ID != first {
			w.Nodes = append(w.Nodes, osm.WayNode{ID: first})
		}
		o.Ways = append(o.Ways, w)
		return w.ID
	}
	addWay(boxRing(box), osm.Tags{{Key: "weltgewebe:earth", Value: "yes"}})
	for i, poly := range sea {
		rel := &osm.Relation{ID: above.relation + 1 + osm.RelationID(i), Version: 1, Visible: true, Timestamp: epoch, Tags: osm.Tags{
			{Key: "type", Value: "multipolygon"}, {Key: "natural", Value: "water"}, {Key: "weltgewebe:sea", Value: "yes"}}}
		for j, r := range poly {
			role := "outer"
			if j > 0 {
				role = "inner"
			}
			rel.Members = append(rel.Members, osm.Member{Type: osm.TypeWay, Ref: int64(addWay(r, nil)), Role: role})
		}
		o.Relations = append(o.Relations, rel)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	return xml.NewEncoder(w).Encode(o)
}
