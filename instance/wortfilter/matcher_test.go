package wortfilter_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
)

// What a resident would notice: which texts a list refuses, holds or lets through, and which
// entry it names.
func TestCheck(t *testing.T) {
	t.Parallel()
	list := wortfilter.List{
		Words: []string{"cunt", "Schwanz", "arsch", "*idiot*", "Vollpfosten*", "*wichser", "du bist dumm",
			"anal", "sex", "Hure", "Straße", "88", "nsdap", "Æsir"},
		Hold: []string{"Mist", "spam*", "blöd", "*scheiß*", "Idiot"},
	}
	m := wortfilter.MustCompile(list)
	block := func(w string) moderation.Verdict { return moderation.Verdict{Action: moderation.ActionBlock, Word: w} }
	hold := func(w string) moderation.Verdict { return moderation.Verdict{Action: moderation.ActionHold, Word: w} }
	pass := moderation.Verdict{}
	cases := []struct {
		name  string
		texts []string
		want  moderation.Verdict
	}{
		// Whole words, case and diacritics aside.
		{"plain word", []string{"Du Arsch!"}, block("arsch")},
		{"upper case", []string{"DU ARSCH"}, block("arsch")},
		{"at the start", []string{"arsch"}, block("arsch")},
		{"after punctuation", []string{"„Schwanz“, sagte er."}, block("Schwanz")},
		{"umlaut folded", []string{"Du Ärsch"}, block("arsch")},
		{"sharp s as ss", []string{"Die Strasse ist gesperrt"}, block("Straße")},
		{"sharp s in text", []string{"Die STRAẞE"}, block("Straße")},
		{"ae ligature", []string{"die aesir"}, block("Æsir")},
		{"combining marks", []string{"A\u0308rsch"}, block("arsch")},
		{"digits are words", []string{"Gruß 88!"}, block("88")},
		{"digits inside a number", []string{"Ruf 0881234 an"}, pass},
		// No Scunthorpe: a short entry inside a longer word does not match unless starred.
		{"scunthorpe", []string{"Ich wohne in Scunthorpe."}, pass},
		{"schwanzlurch", []string{"Der Schwanzlurch im Teich"}, pass},
		{"barsch", []string{"Ein Barsch und ein Marschall"}, pass},
		{"kanal analyse", []string{"Kanal-Analyse am Kanal"}, pass},
		{"essex", []string{"Urlaub in Essex und Sussex"}, pass},
		{"churer", []string{"Churer Straßenfest"}, pass},
		{"hyphen splits words", []string{"Schwanz-Lurch"}, block("Schwanz")},
		// Stars: infix, prefix, suffix.
		{"infix alone", []string{"Idiot"}, block("*idiot*")},
		{"infix in compound", []string{"Du Vollidiotenverein"}, block("*idiot*")},
		{"prefix star", []string{"Vollpfostenalarm"}, block("Vollpfosten*")},
		{"prefix star, not inside", []string{"Ein Pfosten"}, pass},
		{"prefix star, not as suffix", []string{"Der Zaunvollpfosten"}, pass},
		{"suffix star", []string{"Du Oberwichser"}, block("*wichser")},
		{"suffix star, not as prefix", []string{"Wichserei"}, pass},
		// Several words: consecutive, whatever lies between them.
		{"phrase", []string{"Du bist dumm."}, block("du bist dumm")},
		{"phrase across punctuation", []string{"du, bist – DUMM"}, block("du bist dumm")},
		{"phrase interrupted", []string{"du bist nicht dumm"}, pass},
		{"phrase across texts", []string{"du bist", "dumm"}, pass},
		// Hold, and block over hold.
		{"hold", []string{"So ein Mist"}, hold("Mist")},
		{"hold prefix", []string{"Spamschleuder"}, hold("spam*")},
		{"hold umlaut", []string{"BLÖD"}, hold("blöd")},
		{"hold infix with sharp s", []string{"Scheissegal"}, hold("*scheiß*")},
		{"block wins, same text, hold first", []string{"Mist, du Arsch"}, block("arsch")},
		{"block wins, later text", []string{"Mist", "Arsch"}, block("arsch")},
		{"block wins over the same word held", []string{"Idiot!"}, block("*idiot*")},
		{"first hold named", []string{"blöder Mist", "Spam"}, hold("Mist")},
		// Letters spelled out one by one.
		{"spaced letters", []string{"du i d i o t"}, block("*idiot*")},
		{"dotted letters", []string{"A.R.S.C.H."}, block("arsch")},
		{"dashed letters", []string{"n-s-d-a-p"}, block("nsdap")},
		{"two letters are not a run", []string{"z. B. a r"}, pass},
		// Invisible characters and look-alike styles.
		{"zero-width space", []string{"Ar\u200bsch"}, block("arsch")},
		{"soft hyphen", []string{"Ar\u00adsch"}, block("arsch")},
		{"fullwidth", []string{"ＡＲＳＣＨ"}, block("arsch")},
		{"math bold", []string{"𝐚𝐫𝐬𝐜𝐡"}, block("arsch")},
		{"emoji separates", []string{"😀arsch😀"}, block("arsch")},
		// Nothing.
		{"clean", []string{"Wir treffen uns am Brunnen.", "Bringt Kuchen mit!"}, pass},
		{"empty", []string{""}, pass},
		{"no texts", nil, pass},
	}
	for _, c := range cases {
		if got := m.Check(c.texts...); got != c.want {
			t.Errorf("%s: Check(%q) = %+v, want %+v", c.name, c.texts, got, c.want)
		}
	}
}

// Entries the admin must fix are refused with a code the app words, naming the list and the
// entry; nothing else is refused.
func TestCompileRefuses(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", wortfilter.MaxEntryLength+1)
	cases := []struct {
		list        wortfilter.List
		code, field string
	}{
		{wortfilter.List{Words: []string{"ok", ""}}, "wortfilter_entry_length", "words"},
		{wortfilter.List{Hold: []string{"   "}}, "wortfilter_entry_length", "hold"},
		{wortfilter.List{Words: []string{long}}, "wortfilter_entry_length", "words"},
		{wortfilter.List{Words: []string{"f*ck"}}, "wortfilter_entry_star", "words"},
		{wortfilter.List{Words: []string{"**"}}, "wortfilter_entry_no_word", "words"},
		{wortfilter.List{Hold: []string{"*"}}, "wortfilter_entry_no_word", "hold"},
		{wortfilter.List{Words: []string{"?!"}}, "wortfilter_entry_no_word", "words"},
		{wortfilter.List{Words: []string{"a\tb"}}, "wortfilter_entry_invalid", "words"},
		{wortfilter.List{Words: make([]string, wortfilter.MaxEntries), Hold: []string{"x"}}, "wortfilter_too_many", "words"},
	}
	for _, c := range cases {
		_, err := wortfilter.Compile(c.list)
		f, ok := fault.As(err)
		if !ok || f.Code != c.code || f.Field != c.field || f.Kind != fault.Invalid {
			t.Errorf("Compile(%.60q) = %v, want %s on %s", c.list, err, c.code, c.field)
		}
	}
	full := make([]string, wortfilter.MaxEntries)
	for i := range full {
		full[i] = strings.Repeat("x", wortfilter.MaxEntryLength-3) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
	}
	m, err := wortfilter.Compile(wortfilter.List{Words: full[:wortfilter.MaxEntries-1], Hold: full[wortfilter.MaxEntries-1:]})
	if err != nil || m.Entries() != wortfilter.MaxEntries {
		t.Fatalf("a full list of the longest entries: %v, %d entries", err, m.Entries())
	}
}

// Clean trims entries and drops those that say the same as an earlier one of their list.
func TestClean(t *testing.T) {
	t.Parallel()
	got, err := wortfilter.Clean(wortfilter.List{Words: []string{" Idiot ", "idiot", "IDIOT*", "Straße", "strasse"},
		Hold: []string{"idiot", "blöd", "BLOD"}})
	if err != nil {
		t.Fatal(err)
	}
	want := wortfilter.List{Words: []string{"Idiot", "IDIOT*", "Straße"}, Hold: []string{"idiot", "blöd"}}
	if !got.Equal(want) {
		t.Fatalf("Clean = %q, want %q", got, want)
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"Größe, Ärger!":       {"grosse", "arger"},
		"Œuvre, Ørsted, Łódź": {"oeuvre", "orsted", "lodz"},
		"ﬁne ½":               {"fine", "12"},
		"geht's":              {"geht", "s"},
		"Ｗｅｂ　２":               {"web", "2"},
		"Ελλάς Москва":        {"ελλασ", "москва"},
		"":                    nil,
	}
	for in, want := range cases {
		if got := wortfilter.Words(in); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
}

// A nil or empty matcher lets everything through.
func TestEmpty(t *testing.T) {
	t.Parallel()
	var m *wortfilter.Matcher
	if v := m.Check("arsch"); v != (moderation.Verdict{}) {
		t.Errorf("nil matcher: %+v", v)
	}
	if v := wortfilter.MustCompile(wortfilter.List{}).Check("arsch"); v != (moderation.Verdict{}) {
		t.Errorf("empty matcher: %+v", v)
	}
}
