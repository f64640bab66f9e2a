package abstimmung

import (
	"slices"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/delegation"
)

// Choices.
const (
	Yes     = "yes"
	No      = "no"
	Abstain = "abstain"
)

// Count is the outcome of counting an Abstimmung's Stimmen with delegated weight.
type Count struct {
	Yes, No, Abstain int // weighted
	// Weight of each direct voter: 1 plus every delegator whose chain ends at them.
	Weight map[uuid.UUID]int
	// Via holds, for every delegator whose weight counted, the next account on its chain; the
	// chain is followed until a direct voter (see Chain).
	Via map[uuid.UUID]uuid.UUID
	// Reached holds, for every delegator whose weight counted, the voter who carries it.
	Reached map[uuid.UUID]uuid.UUID
}

// Passed reports the result: more weighted yes than no. A tie, and no votes at all, reject;
// abstentions count for turnout only.
func (c Count) Passed() bool { return c.Yes > c.No }

// Turnout is the total weight that took part, abstentions included.
func (c Count) Turnout() int { return c.Yes + c.No + c.Abstain }

// Chain is the way a delegator's weight travelled: the delegator first, the voter last. Empty
// when the delegator's weight did not count.
func (c Count) Chain(delegator uuid.UUID) []uuid.UUID {
	voter, ok := c.Reached[delegator]
	if !ok {
		return nil
	}
	chain := []uuid.UUID{delegator}
	for x := delegator; x != voter; {
		x = c.Via[x]
		chain = append(chain, x)
	}
	return chain
}

// Delegators lists, in a stable order, the delegators whose weight a voter carries.
func (c Count) Delegators(voter uuid.UUID) []uuid.UUID {
	var ds []uuid.UUID
	for d, v := range c.Reached {
		if v == voter {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ds
}

// Tally counts votes with transitive delegation. votes holds each direct voter's choice;
// delegations each delegator's delegate. A delegator's weight travels along the chain of
// delegations to the first account on it that voted directly: that account carries it. A direct
// vote stops the chain (a voter's own delegation is not followed), and a chain that ends, or
// circles, without reaching a voter adds nothing. Linear in the number of delegations: every
// account is walked once, and the end of its chain is remembered for everyone walked past.
func Tally(votes map[uuid.UUID]string, delegations map[uuid.UUID]uuid.UUID) Count {
	edges := make([]delegation.Edge, 0, len(delegations))
	for d, to := range delegations {
		edges = append(edges, delegation.Edge{From: d, To: to})
	}
	return tally(votes, edges)
}

// tally is Tally over the delegations as a list, one per delegator, as delegation.Edges loads
// them: at city scale, building a map only to walk it again cost as much as the count.
func tally(votes map[uuid.UUID]string, delegations []delegation.Edge) Count {
	// Accounts get dense numbers so that the walk runs over slices, not maps.
	size := len(delegations) + len(votes)
	num := make(map[uuid.UUID]int32, size)
	ids := make([]uuid.UUID, 0, size)
	next := make([]int32, 0, size)
	index := func(u uuid.UUID) int32 {
		if i, ok := num[u]; ok {
			return i
		}
		i := int32(len(ids))
		num[u] = i
		ids = append(ids, u)
		next = append(next, -1)
		return i
	}
	for _, d := range delegations {
		from := index(d.From)
		next[from] = index(d.To)
	}
	for v := range votes {
		index(v)
	}
	n := len(ids)
	voted := make([]bool, n)
	for v := range votes {
		voted[num[v]] = true
	}

	// end[i]: the voter account i's weight reaches; none (-1); or not yet known (unknown), or
	// on the chain being walked (walking).
	const none, unknown, walking = -1, -2, -3
	end := make([]int32, n)
	for i := range end {
		end[i] = unknown
		if voted[i] {
			end[i] = int32(i)
		}
	}
	var path []int32
	for start := range int32(n) {
		if end[start] != unknown {
			continue
		}
		path = path[:0]
		x, reached := start, int32(none)
		for {
			if e := end[x]; e != unknown {
				if e != walking {
					reached = e
				} // walking: the chain circles back onto itself
				break
			}
			end[x] = walking
			path = append(path, x)
			if next[x] < 0 {
				break
			}
			x = next[x]
		}
		for _, p := range path {
			end[p] = reached
		}
	}

	weight := make([]int, n)
	carried := 0
	for i := range n {
		if e := end[i]; e >= 0 {
			weight[e]++
			if int32(i) != e {
				carried++
			}
		}
	}
	// Sized up front: growing two maps of tens of thousands of entries was a third of the count.
	c := Count{Weight: make(map[uuid.UUID]int, len(votes)), Via: make(map[uuid.UUID]uuid.UUID, carried),
		Reached: make(map[uuid.UUID]uuid.UUID, carried)}
	for i := range n {
		if e := end[i]; e >= 0 && int32(i) != e {
			c.Via[ids[i]] = ids[next[i]]
			c.Reached[ids[i]] = ids[e]
		}
	}
	for v, choice := range votes {
		w := weight[num[v]]
		c.Weight[v] = w
		switch choice {
		case Yes:
			c.Yes += w
		case No:
			c.No += w
		case Abstain:
			c.Abstain += w
		}
	}
	return c
}
