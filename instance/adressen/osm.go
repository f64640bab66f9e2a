package adressen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"
	"github.com/paulmach/osm/osmxml"

	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Reading an OpenStreetMap extract into entries, in passes over the file, each reading one
// kind of element (the decoder skips the others' blocks undecoded):
//
//  0. with a clip: the ids of the nodes inside its bounding box (8 bytes each), so that the
//     ways outside are never kept;
//  1. relations: multipolygons with an address or a place name, and which of their outer ways
//     (up to 4) make their point;
//  2. ways: those with an address or a place name, those the relations need, and named
//     streets; each notes which nodes make its point (up to 6 corners, spread along it — the
//     mean of a building's corners is its middle; for a street, its middle node);
//  3. nodes: addresses and places tagged on nodes, and the coordinates of the noted nodes.
//
// Memory is what is kept, never the file's nodes: 16 bytes per noted node (≤ 6 per building,
// 1 per street way), 24 per point being summed, and the entries themselves. Measured with
// 100,000 synthetic addresses: 167 MB peak (RSS, of which 45 MB the binary at rest), so about
// 1.2 KB per entry with the garbage of decoding. A federal state's extract unclipped (Bavaria
// has some 3.5 million addresses) would need about 4 GB: clip it. With --bounds, nodes outside
// the clip's bounding box (plus a margin) are dropped as they are read and ways that lie
// outside it are never kept, so the memory follows what lies inside — a town's 20,000–50,000
// addresses take tens of MB — at the price of one more pass over the nodes (8 bytes per node
// inside the box). Cutting the extract first (`osmium extract`, docs/OPERATIONS.md) also makes
// every pass faster.

const (
	maxCorners      = 6
	maxRelationWays = 4
	// streetJoin is how far apart two ways of one name may lie and still be one street;
	// farther, they are namesakes in different places (a federal state has hundreds of
	// Hauptstraßen).
	streetJoinM = 2000
)

// entry is an index entry being built.
type entry struct {
	kind, street, hn, postcode, city, name string
	point                                  geo.Point
	label                                  string // made once the entry is complete (finish)
}

func (e entry) makeLabel() string {
	tail := strings.TrimSpace(e.postcode + " " + e.city)
	var head string
	switch e.kind {
	case KindAddress:
		head = e.street + " " + e.hn
	case KindStreet:
		head = e.street
	default:
		head = e.name
		if e.city != "" && e.city != e.name {
			return head + ", " + e.city
		}
		return head
	}
	if tail != "" {
		return head + ", " + tail
	}
	return head
}

// sum adds up the coordinates of the nodes that make one point.
type sum struct {
	lat, lon float64
	n        int32
}

// note says that node's coordinates go into the sum acc.
type note struct {
	node osm.NodeID
	acc  uint32
}

type waiting struct {
	e   entry
	acc uint32
}

type streetWay struct {
	name  string
	nodes int
	acc   uint32
}

type reader struct {
	open   func() (osm.Scanner, error)
	clip   *Clip
	inBox  []osm.NodeID // pass 0, sorted
	sums   []sum
	notes  []note
	wait   []waiting
	ways   map[osm.WayID][]uint32 // relation members → the relations' sums
	street []streetWay
	direct []entry
	names  map[string]string
}

// readExtract reads the entries of the extract at path (.osm.pbf, or OSM XML), keeping those
// inside clip (nil: all).
func readExtract(ctx context.Context, path string, clip *Clip) ([]entry, error) {
	xml := !strings.HasSuffix(strings.ToLower(path), ".pbf")
	r := &reader{clip: clip, ways: map[osm.WayID][]uint32{}, names: map[string]string{}, open: func() (osm.Scanner, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if xml {
			return closing{osmxml.New(ctx, f), f}, nil
		}
		return closing{osmpbf.New(ctx, f, min(runtime.GOMAXPROCS(0), 4)), f}, nil
	}}
	if clip != nil {
		if err := r.pass(func(s osm.Scanner) { skip(s, false, true, true) }, r.boxNode); err != nil {
			return nil, err
		}
		slices.Sort(r.inBox)
	}
	if err := r.pass(func(s osm.Scanner) { skip(s, true, true, false) }, r.relation); err != nil {
		return nil, err
	}
	if err := r.pass(func(s osm.Scanner) { skip(s, true, false, true) }, r.way); err != nil {
		return nil, err
	}
	slices.SortFunc(r.notes, func(a, b note) int { return cmp.Compare(a.node, b.node) })
	if err := r.pass(func(s osm.Scanner) { skip(s, false, true, true) }, r.node); err != nil {
		return nil, err
	}
	return r.finish(), nil
}

type closing struct {
	osm.Scanner
	f io.Closer
}

func (c closing) Close() error { return errors.Join(c.Scanner.Close(), c.f.Close()) }

// skip tells a PBF scanner which kinds of element to skip undecoded; the XML scanner reads all.
func skip(s osm.Scanner, nodes, ways, relations bool) {
	if c, ok := s.(closing); ok {
		if p, ok := c.Scanner.(*osmpbf.Scanner); ok {
			p.SkipNodes, p.SkipWays, p.SkipRelations = nodes, ways, relations
		}
	}
}

func (r *reader) pass(setup func(osm.Scanner), fn func(osm.Object)) error {
	s, err := r.open()
	if err != nil {
		return fmt.Errorf("adressen: %w", err)
	}
	setup(s)
	for s.Scan() {
		fn(s.Object())
	}
	err = s.Err()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &ReadError{Err: err}
	}
	return nil
}

// ReadError is an extract that cannot be read (not OSM data, truncated, corrupt).
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "adressen: the extract cannot be read: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

func (r *reader) boxNode(o osm.Object) {
	if n, ok := o.(*osm.Node); ok && r.clip.inBox(n.Lat, n.Lon) {
		r.inBox = append(r.inBox, n.ID)
	}
}

func (r *reader) newSum() uint32 {
	r.sums = append(r.sums, sum{})
	return uint32(len(r.sums) - 1)
}

func (r *reader) relation(o osm.Object) {
	rel, ok := o.(*osm.Relation)
	if !ok || rel.Tags.Find("type") != "multipolygon" {
		return
	}
	es := r.entriesOf(rel.Tags)
	if len(es) == 0 {
		return
	}
	acc := r.newSum()
	n := 0
	for _, m := range rel.Members {
		if m.Type == osm.TypeWay && (m.Role == "outer" || m.Role == "") && n < maxRelationWays {
			r.ways[osm.WayID(m.Ref)] = append(r.ways[osm.WayID(m.Ref)], acc)
			n++
		}
	}
	for _, e := range es {
		r.wait = append(r.wait, waiting{e, acc})
	}
}

func (r *reader) way(o osm.Object) {
	w, ok := o.(*osm.Way)
	if !ok || len(w.Nodes) == 0 {
		return
	}
	corners := cornersOf(w.Nodes)
	if r.clip != nil && !slices.ContainsFunc(corners, r.boxed) {
		return
	}
	for _, acc := range r.ways[w.ID] {
		r.noteAll(corners, acc)
	}
	if es := r.entriesOf(w.Tags); len(es) > 0 {
		acc := r.newSum()
		r.noteAll(corners, acc)
		for _, e := range es {
			r.wait = append(r.wait, waiting{e, acc})
		}
	}
	if name := w.Tags.Find("name"); name != "" && streetTypes[w.Tags.Find("highway")] {
		acc := r.newSum()
		r.notes = append(r.notes, note{w.Nodes[len(w.Nodes)/2].ID, acc})
		r.street = append(r.street, streetWay{name: name, nodes: len(w.Nodes), acc: acc})
	}
}

func (r *reader) boxed(id osm.NodeID) bool {
	_, ok := slices.BinarySearch(r.inBox, id)
	return ok
}

func (r *reader) noteAll(ids []osm.NodeID, acc uint32) {
	for _, id := range ids {
		r.notes = append(r.notes, note{id, acc})
	}
}

// cornersOf picks up to maxCorners nodes spread along a way (a closed way's last node is its
// first).
func cornersOf(ns osm.WayNodes) []osm.NodeID {
	if len(ns) > 1 && ns[0].ID == ns[len(ns)-1].ID {
		ns = ns[:len(ns)-1]
	}
	k := min(len(ns), maxCorners)
	out := make([]osm.NodeID, k)
	for i := range k {
		out[i] = ns[i*len(ns)/k].ID
	}
	return out
}

func (r *reader) node(o osm.Object) {
	n, ok := o.(*osm.Node)
	if !ok {
		return
	}
	i, _ := slices.BinarySearchFunc(r.notes, n.ID, func(a note, id osm.NodeID) int { return cmp.Compare(a.node, id) })
	for ; i < len(r.notes) && r.notes[i].node == n.ID; i++ {
		s := &r.sums[r.notes[i].acc]
		s.lat += n.Lat
		s.lon += n.Lon
		s.n++
	}
	if r.clip != nil && !r.clip.inBox(n.Lat, n.Lon) {
		return // summed above if a way needs it; its own entries lie outside
	}
	for _, e := range r.entriesOf(n.Tags) {
		e.point = geo.Point{Lat: n.Lat, Lon: n.Lon}
		r.direct = append(r.direct, e)
	}
}

func (r *reader) point(acc uint32) (geo.Point, bool) {
	s := r.sums[acc]
	if s.n == 0 {
		return geo.Point{}, false // its nodes are not in the extract
	}
	return geo.Point{Lat: s.lat / float64(s.n), Lon: s.lon / float64(s.n)}, true
}

// finish gives every entry its point, makes the streets, clips and drops duplicates.
func (r *reader) finish() []entry {
	all := r.direct
	for _, w := range r.wait {
		if p, ok := r.point(w.acc); ok {
			w.e.point = p
			all = append(all, w.e)
		}
	}
	townOf := townsByPostcode(all)
	for i := range all {
		if all[i].city == "" && all[i].kind == KindAddress {
			all[i].city = townOf[all[i].postcode]
		}
	}
	all = append(all, r.streets(all)...)
	var out []entry
	seen := map[string]bool{}
	streetAt := map[string][]geo.Point{}
	for _, e := range all {
		if r.clip != nil && !r.clip.contains(e.point) {
			continue
		}
		e.label = e.makeLabel()
		key := e.kind + "|" + strings.Join(words(e.label), " ")
		if e.kind == KindPlace { // namesakes apart are two places
			key += fmt.Sprintf("|%.2f,%.2f", e.point.Lat, e.point.Lon)
		}
		if !seen[key] {
			seen[key] = true
			if e.kind == KindStreet {
				name := strings.Join(words(e.street), " ")
				streetAt[name] = append(streetAt[name], e.point)
			}
			// OSM stores 7 decimals; the sum of one node must not read 43.742628100000005.
			e.point = geo.Point{Lat: math.Round(e.point.Lat*1e7) / 1e7, Lon: math.Round(e.point.Lon*1e7) / 1e7}
			out = append(out, e)
		}
	}
	// A square is often both a named way and a place=square node: one entry, the street.
	return slices.DeleteFunc(out, func(e entry) bool {
		if e.kind != KindPlace {
			return false
		}
		return slices.ContainsFunc(streetAt[strings.Join(words(e.name), " ")], func(p geo.Point) bool { return distanceM(p, e.point) < 500 })
	})
}

// townsByPostcode is the town most addresses with a postcode name: many are tagged with the
// postcode only, and their label would otherwise lack what a resident types after it.
func townsByPostcode(es []entry) map[string]string {
	counts := map[string]map[string]int{}
	for _, e := range es {
		if e.kind == KindAddress && e.postcode != "" && e.city != "" {
			if counts[e.postcode] == nil {
				counts[e.postcode] = map[string]int{}
			}
			counts[e.postcode][e.city]++
		}
	}
	out := map[string]string{}
	for pc, towns := range counts {
		best := 0
		for town, n := range towns {
			if n > best || n == best && town < out[pc] {
				best, out[pc] = n, town
			}
		}
	}
	return out
}

// streets makes one entry per street: the ways of one name within streetJoinM of each other
// are one street, whose point is the middle of its longest way, and whose postcode and town are
// those of its nearest address.
func (r *reader) streets(addresses []entry) []entry {
	type street struct {
		e     entry
		nodes int
	}
	byName := map[string][]*street{}
	for _, w := range r.street {
		p, ok := r.point(w.acc)
		if !ok {
			continue
		}
		key := strings.Join(words(w.name), " ")
		var joined bool
		for _, s := range byName[key] {
			if distanceM(s.e.point, p) < streetJoinM {
				if w.nodes > s.nodes {
					s.e.point, s.nodes = p, w.nodes
				}
				joined = true
				break
			}
		}
		if !joined {
			byName[key] = append(byName[key], &street{e: entry{kind: KindStreet, street: w.name, point: p}, nodes: w.nodes})
		}
	}
	onStreet := map[string][]int{}
	for i, a := range addresses {
		if a.kind == KindAddress {
			key := strings.Join(words(a.street), " ")
			onStreet[key] = append(onStreet[key], i)
		}
	}
	var out []entry
	for key, ss := range byName {
		for _, s := range ss {
			best := math.Inf(1)
			for _, i := range onStreet[key] {
				a := addresses[i]
				if d := distanceM(a.point, s.e.point); d < best && d < streetJoinM {
					best, s.e.postcode, s.e.city = d, a.postcode, a.city
				}
			}
			out = append(out, s.e)
		}
	}
	return out
}

// distanceM is the distance in metres, flat-earth: enough within a town.
func distanceM(a, b geo.Point) float64 {
	const m = 111_320.0
	dy := (a.Lat - b.Lat) * m
	dx := (a.Lon - b.Lon) * m * math.Cos((a.Lat+b.Lat)/2*math.Pi/180)
	return math.Hypot(dx, dy)
}

// streetTypes are the highways a resident names as their street (and squares and named paths,
// which in old towns are addresses too).
var streetTypes = map[string]bool{
	"motorway": false, "trunk": true, "primary": true, "secondary": true, "tertiary": true,
	"unclassified": true, "residential": true, "living_street": true, "pedestrian": true,
	"road": true, "service": false, "footway": true, "steps": true, "path": true, "cycleway": true,
	"track": true,
}

// placeTags are the named features besides place=* that are worth finding: where people meet,
// what they name as a landmark.
var placeTags = map[string]map[string]bool{
	"amenity": {"townhall": true, "school": true, "library": true, "place_of_worship": true, "hospital": true,
		"marketplace": true, "community_centre": true, "theatre": true, "cinema": true, "university": true,
		"college": true, "kindergarten": true, "post_office": true, "police": true, "fire_station": true,
		"bus_station": true, "ferry_terminal": true, "arts_centre": true, "fountain": true},
	"tourism":  {"attraction": true, "museum": true, "viewpoint": true, "zoo": true, "aquarium": true, "gallery": true},
	"leisure":  {"park": true, "garden": true, "playground": true, "stadium": true, "sports_centre": true, "marina": true},
	"railway":  {"station": true, "halt": true},
	"historic": nil, // any
}

// entriesOf are the entries an element's tags make: an address, a place, or both. Street,
// postcode and town repeat across thousands of addresses: each is kept once (names).
func (r *reader) entriesOf(tags osm.Tags) []entry {
	var out []entry
	hn := tags.Find("addr:housenumber")
	street := tags.Find("addr:street")
	if street == "" {
		street = tags.Find("addr:place")
	}
	street, postcode, city := r.intern(street), r.intern(tags.Find("addr:postcode")), r.intern(tags.Find("addr:city"))
	if hn != "" && street != "" {
		out = append(out, entry{kind: KindAddress, street: street, hn: hn, postcode: postcode, city: city})
	}
	if name := tags.Find("name"); name != "" && isPlace(tags) {
		out = append(out, entry{kind: KindPlace, name: name, city: city})
	}
	return out
}

func (r *reader) intern(s string) string {
	if v, ok := r.names[s]; ok {
		return v
	}
	r.names[s] = s
	return s
}

func isPlace(tags osm.Tags) bool {
	if tags.Find("place") != "" {
		return true
	}
	for key, values := range placeTags {
		if v := tags.Find(key); v != "" && (values == nil || values[v]) {
			return true
		}
	}
	return false
}
