package geo

import (
	"math"
	"testing"

	"github.com/uber/h3-go/v4"
)

func TestCellRangeHoldsExactlyTheDescendants(t *testing.T) {
	p := Point{Lat: 53.5511, Lon: 9.9937}
	fine, err := p.Cell()
	if err != nil {
		t.Fatal(err)
	}
	for r := 4; r <= 15; r++ {
		parent, err := h3.Cell(fine).Parent(r)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := CellRange(parent)
		if fine < lo || fine > hi {
			t.Errorf("res %d: point's cell %x outside its parent's range [%x, %x]", r, fine, lo, hi)
		}
		// The range must hold every descendant and nothing from the neighbours.
		if r >= 11 {
			kids, err := parent.Children(FinestResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kids {
				if int64(k) < lo || int64(k) > hi {
					t.Fatalf("res %d: child %v outside range", r, k)
				}
			}
		}
		ring, err := parent.GridDisk(1)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ring {
			if n == parent {
				continue
			}
			nlo, nhi := CellRange(n)
			if nlo <= hi && nhi >= lo {
				t.Errorf("res %d: neighbour %v range [%x,%x] overlaps [%x,%x]", r, n, nlo, nhi, lo, hi)
			}
		}
	}
}

func TestRandomPointWithinIsUniformOverTheDisc(t *testing.T) {
	home := Point{Lat: 53.55, Lon: 9.99}
	const radius, n = 250.0, 20000
	inner := 0
	for range n {
		p, err := RandomPointWithin(home, radius)
		if err != nil {
			t.Fatal(err)
		}
		d := Distance(home, p)
		if d > radius*1.001 {
			t.Fatalf("point %.1f m from home, radius %v", d, radius)
		}
		if d < radius/math.Sqrt2 {
			inner++ // the inner disc of radius r/√2 holds half the area
		}
	}
	if frac := float64(inner) / n; frac < 0.47 || frac > 0.53 {
		t.Errorf("%.3f of draws in the inner half of the area; a uniform draw gives 0.5", frac)
	}
}

func TestPointValid(t *testing.T) {
	for _, p := range []Point{{91, 0}, {-91, 0}, {0, 181}, {0, -181}, {math.NaN(), 0}, {0, math.Inf(1)}} {
		if p.Valid() {
			t.Errorf("%v accepted", p)
		}
	}
	if !(Point{90, 180}).Valid() || !(Point{-90, -180}).Valid() {
		t.Error("edge coordinates refused")
	}
}

func TestParentMatchesH3(t *testing.T) {
	for _, p := range []Point{{51.3397, 12.3731}, {-33.86, 151.21}, {0, 0}, {89.9, -179.9}, {64.1, -21.9}} {
		c, err := p.Cell()
		if err != nil {
			t.Fatal(err)
		}
		for res := 0; res <= FinestResolution; res++ {
			want, err := h3.Cell(c).Parent(res)
			if err != nil {
				t.Fatal(err)
			}
			if got := Parent(c, res); got != int64(want) {
				t.Fatalf("Parent(%s, %d) = %s, want %s", CellHex(c), res, CellHex(got), want)
			}
			if Resolution(Parent(c, res)) != res {
				t.Fatalf("resolution of parent %d", res)
			}
		}
	}
}

func TestCoverBox(t *testing.T) {
	// A phone's view of Leipzig at zoom 14: every Knoten inside lies in one of the cells.
	minLon, minLat, maxLon, maxLat := 12.36, 51.33, 12.38, 51.345
	res := ResolutionForZoom(14)
	cells, err := CoverBox(minLon, minLat, maxLon, maxLat, res, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) == 0 || len(cells) > 40 {
		t.Fatalf("%d cells", len(cells))
	}
	set := map[int64]bool{}
	for _, c := range cells {
		set[c] = true
	}
	for i := 0; i <= 20; i++ {
		for j := 0; j <= 20; j++ {
			p := Point{Lat: minLat + (maxLat-minLat)*float64(i)/20, Lon: minLon + (maxLon-minLon)*float64(j)/20}
			c, _ := p.Cell()
			if !set[Parent(c, res)] {
				t.Fatalf("point %v (cell %s) not covered", p, CellHex(Parent(c, res)))
			}
		}
	}
	if _, err := CoverBox(5, 47, 15, 55, 10, 300); err != ErrTooManyCells {
		t.Fatalf("Germany at resolution 10: %v", err)
	}
}
