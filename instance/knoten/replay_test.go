package knoten_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// state is a dump of the map's sections: per section, id → object as JSON values.
type state map[string]map[string]any

func dumpState(t *testing.T, inst *instancetest.Instance) (state, eventstore.Snapshot) {
	t.Helper()
	ctx := context.Background()
	tx, err := inst.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	pos, err := eventstore.CurrentSnapshot(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	st := state{}
	for _, sec := range knoten.SnapshotSections() {
		m := map[string]any{}
		if err := sec.Dump(ctx, tx, nil, func(o snapshot.Object) error {
			var v any
			if err := json.Unmarshal(o.JSON, &v); err != nil {
				return err
			}
			m[o.ID] = v
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		st[sec.Name()] = m
	}
	return st, pos
}

// Replaying the log's events after one dump onto it gives the next dump: what the timeline
// shows between two snapshots is what a snapshot at that moment would have held. Placing,
// spinning, twisting, untwisting, expiring and dissolving; hiding a Knoten (with its Fäden)
// and a Faden, showing them again, and a hidden Knoten that dissolves while hidden.
func TestReplayMatchesDump(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := inst.Knoten
	ana := inst.Resident("Ana", 51.3362, 12.3363)
	bob := inst.Resident("Bob", 51.3370, 12.3370)
	stay, _, err := svc.Place(ctx, uuid.MustParse(ana.ID), knoten.Placement{Type: "idee", Title: "Bleibt", Point: geo.Point{Lat: 51.3365, Lon: 12.3365}})
	if err != nil {
		t.Fatal(err)
	}
	before, pos := dumpState(t, inst)

	fleeting, _, err := svc.Place(ctx, uuid.MustParse(bob.ID), knoten.Placement{Type: "ereignis", Title: "Vergeht", Point: geo.Point{Lat: 51.3368, Lon: 12.3361}})
	if err != nil {
		t.Fatal(err)
	}
	inst.DevClock.Advance(2 * time.Hour)
	f, err := svc.Spin(ctx, uuid.MustParse(bob.ID), knoten.Spinning{KnotenID: stay.ID, Type: "gespraech"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := svc.Spin(ctx, uuid.MustParse(bob.ID), knoten.Spinning{KnotenID: fleeting.ID, Type: "gespraech", Twisted: true})
	if err != nil {
		t.Fatal(err)
	}
	inst.DevClock.Advance(time.Hour)
	if _, err := svc.Twist(ctx, uuid.MustParse(bob.ID), f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Untwist(ctx, uuid.MustParse(bob.ID), g.ID); err != nil {
		t.Fatal(err)
	}
	// Moderation: a Knoten with Garn hidden for good, one that dissolves while hidden, one
	// hidden and shown again with a Faden of its own hidden meanwhile (it stays hidden), and
	// Garn hidden and shown again.
	hidden, _, err := svc.Place(ctx, uuid.MustParse(ana.ID), knoten.Placement{Type: "idee", Title: "Verborgen", Point: geo.Point{Lat: 51.3366, Lon: 12.3366}})
	if err != nil {
		t.Fatal(err)
	}
	// Garn: the Faden stays active, so only the hiding itself takes it out of the snapshot.
	if _, err := svc.Spin(ctx, uuid.MustParse(bob.ID), knoten.Spinning{KnotenID: hidden.ID, Type: "gespraech", Twisted: true}); err != nil {
		t.Fatal(err)
	}
	setHidden(t, inst, moderation.KindKnoten, hidden.ID.String(), true)
	gone, _, err := svc.Place(ctx, uuid.MustParse(ana.ID), knoten.Placement{Type: "idee", Title: "Vergeht verborgen", Point: geo.Point{Lat: 51.3364, Lon: 12.3364}})
	if err != nil {
		t.Fatal(err)
	}
	setHidden(t, inst, moderation.KindKnoten, gone.ID.String(), true)
	back, _, err := svc.Place(ctx, uuid.MustParse(bob.ID), knoten.Placement{Type: "idee", Title: "Zurück", Point: geo.Point{Lat: 51.3367, Lon: 12.3367}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := svc.Spin(ctx, uuid.MustParse(ana.ID), knoten.Spinning{KnotenID: back.ID, Type: "gespraech"})
	if err != nil {
		t.Fatal(err)
	}
	setHidden(t, inst, moderation.KindFaden, h.ID.String(), true)
	setHidden(t, inst, moderation.KindKnoten, back.ID.String(), true)
	setHidden(t, inst, moderation.KindKnoten, back.ID.String(), false)
	setHidden(t, inst, moderation.KindFaden, f.ID.String(), true)
	setHidden(t, inst, moderation.KindFaden, f.ID.String(), false)
	// A week and a day later the untwisted Garn and the Fäden only spun have expired, and the
	// Knoten without Garn has dissolved.
	inst.DevClock.Advance(8 * 24 * time.Hour)
	if _, err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := dumpState(t, inst)

	// Read returns only what lies below the log's horizon: wait until every transaction
	// running now (the instance's own background work, too) has ended.
	if err := inst.Events.CatchUp(ctx, 0); err != nil {
		t.Fatal(err)
	}
	evs, err := inst.Events.Read(ctx, eventstore.Position{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got := state{}
	for sec, m := range before {
		got[sec] = maps.Clone(m)
	}
	var applied []string
	for _, e := range evs {
		if e.Position.Tx < pos.Xmin || (e.Position.Tx < pos.Xmax && !slices.Contains(pos.Running, e.Position.Tx)) {
			continue // in the first dump
		}
		applied = append(applied, e.Type)
		for _, sec := range knoten.SnapshotSections() {
			r := sec.(snapshot.Replayer)
			m := got[sec.Name()]
			ups, rm, err := r.Replay(e, func(id string) (snapshot.Object, bool) {
				v, ok := m[id]
				if !ok {
					return snapshot.Object{}, false
				}
				b, _ := json.Marshal(v)
				return snapshot.Object{ID: id, JSON: b}, true
			})
			if err != nil {
				t.Fatalf("replay %s: %v", e.Type, err)
			}
			for _, o := range ups {
				var v any
				if err := json.Unmarshal(o.JSON, &v); err != nil {
					t.Fatal(err)
				}
				m[o.ID] = v
			}
			for _, id := range rm {
				delete(m, id)
			}
		}
	}
	for _, want := range []string{"KnotenVerborgen", "KnotenWiederhergestellt", "FadenVerborgen", "FadenWiederhergestellt"} {
		if !slices.Contains(applied, want) {
			t.Fatalf("no %s among the events replayed: %v", want, applied)
		}
	}
	if len(applied) < 6 {
		t.Fatalf("only %d events after the first dump: %v", len(applied), applied)
	}
	for sec := range after {
		for id, want := range after[sec] {
			if !reflect.DeepEqual(got[sec][id], want) {
				t.Errorf("%s %s:\n replayed %v\n dumped   %v", sec, id, got[sec][id], want)
			}
		}
		for id := range got[sec] {
			if _, ok := after[sec][id]; !ok {
				t.Errorf("%s %s: replayed but not in the dump: %v", sec, id, got[sec][id])
			}
		}
	}
}
