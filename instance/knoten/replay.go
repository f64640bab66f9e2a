package knoten

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// The timeline's replay of the map's events onto snapshot objects (snapshot.Replayer): what a
// Knoten or a Faden looked like after an event, given how it looked before, in the section's
// shapes (snapshot.go).

func replayObject(id uuid.UUID, v any) (snapshot.Object, error) {
	b, err := json.Marshal(v)
	return snapshot.Object{ID: id.String(), JSON: b}, err
}

// knotenOf reads the Knoten id as it is before the event; false when the state has none.
func knotenOf(id uuid.UUID, current func(string) (snapshot.Object, bool)) (SnapshotKnoten, bool, error) {
	o, ok := current(id.String())
	if !ok {
		return SnapshotKnoten{}, false, nil
	}
	var k SnapshotKnoten
	err := json.Unmarshal(o.JSON, &k)
	return k, err == nil, err
}

func fadenOf(id uuid.UUID, current func(string) (snapshot.Object, bool)) (SnapshotFaden, bool, error) {
	o, ok := current(id.String())
	if !ok {
		return SnapshotFaden{}, false, nil
	}
	var f SnapshotFaden
	err := json.Unmarshal(o.JSON, &f)
	return f, err == nil, err
}

// Replay: what event e does to the Knoten (snapshot.Replayer). A hidden Knoten is its stub
// until it is shown again (hiddenStub): what happens to it meanwhile (its Fäden expiring, its
// dissolving) changes the stub not, and its showing again brings the whole object back.
func (knotenSection) Replay(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	at := e.At.UTC()
	one := func(k SnapshotKnoten) ([]snapshot.Object, []string, error) {
		if k.Hidden && !KnotenVerborgen.Is(e) {
			return nil, nil, nil
		}
		o, err := replayObject(k.ID, k)
		return []snapshot.Object{o}, nil, err
	}
	switch {
	case KnotenVerborgen.Is(e):
		p, err := KnotenVerborgen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k, ok, err := knotenOf(p.KnotenID, current)
		if !ok || err != nil || k.Hidden {
			return nil, nil, err
		}
		return one(hiddenStub(k.ID, k.CreatedBy, k.CreatedAt, at))
	case KnotenWiederhergestellt.Is(e):
		p, err := KnotenWiederhergestellt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		o, err := replayObject(p.Knoten.ID, p.Knoten)
		return []snapshot.Object{o}, nil, err
	case KnotenGeknuepft.Is(e):
		p, err := KnotenGeknuepft.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return one(SnapshotKnoten{ID: p.KnotenID, Type: p.Type, Title: p.Title, Description: p.Description,
			Lat: p.Lat, Lon: p.Lon, H3: p.H3, CreatedBy: p.CreatedBy, CreatedAt: at, LastActivityAt: at})
	case FadenGesponnen.Is(e):
		p, err := FadenGesponnen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k, ok, err := knotenOf(p.KnotenID, current)
		if !ok || err != nil {
			return nil, nil, err
		}
		k.LastActivityAt = at
		if p.IsTwisted {
			k.GarnCount++
		}
		k.extend(p.ExpiresAt)
		return one(k)
	case FadenVerzwirnt.Is(e):
		p, err := FadenVerzwirnt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k, ok, err := knotenOf(p.KnotenID, current)
		if !ok || err != nil {
			return nil, nil, err
		}
		k.GarnCount++
		k.LastActivityAt = at
		k.extend(nil)
		return one(k)
	case FadenEntzwirnt.Is(e):
		p, err := FadenEntzwirnt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k, ok, err := knotenOf(p.KnotenID, current)
		if !ok || err != nil {
			return nil, nil, err
		}
		if k.GarnCount > 0 {
			k.GarnCount--
		}
		k.LastActivityAt = at
		k.extend(&p.ExpiresAt)
		return one(k)
	case KnotenAufgeloest.Is(e):
		p, err := KnotenAufgeloest.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k, ok, err := knotenOf(p.KnotenID, current)
		if !ok || err != nil {
			return nil, nil, err
		}
		t := p.DissolvedAt.UTC()
		k.DissolvedAt = &t
		return one(k)
	}
	return nil, nil, nil
}

// extend applies a Faden's expiry to the Knoten's dissolution: permanent while it holds Garn;
// otherwise it lasts as long as its latest-expiring Faden. (An expiring Faden that was the
// latest is followed by the Knoten's dissolution or by a later one, so the replay never needs
// to shorten it.)
func (k *SnapshotKnoten) extend(expires *time.Time) {
	k.Permanent = k.GarnCount > 0
	if k.Permanent {
		k.DissolvesAt = nil
		return
	}
	if expires != nil && (k.DissolvesAt == nil || expires.After(*k.DissolvesAt)) {
		t := expires.UTC()
		k.DissolvesAt = &t
	}
}

// Replay: what event e does to the active Fäden (snapshot.Replayer). Hiding a Knoten removes
// the Fäden it names; showing it again brings back those it carries.
func (faedenSection) Replay(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	one := func(f SnapshotFaden) ([]snapshot.Object, []string, error) {
		o, err := replayObject(f.ID, f)
		return []snapshot.Object{o}, nil, err
	}
	switch {
	case KnotenVerborgen.Is(e):
		var rm []string
		for _, id := range FaedenWith(e) {
			rm = append(rm, id.String())
		}
		return nil, rm, nil
	case FadenVerborgen.Is(e):
		p, err := FadenVerborgen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return nil, []string{p.FadenID.String()}, nil
	case KnotenWiederhergestellt.Is(e):
		p, err := KnotenWiederhergestellt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		var ups []snapshot.Object
		for _, f := range p.Faeden {
			o, err := replayObject(f.ID, f)
			if err != nil {
				return nil, nil, err
			}
			ups = append(ups, o)
		}
		return ups, nil, nil
	case FadenWiederhergestellt.Is(e):
		p, err := FadenWiederhergestellt.Decode(e)
		if err != nil || p.Faden == nil {
			return nil, nil, err
		}
		return one(*p.Faden)
	case FadenGesponnen.Is(e):
		p, err := FadenGesponnen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return one(SnapshotFaden{ID: p.FadenID, KnotenID: p.KnotenID, AccountID: p.AccountID, Type: p.Type,
			IsTwisted: p.IsTwisted, CreatedAt: e.At.UTC(), ExpiresAt: snapshot.UTC(p.ExpiresAt)})
	case FadenVerzwirnt.Is(e):
		p, err := FadenVerzwirnt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		f, ok, err := fadenOf(p.FadenID, current)
		if !ok || err != nil {
			return nil, nil, err
		}
		f.IsTwisted, f.ExpiresAt = true, nil
		return one(f)
	case FadenEntzwirnt.Is(e):
		p, err := FadenEntzwirnt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		f, ok, err := fadenOf(p.FadenID, current)
		if !ok || err != nil {
			return nil, nil, err
		}
		f.IsTwisted, f.ExpiresAt = false, snapshot.UTC(&p.ExpiresAt)
		return one(f)
	case FadenAbgelaufen.Is(e):
		p, err := FadenAbgelaufen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return nil, []string{p.FadenID.String()}, nil
	}
	return nil, nil, nil
}

var (
	_ snapshot.Replayer = knotenSection{}
	_ snapshot.Replayer = faedenSection{}
)
