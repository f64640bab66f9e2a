package nachbarn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// FernstimmeEmpfangen moved here from federation: the events in the log keep their name,
// version, visibility and payload. A change needs a migration of the stored events, not an
// edit of this test.
func TestFernstimmeEmpfangenKeepsItsName(t *testing.T) {
	var got string
	for _, m := range eventstore.Kinds() {
		if m.Name != nachbarn.FernstimmeEmpfangen.Name() {
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
		got = fmt.Sprintf("%s/v%d %s %s", m.Name, m.Version, vis, strings.Join(tags, ","))
	}
	if want := "FernstimmeEmpfangen/v1 private antrag,voter,choice,object"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
