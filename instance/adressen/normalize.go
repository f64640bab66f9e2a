package adressen

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// How text becomes search words: the one place for both sides, the index and the query.
//
// A word is a run of letters and digits, lower-cased, with diacritics dropped ("Lützner" →
// "lutzner", "Spélugues" → "spelugues") and ß as ss. A query word matches an entry when it is a
// prefix of one of the entry's words, so the index stores every prefix of every word (terms)
// and a search is an array containment. What a prefix cannot do, the index side adds as
// extra words: the usual abbreviations ("bd" for boulevard, "str" for straße, "pl" for platz
// and place, "av" for avenue) in both directions, and German umlauts as typed without them
// ("luetzner"). The query side is words only: "Str." is a prefix of "strasse" already, and
// expanding a query word would lose what it is a prefix of ("str" of "Strandweg").

// maxTermLen bounds the prefixes stored per word; a longer query word is cut to it, which only
// widens its match.
const maxTermLen = 24

// abbreviations are the short forms of street words, each way round: an entry with the long
// form is found by the short one and an entry spelled short by the long one.
var abbreviations = map[string][]string{
	"strasse":   {"str"},
	"boulevard": {"bd", "bld", "blvd"},
	"avenue":    {"av", "ave"},
	"platz":     {"pl"},
	"place":     {"pl"},
}

// expansions is abbreviations read backwards: "pl" → platz, place.
var expansions = func() map[string][]string {
	m := map[string][]string{}
	for long, shorts := range abbreviations {
		for _, s := range shorts {
			m[s] = append(m[s], long)
		}
	}
	return m
}()

// words splits s into normalised words.
func words(s string) []string {
	return strings.FieldsFunc(fold(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// fold lower-cases s and drops its diacritics.
func fold(s string) string {
	s = strings.ToLower(s)
	s = strings.NewReplacer("ß", "ss", "ẞ", "ss", "æ", "ae", "œ", "oe", "ø", "o", "ł", "l", "đ", "d", "ı", "i").Replace(s)
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// QueryWords are the words of a search as the index matches them: normalised, each once, cut
// to the longest stored prefix.
func QueryWords(q string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range words(q) {
		if r := []rune(w); len(r) > maxTermLen {
			w = string(r[:maxTermLen])
		}
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// indexWords are the words an entry is found by: its own, their spelled-out and abbreviated
// forms, and umlauts written as ae, oe, ue.
func indexWords(texts ...string) []string {
	var out []string
	for _, t := range texts {
		out = append(out, words(t)...)
		if strings.ContainsAny(t, "äöüÄÖÜ") {
			out = append(out, words(strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "Ä", "ae", "Ö", "oe", "Ü", "ue").Replace(t))...)
		}
	}
	n := len(out)
	for _, w := range out[:n] {
		out = append(out, abbreviations[w]...)
		out = append(out, expansions[w]...)
		// German compounds abbreviate their last part: "Hauptstr." is Hauptstraße.
		if stem, ok := strings.CutSuffix(w, "str"); ok && stem != "" {
			out = append(out, stem+"strasse")
		}
	}
	return out
}

// terms are every prefix of every index word, each once.
func terms(texts ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range indexWords(texts...) {
		r := []rune(w)
		for i := 1; i <= len(r) && i <= maxTermLen; i++ {
			p := string(r[:i])
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// houseNumberParts splits a house number where digits meet letters ("12a" → "12 a"), so that
// "12 a" typed apart finds it too.
func houseNumberParts(hn string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range hn {
		if prev != 0 && unicode.IsDigit(prev) != unicode.IsDigit(r) && unicode.IsLetter(prev) != unicode.IsLetter(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// houseNumberTerms mark an address's house number for the exact match that ranks first: the
// number as one word ("2 A" → 2a) and each of its words ("4-6" → 4, 6). The mark (#) is never
// part of a word, so no prefix meets it.
func houseNumberTerms(hn string) []string {
	ws := words(hn)
	if len(ws) == 0 {
		return nil
	}
	out := []string{houseNumberTerm(strings.Join(ws, ""))}
	if len(ws) > 1 {
		for _, w := range ws {
			out = append(out, houseNumberTerm(w))
		}
	}
	return out
}

// houseNumberTerm is the exact-match mark of a house number word.
func houseNumberTerm(w string) string { return "#" + w }
