package abstimmung

import (
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// benchGraph is wgbench's governance graph: n residents, each delegating with probability 0.99
// to one of the ten before it, 1 % voting directly.
func benchGraph(n int) (map[uuid.UUID]string, map[uuid.UUID]uuid.UUID) {
	rng := rand.New(rand.NewPCG(7, 7))
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	votes := map[uuid.UUID]string{}
	graph := map[uuid.UUID]uuid.UUID{}
	for i, id := range ids {
		if rng.Float64() < 0.01 {
			votes[id] = []string{Yes, No, Abstain}[rng.IntN(3)]
		}
		if i > 0 && rng.Float64() < 0.99 {
			graph[id] = ids[max(0, i-1-rng.IntN(10))]
		}
	}
	return votes, graph
}

// The count alone, at city scale (go test -bench Tally ./instance/abstimmung/); wgbench's
// governance measurement adds the loading.
func BenchmarkTally100k(b *testing.B) {
	votes, graph := benchGraph(100_000)
	b.ResetTimer()
	for range b.N {
		Tally(votes, graph)
	}
}
