package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// What the operators' metrics read of the job queue (instance/metrics).

// Depth is how many jobs of one queue are in one state.
type Depth struct {
	Queue, State string
	Jobs         int64
}

// Depths counts the jobs of every queue by state, completed ones left out (River keeps them
// an hour; they are history, not depth). One grouped count over River's own table; naming the
// states rather than "not completed" lets its (state, queue, …) index skip the completed
// rows. The metrics ask for it at scrape time only.
func (r *Runner) Depths(ctx context.Context) ([]Depth, error) {
	rows, err := r.pool.Query(ctx, `
SELECT queue, state::text, count(*) FROM river_job
WHERE state IN ('available', 'pending', 'scheduled', 'running', 'retryable', 'discarded', 'cancelled')
GROUP BY queue, state ORDER BY queue, state`)
	if err != nil {
		return nil, fmt.Errorf("jobs: depths: %w", err)
	}
	defer rows.Close()
	var out []Depth
	for rows.Next() {
		var d Depth
		if err := rows.Scan(&d.Queue, &d.State, &d.Jobs); err != nil {
			return nil, fmt.Errorf("jobs: depths: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// failures tells Options.Failed of every job attempt that fails (an error, a timeout, a
// panic, a cancellation); a snooze is no failure. It runs around each worked job, in this
// process.
type failures struct {
	river.MiddlewareDefaults
	failed func(queue, kind string)
}

func (f *failures) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			f.failed(job.Queue, job.Kind)
			panic(p)
		}
	}()
	err = doInner(ctx)
	var snooze *rivertype.JobSnoozeError
	if err != nil && !errors.As(err, &snooze) {
		f.failed(job.Queue, job.Kind)
	}
	return err
}
