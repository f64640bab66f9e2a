package account

import (
	"encoding/json"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// Replay: what event e does to the Garnrollen (snapshot.Replayer), for the timeline between
// two snapshots. An admin created from the command line appears with its AdminAngelegt (v2:
// with the handle; one of v1, written before, is left to the next snapshot), not on the map
// until it sets a home.
func (garnrollenSection) Replay(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	one := func(g SnapshotGarnrolle) ([]snapshot.Object, []string, error) {
		b, err := json.Marshal(g)
		return []snapshot.Object{{ID: g.ID.String(), JSON: b}}, nil, err
	}
	get := func(id string) (SnapshotGarnrolle, bool, error) {
		o, ok := current(id)
		if !ok {
			return SnapshotGarnrolle{}, false, nil
		}
		var g SnapshotGarnrolle
		err := json.Unmarshal(o.JSON, &g)
		return g, err == nil, err
	}
	switch {
	case GarnrolleAngelegt.Is(e):
		p, err := GarnrolleAngelegt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		g := SnapshotGarnrolle{ID: p.AccountID, Handle: p.Handle, Name: p.Name, CreatedAt: e.At.UTC()}
		if err := g.place(p.Position); err != nil {
			return nil, nil, err
		}
		return one(g)
	case AdminAngelegt.Is(e):
		if e.Version < 2 {
			return nil, nil, nil
		}
		p, err := AdminAngelegt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return one(SnapshotGarnrolle{ID: p.AccountID, Handle: p.Handle, Name: p.Name, CreatedAt: e.At.UTC()})
	case GarnrolleVerifiziert.Is(e):
		p, err := GarnrolleVerifiziert.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		g, ok, err := get(p.AccountID.String())
		if !ok || err != nil {
			return nil, nil, err
		}
		at, by := e.At.UTC(), p.VerifiedBy
		g.Verified, g.VerifiedAt, g.VerifiedBy = true, &at, &by
		return one(g)
	case GarnrollePositioniert.Is(e):
		p, err := GarnrollePositioniert.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		g, ok, err := get(p.AccountID.String())
		if !ok || err != nil {
			return nil, nil, err
		}
		if err := g.place(p.Position); err != nil {
			return nil, nil, err
		}
		return one(g)
	case GarnrolleUmbenannt.Is(e):
		p, err := GarnrolleUmbenannt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		g, ok, err := get(p.AccountID.String())
		if !ok || err != nil {
			return nil, nil, err
		}
		g.Name = p.Name
		return one(g)
	}
	return nil, nil, nil
}

// place sets the public position and its cell, as Dump reads them (null and "" off the map).
func (g *SnapshotGarnrolle) place(p *geo.Point) error {
	if p == nil {
		g.Position, g.H3 = nil, ""
		return nil
	}
	c, err := p.Cell()
	if err != nil {
		return err
	}
	g.Position, g.H3 = &snapshotPos{Lat: p.Lat, Lon: p.Lon}, geo.CellHex(c)
	return nil
}

var _ snapshot.Replayer = garnrollenSection{}
