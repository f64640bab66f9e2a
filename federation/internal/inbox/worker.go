package inbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// Jobs.

// Queue is the River queue the inbox's jobs run in.
const Queue = "federation_inbox"

// Args name the activities in ap_inbox that one group commit took (intake.go).
type Args struct {
	ActivityIDs []string `json:"activity_ids"`
}

func (Args) Kind() string { return "federation_inbox" }

type inboxWorker struct {
	river.WorkerDefaults[Args]
	s *Service
}

// Work processes the group's activities, each actor's in the order they arrived, marking each
// as done, so that a retry (after an error, or a crash) does only the ones left.
//
// Groups are processed side by side, so one actor's activities in two groups could be
// processed the wrong way round: an Undo before its Follow, a changed poll vote before the
// first one. Each actor's activities are therefore processed under that actor's lock, in
// order: a job that finds activities of its actor from an earlier group still pending does
// those first (their own job then finds them done). An earlier activity that failed does not
// hold up the ones after it: it is retried with its job, with backoff, and takes effect when
// it goes through.
func (w *inboxWorker) Work(ctx context.Context, job *river.Job[Args]) error {
	s := w.s
	rows, err := s.pool.Query(ctx, `
SELECT i.activity_id, i.actor, i.seq, i.body, i.received_at, i.failed_at IS NOT NULL,
       EXISTS (SELECT 1 FROM ap_inbox e
               WHERE e.actor = i.actor AND e.seq < i.seq AND e.processed_at IS NULL AND e.failed_at IS NULL
                 AND e.body IS NOT NULL AND e.activity_id <> ALL ($1))
FROM unnest($1::text[]) WITH ORDINALITY AS j(id, n) JOIN ap_inbox i ON i.activity_id = j.id
WHERE i.processed_at IS NULL AND i.body IS NOT NULL
ORDER BY j.n`, job.Args.ActivityIDs)
	if err != nil {
		return err
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inboxRow, error) {
		var x inboxRow
		return x, r.Scan(&x.id, &x.actor, &x.seq, &x.body, &x.at, &x.failed, &x.behind)
	})
	if err != nil {
		return err
	}
	var actors []string
	byActor := map[string][]inboxRow{}
	for _, x := range todo {
		if _, ok := byActor[x.actor]; !ok {
			actors = append(actors, x.actor)
		}
		byActor[x.actor] = append(byActor[x.actor], x)
	}
	var done, failed []string
	var failure error
	for _, actor := range actors {
		d, f, err := s.processActor(ctx, actor, byActor[actor])
		done, failed = append(done, d...), append(failed, f...)
		if err != nil {
			failure = errors.Join(failure, err)
			if ctx.Err() != nil {
				break // shutting down or out of time: the rest are done on the retry
			}
		}
	}
	if len(done) > 0 || len(failed) > 0 {
		if _, err := s.pool.Exec(context.WithoutCancel(ctx), `
WITH done AS (UPDATE ap_inbox SET processed_at = $3, failed_at = NULL WHERE activity_id = ANY($1))
UPDATE ap_inbox SET failed_at = $3 WHERE activity_id = ANY($2) AND processed_at IS NULL -- done meanwhile by its own job`,
			done, failed, s.clock.Now()); err != nil {
			return errors.Join(failure, err)
		}
	}
	return failure // River retries the job, with backoff, for what is left
}

// inboxRow is one pending activity.
type inboxRow struct {
	id, actor, body string
	seq             int64
	at              time.Time // when it arrived
	failed          bool      // it failed before: this is its job's retry
	behind          bool      // an activity of its actor from an earlier group is still pending
}

// processActor processes one actor's activities of a job (own, in order), and before them any
// of the actor's from earlier groups still pending. It returns the ids it processed and those
// that failed; the caller marks them.
//
// Marking waits for the end of the job, so the lock alone would not stop a later job from
// taking up an activity done here but not yet marked: the actor's high-water mark (the seq
// processed last, in this process) does.
func (s *Service) processActor(ctx context.Context, actor string, own []inboxRow) (done, failed []string, err error) {
	mu := &s.actorLocks[maphash.String(actorSeed, actor)%uint64(len(s.actorLocks))]
	mu.Lock()
	defer mu.Unlock()
	mark, _ := s.processedUpTo.Get(actor)
	todo := own
	if slices.ContainsFunc(own, func(x inboxRow) bool { return x.behind }) {
		if todo, err = s.catchUp(ctx, actor, mark, own); err != nil {
			return nil, nil, err
		}
	}
	defer func() { s.processedUpTo.Add(actor, mark) }()
	for _, x := range todo {
		if x.seq <= mark && !x.failed && !s.failedHere.Contains(x.id) {
			continue // a later group's job did it
		}
		if perr := s.process(ctx, []byte(x.body), x.at); perr != nil {
			if ctx.Err() != nil {
				return done, failed, errors.Join(err, ctx.Err())
			}
			err = errors.Join(err, fmt.Errorf("federation: process %s: %w", x.id, perr))
			failed = append(failed, x.id)
			// Its own job is to try it again, even when a later group's job tried it here.
			s.failedHere.Add(x.id, struct{}{})
		} else {
			done = append(done, x.id)
			s.failedHere.Remove(x.id)
		}
		mark = max(mark, x.seq)
	}
	return done, failed, err
}

// catchUp returns the actor's pending activities of earlier groups (after mark, the last one
// processed here) and the job's own, in order.
func (s *Service) catchUp(ctx context.Context, actor string, mark int64, own []inboxRow) ([]inboxRow, error) {
	upTo := own[len(own)-1].seq
	rows, err := s.pool.Query(ctx, `
SELECT activity_id, seq, body, received_at FROM ap_inbox
WHERE actor = $1 AND seq > $2 AND seq < $3 AND processed_at IS NULL AND failed_at IS NULL AND body IS NOT NULL
ORDER BY seq`, actor, mark, upTo)
	if err != nil {
		return nil, err
	}
	earlier, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inboxRow, error) {
		x := inboxRow{actor: actor}
		return x, r.Scan(&x.id, &x.seq, &x.body, &x.at)
	})
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, x := range own {
		mine[x.id] = true
	}
	all := slices.DeleteFunc(earlier, func(x inboxRow) bool { return mine[x.id] })
	all = append(all, own...)
	slices.SortFunc(all, func(a, b inboxRow) int { return cmp.Compare(a.seq, b.seq) })
	return all, nil
}

// actorLockStripes is how many locks serialise the processing of one actor's activities within
// this process; an actor's lock is one of them, by hash.
const actorLockStripes = 64

var actorSeed = maphash.MakeSeed()
