package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
)

// benchGovernance: the count of an Abstimmung with transitive delegation over n residents, and
// the daily delegation batch applying changes.
func benchGovernance(ctx context.Context, e *env, cfg config) {
	n := cfg.residents
	log.Printf("governance: %d residents", n)
	rng := rand.New(rand.NewPCG(7, 7))
	now := e.inst.Clock.Now()

	ids := make([]uuid.UUID, n)
	rows := make([][]any, n)
	for i := range ids {
		ids[i] = uuid.New()
		rows[i] = []any{ids[i], fmt.Sprintf("r%d", i), fmt.Sprintf("Resident %d", i), fmt.Sprintf("r%d@bench.example", i), "-", "Benchstraße", now, now}
	}
	conn, err := e.inst.Pool.Acquire(ctx)
	check(err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"accounts"}, []string{"id", "handle", "name", "email", "password_hash", "address", "verified_at", "created_at"}, pgx.CopyFromRows(rows))
	check(err)
	_, err = conn.Exec(ctx, `UPDATE accounts SET home = point4326(12.37, 51.34) WHERE email LIKE '%@bench.example'`)
	check(err)

	// A random forest with long chains: each resident delegates, with probability 0.99, to one
	// of the ten residents before it; 1 % vote directly. Chains run until a voter or a
	// non-delegating root: about 70 steps on average, hundreds at the most.
	votes := map[uuid.UUID]string{}
	graph := map[uuid.UUID]uuid.UUID{}
	var dRows, sRows [][]any
	abst := uuid.New()
	for i, id := range ids {
		if rng.Float64() < 0.01 {
			choice := []string{abstimmung.Yes, abstimmung.No, abstimmung.Abstain}[rng.IntN(3)]
			votes[id] = choice
			sRows = append(sRows, []any{abst, id, choice, now, now})
		}
		if i > 0 && rng.Float64() < 0.99 {
			to := ids[max(0, i-1-rng.IntN(10))]
			graph[id] = to
			dRows = append(dRows, []any{uuid.New(), id, to, "active", now, now, now.Add(28 * 24 * time.Hour)})
		}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"delegationen"}, []string{"id", "from_id", "to_id", "state", "requested_at", "effective_at", "idle_expires_at"}, pgx.CopyFromRows(dRows))
	check(err)
	_, err = conn.Exec(ctx, `INSERT INTO abstimmungen (id, subject_id, opens_at, closes_at) VALUES ($1, $1, $2, $3)`, abst, now, now.Add(7*24*time.Hour))
	check(err)
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"stimmen"}, []string{"abstimmung_id", "account_id", "choice", "cast_at", "changed_at"}, pgx.CopyFromRows(sRows))
	check(err)
	_, err = conn.Exec(ctx, `VACUUM ANALYZE accounts`)
	check(err)
	_, err = conn.Exec(ctx, `VACUUM ANALYZE delegationen`)
	check(err)
	_, err = conn.Exec(ctx, `VACUUM ANALYZE stimmen`)
	check(err)
	conn.Release()

	longest, total, counted := 0, 0, 0
	c := abstimmung.Tally(votes, graph)
	for d := range c.Reached {
		l := len(c.Chain(d)) - 1
		total += l
		counted++
		longest = max(longest, l)
	}

	const runs = 20
	var inMemory, withLoad []time.Duration
	for range runs {
		t := time.Now()
		abstimmung.Tally(votes, graph)
		inMemory = append(inMemory, time.Since(t))
		t = time.Now()
		_, err := e.inst.Abstimmungen.CountNow(ctx, abst)
		check(err)
		withLoad = append(withLoad, time.Since(t))
	}
	inMemory, withLoad = sortDurations(inMemory), sortDurations(withLoad)

	fmt.Println("## Tally with delegation")
	fmt.Println()
	fmt.Printf("%d verified residents; %d delegations forming a random forest (each delegates to one of the ten\n", n, len(graph))
	fmt.Printf("before it); %d vote directly. %d delegators' weight reaches a voter, along chains of %.0f steps on\n", len(votes), counted, float64(total)/float64(max(counted, 1)))
	fmt.Printf("average and %d at the longest. Count: yes %d, no %d, abstain %d. %d runs each.\n", longest, c.Yes, c.No, c.Abstain, runs)
	fmt.Println()
	fmt.Println("| | p50 | max |")
	fmt.Println("|---|--:|--:|")
	fmt.Printf("| count in memory (`abstimmung.Tally`) | %s | %s |\n", ms(percentile(inMemory, .5)), ms(percentile(inMemory, 1)))
	fmt.Printf("| load Stimmen and delegations, then count (`CountNow`, what the close does) | %s | %s |\n\n", ms(percentile(withLoad, .5)), ms(percentile(withLoad, 1)))

	// The daily batch: cfg.batchChanges requests, each replacing a delegation by one to a random
	// resident — some of which would close a circle and are refused.
	batchAt := now.Add(24 * time.Hour)
	var pRows [][]any
	perm := rng.Perm(n)
	for _, i := range perm[:cfg.batchChanges] {
		to := ids[rng.IntN(n)]
		if to == ids[i] {
			continue
		}
		pRows = append(pRows, []any{uuid.New(), ids[i], to, "pending", now, batchAt})
	}
	_, err = e.inst.Pool.CopyFrom(ctx, pgx.Identifier{"delegationen"}, []string{"id", "from_id", "to_id", "state", "requested_at", "effective_at"}, pgx.CopyFromRows(pRows))
	check(err)
	t := time.Now()
	check(e.inst.Delegations.ApplyDue(ctx, batchAt))
	took := time.Since(t)
	var effective, refused int
	check(e.inst.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE type = 'DelegationWirksam'), count(*) FILTER (WHERE type = 'DelegationAbgelehnt') FROM events`).Scan(&effective, &refused))

	fmt.Println("## Daily delegation batch")
	fmt.Println()
	fmt.Printf("%d requested changes over the %d effective delegations above, applied in one batch in request\n", len(pRows), len(graph))
	fmt.Println("order, each checked for circles against the graph as the requests before it left it; one event")
	fmt.Println("per change (and one per replaced delegation).")
	fmt.Println()
	fmt.Println("| changes | took effect | refused (circle) | time |")
	fmt.Println("|--:|--:|--:|--:|")
	fmt.Printf("| %d | %d | %d | %s |\n\n", len(pRows), effective, refused, ms(took))
}
