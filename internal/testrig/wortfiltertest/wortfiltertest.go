// Package wortfiltertest makes the word lists and texts the word filter is measured with
// (the package's benchmarks and wgbench): a German-looking list of any length and the texts
// residents write, of chat and of Antrag length. Deterministic, so that runs compare.
package wortfiltertest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
)

// stems are the parts the list's words are made of: German compounds share their parts, so
// the list's entries share prefixes and suffixes the way a real list's do, and the texts'
// words walk some way into the automaton before they fall out of it.
var stems = strings.Fields(`ab an auf aus bei ein mit nach vor zu ver zer ent be ge un
	haus garten schul weg bahn hof platz stadt rat frei zeit arbeit kinder spiel wasser licht
	strom feuer wehr markt brueck strass wald feld berg tal dorf kirch turm bank tisch stuhl
	fenster tuer dach keller boden wand ofen brot milch kaese wurst fleisch apfel birne
	schwein hund katze vogel fisch pferd kuh esel affe ratte laus floh wanze mist dreck
	schmutz stink kack pups rotz sabber schleim gift galle neid hass wut zorn streit zank
	lug trug dumm doof bloed bekloppt verrueckt irr wirr schwach faul lahm krumm schief
	schraeg hohl leer voll dick duenn klein gross alt jung`)

var suffixes = []string{"", "", "", "en", "er", "e", "ling", "sack", "kopf", "gesicht", "backe", "nase", "tuete", "birne"}

// List is a word list of n entries (n ≥ 10): a tenth of them hold, the rest block; most are
// single whole words, one in ten a prefix (word*), one in twenty an infix (*word*), one in
// thirty a suffix (*word), one in fifty two words.
func List(n int) wortfilter.List {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	word := func() string {
		for {
			w := stems[r.IntN(len(stems))] + stems[r.IntN(len(stems))]
			if r.IntN(3) == 0 {
				w += stems[r.IntN(len(stems))]
			}
			w += suffixes[r.IntN(len(suffixes))]
			if !seen[w] {
				seen[w] = true
				return w
			}
		}
	}
	var l wortfilter.List
	for i := range n {
		var e string
		switch k := r.IntN(100); {
		case k < 10:
			e = word() + "*"
		case k < 15:
			e = "*" + word() + "*"
		case k < 18:
			e = "*" + word()
		case k < 20:
			e = word() + " " + word()
		default:
			e = word()
		}
		if r.IntN(3) == 0 { // as admins type them
			e = strings.ToUpper(e[:1]) + e[1:]
		}
		if i%10 == 0 {
			l.Hold = append(l.Hold, e)
		} else {
			l.Words = append(l.Words, e)
		}
	}
	return l
}

// paragraph is the kind of German residents write: a chat message is a sentence or three of
// it, an Antrag many.
const paragraph = `Liebe Nachbarinnen und Nachbarn, am Samstag treffen wir uns um zehn Uhr am Brunnen
auf dem Marktplatz, um gemeinsam die Beete im Gemeinschaftsgarten winterfest zu machen. Bringt
bitte Handschuhe, Spaten und gute Laune mit! Für Kaffee, Tee und Kuchen ist gesorgt; wer etwas
beisteuern möchte, schreibt es bitte hier in den Faden. Die Stadtverwaltung hat zugesagt, den
Grünschnitt am Montag abzuholen. Außerdem beantragen wir 450 Euro aus dem Ortskonto für neue
Obstbäume (zwei Apfelbäume, eine Birne und eine Zwetschge) sowie für Mulch und Kompost. Die
Bäume sollen an der Südseite des Spielplatzes stehen, wo sie im Sommer Schatten spenden und
die Kinder im Herbst ernten können. Die Pflege übernimmt die Gartengruppe, die sich jeden
zweiten Mittwoch trifft; Neue sind herzlich willkommen. Falls es Einwände gibt, etwa wegen des
Lichts für die Erdgeschosswohnungen, sprecht uns an – wir finden bestimmt einen Platz, der
allen passt. Übrigens: Der Fahrradkeller ist wieder offen, der Schlüssel liegt bei Frau Özdemir
im dritten Stock. `

// Text is a resident's text of about n characters, from the paragraph (repeated as needed),
// starting at a point that depends on seed.
func Text(n, seed int) string {
	p := strings.Join(strings.Fields(paragraph), " ") + " "
	start := (seed * 97) % len(p)
	for start > 0 && p[start-1] != ' ' {
		start--
	}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(p[start:])
		start = 0
	}
	s := b.String()[:n]
	for i := len(s) - 1; i > 0; i-- { // end on a whole character
		if s[i]&0xC0 != 0x80 {
			return s[:i]
		}
	}
	return s
}

// Message is what one check is measured with: the texts of one thing a resident writes.
type Message struct {
	Name  string
	Texts []string
}

// Messages are a chat message, a Knoten (title and description), an Antrag as residents write
// them and one of the largest Anträge allowed (20,000 characters); then texts of 2,500
// characters outside Latin-1, which are folded from the second table: Chinese, and fullwidth
// letters (an obfuscation).
func Messages() []Message {
	return []Message{
		{"chat_200", []string{Text(200, 1)}},
		{"knoten_60+600", []string{Text(60, 2), Text(600, 3)}},
		{"antrag_80+2500", []string{Text(80, 4), Text(2500, 5)}},
		{"antrag_200+20000", []string{Text(200, 6), Text(20000, 7)}},
		{"chinese_2500", []string{strings.Repeat("我们周六在花园见面，", 250)}},
		{"fullwidth_2500", []string{strings.Repeat("ＷＩＲ ＴＲＥＦＦＥＮ ＵＮＳ ", 156)}},
	}
}

// Describe says what List(n) holds, for the report.
func Describe(l wortfilter.List) string {
	var prefix, infix, suffix, phrases int
	for _, e := range append(append([]string{}, l.Words...), l.Hold...) {
		switch {
		case strings.HasPrefix(e, "*") && strings.HasSuffix(e, "*"):
			infix++
		case strings.HasSuffix(e, "*"):
			prefix++
		case strings.HasPrefix(e, "*"):
			suffix++
		case strings.Contains(e, " "):
			phrases++
		}
	}
	return fmt.Sprintf("%d entries (%d block, %d hold; %d prefix*, %d *infix*, %d *suffix, %d of two words)",
		len(l.Words)+len(l.Hold), len(l.Words), len(l.Hold), prefix, infix, suffix, phrases)
}
