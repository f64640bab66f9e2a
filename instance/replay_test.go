package instance_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// dumpReplayers dumps every section that can replay, and the log position of the dump.
func dumpReplayers(t *testing.T, inst *instancetest.Instance) (map[string]map[string]any, eventstore.Snapshot) {
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
	out := map[string]map[string]any{}
	for _, sec := range instance.SnapshotSections() {
		if _, ok := sec.(snapshot.Replayer); !ok {
			continue
		}
		m := map[string]any{}
		if err := sec.Dump(ctx, tx, nil, func(o snapshot.Object) error {
			var v any
			err := json.Unmarshal(o.JSON, &v)
			m[o.ID] = v
			return err
		}); err != nil {
			t.Fatal(err)
		}
		out[sec.Name()] = m
	}
	return out, pos
}

// Every section that replays (the timeline's between two snapshots) turns one dump into the
// next with the events between them: the Garnrollen, as a resident registers, moves on the
// map, is renamed and verified; the Anträge, filed, objected to (the deadline extended),
// withdrawn, accepted at their deadline (the map's own sections: knoten's
// TestReplayMatchesDump).
func TestReplayedSectionsMatchTheDump(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	hans := inst.VerifiedResident("Hans", 51.3370, 12.3370) // an admin's creation has no replay: before
	before, pos := dumpReplayers(t, inst)

	gerda := inst.Resident("Gerda", 51.3362, 12.3363)
	gerda.Patch("/api/me", map[string]any{"name": "Gerda Neu"}).Expect(t, http.StatusOK)
	gerda.Patch("/api/me", map[string]any{"on_map": false}).Expect(t, http.StatusOK)
	gerda.Patch("/api/me", map[string]any{"on_map": true}).Expect(t, http.StatusOK)
	admin.Post("/api/admin/accounts/"+gerda.ID+"/verify", nil).Expect(t, http.StatusOK)
	var accepted, objected, withdrawn struct{ ID string }
	gerda.Post("/api/antraege", map[string]any{"title": "Bank am Markt", "details_md": "Eine **Bank**.", "betrag_cents": 5000}).
		Expect(t, http.StatusCreated).JSON(t, &accepted)
	gerda.Post("/api/antraege", map[string]any{"title": "Brunnen"}).Expect(t, http.StatusCreated).JSON(t, &objected)
	gerda.Post("/api/antraege", map[string]any{"title": "Zurück"}).Expect(t, http.StatusCreated).JSON(t, &withdrawn)
	hans.Post("/api/antraege/"+objected.ID+"/einspruch", map[string]any{"reason": "Zu laut."}).Expect(t, http.StatusCreated)
	gerda.Post("/api/antraege/"+withdrawn.ID+"/withdraw", nil).Expect(t, http.StatusOK)
	// Moderation: one Antrag hidden (its words leave the dump, its clock stops), one hidden and
	// shown again a day later (its deadline moved), one held by the word filter and released
	// (filed publicly then).
	var hidden, shown, held struct{ ID string }
	gerda.Post("/api/antraege", map[string]any{"title": "Versteckt", "details_md": "Geheim"}).Expect(t, http.StatusCreated).JSON(t, &hidden)
	gerda.Post("/api/antraege", map[string]any{"title": "Wieder da"}).Expect(t, http.StatusCreated).JSON(t, &shown)
	inst.Antraege.SetModeration(wordList{"zweifel": moderation.ActionHold}, nil)
	gerda.Post("/api/antraege", map[string]any{"title": "Zweifelsfall"}).Expect(t, http.StatusCreated).JSON(t, &held)
	mod := inst.Antraege.Moderation(inst.URL)
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: hidden.ID}, true)
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: shown.ID}, true)
	inst.Advance("1d")
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: shown.ID}, false)
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: held.ID}, false)
	inst.Advance("8d") // the first is accepted at its deadline; the second's was extended
	after, _ := dumpReplayers(t, inst)

	evs, err := inst.Events.Read(context.Background(), eventstore.Position{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for sec, m := range before {
		got[sec] = map[string]any{}
		for id, v := range m {
			got[sec][id] = v
		}
	}
	var applied []string
	for _, e := range evs {
		if e.Position.Tx < pos.Xmin || (e.Position.Tx < pos.Xmax && !slices.Contains(pos.Running, e.Position.Tx)) {
			continue
		}
		applied = append(applied, e.Type)
		for _, sec := range instance.SnapshotSections() {
			r, ok := sec.(snapshot.Replayer)
			if !ok {
				continue
			}
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
				t.Fatalf("replay %s in %s: %v", e.Type, sec.Name(), err)
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
	for _, want := range []string{"GarnrolleAngelegt", "GarnrolleUmbenannt", "GarnrollePositioniert", "GarnrolleVerifiziert",
		"AntragGestellt", "EinspruchErhoben", "AntragFristVerlaengert", "AntragZurueckgezogen", "AntragAngenommen",
		"AntragVerborgen", "AntragWiederhergestellt", "AntragZurueckgehalten"} {
		if !slices.Contains(applied, want) {
			t.Errorf("no %s among the events after the first dump: %v", want, applied)
		}
	}
	for sec := range after {
		for id, want := range after[sec] {
			if !reflect.DeepEqual(got[sec][id], want) {
				t.Errorf("%s %s:\n replayed %v\n dumped   %v", sec, id, got[sec][id], want)
			}
		}
	}
}
