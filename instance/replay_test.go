package instance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

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
// next with the events between them, on a busy instance whose events are every kind the
// domain packages emit for these sections: the Garnrollen, as a resident registers, moves on
// the map, is renamed and verified, and an admin is created; the Knoten and Fäden, knüpft,
// spun, twisted, untwisted, expired, dissolved; the Anträge, filed, objected to (the deadline
// extended), withdrawn, accepted at their deadline, voted on and rejected; the Ortskonto, set
// up again elsewhere, with visible and anonymous donations stepping by hand and by the bank
// import (each state, from before the first dump too), payouts reserved, paid, cancelled and
// lapsed; the Goldfäden as visible donations appear, step and fail.
func TestReplayedSectionsMatchTheDump(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Lindenau e.V.", "iban": bankIBAN,
		"position": map[string]float64{"lat": 51.3365, "lon": 12.3365}}).Expect(t, http.StatusOK)
	hans := inst.VerifiedResident("Hans", 51.3370, 12.3370)
	otto := inst.Resident("Otto Anonym", 51.3368, 12.3368)
	type spende struct{ ID, Reference string }
	give := func(c *instancetest.Client, cents int, visible bool) spende {
		t.Helper()
		var out struct{ Spende spende }
		donate(c, uuid.NewString(), map[string]any{"amount_cents": cents, "visible": visible, "message": "Für den Platz"}).
			Expect(t, http.StatusCreated).JSON(t, &out)
		return out.Spende
	}
	step := func(sp spende, to string) {
		t.Helper()
		admin.Post("/api/spenden/"+sp.ID+"/status", map[string]string{"status": to}).Expect(t, http.StatusOK)
	}
	// Donations from before the first dump, stepped after it: the replay knows them only from
	// their steps' events.
	earlyVisible, earlyAnon, earlyAnonBooked := give(hans, 700, true), give(otto, 1100, false), give(otto, 1300, false)
	step(earlyAnonBooked, "pending")
	step(earlyAnonBooked, "settled")
	var knoten struct {
		ID    string
		Faden struct{ ID string }
	}
	hans.Post("/api/knoten", map[string]any{"type": "idee", "title": "Alter Brunnen", "lat": 51.3371, "lon": 12.3371}).
		Expect(t, http.StatusCreated).JSON(t, &knoten)
	before, pos := dumpReplayers(t, inst)

	// The Garnrollen.
	gerda := inst.Resident("Gerda", 51.3362, 12.3363)
	gerda.Patch("/api/me", map[string]any{"name": "Gerda Neu"}).Expect(t, http.StatusOK)
	gerda.Patch("/api/me", map[string]any{"on_map": false}).Expect(t, http.StatusOK)
	gerda.Patch("/api/me", map[string]any{"on_map": true}).Expect(t, http.StatusOK)
	admin.Post("/api/admin/accounts/"+gerda.ID+"/verify", nil).Expect(t, http.StatusOK)
	admin2 := inst.Admin() // AdminAngelegt: a Garnrolle, off the map
	admin.Post("/api/admin/accounts/"+admin2.ID+"/verify", nil).Expect(t, http.StatusOK)

	// The Knoten and Fäden.
	var neu, garn struct {
		ID    string
		Faden struct{ ID string }
	}
	gerda.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank am Markt", "lat": 51.3363, "lon": 12.3364}).
		Expect(t, http.StatusCreated).JSON(t, &neu)
	hans.Post("/api/faeden", map[string]any{"to_knoten_id": neu.ID, "type": "gespraech"}).Expect(t, http.StatusCreated).JSON(t, &garn)
	hans.Post("/api/faeden/"+garn.ID+"/twist", nil).Expect(t, http.StatusOK)
	gerda.Post("/api/faeden/"+neu.Faden.ID+"/twist", nil).Expect(t, http.StatusOK)
	gerda.Post("/api/faeden/"+neu.Faden.ID+"/untwist", nil).Expect(t, http.StatusOK)

	// The Ortskonto: set up again elsewhere, donations in every state, by hand and by the bank.
	admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Lindenau e. V.", "iban": bankIBAN, "bic": "BYLADEM1001",
		"position": map[string]float64{"lat": 51.3366, "lon": 12.3366}}).Expect(t, http.StatusOK)
	step(earlyVisible, "pending")
	step(earlyVisible, "settled")
	step(earlyAnon, "failed")
	step(earlyAnonBooked, "reversed")
	booked, reversed, failed := give(gerda, 2500, true), give(gerda, 900, true), give(gerda, 400, true)
	anon, anonFailed := give(otto, 5000, false), give(otto, 300, false)
	for _, to := range []string{"pending", "settled"} {
		step(booked, to)
		step(reversed, to)
		step(anon, to)
	}
	step(reversed, "reversed")
	step(failed, "pending")
	step(failed, "failed")
	step(anonFailed, "failed")
	byBankVisible, byBankAnon := give(hans, 1250, true), give(otto, 600, false)
	admin.DoWith("POST", "/api/konto/camt", camtStatement(inst.Advance("1m").Format("2006-01-02"),
		[3]string{"12.50", "R1", "Spende " + byBankVisible.Reference}, [3]string{"6.00", "R2", byBankAnon.Reference}),
		"application/xml").Expect(t, http.StatusOK)

	// The Anträge and their payouts.
	var accepted, cancelled, objected, withdrawn struct{ ID string }
	gerda.Post("/api/antraege", map[string]any{"title": "Bank am Markt", "details_md": "Eine **Bank**.", "betrag_cents": 5000}).
		Expect(t, http.StatusCreated).JSON(t, &accepted)
	gerda.Post("/api/antraege", map[string]any{"title": "Laterne", "betrag_cents": 700}).Expect(t, http.StatusCreated).JSON(t, &cancelled)
	gerda.Post("/api/antraege", map[string]any{"title": "Brunnen", "knoten_id": knoten.ID}).Expect(t, http.StatusCreated).JSON(t, &objected)
	gerda.Post("/api/antraege", map[string]any{"title": "Zurück", "betrag_cents": 100}).Expect(t, http.StatusCreated).JSON(t, &withdrawn)
	hans.Post("/api/antraege/"+objected.ID+"/einspruch", map[string]any{"reason": "Zu laut."}).Expect(t, http.StatusCreated)
	gerda.Post("/api/antraege/"+withdrawn.ID+"/withdraw", nil).Expect(t, http.StatusOK)
	// Moderation: one Antrag hidden (its words leave the dump, its clock stops), one hidden and
	// shown again a day later (its deadline moved), one held by the word filter and released
	// (filed publicly then). Here, before the clock runs on: the retention of the log
	// removes the events of the first dump once a month has passed.
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
	inst.Advance("8d") // the first two are accepted at their deadline; the third's was extended; the Fäden expire
	payout := func(antrag, to string) {
		t.Helper()
		var a struct{ Auszahlung struct{ ID string } }
		admin.Get("/api/antraege/"+antrag).Expect(t, http.StatusOK).JSON(t, &a)
		admin.Post("/api/auszahlungen/"+a.Auszahlung.ID+"/status", map[string]string{"status": to}).Expect(t, http.StatusOK)
	}
	payout(accepted.ID, "geleistet")
	payout(cancelled.ID, "abgebrochen")
	inst.Advance("7d") // the third goes to a vote
	var vote struct {
		AbstimmungID string `json:"abstimmung_id"`
	}
	hans.Get("/api/antraege/"+objected.ID).Expect(t, http.StatusOK).JSON(t, &vote)
	hans.Post("/api/abstimmungen/"+vote.AbstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, http.StatusOK)
	inst.Advance("8d") // and is rejected

	// The map's moderation: a Knoten with Garn hidden for good (it becomes a stub, its Fäden
	// leave), one hidden and shown again, and a Faden hidden and shown again.
	hideMap := func(path, target string) {
		t.Helper()
		admin.Post(path, map[string]any{"target": target, "reason": "Hausregeln"}).Expect(t, http.StatusOK)
	}
	var veiled, again struct {
		ID    string
		Faden struct{ ID string }
	}
	hans.Post("/api/knoten", map[string]any{"type": "idee", "title": "Verborgen", "lat": 51.3372, "lon": 12.3372}).
		Expect(t, http.StatusCreated).JSON(t, &veiled)
	gerda.Post("/api/faeden", map[string]any{"to_knoten_id": veiled.ID, "type": "gespraech", "is_twisted": true}).Expect(t, http.StatusCreated)
	hideMap("/api/admin/inhalte/hide", veiled.ID)
	hans.Post("/api/knoten", map[string]any{"type": "idee", "title": "Wieder da", "lat": 51.3373, "lon": 12.3373}).
		Expect(t, http.StatusCreated).JSON(t, &again)
	hideMap("/api/admin/inhalte/hide", again.Faden.ID)
	hideMap("/api/admin/inhalte/unhide", again.Faden.ID)
	hideMap("/api/admin/inhalte/hide", again.ID)
	hideMap("/api/admin/inhalte/unhide", again.ID)
	after, to := dumpReplayers(t, inst)

	// Exactly the events between the two dumps. Not Read: it stops at the log's horizon, below
	// any transaction still running — the instance's own background work, a sweep say — and
	// then left out the map's moderation at the end (seen in CI).
	var evs []eventstore.Event
	if err := eventstore.Between(context.Background(), inst.Pool, pos, to, 1000, func(_ context.Context, b []eventstore.Event) error {
		evs = append(evs, b...)
		return nil
	}); err != nil {
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
		applied = append(applied, fmt.Sprintf("%s/v%d", e.Type, e.Version))
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
				if strings.Contains(string(o.JSON), otto.ID) {
					t.Errorf("%s %s names the anonymous donor: %s", sec.Name(), o.ID, o.JSON)
				}
			}
			for _, id := range rm {
				delete(m, id)
			}
		}
	}
	for _, want := range []string{"GarnrolleAngelegt/v1", "GarnrolleUmbenannt/v1", "GarnrollePositioniert/v1", "GarnrolleVerifiziert/v1",
		"AdminAngelegt/v2", "KnotenGeknuepft/v1", "FadenGesponnen/v1", "FadenVerzwirnt/v1", "FadenEntzwirnt/v1", "FadenAbgelaufen/v1",
		"KnotenAufgeloest/v1", "AntragGestellt/v1", "EinspruchErhoben/v1", "AntragFristVerlaengert/v1", "AntragZurueckgezogen/v1",
		"AntragAngenommen/v1", "AntragZurAbstimmung/v1", "AntragAbgelehnt/v1", "OrtskontoEingerichtet/v1", "SpendeInitiiert/v1",
		"SpendeEingegangen/v2", "SpendeGebucht/v2", "SpendeFehlgeschlagen/v2", "SpendeStorniert/v2", "KontoauszugImportiert/v1",
		"AuszahlungBeantragt/v1", "AuszahlungBewilligt/v1", "AuszahlungGeleistet/v1", "AuszahlungAbgebrochen/v1", "AuszahlungEntfallen/v1",
		"AntragVerborgen/v1", "AntragWiederhergestellt/v1", "AntragZurueckgehalten/v1"} {
		if !slices.Contains(applied, want) {
			t.Errorf("no %s among the events after the first dump: %v", want, applied)
		}
	}
	for _, want := range []string{"KnotenVerborgen/v1", "KnotenWiederhergestellt/v1", "FadenVerborgen/v1", "FadenWiederhergestellt/v1"} {
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
		for id, v := range got[sec] {
			if _, ok := after[sec][id]; !ok {
				t.Errorf("%s %s: replayed %v, not in the dump", sec, id, v)
			}
		}
	}
	if len(after["goldfaeden"]) != 4 || after["ortskonto"]["ortskonto"] == nil {
		t.Errorf("the dump holds %d Goldfäden, want 4 (every visible donation but the failed), and the balance %v",
			len(after["goldfaeden"]), after["ortskonto"])
	}
}
