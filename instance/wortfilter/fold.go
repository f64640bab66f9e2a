package wortfilter

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Folding: what a list entry and a text are compared as. A text is read as a sequence of
// words, a word being a run of letters and digits (anything else ends it); each character of
// a word is folded to lower case without diacritics (NFKD, marks dropped), with the few
// letters that NFKD leaves alone spelled as German readers would type them (ß → ss,
// æ → ae, ø → o, ł → l, …). Characters nobody sees — combining marks, zero-width spaces
// and joiners, the soft hyphen — neither add to a word nor end it, so "id\u200biot" is one
// word, "idiot". NFKD also maps the look-alike letters of other blocks that are the same
// letter in another style (fullwidth "ｉｄｉｏｔ", mathematical bold "𝐢𝐝𝐢𝐨𝐭", ligatures
// "ﬁ") onto plain ones: obfuscation that costs nothing and mistakes nothing.

// class is what a character does to a word.
type class uint8

const (
	separator class = iota // ends the word (spaces, punctuation, symbols, emoji)
	invisible              // dropped without ending the word (marks, format characters)
	letters                // adds its folded form to the word
)

// folded is one character's class and, for letters, its folded spelling.
type folded struct {
	class class
	text  string
}

// tableSize covers Latin, Greek, Cyrillic and the other alphabetic scripts of the first
// pages: every character a German text usually holds is folded by one lookup. The rest is
// folded when met (foldSlow).
const tableSize = 0x800

var table = func() (t [tableSize]folded) {
	for r := range rune(tableSize) {
		t[r] = foldSlow(r)
	}
	return t
}()

// fold returns the class and folded spelling of r.
func fold(r rune) folded {
	if r < tableSize {
		return table[r]
	}
	return foldSlow(r)
}

// spelled are the letters NFKD does not decompose, as German readers would type them
// without the letter (the contract: ß = ss).
var spelled = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
	'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'ł': "l", 'Ł': "l", 'þ': "th", 'Þ': "th",
	'ı': "i", 'ħ': "h", 'Ħ': "h", 'ŧ': "t", 'Ŧ': "t", 'ŋ': "ng", 'Ŋ': "ng", 'ĸ': "k",
	'ς': "σ", // Greek final sigma is the same letter as σ
}

func foldSlow(r rune) folded {
	switch {
	case r >= utf8.RuneSelf && unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc, unicode.Cf):
		return folded{class: invisible}
	case !unicode.IsLetter(r) && !unicode.IsNumber(r):
		return folded{class: separator}
	}
	if s, ok := spelled[r]; ok {
		return folded{class: letters, text: s}
	}
	var out []rune
	for _, d := range norm.NFKD.String(string(r)) {
		if unicode.In(d, unicode.Mn, unicode.Me, unicode.Mc) {
			continue
		}
		d = unicode.ToLower(d)
		if s, ok := spelled[d]; ok {
			out = append(out, []rune(s)...)
			continue
		}
		if unicode.IsLetter(d) || unicode.IsNumber(d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return folded{class: separator}
	}
	return folded{class: letters, text: string(out)}
}

// Words returns the folded words of s as the filter compares them: Words("Größe, Ärger!") is
// ["grosse", "arger"].
func Words(s string) []string {
	var out []string
	var cur []byte
	end := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range s {
		f := fold(r)
		switch f.class {
		case separator:
			end()
		case letters:
			cur = append(cur, f.text...)
		}
	}
	end()
	return out
}
