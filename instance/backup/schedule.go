package backup

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// FullEvery is the age of the newest full backup after which the scheduled backup is a full
// one again; before, it is a differential (what changed since that full one).
const FullEvery = 7 * 24 * time.Hour

// Scheduler takes the nightly backup (serve --backup-at): a River sweep asks every minute
// whether the day's slot has its backup (Sweep), and Run takes it. A backup may run for
// longer than a job may (River rescues jobs after minutes), so the job only asks and Run,
// which lives as long as the instance, does the work.
type Scheduler struct {
	Repo     pgbackrest.Repo
	Cluster  pgbackrest.Cluster
	At       time.Duration  // local time of day
	Location *time.Location // the Ortsweberei's
	Clock    clock.Clock
	Log      *slog.Logger

	kick    chan struct{}
	running atomic.Bool
	// done is the slot known to have its backup (unix nanoseconds; 0: none yet): the sweep
	// runs every minute, and asking pgBackRest each time would start a process per minute.
	done atomic.Int64
}

// NewScheduler makes a scheduler of a backup daily at the local time at in loc.
func NewScheduler(repo pgbackrest.Repo, pg pgbackrest.Cluster, at time.Duration, loc *time.Location, c clock.Clock, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{Repo: repo, Cluster: pg, At: at, Location: loc, Clock: c, Log: log, kick: make(chan struct{}, 1)}
}

// Due says which backup the schedule wants at now, given the repository's backups (oldest
// first): "" when the latest slot has one already, else "full" when no full backup is younger
// than FullEvery, else "diff". A slot is missed while the instance is down and made up for at
// its start: a new repository gets its first backup at once.
func Due(backups []pgbackrest.Backup, slot, now time.Time) string {
	var lastFull time.Time
	for _, b := range backups {
		if b.Repo != 1 {
			continue
		}
		if !b.Start.Before(slot) {
			return ""
		}
		if b.Type == "full" {
			lastFull = b.Stop
		}
	}
	if lastFull.IsZero() || now.Sub(lastFull) >= FullEvery {
		return "full"
	}
	return "diff"
}

// slot is the latest scheduled moment at or before now.
func (s *Scheduler) slot(now time.Time) time.Time {
	return snapshot.Schedule{Full: s.At, Every: 24 * time.Hour, Location: s.Location}.LastFull(now)
}

// Sweep asks Run for a backup when one is due (the periodic job's body).
func (s *Scheduler) Sweep(ctx context.Context) error {
	if s.running.Load() {
		return nil
	}
	now := s.Clock.Now()
	slot := s.slot(now)
	if s.done.Load() == slot.UnixNano() {
		return nil
	}
	info, err := s.Repo.Info(ctx)
	if err != nil {
		return err
	}
	if Due(info.Backups, slot, now) == "" {
		s.done.Store(slot.UnixNano())
		return nil
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// Run takes the backups Sweep asks for until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		}
		s.running.Store(true)
		s.runDue(ctx)
		s.running.Store(false)
	}
}

func (s *Scheduler) runDue(ctx context.Context) {
	info, err := s.Repo.Info(ctx)
	if err != nil {
		s.Log.Error("scheduled backup: reading the repository", "err", err)
		return
	}
	now := s.Clock.Now()
	kind := Due(info.Backups, s.slot(now), now)
	if kind == "" {
		return
	}
	s.Log.Info("scheduled backup starting", "type", kind, "repo", s.Repo.Dir)
	b, err := s.Repo.Backup(ctx, s.Cluster, kind)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Error("scheduled backup failed", "type", kind, "err", err)
		}
		return
	}
	s.Log.Info("scheduled backup done", "label", b.Label, "type", b.Type, "took", b.Duration(),
		"size", b.Size, "repo_bytes", b.RepoDelta)
}
