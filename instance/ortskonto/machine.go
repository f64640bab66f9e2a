package ortskonto

import (
	"fmt"
	"slices"
	"strings"
)

// A donation's states (docs/ORTSKONTO.md).
const (
	StatusInitiated = "initiated" // announced, the transfer not seen yet
	StatusPending   = "pending"   // the transfer was seen, not yet booked
	StatusSettled   = "settled"   // booked: counts in the balance
	StatusFailed    = "failed"    // never arrived; final
	StatusReversed  = "reversed"  // booked, then returned or charged back; final
)

// Statuses are every state, in the machine's order.
var Statuses = []string{StatusInitiated, StatusPending, StatusSettled, StatusFailed, StatusReversed}

// next is the machine: the states each state may move to. initiated → settled is not a step
// (a transfer is seen before it is booked); the bank import takes both steps at once.
var next = map[string][]string{
	StatusInitiated: {StatusPending, StatusFailed},
	StatusPending:   {StatusSettled, StatusFailed},
	StatusSettled:   {StatusReversed},
}

// Allowed reports whether the machine moves a donation from one state to the other in one step.
func Allowed(from, to string) bool { return slices.Contains(next[from], to) }

// delta is what one step changes in the balance row.
type delta struct {
	pending, settled, reversed int64 // cents
	counts                     [5]int32
}

func countIndex(status string) int { return slices.Index(Statuses, status) }

// stepDelta is the balance change of a donation of amount moving from → to; from "" is its
// creation.
func stepDelta(from, to string, amount int64) delta {
	var d delta
	if from != "" {
		d.counts[countIndex(from)]--
	}
	d.counts[countIndex(to)]++
	wasOpen := from == StatusInitiated || from == StatusPending
	isOpen := to == StatusInitiated || to == StatusPending
	if isOpen && !wasOpen {
		d.pending += amount
	}
	if wasOpen && !isOpen {
		d.pending -= amount
	}
	switch to {
	case StatusSettled:
		d.settled += amount
	case StatusReversed:
		d.reversed += amount
	}
	return d
}

func (d delta) add(e delta) delta {
	d.pending += e.pending
	d.settled += e.settled
	d.reversed += e.reversed
	for i := range d.counts {
		d.counts[i] += e.counts[i]
	}
	return d
}

// stepRule is the machine's part of a step into a state as ortskonto_step (migrations 00026, 00033)
// takes it: the states the step is allowed from (a text[] as text) and, for each, its balance
// change in eight numbers (pending, settled, reversed per cent of the amount; the changes of the
// counts; a bigint[] as text), and the journal row it writes (kind, or nil). The SQL decides
// nothing of its own: a state not listed here is refused there.
type stepRule struct {
	from, deltas string
	booking      *string
}

// stepRules are the rules of the steps into each state but the first, computed once.
var stepRules = func() map[string]stepRule {
	rules := map[string]stepRule{}
	for _, to := range Statuses[1:] {
		var from, deltas []string
		for _, f := range Statuses {
			if !Allowed(f, to) {
				continue
			}
			d := stepDelta(f, to, 1)
			from = append(from, f)
			deltas = append(deltas, fmt.Sprint(d.pending), fmt.Sprint(d.settled), fmt.Sprint(d.reversed))
			for _, c := range d.counts {
				deltas = append(deltas, fmt.Sprint(c))
			}
		}
		r := stepRule{from: "{" + strings.Join(from, ",") + "}", deltas: "{" + strings.Join(deltas, ",") + "}"}
		if kind, _ := journalRowOf(to); kind != "" {
			r.booking = &kind
		}
		rules[to] = r
	}
	return rules
}()

// journalRowOf is the journal row a step into to writes: its kind and the sign of its amount;
// kind "" for none.
func journalRowOf(to string) (kind string, sign int64) {
	switch to {
	case StatusSettled:
		return "spende", 1
	case StatusReversed:
		return "storno", -1
	}
	return "", 0
}
