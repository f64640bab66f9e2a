package export_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
)

// A name typed on a system that sends it decomposed ("José" as e + U+0301, "Zoë" as e +
// U+0308) is the same name, and Windows-1252 has its letters: the accountant's DATEV batch
// must say "José", not "Jose?".
func TestDATEVComposesDecomposedLetters(t *testing.T) {
	at, _ := time.Parse(time.RFC3339, "2026-11-10T10:00:00Z")
	bs := []export.Booking{
		{Seq: 1, BookedAt: at, Kind: export.KindSpende, AmountCents: 500, Reference: "WG-7K3QD-M9XPA", Donor: "Jose\u0301 Zoe\u0308"},
		{Seq: 2, BookedAt: at, Kind: export.KindAuszahlung, AmountCents: -500, Reference: "x", Antrag: "Ba\u0308nke fu\u0308r den Markt"},
	}
	m, err := export.ParseMonth("2026-11", berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := export.WriteDATEV(&out, datevConfig(t), m, at, source(bs)); err != nil {
		t.Fatal(err)
	}
	text, err := charmap.Windows1252.NewDecoder().String(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Spende José Zoë"`, `"Auszahlung Bänke für den Markt"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the batch lacks %s:\n%s", want, text)
		}
	}
}
