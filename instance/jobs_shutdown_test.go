package instance_test

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/jobs"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// SIGTERM ends the context serve started the jobs with; the running jobs must go on until
// the shutdown lets them finish (Stop) or the shutdown timeout cuts them off (StopAndCancel):
// River cancels every running job's context at once when its Start context ends.
func TestJobsOutliveTheStartContext(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	running := make(chan context.Context, 1)
	release := make(chan struct{})
	slow := jobs.Sweep{Name: "slow", Interval: time.Hour, Run: func(ctx context.Context) error {
		select {
		case running <- ctx:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}}
	r, err := jobs.New(pool, jobs.Options{Sweeps: []jobs.Sweep{slow}, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	startCtx, cancelStart := context.WithCancel(context.Background())
	defer cancelStart()
	if err := r.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	var jobCtx context.Context
	select {
	case jobCtx = <-running:
	case <-time.After(60 * time.Second):
		t.Fatal("the sweep did not start within 60 s")
	}
	cancelStart() // SIGTERM
	if err := jobCtx.Err(); err != nil {
		t.Errorf("the running job's context ended with the start context (%v): SIGTERM cut it off", err)
	}
	close(release)
	stopCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Stop(stopCtx); err != nil {
		t.Errorf("stop: %v", err)
	}
}
