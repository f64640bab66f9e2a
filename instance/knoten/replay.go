package knoten

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// The timeline's replay of the map's events onto snapshot objects (snapshot.Replayer): what a
// Knoten or a Faden looked like after an event, given how it looked before. The objects have
// the live API's shapes (instance/wire, which imports this package, hence the copies here;
// replay_test would catch a drift by comparing with wire's JSON).

type replayKnotenObject struct {
	ID             uuid.UUID  `json:"id"`
	Type           string     `json:"type"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Lat            float64    `json:"lat"`
	Lon            float64    `json:"lon"`
	H3             string     `json:"h3"`
	CreatedBy      uuid.UUID  `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	Permanent      bool       `json:"permanent"`
	GarnCount      int        `json:"garn_count"`
	DissolvesAt    *time.Time `json:"dissolves_at"`
	// A dissolved Knoten stays in the section (Anträge refer to it); the map hides it.
	DissolvedAt *time.Time `json:"dissolved_at"`
}

type replayFadenObject struct {
	ID          uuid.UUID  `json:"id"`
	KnotenID    uuid.UUID  `json:"knoten_id"`
	AccountID   uuid.UUID  `json:"account_id"`
	AccountName string     `json:"account_name,omitempty"`
	Type        string     `json:"type"`
	IsTwisted   bool       `json:"is_twisted"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func replayObject(id uuid.UUID, v any) (snapshot.Object, error) {
	b, err := json.Marshal(v)
	return snapshot.Object{ID: id.String(), JSON: b}, err
}

// knotenOf reads the Knoten id as it is before the event; false when the state has none.
func knotenOf(id uuid.UUID, current func(string) (snapshot.Object, bool)) (replayKnotenObject, bool, error) {
	o, ok := current(id.String())
	if !ok {
		return replayKnotenObject{}, false, nil
	}
	var k replayKnotenObject
	err := json.Unmarshal(o.JSON, &k)
	return k, err == nil, err
}

func fadenOf(id uuid.UUID, current func(string) (snapshot.Object, bool)) (replayFadenObject, bool, error) {
	o, ok := current(id.String())
	if !ok {
		return replayFadenObject{}, false, nil
	}
	var f replayFadenObject
	err := json.Unmarshal(o.JSON, &f)
	return f, err == nil, err
}

// ReplayKnoten is the "knoten" section's Replay: what event e does to the Knoten.
func ReplayKnoten(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	at := e.At.UTC()
	one := func(k replayKnotenObject) ([]snapshot.Object, []string, error) {
		o, err := replayObject(k.ID, k)
		return []snapshot.Object{o}, nil, err
	}
	switch {
	case KnotenGeknuepft.Is(e):
		p, err := KnotenGeknuepft.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return one(replayKnotenObject{ID: p.KnotenID, Type: p.Type, Title: p.Title, Description: p.Description,
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
func (k *replayKnotenObject) extend(expires *time.Time) {
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

// ReplayFaeden is the "faeden" section's Replay: what event e does to the active Fäden.
func ReplayFaeden(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	one := func(f replayFadenObject) ([]snapshot.Object, []string, error) {
		o, err := replayObject(f.ID, f)
		return []snapshot.Object{o}, nil, err
	}
	switch {
	case FadenGesponnen.Is(e):
		p, err := FadenGesponnen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return one(replayFadenObject{ID: p.FadenID, KnotenID: p.KnotenID, AccountID: p.AccountID, Type: p.Type,
			IsTwisted: p.IsTwisted, CreatedAt: e.At.UTC(), ExpiresAt: utcPtr(p.ExpiresAt)})
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
		f.IsTwisted, f.ExpiresAt = false, utcPtr(&p.ExpiresAt)
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

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
