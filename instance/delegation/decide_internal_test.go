package delegation

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// referenceDecide is the batch's decision as it was written before the dense graph: a map from
// delegator to delegate, each circle check a walk through that map.
func referenceDecide(reqs []request, eligible map[uuid.UUID]bool, graph map[uuid.UUID]uuid.UUID, activeIDs map[uuid.UUID]uuid.UUID) (drafts []eventstore.Draft, activate, replaced, rejected []uuid.UUID, reasons []string) {
	reaches := func(start, target uuid.UUID) bool {
		x := start
		for range len(graph) + 1 {
			if x == target {
				return true
			}
			next, ok := graph[x]
			if !ok {
				return false
			}
			x = next
		}
		return false
	}
	for _, r := range reqs {
		reason := ""
		switch {
		case !eligible[r.from] || !eligible[r.to]:
			reason = "not_eligible"
		case reaches(r.to, r.from):
			reason = "cycle"
		}
		if reason != "" {
			rejected, reasons = append(rejected, r.id), append(reasons, reason)
			drafts = append(drafts, DelegationAbgelehnt.New(eventstore.Header{Subject: r.id},
				DelegationAbgelehntV1{DelegationID: r.id, FromID: r.from, ToID: r.to, Reason: reason}))
			continue
		}
		var replaces *uuid.UUID
		if old, ok := activeIDs[r.from]; ok {
			replaces = &old
			replaced = append(replaced, old)
			drafts = append(drafts, DelegationBeendet.New(eventstore.Header{Subject: old},
				DelegationBeendetV1{DelegationID: old, FromID: r.from, ToID: graph[r.from], Reason: "replaced"}))
		}
		graph[r.from] = r.to
		activeIDs[r.from] = r.id
		activate = append(activate, r.id)
		drafts = append(drafts, DelegationWirksam.New(eventstore.Header{Subject: r.id},
			DelegationWirksamV1{DelegationID: r.id, FromID: r.from, ToID: r.to, Replaces: replaces}))
	}
	return
}

// The batch's decisions over the dense graph are the old ones: the same refusals for the same
// reasons, the same replaced delegations, the same events in the same order — on random graphs
// with long chains, requests that close circles directly and through earlier requests of the
// same batch, ineligible residents and (though the batch never lets them in) circles already in
// the graph.
func TestDecideMatchesTheMapWalk(t *testing.T) {
	seen := map[string]int{}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 19))
		n := 2 + rng.IntN(80)
		accounts := make([]uuid.UUID, n)
		eligible := map[uuid.UUID]bool{}
		for i := range accounts {
			accounts[i] = uuid.New()
			eligible[accounts[i]] = rng.IntN(20) != 0
		}
		byMap, activeIDs := map[uuid.UUID]uuid.UUID{}, map[uuid.UUID]uuid.UUID{}
		g := &graph{num: map[uuid.UUID]int32{}}
		for i, a := range accounts {
			var to uuid.UUID
			switch r := rng.IntN(10); {
			case r < 6 && i > 0:
				to = accounts[max(0, i-1-rng.IntN(4))] // long chains towards older accounts
			case r < 7:
				to = accounts[rng.IntN(n)] // anywhere: may circle
				if to == a {
					continue
				}
			default:
				continue
			}
			id := uuid.New()
			byMap[a], activeIDs[a] = to, id
			g.delegate(id, a, to)
		}
		var reqs []request
		for _, i := range rng.Perm(n)[:rng.IntN(n)] { // one request per delegator at most
			to := accounts[rng.IntN(n)]
			if rng.IntN(30) == 0 {
				to = uuid.New() // an account the graph has never seen
				eligible[to] = rng.IntN(2) == 0
			}
			reqs = append(reqs, request{id: uuid.New(), from: accounts[i], to: to})
		}

		wantDrafts, activate, replaced, rejected, reasons := referenceDecide(reqs, eligible, byMap, activeIDs)
		got := decide(reqs, eligible, g)

		if !slices.Equal(got.activate, activate) {
			t.Fatalf("seed %d: activates %v, the map walk %v", seed, got.activate, activate)
		}
		// The merged end: the map walk's replaced and refused, each with its reason.
		want := map[uuid.UUID]string{}
		for _, id := range replaced {
			want[id] = "replaced"
		}
		for i, id := range rejected {
			want[id] = reasons[i]
		}
		gotEnded := map[uuid.UUID]string{}
		for i, id := range got.ended {
			gotEnded[id] = got.endReasons[i]
		}
		if len(got.ended) != len(replaced)+len(rejected) || !mapsEqual(gotEnded, want) {
			t.Fatalf("seed %d: ends %v, the map walk %v", seed, gotEnded, want)
		}
		if len(got.drafts) != len(wantDrafts) {
			t.Fatalf("seed %d: %d events, the map walk %d", seed, len(got.drafts), len(wantDrafts))
		}
		for i := range wantDrafts {
			if !reflect.DeepEqual(got.drafts[i], wantDrafts[i]) {
				t.Fatalf("seed %d: event %d is %+v, the map walk's %+v", seed, i, got.drafts[i], wantDrafts[i])
			}
		}
		seen["replaced"] += len(replaced)
		for _, r := range reasons {
			seen[r]++
		}
	}
	// The graphs are ones where each decision happens, many times.
	for _, r := range []string{"replaced", "cycle", "not_eligible"} {
		if seen[r] < 50 {
			t.Errorf("only %d decisions %q over all graphs: %v", seen[r], r, seen)
		}
	}
}

func mapsEqual(a, b map[uuid.UUID]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
