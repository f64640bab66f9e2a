// Package geo holds the instance's geography: validated points, H3 cells, and the random
// public position drawn around a resident's home.
//
// Every Knoten stores its H3 cell at resolution 15, the finest there is. The coarser cells the
// live map works with (resolutions 4 to 10) are not stored: all resolution-15 descendants of a
// cell form one contiguous range of 64-bit H3 indexes, so "every Knoten in this cell" is a
// btree range scan (see CellRange).
package geo

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/uber/h3-go/v4"
)

// FinestResolution is the H3 resolution stored for every point.
const FinestResolution = 15

// Point is a WGS84 coordinate.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Valid reports whether p is a real coordinate: finite, latitude within ±90, longitude ±180.
func (p Point) Valid() bool {
	return !math.IsNaN(p.Lat) && !math.IsNaN(p.Lon) && !math.IsInf(p.Lat, 0) && !math.IsInf(p.Lon, 0) &&
		p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

// Cell is the point's H3 cell at FinestResolution, as a signed 64-bit index (how it is stored).
func (p Point) Cell() (int64, error) {
	c, err := h3.LatLngToCell(h3.NewLatLng(p.Lat, p.Lon), FinestResolution)
	if err != nil {
		return 0, fmt.Errorf("geo: h3 cell of %v: %w", p, err)
	}
	return int64(c), nil
}

// CellHex is the usual text form of an H3 index.
func CellHex(c int64) string { return h3.Cell(c).String() }

// ParseCell reads a hex H3 cell index and checks it is a valid cell.
func ParseCell(s string) (h3.Cell, error) {
	c := h3.Cell(h3.IndexFromString(s))
	if !c.IsValid() {
		return 0, fmt.Errorf("geo: %q is not an H3 cell", s)
	}
	return c, nil
}

// The bit layout of an H3 cell index: 4 resolution bits at 52–55, then 15 digits of 3 bits,
// digit 1 at bits 42–44 down to digit 15 at bits 0–2. Unused digits are 7.
const (
	resOffset   = 52
	resMask     = uint64(0xf) << resOffset
	digitBits   = 3
	digitsTotal = 15
)

// CellRange returns the smallest and largest resolution-15 indexes that descend from c. Every
// stored cell inside c lies within [lo, hi], and no cell outside c does.
func CellRange(c h3.Cell) (lo, hi int64) {
	r := c.Resolution()
	base := (uint64(c) &^ resMask) | uint64(FinestResolution)<<resOffset
	free := uint((digitsTotal - r) * digitBits) // the bits of digits r+1..15
	mask := uint64(1)<<free - 1
	return int64(base &^ mask), int64((base &^ mask) | (mask & allSixes(free)))
}

// allSixes is the bit pattern of digits all equal to 6, the largest valid digit.
func allSixes(bits uint) uint64 {
	var v uint64
	for i := uint(0); i < bits; i += digitBits {
		v |= 6 << i
	}
	return v
}

// earthRadius is the mean Earth radius in metres, used for the local flat approximation below
// (its error is far under a metre at the radii used here, up to 5 km).
const earthRadius = 6371008.8

// RandomPointWithin draws a point uniformly from the disc of radius metres around centre,
// using the operating system's cryptographic random source: the public position of a resident
// must not let anyone narrow down the home.
func RandomPointWithin(centre Point, radius float64) (Point, error) {
	u, err := uniform()
	if err != nil {
		return Point{}, err
	}
	v, err := uniform()
	if err != nil {
		return Point{}, err
	}
	// sqrt makes the draw uniform over the area, not crowded at the centre.
	d := radius * math.Sqrt(u)
	theta := 2 * math.Pi * v
	return Offset(centre, d*math.Cos(theta), d*math.Sin(theta)), nil
}

// Offset moves p by north and east metres.
func Offset(p Point, north, east float64) Point {
	lat := p.Lat + north/earthRadius*180/math.Pi
	lon := p.Lon + east/(earthRadius*math.Cos(p.Lat*math.Pi/180))*180/math.Pi
	if lon > 180 {
		lon -= 360
	} else if lon < -180 {
		lon += 360
	}
	return Point{Lat: math.Max(-90, math.Min(90, lat)), Lon: lon}
}

// Distance is the great-circle distance between a and b in metres.
func Distance(a, b Point) float64 {
	return h3.GreatCircleDistanceM(h3.NewLatLng(a.Lat, a.Lon), h3.NewLatLng(b.Lat, b.Lon))
}

// uniform is a cryptographically random float64 in [0, 1).
func uniform() (float64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("geo: random: %w", err)
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53), nil
}
