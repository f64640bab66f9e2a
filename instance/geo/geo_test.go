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
