package wortfilter

// Size says how large a matcher's automaton is: its states, and the cells of its full rows.
func Size(m *Matcher) (states, denseCells int) { return len(m.fail), len(m.dense) }

// DenseBudget is the bound on denseCells.
const DenseBudget = denseBudget
