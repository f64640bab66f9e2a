package ortskonto_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	snap "github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// The replay of an anonymous donation moves the balance and nothing else: no Goldfaden is made
// of it, and its steps do not even look one up. A step of v1 (no state before, no amount)
// leaves the balance as it is rather than guessing. (Replay against the dumps:
// instance.TestReplayedSectionsMatchTheDump.)
func TestReplayKeepsAnonymousDonationsToTheBalance(t *testing.T) {
	replayers := map[string]snap.Replayer{}
	for _, s := range ortskonto.SnapshotSections() {
		replayers[s.Name()] = s.(snap.Replayer)
	}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	id := uuid.New()
	kontoState := map[string]snap.Object{}
	asked := 0
	run := func(e eventstore.Event) (konto []snap.Object, gold []snap.Object, goldRemoved []string) {
		t.Helper()
		konto, _, err := replayers["ortskonto"].Replay(e, func(id string) (snap.Object, bool) { o, ok := kontoState[id]; return o, ok })
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range konto {
			kontoState[o.ID] = o
		}
		gold, goldRemoved, err = replayers["goldfaeden"].Replay(e, func(string) (snap.Object, bool) { asked++; return snap.Object{}, false })
		if err != nil {
			t.Fatal(err)
		}
		return konto, gold, goldRemoved
	}
	b, _ := json.Marshal(ortskonto.SpendeInitiiertV1{SpendeID: id, Reference: "WG-00000-00000", AmountCents: 4000, Currency: "EUR"})
	if k, g, rm := run(eventstore.Event{Type: ortskonto.SpendeInitiiert.Name(), Version: 1, SubjectID: id, Payload: b, At: at}); len(k) != 1 || len(g) != 0 || len(rm) != 0 {
		t.Fatalf("an anonymous donation: balance %v, Goldfäden %v removed %v", k, g, rm)
	}
	for _, step := range []struct{ kind, from, to string }{{ortskonto.SpendeEingegangen.Name(), "initiated", "pending"},
		{ortskonto.SpendeGebucht.Name(), "pending", "settled"}} {
		b, _ := json.Marshal(ortskonto.SpendeTransitionV2{SpendeID: id, From: step.from, To: step.to, AmountCents: 4000})
		if _, g, rm := run(eventstore.Event{Type: step.kind, Version: 2, SubjectID: id, Payload: b, At: at}); len(g) != 0 || len(rm) != 0 {
			t.Fatalf("%s: Goldfäden %v removed %v", step.kind, g, rm)
		}
	}
	if asked != 0 {
		t.Errorf("the Goldfäden were asked %d times for an anonymous donation", asked)
	}
	var k ortskonto.SnapshotKonto
	if err := json.Unmarshal(kontoState[ortskonto.SnapshotKontoID].JSON, &k); err != nil {
		t.Fatal(err)
	}
	if k.BalanceCents != 4000 || k.SettledCents != 4000 || k.PendingCents != 0 || k.Counts.Settled != 1 || k.Counts.Initiated != 0 {
		t.Errorf("the balance after an anonymous donation was booked: %+v", k)
	}
	before := string(kontoState[ortskonto.SnapshotKontoID].JSON)
	b, _ = json.Marshal(ortskonto.SpendeTransitionV1{SpendeID: id, To: "reversed"})
	if k, _, _ := run(eventstore.Event{Type: ortskonto.SpendeStorniert.Name(), Version: 1, SubjectID: id, Payload: b, At: at}); len(k) != 0 ||
		string(kontoState[ortskonto.SnapshotKontoID].JSON) != before {
		t.Errorf("a v1 step changed the balance: %v", k)
	}
}
