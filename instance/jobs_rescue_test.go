package instance_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/jobs"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// River's rescue settings (instance/jobs): a replica died while it ran jobs (SIGKILL, a lost machine): they stay "running" in the queue.
// The survivor's River leads and hands out again the job that has run longer than both the rescue
// age and its worker's own timeout (a sweep: 5 min), and it runs here; the one that might still be at
// work elsewhere (2 min into its 5) is left alone.
func TestSurvivorRescuesJobsOfADeadReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	for _, q := range []string{
		`INSERT INTO river_job (kind, queue, args, state, attempt, max_attempts, attempted_at, attempted_by, scheduled_at)
		 VALUES ('sweep', 'sweeps', '{"name":"abandoned","reason":"periodic"}', 'running', 1, 25, now() - interval '6 minutes', '{dead_replica}', now() - interval '6 minutes')`,
		`INSERT INTO river_job (kind, queue, args, state, attempt, max_attempts, attempted_at, attempted_by, scheduled_at)
		 VALUES ('sweep', 'sweeps', '{"name":"slow","reason":"periodic"}', 'running', 1, 25, now() - interval '2 minutes', '{other_replica}', now() - interval '2 minutes')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	ran := map[string]int{}
	sweep := func(name string) jobs.Sweep {
		return jobs.Sweep{Name: name, Interval: time.Hour, Run: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			ran[name]++
			return nil
		}}
	}
	r, err := jobs.New(pool, jobs.Options{Sweeps: []jobs.Sweep{sweep("abandoned"), sweep("slow")}, Fast: true, RescueAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.WithoutCancel(ctx)) })

	started := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rescued int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'name' = 'abandoned' AND state = 'completed'
			AND $1 = ANY(attempted_by) AND attempt = 2`, r.ID()).Scan(&rescued)
		if err == nil && rescued == 1 {
			t.Logf("rescued and run %s after the start", time.Since(started).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead replica's job was not rescued and run here within 60 s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var state string
	if err := pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE args->>'name' = 'slow' AND attempted_by = '{other_replica}'`).Scan(&state); err != nil || state != "running" {
		t.Errorf("the job still within its timeout: %q (%v), want running (not rescued)", state, err)
	}
}
