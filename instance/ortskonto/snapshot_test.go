package ortskonto_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	snap "github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// What a donation's events make an incremental snapshot dump again: an anonymous donation's
// touch the balance only (its id would otherwise be listed as gone), a visible one's also
// its Goldfaden.
func TestSnapshotTouchedKeepsAnonymousDonationsOut(t *testing.T) {
	sections := map[string]snap.Section{}
	for _, s := range ortskonto.SnapshotSections() {
		sections[s.Name()] = s
	}
	donor, id := uuid.New(), uuid.New()
	initiated := func(visible bool, cell int64) eventstore.Event {
		p := ortskonto.SpendeInitiiertV1{SpendeID: id, Reference: "WG-00000-00000", AmountCents: 100, Currency: "EUR", Visible: visible}
		if visible {
			p.AccountID = &donor
		}
		b, _ := json.Marshal(p)
		return eventstore.Event{Type: ortskonto.SpendeInitiiert.Name(), ActorID: donor, SubjectID: id, Payload: b, Cell: cell}
	}
	step := func(cell int64) eventstore.Event {
		b, _ := json.Marshal(ortskonto.SpendeTransitionV1{SpendeID: id, To: "settled"})
		return eventstore.Event{Type: ortskonto.SpendeGebucht.Name(), ActorID: uuid.New(), SubjectID: id, Payload: b, Cell: cell}
	}
	const kontoCell = 0x8f1f1a8ca41c8a9
	for _, c := range []struct {
		what       string
		e          eventstore.Event
		goldfaeden []string
	}{
		{"anonymous, announced", initiated(false, 0), nil},
		{"anonymous, booked", step(0), nil},
		{"visible, announced", initiated(true, kontoCell), []string{id.String()}},
		{"visible, announced, no place for the Ortskonto", initiated(true, 0), []string{id.String()}},
		{"visible, booked", step(kontoCell), []string{id.String()}},
	} {
		if got := sections["ortskonto"].Touched(c.e); !slices.Equal(got, []string{ortskonto.SnapshotKontoID}) {
			t.Errorf("%s: the balance section touched %v", c.what, got)
		}
		if got := sections["goldfaeden"].Touched(c.e); !slices.Equal(got, c.goldfaeden) {
			t.Errorf("%s: goldfaeden touched %v, want %v", c.what, got, c.goldfaeden)
		}
	}
}
