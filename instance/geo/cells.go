package geo

import (
	"errors"
	"fmt"
	"math"

	"github.com/uber/h3-go/v4"
)

// The live map works with cells of resolutions MinMapResolution to MaxMapResolution.
const (
	MinMapResolution = 4
	MaxMapResolution = 10
)

// Span is an inclusive range of stored (resolution-15) cell indexes: all of one coarser cell.
type Span struct{ Lo, Hi int64 }

// SpanOf returns the span of a cell (see CellRange).
func SpanOf(c int64) Span {
	lo, hi := CellRange(h3.Cell(c))
	return Span{lo, hi}
}

// Parent returns the ancestor of a stored (resolution-15) cell at resolution res, computed on
// the index bits: the resolution field set to res and the digits below it set to 7 (unused).
// The map feed calls it for every event and every subscribed resolution, so it stays out of
// cgo.
func Parent(c int64, res int) int64 {
	u := uint64(c)
	free := uint((digitsTotal - res) * digitBits)
	u = (u &^ resMask) | uint64(res)<<resOffset
	return int64(u | (uint64(1)<<free - 1))
}

// Resolution is the resolution of a cell index.
func Resolution(c int64) int { return int((uint64(c) & resMask) >> resOffset) }

// ResolutionForZoom is the map feed's cell resolution for a web-map zoom level: cells a few
// times smaller than the screen, so that a viewport needs a handful to a few dozen of them.
func ResolutionForZoom(zoom int) int {
	switch {
	case zoom <= 8:
		return 4
	case zoom <= 10:
		return 5
	case zoom <= 12:
		return 6
	case zoom <= 14:
		return 7
	case zoom <= 16:
		return 8
	case zoom == 17:
		return 9
	default:
		return 10
	}
}

// ErrTooManyCells is returned by CoverBox when the box needs more cells than allowed.
var ErrTooManyCells = errors.New("geo: the box needs too many cells")

// CoverBox returns the cells of resolution res that overlap the box minLon, minLat, maxLon,
// maxLat (minLon > maxLon crosses the antimeridian), at most max of them. It may list a few
// cells that only come near the box: H3's exact "overlapping" mode misses cells of small
// boxes (seen with h3-go v4.5), so cells whose bounding box overlaps are taken.
func CoverBox(minLon, minLat, maxLon, maxLat float64, res, max int) ([]int64, error) {
	if minLon > maxLon {
		west, err := CoverBox(minLon, minLat, 180, maxLat, res, max)
		if err != nil {
			return nil, err
		}
		east, err := CoverBox(-180, minLat, maxLon, maxLat, res, max-len(west))
		if err != nil {
			return nil, err
		}
		return append(west, east...), nil
	}
	if res < MinMapResolution || res > MaxMapResolution {
		return nil, fmt.Errorf("geo: resolution %d outside %d–%d", res, MinMapResolution, MaxMapResolution)
	}
	// A degenerate box (a point) still lies in one cell.
	if minLon == maxLon && minLat == maxLat {
		c, err := h3.LatLngToCell(h3.NewLatLng(minLat, minLon), res)
		if err != nil {
			return nil, err
		}
		return []int64{int64(c)}, nil
	}
	// Estimate first, so that a continent-sized box at a fine resolution is refused without
	// enumerating millions of cells.
	area, _ := h3.HexagonAreaAvgKm2(res)
	if est := boxAreaKm2(minLon, minLat, maxLon, maxLat) / area; est > float64(4*max+16) {
		return nil, ErrTooManyCells
	}
	// Padded by about a metre, so that a point on the box's edge is inside a listed cell.
	const pad = 1e-5
	minLon, minLat = math.Max(minLon-pad, -180), math.Max(minLat-pad, -90)
	maxLon, maxLat = math.Min(maxLon+pad, 180), math.Min(maxLat+pad, 90)
	poly := h3.GeoPolygon{GeoLoop: h3.GeoLoop{
		h3.NewLatLng(minLat, minLon), h3.NewLatLng(minLat, maxLon),
		h3.NewLatLng(maxLat, maxLon), h3.NewLatLng(maxLat, minLon),
	}}
	cells, err := h3.PolygonToCellsExperimental(poly, res, h3.ContainmentOverlappingBbox)
	if err != nil {
		return nil, fmt.Errorf("geo: cover box: %w", err)
	}
	if len(cells) > max {
		return nil, ErrTooManyCells
	}
	out := make([]int64, len(cells))
	for i, c := range cells {
		out[i] = int64(c)
	}
	return out, nil
}

// boxAreaKm2 is the area of a lon/lat box on the sphere.
func boxAreaKm2(minLon, minLat, maxLon, maxLat float64) float64 {
	const r = earthRadius / 1000
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	return r * r * rad(maxLon-minLon) * (math.Sin(rad(maxLat)) - math.Sin(rad(minLat)))
}
