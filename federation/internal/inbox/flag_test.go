package inbox

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
)

// What a Flag's objects become: our ids as the moderation Contents read them, and nothing for
// anything else.
func TestFlagRef(t *testing.T) {
	s := &Service{iri: iri.New("https://l.example", "l.example")}
	const a, acc = "01a232ed-e595-7024-8136-3fa440bcaa21", "01a24523-9427-73bf-8013-38b2ff030d3d"
	for in, want := range map[string]string{
		"https://l.example/ap/users/jana.weber":                      "https://l.example/ap/users/jana.weber",
		"https://l.example/ap/antraege/" + a:                         a,
		"https://l.example/ap/antraege/" + a + "/actor":              a,
		"https://l.example/ap/antraege/" + a + "/einsprueche/" + acc: a + "/" + acc,
		"https://l.example/ap/knoten/" + a:                           a,
		"https://l.example/ap/faeden/" + a:                           a,
		"https://l.example/ap/ortsweberei":                           "",
		"https://l.example/ap/instance":                              "",
		"https://l.example/ap/antraege/kein-uuid":                    "",
		"https://l.example/ap/antraege/" + a + "/followers":          "",
		"https://l.example/ap/stimmen/12/note":                       "",
		"https://l.example.evil/ap/users/jana":                       "",
		"https://m.example/users/anna":                               "",
	} {
		got, ok := s.flagRef(in)
		if got != want || ok != (want != "") {
			t.Errorf("flagRef(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestFlagComment(t *testing.T) {
	if got := flagComment(" Zeile 1\r\nZeile\t2\u0000\u0007 "); got != "Zeile 1 \nZeile 2" {
		t.Errorf("control characters: %q", got)
	}
	long := flagComment(strings.Repeat("ä", 5000))
	if n := utf8.RuneCountInString(long); n != MaxFlagComment || !strings.HasSuffix(long, "…") {
		t.Errorf("a long comment: %d characters, ends %q", n, long[len(long)-6:])
	}
}
