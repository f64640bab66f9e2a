package abstimmung

import (
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// referenceCount is the rule written down as plainly as possible: for every account, walk its
// chain step by step until someone voted directly.
func referenceCount(accounts []uuid.UUID, votes map[uuid.UUID]string, delegations map[uuid.UUID]uuid.UUID) (yes, no, abstain int, carrier map[uuid.UUID]uuid.UUID) {
	carrier = map[uuid.UUID]uuid.UUID{}
	for _, a := range accounts {
		seen := map[uuid.UUID]bool{}
		x := a
		for {
			if choice, ok := votes[x]; ok {
				carrier[a] = x
				switch choice {
				case Yes:
					yes++
				case No:
					no++
				case Abstain:
					abstain++
				}
				break
			}
			next, ok := delegations[x]
			if !ok || seen[x] {
				break
			}
			seen[x] = true
			x = next
		}
	}
	return
}

// Random delegation graphs — forests with long chains, shortcuts to voters, dead ends and (though
// the batch never lets them in) circles — against the plain reference count.
func TestTallyMatchesReferenceOnRandomGraphs(t *testing.T) {
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 1))
		n := 1 + rng.IntN(60)
		accounts := make([]uuid.UUID, n)
		for i := range accounts {
			accounts[i] = uuid.New()
		}
		votes := map[uuid.UUID]string{}
		delegations := map[uuid.UUID]uuid.UUID{}
		for i, a := range accounts {
			if rng.IntN(4) == 0 {
				votes[a] = []string{Yes, No, Abstain}[rng.IntN(3)]
			}
			switch r := rng.IntN(10); {
			case r < 5 && i > 0:
				delegations[a] = accounts[rng.IntN(i)] // towards older accounts: a forest
			case r < 6:
				delegations[a] = accounts[rng.IntN(n)] // anywhere: may circle
			}
		}
		c := Tally(votes, delegations)
		yes, no, abstain, carrier := referenceCount(accounts, votes, delegations)
		if c.Yes != yes || c.No != no || c.Abstain != abstain {
			t.Fatalf("seed %d: tally %d/%d/%d, reference %d/%d/%d", seed, c.Yes, c.No, c.Abstain, yes, no, abstain)
		}
		for _, a := range accounts {
			if _, voted := votes[a]; voted {
				if chain := c.Chain(a); chain != nil {
					t.Fatalf("seed %d: a direct voter has a delegation chain %v", seed, chain)
				}
				continue
			}
			want, counted := carrier[a]
			chain := c.Chain(a)
			if !counted {
				if chain != nil {
					t.Fatalf("seed %d: %v counted via %v, reference says not at all", seed, a, chain)
				}
				continue
			}
			if len(chain) < 2 || chain[0] != a || chain[len(chain)-1] != want {
				t.Fatalf("seed %d: chain %v, want from %v to %v", seed, chain, a, want)
			}
			for i := 0; i+1 < len(chain); i++ {
				if delegations[chain[i]] != chain[i+1] {
					t.Fatalf("seed %d: chain %v does not follow the delegations", seed, chain)
				}
			}
		}
		total := 0
		for v, w := range c.Weight {
			total += w
			if len(c.Delegators(v)) != w-1 {
				t.Fatalf("seed %d: voter %v weight %d but %d delegators", seed, v, w, len(c.Delegators(v)))
			}
		}
		if total != c.Turnout() {
			t.Fatalf("seed %d: weights sum to %d, turnout %d", seed, total, c.Turnout())
		}
	}
}

func TestTallyRules(t *testing.T) {
	a, b, c, d := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	chain := map[uuid.UUID]uuid.UUID{a: b, b: c}
	// C votes: C carries A's and B's weight.
	if got := Tally(map[uuid.UUID]string{c: Yes}, chain); got.Yes != 3 || got.Weight[c] != 3 {
		t.Errorf("A→B→C, C votes yes: %+v", got)
	}
	// B votes too: B carries A; C only itself.
	got := Tally(map[uuid.UUID]string{c: Yes, b: No}, chain)
	if got.Weight[b] != 2 || got.Weight[c] != 1 || got.Yes != 1 || got.No != 2 || got.Passed() {
		t.Errorf("B votes directly: %+v", got)
	}
	// Nobody at the end of the chain votes: nothing counts.
	if got := Tally(map[uuid.UUID]string{d: Yes}, chain); got.Turnout() != 1 {
		t.Errorf("chain without a voter added weight: %+v", got)
	}
	// Ties and 0:0 reject; abstentions count for turnout only.
	if got := Tally(map[uuid.UUID]string{a: Yes, b: No, c: Abstain}, nil); got.Passed() || got.Turnout() != 3 {
		t.Errorf("1:1 with an abstention: %+v", got)
	}
	if got := Tally(map[uuid.UUID]string{a: Abstain}, nil); got.Passed() {
		t.Error("0:0 passed")
	}
	if got := Tally(nil, nil); got.Passed() {
		t.Error("no votes passed")
	}
}
