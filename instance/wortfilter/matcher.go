package wortfilter

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// List is the word list as admins edit it: Words are refused (block), Hold are stored hidden
// and queued for review. An entry is one word or several (matched as consecutive words), with
// a * at its start, its end or both to match inside longer words (German compounds).
type List struct {
	Words []string `json:"words"`
	Hold  []string `json:"hold"`
}

// Bounds of a list: the PUT replaces the whole list, so its size bounds the work of every
// change (compiling 10,000 entries takes milliseconds, docs/BENCHMARKS.md) and the memory of
// every replica.
const (
	MaxEntries     = 10_000 // words and hold together
	MaxEntryLength = 100    // characters, stars included
)

// Clean checks a list as an admin sent it and returns it as it is stored: each entry trimmed
// of surrounding spaces, and each entry that says the same as an earlier one of its list
// (after folding: "Idiot" and "idiot ") left out, the first kept. An entry in both lists is
// kept in both; a text it matches is blocked.
func Clean(l List) (List, error) {
	if len(l.Words)+len(l.Hold) > MaxEntries {
		return List{}, fault.Invalidf("words", "wortfilter_too_many",
			"The word list holds at most %d entries (words and hold together); this one has %d.", MaxEntries, len(l.Words)+len(l.Hold))
	}
	words, err := cleanEntries("words", l.Words)
	if err != nil {
		return List{}, err
	}
	hold, err := cleanEntries("hold", l.Hold)
	if err != nil {
		return List{}, err
	}
	return List{Words: words, Hold: hold}, nil
}

func cleanEntries(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, e := range in {
		e = strings.TrimSpace(e)
		p, err := pattern(e)
		if err != nil {
			err.Field = field
			err.Message = fmt.Sprintf("Entry %d of %s (%.40q): %s", i+1, field, e, err.Message)
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, e)
		}
	}
	return out, nil
}

// pattern is what an entry is searched as in the folded text, which reads " word word … "
// (every word between single spaces): a plain entry is its words between spaces, so that it
// matches whole words only; a * drops the space on its side, so that the entry may continue
// a word there. "idiot" → " idiot ", "*idiot*" → "idiot", "idiot*" → " idiot", "ein idiot"
// → " ein idiot ".
func pattern(e string) (string, *fault.Error) {
	n := utf8.RuneCountInString(e)
	if n == 0 || n > MaxEntryLength {
		return "", fault.Invalidf("", "wortfilter_entry_length", "An entry has 1 to %d characters.", MaxEntryLength)
	}
	if strings.ContainsFunc(e, unicode.IsControl) {
		return "", fault.Invalidf("", "wortfilter_entry_invalid", "An entry cannot hold control characters.")
	}
	body, before := strings.CutPrefix(e, "*")
	body, after := strings.CutSuffix(body, "*")
	if strings.Contains(body, "*") {
		return "", fault.Invalidf("", "wortfilter_entry_star", "A * stands only at the start or the end of an entry.")
	}
	words := Words(body)
	if len(words) == 0 {
		return "", fault.Invalidf("", "wortfilter_entry_no_word", "An entry needs at least one letter or digit.")
	}
	p := strings.Join(words, " ")
	if !before {
		p = " " + p
	}
	if !after {
		p += " "
	}
	return p, nil
}

// Matcher is a compiled list: an Aho–Corasick automaton over the patterns of every entry,
// run over the folded text as it is read. A Check costs time in the length of the text, not
// of the list. Immutable, so safe for concurrent use; a changed list is a new Matcher.
type Matcher struct {
	entries []string // as the admins wrote them, indexed by the automaton's outputs
	class   [256]uint8
	nclass  int
	// ascii is, for an ASCII letter or digit, its class << 8 | its folded byte; 0 for the
	// other ASCII bytes (separators). One lookup instead of two on the hot path.
	ascii [128]uint16

	// States are numbered breadth first, so a state's failure link (a shorter suffix) always
	// has a smaller number. The first ndense states — the shallow ones, where the scan spends
	// nearly all its time — have a full row of transitions; the deeper ones keep only their
	// trie edges and fall back along their failure links.
	ndense    int32
	dense     []int32 // ndense × nclass
	edgeStart []int32 // per state: its edges are edgeClass/edgeNext[edgeStart[s]:edgeStart[s+1]]
	edgeClass []uint8
	edgeNext  []int32
	fail      []int32
	out       []output
}

// output is what a state's arrival says: the first block and hold entry that end here
// (itself or along its failure links); -1 for none.
type output struct{ block, hold int32 }

var _ moderation.TextFilter = (*Matcher)(nil)

// denseBudget bounds the full transition rows (4 bytes a cell, 4 MiB): a list of 5,000
// entries has nearly all its states in them (docs/BENCHMARKS.md); a list of 10,000 long
// starred entries keeps its deep states sparse instead of taking hundreds of MiB.
const denseBudget = 1 << 20

// Compile cleans the list (Clean) and builds its matcher.
func Compile(l List) (*Matcher, error) {
	l, err := Clean(l)
	if err != nil {
		return nil, err
	}
	return build(l, denseBudget), nil
}

// MustCompile is Compile for lists known to be valid (tests, examples).
func MustCompile(l List) *Matcher {
	m, err := Compile(l)
	if err != nil {
		panic(err)
	}
	return m
}

type trieNode struct {
	next  []trieEdge
	block int32
	hold  int32
}

type trieEdge struct {
	class uint8
	to    int32
}

func (n *trieNode) child(c uint8) int32 {
	for _, e := range n.next {
		if e.class == c {
			return e.to
		}
	}
	return -1
}

// build makes the automaton of a clean list, with at most budget cells of full rows.
func build(l List, budget int) *Matcher {
	m := &Matcher{}
	type pat struct {
		p     string
		entry int32
		block bool
	}
	var pats []pat
	for _, list := range []struct {
		entries []string
		block   bool
	}{{l.Words, true}, {l.Hold, false}} {
		for _, e := range list.entries {
			p, _ := pattern(e) // clean: no error
			pats = append(pats, pat{p, int32(len(m.entries)), list.block})
			m.entries = append(m.entries, e)
		}
	}
	// Byte classes: the bytes the patterns use, each its own class; every other byte is class
	// 0, which no edge uses and so always leads back to the root.
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p.p); i++ {
			used[p.p[i]] = true
		}
	}
	m.nclass = 1
	for b := range 256 {
		if used[b] {
			m.class[b] = uint8(m.nclass)
			m.nclass++
		}
	}
	for b, f := range asciiFold {
		if f != 0 {
			m.ascii[b] = uint16(m.class[f])<<8 | uint16(f)
		}
	}
	// The trie; the first entry to end at a node is its output.
	nodes := []trieNode{{block: -1, hold: -1}}
	for _, p := range pats {
		s := int32(0)
		for i := 0; i < len(p.p); i++ {
			c := m.class[p.p[i]]
			t := nodes[s].child(c)
			if t < 0 {
				t = int32(len(nodes))
				nodes = append(nodes, trieNode{block: -1, hold: -1})
				nodes[s].next = append(nodes[s].next, trieEdge{c, t})
			}
			s = t
		}
		switch {
		case p.block && nodes[s].block < 0:
			nodes[s].block = p.entry
		case !p.block && nodes[s].hold < 0:
			nodes[s].hold = p.entry
		}
	}
	// Breadth first: the new numbering, failure links and inherited outputs.
	order := make([]int32, 0, len(nodes)) // new number → old
	renum := make([]int32, len(nodes))    // old → new
	fail := make([]int32, len(nodes))     // by old number
	order = append(order, 0)
	for i := 0; i < len(order); i++ {
		u := order[i]
		renum[u] = int32(i)
		if u != 0 {
			f := fail[u]
			if nodes[u].block < 0 {
				nodes[u].block = nodes[f].block
			}
			if nodes[u].hold < 0 {
				nodes[u].hold = nodes[f].hold
			}
		}
		for _, e := range nodes[u].next {
			f := int32(0)
			if u != 0 {
				for f = fail[u]; ; f = fail[f] {
					if t := nodes[f].child(e.class); t >= 0 {
						f = t
						break
					}
					if f == 0 {
						break
					}
				}
			}
			fail[e.to] = f
			order = append(order, e.to)
		}
	}
	n := len(order)
	m.fail = make([]int32, n)
	m.out = make([]output, n)
	m.edgeStart = make([]int32, n+1)
	for i, u := range order {
		m.fail[i] = renum[fail[u]]
		m.out[i] = output{nodes[u].block, nodes[u].hold}
		m.edgeStart[i+1] = m.edgeStart[i] + int32(len(nodes[u].next))
		for _, e := range nodes[u].next {
			m.edgeClass = append(m.edgeClass, e.class)
			m.edgeNext = append(m.edgeNext, renum[e.to])
		}
	}
	m.ndense = int32(min(n, max(1, budget/m.nclass)))
	m.dense = make([]int32, int(m.ndense)*m.nclass)
	for s := range m.ndense {
		row := m.dense[int(s)*m.nclass : int(s+1)*m.nclass]
		if s != 0 {
			copy(row, m.dense[int(m.fail[s])*m.nclass:]) // the failure link's row: an earlier one
		}
		for i := m.edgeStart[s]; i < m.edgeStart[s+1]; i++ {
			row[m.edgeClass[i]] = m.edgeNext[i]
		}
	}
	for i, t := range m.dense {
		if t < m.ndense && m.out[t] == (output{-1, -1}) {
			m.dense[i] = t * int32(m.nclass)
		} else {
			m.dense[i] = ^t
		}
	}
	return m
}

// The scan's state is a row offset into dense (s × nclass, never negative) for a dense state,
// and ^s for a sparse one. A dense cell holds the next state the same way, except that it
// holds ^t also for a dense state t that has an output: the scan's fast path takes a
// non-negative cell as it is and leaves everything else to feedSlow.

// blocked is the state feed returns when a block entry matched.
const blocked = int32(math.MinInt32)

// found is what a scan has met so far: entry indexes, -1 for none.
type found struct{ block, hold int32 }

// feed moves the automaton from cur on a byte of class c.
func (m *Matcher) feed(cur int32, c uint8, f *found) int32 {
	if cur >= 0 {
		if v := m.dense[cur+int32(c)]; v >= 0 {
			return v
		}
	}
	return m.feedSlow(cur, c, f)
}

func (m *Matcher) feedSlow(cur int32, c uint8, f *found) int32 {
	var t int32
	if cur >= 0 {
		t = ^m.dense[cur+int32(c)]
	} else {
		t = m.step(^cur, c)
	}
	o := m.out[t]
	if o.block >= 0 {
		f.block = o.block
		return blocked
	}
	if f.hold < 0 {
		f.hold = o.hold
	}
	if t < m.ndense {
		return t * int32(m.nclass)
	}
	return ^t
}

// step is the automaton's transition from state s (a number) on class c.
func (m *Matcher) step(s int32, c uint8) int32 {
	for s >= m.ndense {
		for i := m.edgeStart[s]; i < m.edgeStart[s+1]; i++ {
			if m.edgeClass[i] == c {
				return m.edgeNext[i]
			}
		}
		s = m.fail[s]
	}
	if v := m.dense[s*int32(m.nclass)+int32(c)]; v >= 0 {
		return v / int32(m.nclass)
	} else {
		return ^v
	}
}

// Entries is the number of entries the matcher holds.
func (m *Matcher) Entries() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// asciiFold folds the ASCII bytes: a letter to lower case, a digit to itself, anything else to 0
// (a separator).
var asciiFold = func() (t [128]byte) {
	for b := byte('a'); b <= 'z'; b++ {
		t[b], t[b-'a'+'A'] = b, b
	}
	for b := byte('0'); b <= '9'; b++ {
		t[b] = b
	}
	return t
}()

// Check says what the list makes of the texts (a Knoten's title and description, say): block
// if any text holds a block entry, else hold if any holds a hold entry, else nothing. Each
// text is read on its own; an entry of several words does not match across two of them. A
// nil Matcher lets everything through.
func (m *Matcher) Check(texts ...string) moderation.Verdict {
	if m == nil || len(m.entries) == 0 {
		return moderation.Verdict{}
	}
	held := int32(-1)
	for _, t := range texts {
		b, h := m.scan(t)
		if b >= 0 {
			return moderation.Verdict{Action: moderation.ActionBlock, Word: m.entries[b]}
		}
		if held < 0 {
			held = h
		}
	}
	if held >= 0 {
		return moderation.Verdict{Action: moderation.ActionHold, Word: m.entries[held]}
	}
	return moderation.Verdict{}
}

// scan runs the automaton over one text's folded form, " word word … ", fed byte by byte as
// it is folded, and returns the first block entry it finds (at once) or else the first hold
// entry (-1: none).
//
// Letters spelled out one by one ("i d i o t", "I.D.I.O.T", "i-d-i-o-t") are also read
// joined, as one more word after the text: three or more words of a single letter in a row
// are rarely anything but a word spelled out, and the joined form has to equal an entry for
// it to matter, so this costs no false positives worth the name.
func (m *Matcher) scan(t string) (block, hold int32) {
	f := found{-1, -1}
	space := m.class[' ']
	cur := m.feed(0, space, &f) // no entry is a lone space: never blocked
	var spelledBuf [64]byte
	spelled := spelledBuf[:0] // "\n x y z " for each run of single letters, fed after the text
	run, wordLen := 0, 0      // single-letter words in a row; bytes of the current word
	var last byte             // the current word's last byte
	for i := 0; i < len(t); {
		if b := t[i]; b < utf8.RuneSelf {
			i++
			// The hot path: an ASCII letter or digit, and a full row without an output.
			if v := m.ascii[b]; v != 0 {
				wordLen++
				last = byte(v)
				c := int32(v >> 8)
				if cur >= 0 {
					if next := m.dense[cur+c]; next >= 0 {
						cur = next
						continue
					}
				}
				if cur = m.feedSlow(cur, uint8(c), &f); cur == blocked {
					return f.block, -1
				}
				continue
			}
		} else {
			r, size := utf8.DecodeRuneInString(t[i:])
			i += size
			switch fr := fold(r); fr.class {
			case invisible:
				continue
			case letters:
				for j := 0; j < len(fr.text); j++ {
					wordLen++
					last = fr.text[j]
					c := int32(m.class[last])
					if cur >= 0 { // feed, inline
						if next := m.dense[cur+c]; next >= 0 {
							cur = next
							continue
						}
					}
					if cur = m.feedSlow(cur, uint8(c), &f); cur == blocked {
						return f.block, -1
					}
				}
				continue
			}
		}
		// A separator: the end of a word, if one was open.
		if wordLen == 0 {
			continue
		}
		if wordLen == 1 || run > 0 {
			spelled, run = spell(spelled, run, wordLen == 1 && last >= 'a' && last <= 'z', last)
		}
		wordLen = 0
		if cur >= 0 { // feed, inline
			if next := m.dense[cur+int32(space)]; next >= 0 {
				cur = next
				continue
			}
		}
		if cur = m.feedSlow(cur, space, &f); cur == blocked {
			return f.block, -1
		}
	}
	if wordLen > 0 {
		spelled, run = spell(spelled, run, wordLen == 1 && last >= 'a' && last <= 'z', last)
		if cur = m.feed(cur, space, &f); cur == blocked {
			return f.block, -1
		}
	}
	spelled, _ = spell(spelled, run, false, 0)
	for _, b := range spelled {
		if cur = m.feed(cur, m.class[b], &f); cur == blocked {
			return f.block, -1
		}
	}
	return -1, f.hold
}

// spell keeps the runs of single letters: a word of one letter (single) joins the run, any
// other word ends it — kept as "\n xyz " when it had three letters or more, dropped else.
func spell(spelled []byte, run int, single bool, letter byte) ([]byte, int) {
	if single {
		if run == 0 {
			spelled = append(spelled, '\n', ' ')
		}
		return append(spelled, letter), run + 1
	}
	switch {
	case run == 0:
	case run < 3:
		spelled = spelled[:len(spelled)-run-2]
	default:
		spelled = append(spelled, ' ')
	}
	return spelled, 0
}

// Equal reports whether two clean lists are the same, entry by entry and in order.
func (l List) Equal(o List) bool {
	return slices.Equal(l.Words, o.Words) && slices.Equal(l.Hold, o.Hold)
}
