package knoten_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// A Faden's events change its Knoten too (garn count, last activity, dissolve time): an
// incremental snapshot dumps both again.
func TestSnapshotTouchedFadenEventsTouchTheirKnoten(t *testing.T) {
	secs := knoten.SnapshotSections()
	if len(secs) != 2 || secs[0].Name() != "knoten" || secs[1].Name() != "faeden" {
		t.Fatalf("sections %v", secs)
	}
	k, f := uuid.New(), uuid.New()
	twisted, _ := json.Marshal(knoten.FadenVerzwirntV1{FadenID: f, KnotenID: k})
	placed, _ := json.Marshal(knoten.KnotenGeknuepftV1{KnotenID: k})
	for _, c := range []struct {
		e              eventstore.Event
		knoten, faeden []string
	}{
		{eventstore.Event{Type: knoten.FadenVerzwirnt.Name(), SubjectID: f, Payload: twisted}, []string{k.String()}, []string{f.String()}},
		{eventstore.Event{Type: knoten.KnotenGeknuepft.Name(), SubjectID: k, Payload: placed}, []string{k.String()}, nil},
		{eventstore.Event{Type: "GarnrolleUmbenannt", SubjectID: uuid.New(), Payload: []byte(`{}`)}, nil, nil},
	} {
		if got := secs[0].Touched(c.e); !slices.Equal(got, c.knoten) {
			t.Errorf("%s: knoten touched %v, want %v", c.e.Type, got, c.knoten)
		}
		if got := secs[1].Touched(c.e); !slices.Equal(got, c.faeden) {
			t.Errorf("%s: faeden touched %v, want %v", c.e.Type, got, c.faeden)
		}
	}
}
