// Package jobs runs the instance's background work on River, the PostgreSQL job queue: the
// periodic sweeps that bring time-based rules into effect (Fäden expiring, Knoten dissolving;
// later Antrag deadlines and delegation expiry), and whatever workers later features add.
//
// A sweep finds everything due by index and ends it in batches, rather than scheduling one job
// per row that will come due (see knoten.Sweep for the numbers). Sweeps run on River's leader
// only, at most one waiting or running per sweep; an advisory lock keeps two runs of the same
// sweep (a periodic one and one asked for by the dev clock) from overlapping.
package jobs

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Sweep brings one rule's due transitions into effect. Run reads the time from the instance
// clock itself and must be safe to run at any moment (it only does what is due).
type Sweep struct {
	Name     string
	Interval time.Duration
	Run      func(ctx context.Context) error
}

// Options configure the runner.
type Options struct {
	Sweeps []Sweep
	// AddWorkers lets later features register their own River workers.
	AddWorkers func(*river.Workers)
	// Queues beyond the sweeps' own; nil for none.
	Queues map[string]river.QueueConfig
	// Failed, when set, hears of every failed job attempt in this process (stats.go).
	Failed func(queue, kind string)
	// Fast makes River pick up new jobs within milliseconds (dev mode and tests), at the cost
	// of more frequent polling.
	Fast bool
	// RescueAfter is how long a job may run before River's leader takes it for one whose
	// process died and hands it out again (see rescueAfter); 0: rescueAfter (rescueAfterFast
	// with Fast). At least time.Second.
	RescueAfter time.Duration
	Log         *slog.Logger
}

// Runner owns the River client.
type Runner struct {
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
	sweeps map[string]Sweep
	log    *slog.Logger
}

const sweepQueue = "sweeps"

type sweepArgs struct {
	Name   string `json:"name"`
	Reason string `json:"reason,omitempty"` // "periodic" or "dev-clock"
}

func (sweepArgs) Kind() string { return "sweep" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	r *Runner
}

func (w *sweepWorker) Timeout(*river.Job[sweepArgs]) time.Duration { return maxJobTime }

// Jobs left "running" by a process that died (kill -9, power loss, a replica lost with its
// machine) are handed out again by River's leader, which may be another replica
// (docs/OPERATIONS.md, "Several replicas"): its rescuer looks every 30 s (River's fixed
// interval, and once when a replica becomes leader) for jobs running longer than rescueAfter
// AND longer than their own worker's Timeout (a delivery 30 s, a sweep maxJobTime, a mirror
// download an hour): a job whose worker may still be at work is left alone. rescueAfter is
// therefore the floor for short jobs, and River wants it no shorter than the client's default
// JobTimeout (defaultJobTimeout). A delivery cut off by a replica's death is so done again
// within about 1.5 min, a sweep within 5.5 min (and the next periodic run comes sooner). A
// rescued job that was in fact still running is done twice; every worker here is idempotent
// (sweeps only do what is due, receivers dedupe deliveries by activity id).
const (
	maxJobTime        = 5 * time.Minute
	defaultJobTimeout = time.Minute
	rescueAfter       = defaultJobTimeout
	rescueAfterFast   = 10 * time.Second
)

func (w *sweepWorker) Work(ctx context.Context, job *river.Job[sweepArgs]) error {
	s, ok := w.r.sweeps[job.Args.Name]
	if !ok {
		return river.JobCancel(fmt.Errorf("jobs: no sweep named %q", job.Args.Name))
	}
	return w.r.exclusive(ctx, "sweep:"+s.Name, s.Run)
}

// New builds the runner; Start starts it.
func New(pool *pgxpool.Pool, opts Options) (*Runner, error) {
	r := &Runner{pool: pool, sweeps: map[string]Sweep{}, log: opts.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &sweepWorker{r: r})
	if opts.AddWorkers != nil {
		opts.AddWorkers(workers)
	}
	var periodic []*river.PeriodicJob
	for _, s := range opts.Sweeps {
		if _, dup := r.sweeps[s.Name]; dup {
			return nil, fmt.Errorf("jobs: sweep %q registered twice", s.Name)
		}
		r.sweeps[s.Name] = s
		args := sweepArgs{Name: s.Name, Reason: "periodic"}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(s.Interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return args, &river.InsertOpts{Queue: sweepQueue, UniqueOpts: river.UniqueOpts{
					ByArgs: true,
					ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
						rivertype.JobStateRunning, rivertype.JobStateScheduled},
				}}
			}, &river.PeriodicJobOpts{ID: "sweep:" + s.Name, RunOnStart: true}))
	}
	queues := map[string]river.QueueConfig{sweepQueue: {MaxWorkers: 4}}
	for name, q := range opts.Queues {
		queues[name] = q
	}
	cfg := &river.Config{
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		// River reports routine progress at info; keep its warnings and errors only.
		Logger:                      slog.New(minLevel{r.log.With("component", "river").Handler(), slog.LevelWarn}),
		CompletedJobRetentionPeriod: time.Hour,
		JobTimeout:                  defaultJobTimeout,
		RescueStuckJobsAfter:        rescueAfter,
		// Which process runs a job or leads is visible in river_job.attempted_by and
		// river_leader: the host, this process's id, its start.
		ID: clientID(),
	}
	if opts.Failed != nil {
		cfg.Middleware = append(cfg.Middleware, &failures{failed: opts.Failed})
	}
	if opts.Fast {
		cfg.FetchCooldown = 5 * time.Millisecond
		cfg.FetchPollInterval = 50 * time.Millisecond
		cfg.JobTimeout = rescueAfterFast
		cfg.RescueStuckJobsAfter = rescueAfterFast
	}
	if opts.RescueAfter > 0 {
		if opts.RescueAfter < time.Second {
			return nil, fmt.Errorf("jobs: rescue after %s: at least 1s", opts.RescueAfter)
		}
		// River wants the client's default timeout no longer than the rescue age.
		cfg.RescueStuckJobsAfter = opts.RescueAfter
		cfg.JobTimeout = min(cfg.JobTimeout, opts.RescueAfter)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	r.client = client
	return r, nil
}

// clientID names this process's River client: host_pid<pid>_<start, Unix ms>. River's own default
// (host and start) cannot tell two replicas on one machine apart at a glance.
func clientID() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer(".", "_", "-", "_").Replace(host)
	if len(host) > 40 {
		host = host[:40]
	}
	return fmt.Sprintf("%s_pid%d_%d", host, os.Getpid(), time.Now().UnixMilli())
}

// ID is this process's River client id (river_job.attempted_by, river_leader.leader_id).
func (r *Runner) ID() string { return r.client.ID() }

// Client is the River client, for features that insert jobs of their own.
func (r *Runner) Client() *river.Client[pgx.Tx] { return r.client }

// Sweeps are the names of the sweeps registered.
func (r *Runner) Sweeps() []string { return slices.Sorted(maps.Keys(r.sweeps)) }

// Start starts working jobs.
func (r *Runner) Start(ctx context.Context) error {
	// River cancels every running job's context when the context it was started with ends;
	// serve's ends with SIGTERM, when the shutdown has only begun. Stop (let them finish) and
	// StopAndCancel (the shutdown timeout is over) decide when jobs end.
	return r.client.Start(context.WithoutCancel(ctx))
}

// Stop finishes running jobs and stops; when ctx ends first it returns ctx's error and the
// jobs still run.
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }

// StopAndCancel cancels the running jobs' contexts and stops once they have returned.
func (r *Runner) StopAndCancel(ctx context.Context) error { return r.client.StopAndCancel(ctx) }

// RunDue runs every sweep now, through the job queue like any other run, and returns when all
// have finished. The dev clock calls it after moving time forward.
func (r *Runner) RunDue(ctx context.Context) error {
	params := make([]river.InsertManyParams, 0, len(r.sweeps))
	for name := range r.sweeps {
		params = append(params, river.InsertManyParams{Args: sweepArgs{Name: name, Reason: "dev-clock"},
			InsertOpts: &river.InsertOpts{Queue: sweepQueue, MaxAttempts: 1}})
	}
	res, err := r.client.InsertMany(ctx, params)
	if err != nil {
		return fmt.Errorf("jobs: run due sweeps: %w", err)
	}
	for _, ins := range res {
		if err := r.await(ctx, ins.Job.ID); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) await(ctx context.Context, id int64) error {
	for {
		job, err := r.client.JobGet(ctx, id)
		if err != nil {
			return fmt.Errorf("jobs: await job %d: %w", id, err)
		}
		switch job.State {
		case rivertype.JobStateCompleted:
			return nil
		case rivertype.JobStateDiscarded, rivertype.JobStateCancelled, rivertype.JobStateRetryable:
			msg := "no error recorded"
			if n := len(job.Errors); n > 0 {
				msg = job.Errors[n-1].Error
			}
			return fmt.Errorf("jobs: %s %v: %s", job.Kind, job.State, msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// exclusive runs fn while holding a session advisory lock named key, waiting for any other
// holder first.
func (r *Runner) exclusive(ctx context.Context, key string, fn func(context.Context) error) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	h := fnv.New64a()
	h.Write([]byte(key))
	lockID := int64(h.Sum64())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockID); err != nil {
		return fmt.Errorf("jobs: lock %s: %w", key, err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockID); err != nil {
			// A lock we cannot release must not go back into the pool with the connection.
			_ = conn.Conn().Close(context.Background())
		}
	}()
	return fn(ctx)
}

// minLevel drops records below a level before they reach the wrapped handler.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
