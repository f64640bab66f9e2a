package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// benchFollow: how soon a follower of the log (as the live map and federation are) sees a
// committed event, while writers commit concurrently at a steady rate.
func benchFollow(ctx context.Context, e *env, cfg config) {
	const writers = 8
	targets := make([]uuid.UUID, writers)
	for i := range targets {
		k, _, err := e.inst.Knoten.Place(ctx, e.resident, knoten.Placement{Type: "idee", Title: "Follow", Point: leipzig})
		check(err)
		targets[i] = k.ID
	}
	head, err := e.inst.Events.Head(ctx)
	check(err)

	var mu sync.Mutex
	committed := map[uuid.UUID]time.Time{} // when the writer's commit returned
	seen := map[uuid.UUID]time.Time{}      // when the follower had the event
	followCtx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		_ = e.inst.Events.Follow(followCtx, head, 500, func(_ context.Context, evs []eventstore.Event) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range evs {
				if !knoten.FadenGesponnen.Is(ev) {
					continue
				}
				p, err := knoten.FadenGesponnen.Decode(ev)
				check(err)
				if _, dup := seen[p.FadenID]; dup {
					log.Fatalf("follow: event for Faden %s delivered twice", p.FadenID)
				}
				seen[p.FadenID] = now
			}
			return nil
		})
	}()

	interval := time.Duration(float64(time.Second) * writers / float64(cfg.followRate))
	deadline := time.Now().Add(cfg.duration)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for time.Now().Before(deadline) {
				<-t.C
				f, err := e.inst.Knoten.Spin(ctx, e.resident, knoten.Spinning{KnotenID: targets[w], Type: "gespraech"})
				check(err)
				at := time.Now()
				mu.Lock()
				committed[f.ID] = at
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	stopFollow()
	<-followed

	mu.Lock()
	defer mu.Unlock()
	var latencies []time.Duration
	for id, at := range committed {
		if s, ok := seen[id]; ok {
			// A follower can beat the writer's goroutine back from its commit; that is zero latency.
			latencies = append(latencies, max(0, s.Sub(at)))
		}
	}
	l := sortDurations(latencies)
	fmt.Println("## Follower latency")
	fmt.Println()
	fmt.Printf("%d writers commit about %d events/s for %s; one follower reads the log with the default\n", writers, cfg.followRate, cfg.duration)
	fmt.Printf("horizon poll (%s). Latency: from the writer's commit returning to the follower holding the event.\n", eventstore.DefaultPollInterval)
	fmt.Println()
	fmt.Println("| events committed | seen by the follower | p50 | p99 | max |")
	fmt.Println("|--:|--:|--:|--:|--:|")
	fmt.Printf("| %d | %d | %s | %s | %s |\n\n", len(committed), len(l), ms(percentile(l, 0.5)), ms(percentile(l, 0.99)), ms(percentile(l, 1)))
}
