// Package webrat brings the governance rules into effect when they come due: delegation batches
// and expiries (package delegation), Antrag deadlines and the closes of Abstimmungen (package
// antrag). It is one sweep, not three, because their order matters: a count at the close of an
// Abstimmung uses the delegations in effect at that moment, so a batch due before the close
// must be applied before it, and one due after it must not be. Each step brings into effect what
// is due at the earliest due instant, as of that instant, until nothing is due at the current
// time: after the dev clock jumps a month, the result is the same as if the month had passed.
package webrat

import (
	"context"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
)

// Sweep is the Webrat's timer.
type Sweep struct {
	clock       clock.Clock
	delegations *delegation.Service
	antraege    *antrag.Service
}

// NewSweep returns the sweep.
func NewSweep(c clock.Clock, d *delegation.Service, a *antrag.Service) *Sweep {
	return &Sweep{clock: c, delegations: d, antraege: a}
}

// source is one kind of due transition. At equal instants they apply in the order of sources:
// delegation changes first (a delegation effective at the very instant of a close counts),
// then deadlines, then closes.
type source struct {
	next  func(context.Context) (time.Time, bool, error)
	apply func(context.Context, time.Time) error
}

// Run brings everything due at the current time into effect, in time order.
func (s *Sweep) Run(ctx context.Context) error {
	now := s.clock.Now()
	if err := s.delegations.CatchUpActivity(ctx); err != nil {
		return err
	}
	sources := []source{
		{s.delegations.NextDue, s.delegations.ApplyDue},
		{s.antraege.NextDeadline, s.antraege.ApplyDeadlines},
		{s.antraege.NextVoteClose, s.antraege.ConcludeVotes},
	}
	for {
		var first *source
		var at time.Time
		for i := range sources {
			t, ok, err := sources[i].next(ctx)
			if err != nil {
				return err
			}
			if ok && !t.After(now) && (first == nil || t.Before(at)) {
				first, at = &sources[i], t
			}
		}
		if first == nil {
			return nil
		}
		if err := first.apply(ctx, at); err != nil {
			return err
		}
	}
}
