package antrag_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// kindOf describes an event kind as the log keeps it: name, version, visibility and payload
// JSON tags. A change needs a migration of the stored events, not an edit of a test.
func kindOf(t *testing.T, name string) string {
	t.Helper()
	for _, m := range eventstore.Kinds() {
		if m.Name != name {
			continue
		}
		vis := "private"
		if m.Public {
			vis = "public"
		}
		var tags []string
		for i := range m.Payload.NumField() {
			tags = append(tags, strings.Split(m.Payload.Field(i).Tag.Get("json"), ",")[0])
		}
		return fmt.Sprintf("%s/v%d %s %s", m.Name, m.Version, vis, strings.Join(tags, ","))
	}
	t.Fatalf("no event kind %s", name)
	return ""
}

// KommentarEmpfangen moved here from federation: the events in the log keep their name,
// version, visibility and payload.
func TestFremdstimmeEmpfangenKind(t *testing.T) {
	if got, want := kindOf(t, antrag.FremdstimmeEmpfangen.Name()), "FremdstimmeEmpfangen/v1 private antrag_id,voter,choice,object"; got != want {
		t.Errorf("kind %q, want %q", got, want)
	}
}

func TestKommentarEmpfangenKeepsItsName(t *testing.T) {
	if got, want := kindOf(t, antrag.KommentarEmpfangen.Name()), "KommentarEmpfangen/v1 private antrag_id,iri,author"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// Moderation's events: hiding is public like the Antrag's record (its words are not in it),
// held filings are private (never public until released), the Fediverse replies' stay private.
func TestModerationKinds(t *testing.T) {
	for name, want := range map[string]string{
		"AntragZurueckgehalten":      "AntragZurueckgehalten/v1 private antrag_id,applicant_id,title,details_md,amount_cents,knoten_id,decision_deadline",
		"AntragVerborgen":            "AntragVerborgen/v1 public antrag_id",
		"AntragWiederhergestellt":    "AntragWiederhergestellt/v1 public antrag_id,title,details_md,decision_deadline",
		"EinspruchZurueckgehalten":   "EinspruchZurueckgehalten/v1 private antrag_id,account_id,reason",
		"EinspruchVerborgen":         "EinspruchVerborgen/v1 public antrag_id,account_id",
		"EinspruchWiederhergestellt": "EinspruchWiederhergestellt/v1 public antrag_id,account_id,reason",
		"KommentarVerborgen":         "KommentarVerborgen/v1 private antrag_id,iri",
		"KommentarWiederhergestellt": "KommentarWiederhergestellt/v1 private antrag_id,iri",
	} {
		if got := kindOf(t, name); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}
