package abstimmung

import (
	"slices"

	"github.com/google/uuid"
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
// circles, without reaching a voter adds nothing. Linear in the number of delegations.
func Tally(votes map[uuid.UUID]string, delegations map[uuid.UUID]uuid.UUID) Count {
	c := Count{Weight: make(map[uuid.UUID]int, len(votes)), Via: map[uuid.UUID]uuid.UUID{}, Reached: map[uuid.UUID]uuid.UUID{}}
	for v := range votes {
		c.Weight[v] = 1
	}
	// resolved caches where a chain from an account ends: a voter, or uuid.Nil for nowhere.
	resolved := make(map[uuid.UUID]uuid.UUID, len(delegations))
	var path []uuid.UUID
	onPath := map[uuid.UUID]bool{}
	for start := range delegations {
		if _, voted := votes[start]; voted {
			continue
		}
		if _, done := resolved[start]; done {
			continue
		}
		path = path[:0]
		clear(onPath)
		end := uuid.Nil
		for x := start; ; {
			if _, voted := votes[x]; voted {
				end = x
				break
			}
			if r, done := resolved[x]; done {
				end = r
				break
			}
			next, ok := delegations[x]
			if !ok || onPath[x] {
				break // the chain ends, or circles, without a voter
			}
			path = append(path, x)
			onPath[x] = true
			x = next
		}
		for _, x := range path {
			resolved[x] = end
		}
	}
	for d, end := range resolved {
		if end == uuid.Nil {
			continue
		}
		c.Reached[d] = end
		c.Via[d] = delegations[d]
		c.Weight[end]++
	}
	for v, w := range c.Weight {
		switch votes[v] {
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
