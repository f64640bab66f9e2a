package wortfilter

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// The automaton says what the plain definition says — a text is blocked when its folded form
// " word word … " (and each run of spelled-out letters, joined) contains a block entry's
// pattern, else held when it contains a hold entry's — for random lists and texts over a small
// alphabet (so that entries overlap, share prefixes and suffixes, and match often), whether
// its states have full rows or only their edges.
func TestAutomatonAgreesWithDefinition(t *testing.T) {
	t.Parallel()
	word := rapid.StringMatching(`[abAäß]{1,4}`)
	entry := rapid.Custom(func(t *rapid.T) string {
		ws := rapid.SliceOfN(word, 1, 3).Draw(t, "words")
		e := strings.Join(ws, " ")
		if rapid.Bool().Draw(t, "before") {
			e = "*" + e
		}
		if rapid.Bool().Draw(t, "after") {
			e += "*"
		}
		return e
	})
	text := rapid.StringMatching(`([abAäß]{1,5}[ .\-]{1,2}){0,12}`)
	rapid.Check(t, func(t *rapid.T) {
		l, err := Clean(List{Words: rapid.SliceOfN(entry, 0, 8).Draw(t, "words"), Hold: rapid.SliceOfN(entry, 0, 8).Draw(t, "hold")})
		if err != nil {
			t.Fatal(err)
		}
		texts := rapid.SliceOfN(text, 1, 3).Draw(t, "texts")
		want := definition(l, texts)
		for _, budget := range []int{1, 40, denseBudget} {
			got := build(l, budget).Check(texts...)
			if got.Action != want.Action {
				t.Fatalf("budget %d: Check(%q) with %q = %+v, want %s", budget, texts, l, got, want.Action)
			}
			if got.Action != "" && !slices.Contains(matching(l, texts, got.Action), got.Word) {
				t.Fatalf("budget %d: Check(%q) with %q names %q, which does not match", budget, texts, l, got.Word)
			}
		}
	})
}

// Whatever the text — any Unicode — each of its words as Words folds them is found by the scan
// as an entry of its own: the scan, with its shortcut for ASCII, folds as Words does, and a
// folded word folds to itself.
func TestScanFoldsAsWords(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.String().Draw(t, "text")
		words := Words(s)
		if len(words) == 0 {
			return
		}
		w := rapid.SampledFrom(words).Draw(t, "word")
		if utf8.RuneCountInString(w) > MaxEntryLength {
			return
		}
		if got := Words(w); !slices.Equal(got, []string{w}) {
			t.Fatalf("Words(%q) = %q: a folded word does not fold to itself", w, got)
		}
		if v := MustCompile(List{Words: []string{w}}).Check(s); v.Action != moderation.ActionBlock {
			t.Fatalf("Check(%q) with the entry %q (one of its words) = %+v", s, w, v)
		}
	})
}

// The packed table of the characters from U+0800 folds each as folding it on its own does.
func TestWideTable(t *testing.T) {
	t.Parallel()
	for r := rune(tableSize); r < wideEnd; r++ {
		if got, want := foldWide(r), foldSlow(r); got != want {
			t.Fatalf("U+%04X: table %+v, folded %+v", r, got, want)
		}
	}
}

// folded is a text as the definition reads it: its words between spaces, then each run of
// three or more single-letter words joined, after a line break.
func foldedText(s string) string {
	words := Words(s)
	out := " " + strings.Join(words, " ") + " "
	var run []string
	flush := func() {
		if len(run) >= 3 {
			out += "\n " + strings.Join(run, "") + " "
		}
		run = run[:0]
	}
	for _, w := range words {
		if len(w) == 1 && w[0] >= 'a' && w[0] <= 'z' {
			run = append(run, w)
		} else {
			flush()
		}
	}
	flush()
	return out
}

func matching(l List, texts []string, action string) []string {
	entries := l.Hold
	if action == moderation.ActionBlock {
		entries = l.Words
	}
	var out []string
	for _, e := range entries {
		p, _ := pattern(e)
		for _, s := range texts {
			if strings.Contains(foldedText(s), p) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func definition(l List, texts []string) moderation.Verdict {
	if m := matching(l, texts, moderation.ActionBlock); len(m) > 0 {
		return moderation.Verdict{Action: moderation.ActionBlock}
	}
	if m := matching(l, texts, moderation.ActionHold); len(m) > 0 {
		return moderation.Verdict{Action: moderation.ActionHold}
	}
	return moderation.Verdict{}
}
