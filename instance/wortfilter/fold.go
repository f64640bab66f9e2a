package wortfilter

import (
	"strings"
	"sync"
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
	if r < wideEnd {
		return foldWide(r)
	}
	return foldSlow(r)
}

// The rest of the Basic Multilingual Plane and the Supplementary one (CJK, emoji, the
// mathematical and enclosed letters of obfuscation) are folded from a second table, packed
// (a cell of four bytes per character, the spellings in one string: 0.8 MiB) and built on
// first use, or in the background when a Service starts (warmUp): folding them one by one (NFKD) cost 200–350 ns and an allocation a character, so
// that a text of 20,000 such characters took milliseconds to check. Beyond, characters are
// folded as met.
const wideEnd = 0x20000

var wide struct {
	once  sync.Once
	cells []uint32 // per character from tableSize: class | len(text)<<2 | offset<<8; len 0: fold it as met
	pool  string
}

// warmUp builds the second table now, so that no check waits for it (a tenth of a second).
func warmUp() { wide.once.Do(buildWide) }

func foldWide(r rune) folded {
	wide.once.Do(buildWide)
	c := wide.cells[r-tableSize]
	if cl := class(c & 3); cl != letters {
		return folded{class: cl}
	}
	n, off := int(c>>2&0x3f), int(c>>8)
	if n == 0 {
		return foldSlow(r)
	}
	return folded{class: letters, text: wide.pool[off : off+n]}
}

func buildWide() {
	cells := make([]uint32, wideEnd-tableSize)
	var pool strings.Builder
	for r := rune(tableSize); r < wideEnd; r++ {
		f := foldSlow(r)
		c := uint32(f.class)
		if f.class == letters && len(f.text) < 0x40 && pool.Len() < 1<<24 {
			c |= uint32(len(f.text))<<2 | uint32(pool.Len())<<8
			pool.WriteString(f.text)
		}
		cells[r-tableSize] = c
	}
	wide.cells, wide.pool = cells, pool.String()
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
