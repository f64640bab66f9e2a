package inbox

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// intake commits what the inbox takes in groups. Under load many requests wait on their own
// transaction's fsync; here the requests that arrive while a commit is under way go together
// in the next one (one statement for the activities, one job for all of them), which is what lets a busy
// inbox accept thousands of activities a second on a small machine. A lone request waits for
// nothing but its own commit: a group is whatever has arrived, never a timer.
type intake struct {
	s    *Service
	reqs chan *takeReq
	sem  chan struct{} // committers running
}

type takeReq struct {
	id, actor string
	body      []byte
	done      chan takeResult
}

type takeResult struct {
	taken bool
	err   error
}

const (
	// Transactions in flight at once. One: the requests that wait meanwhile make the next
	// group bigger, and a big group is far cheaper per activity than several small ones
	// (measured: 62 µs of PostgreSQL time per activity with one committer, 128 µs with four).
	intakeCommitters = 1
	intakeMaxGroup   = 256 // activities per transaction
)

func newIntake(s *Service) *intake {
	return &intake{s: s, reqs: make(chan *takeReq, 4*intakeMaxGroup), sem: make(chan struct{}, intakeCommitters)}
}

// take queues one activity and returns once its group has committed: taken is false for an id
// seen before (or twice in the same group).
func (in *intake) take(ctx context.Context, id string, body []byte, actor string) (bool, error) {
	r := &takeReq{id: id, actor: actor, body: body, done: make(chan takeResult, 1)}
	select {
	case in.reqs <- r:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// Whoever queued a request makes sure a committer runs; a committer takes everything
	// queued so far, so every request is in some group.
	select {
	case in.sem <- struct{}{}:
		go in.commitLoop()
	default:
	}
	select {
	case res := <-r.done:
		return res.taken, res.err
	case <-ctx.Done():
		// The group may still commit; the sender's retry is then answered as a replay.
		return false, ctx.Err()
	}
}

// commitLoop commits groups until nothing is queued.
func (in *intake) commitLoop() {
	defer func() {
		<-in.sem
		// A request queued after this loop last looked, whose sender found every committer
		// slot taken, must not wait for the next request to come along.
		if len(in.reqs) > 0 {
			select {
			case in.sem <- struct{}{}:
				go in.commitLoop()
			default:
			}
		}
	}()
	for {
		var group []*takeReq
	collect:
		for len(group) < intakeMaxGroup {
			select {
			case r := <-in.reqs:
				group = append(group, r)
			default:
				break collect
			}
		}
		if len(group) == 0 {
			return
		}
		in.commit(group)
	}
}

func (in *intake) commit(group []*takeReq) {
	s := in.s
	// A group outlives any one request in it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Each id once, the first request's body with it; later ones in the group are replays.
	var ids, actors []string
	var bodies []string
	seen := make(map[string]bool, len(group))
	for _, r := range group {
		if !seen[r.id] {
			seen[r.id] = true
			ids, actors, bodies = append(ids, r.id), append(actors, r.actor), append(bodies, string(r.body))
		}
	}
	taken := map[string]bool{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
INSERT INTO ap_inbox (activity_id, actor, body, received_at)
SELECT id, actor, body, $4 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(id, actor, body, n)
ORDER BY n -- seq, the order each actor's activities are processed in, is the order they came
ON CONFLICT DO NOTHING RETURNING activity_id`, ids, actors, bodies, s.clock.Now()) // the retention sweep's clock
		if err != nil {
			return err
		}
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(fresh) == 0 {
			return err
		}
		for _, id := range fresh {
			taken[id] = true
		}
		// One job for the group: the queue's own row and indexes are the expensive part of
		// taking an activity, and the group shares them. Its ids are in the order they
		// arrived, which is the order they are processed in.
		inOrder := make([]string, 0, len(fresh))
		for _, id := range ids {
			if taken[id] {
				inOrder = append(inOrder, id)
			}
		}
		_, err = s.river.InsertTx(ctx, tx, Args{ActivityIDs: inOrder}, &river.InsertOpts{Queue: Queue})
		return err
	})
	if err != nil && len(group) > 1 && ctx.Err() == nil {
		// One request the database will not take must not fail the others with it.
		for _, r := range group {
			in.commit([]*takeReq{r})
		}
		return
	}
	if err != nil {
		s.log.Error("federation: inbox commit", "activity", group[0].id, "err", err)
		err = errors.Join(errors.New("federation: inbox commit failed"), err)
	}
	for _, r := range group {
		if err != nil {
			r.done <- takeResult{err: err}
			continue
		}
		// An id twice in one group: the first request takes it, the others are replays.
		r.done <- takeResult{taken: taken[r.id]}
		delete(taken, r.id)
	}
}
