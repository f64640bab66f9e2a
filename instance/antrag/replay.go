package antrag

import (
	"encoding/json"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// Replay: what event e does to the Anträge (snapshot.Replayer), for the timeline between two
// snapshots. An Abstimmung's result is dated by the Abstimmung's close: the sweep appends its
// event at the close (deadlines.go), so the replay dates it by the event.
func (antraegeSection) Replay(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	one := func(a SnapshotAntrag) ([]snapshot.Object, []string, error) {
		b, err := json.Marshal(a)
		return []snapshot.Object{{ID: a.ID.String(), JSON: b}}, nil, err
	}
	change := func(id string, f func(a *SnapshotAntrag)) ([]snapshot.Object, []string, error) {
		o, ok := current(id)
		if !ok {
			return nil, nil, nil
		}
		var a SnapshotAntrag
		if err := json.Unmarshal(o.JSON, &a); err != nil {
			return nil, nil, err
		}
		f(&a)
		return one(a)
	}
	at := e.At.UTC()
	switch {
	case AntragGestellt.Is(e):
		p, err := AntragGestellt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return one(SnapshotAntrag{ID: p.AntragID, Title: p.Title, DetailsMD: p.DetailsMD, DetailsHTML: RenderMarkdown(p.DetailsMD),
			AmountCents: p.AmountCents, Applicant: SnapshotNamed{ID: p.ApplicantID}, KnotenID: p.KnotenID, OpenedAt: at,
			DecisionDeadline: p.DecisionDeadline.UTC(), Status: Offen})
	case EinspruchErhoben.Is(e):
		p, err := EinspruchErhoben.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) { a.EinspruchCount++ })
	case AntragFristVerlaengert.Is(e):
		p, err := AntragFristVerlaengert.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) { a.DecisionDeadline, a.Extended = p.DecisionDeadline.UTC(), true })
	case AntragZurAbstimmung.Is(e):
		p, err := AntragZurAbstimmung.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) { a.Status, a.AbstimmungID = ImAbstimmung, &p.AbstimmungID })
	case AntragAngenommen.Is(e):
		p, err := AntragAngenommen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) {
			// Without an Abstimmung it is accepted at its deadline, whenever the sweep saw it.
			decided := a.DecisionDeadline
			if p.AbstimmungID != nil {
				decided, a.AbstimmungID = at, p.AbstimmungID
			}
			a.Status, a.DecidedAt = Angenommen, timePtr(decided)
		})
	case AntragAbgelehnt.Is(e):
		p, err := AntragAbgelehnt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) { a.Status, a.DecidedAt = Abgelehnt, timePtr(at) })
	case AntragZurueckgezogen.Is(e):
		p, err := AntragZurueckgezogen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) { a.Status, a.DecidedAt = Zurueckgezogen, timePtr(at) })
	case AntragVerborgen.Is(e):
		p, err := AntragVerborgen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) {
			a.Title, a.DetailsMD, a.DetailsHTML, a.HiddenAt = "", "", "", timePtr(at)
		})
	case AntragWiederhergestellt.Is(e):
		p, err := AntragWiederhergestellt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		return change(p.AntragID.String(), func(a *SnapshotAntrag) {
			a.Title, a.DetailsMD, a.DetailsHTML, a.HiddenAt = p.Title, p.DetailsMD, RenderMarkdown(p.DetailsMD), nil
			a.DecisionDeadline = p.DecisionDeadline.UTC()
		})
	}
	return nil, nil, nil
}

func timePtr(t time.Time) *time.Time { return &t }

var _ snapshot.Replayer = antraegeSection{}
