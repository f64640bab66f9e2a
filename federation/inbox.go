package federation

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/httpsig"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// MaxInboxBytes is the largest activity the inbox takes.
const MaxInboxBytes = 256 << 10

// inbox takes an activity: the signature is verified (digest, date, key, and that the key's
// owner is the activity's actor, on the same host), a replay of an activity already taken is
// acknowledged and dropped, and what is left is queued durably and processed in the background.
// A refused request stores nothing.
func (s *Service) inbox(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInboxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("activities are limited to %d bytes", MaxInboxBytes))
			return
		}
		apError(w, http.StatusBadRequest, "cannot read the body")
		return
	}
	// Only what deciding on it needs is decoded here; the worker decodes the rest.
	act, err := vocab.DecodeHead(body)
	if err != nil || act.ID == "" || act.Actor.ID == "" || !utf8.Valid(body) {
		apError(w, http.StatusBadRequest, "not an activity with an id and an actor")
		return
	}
	if s.blocked(ctx, hostOf(act.Actor.ID)) || s.blocked(ctx, hostOf(keyIDOf(r))) {
		apError(w, http.StatusForbidden, "this domain is blocked here")
		return
	}
	res, err := s.verifyRequest(r, body)
	if err != nil {
		s.log.Info("federation: inbox refused", "actor", act.Actor.ID, "reason", err)
		apError(w, http.StatusUnauthorized, "signature refused: "+err.Error())
		return
	}
	if res.Owner != act.Actor.ID || hostOf(res.KeyID) != hostOf(act.Actor.ID) {
		apError(w, http.StatusUnauthorized, "the signing key does not belong to the activity's actor")
		return
	}
	if hostOf(act.ID) != hostOf(act.Actor.ID) {
		apError(w, http.StatusUnauthorized, "the activity's id is not on its actor's host")
		return
	}
	if !handled(act.Type) {
		// Likes, reactions, moves, reports …: verified, acknowledged, and not kept, since
		// nothing here would act on them.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	taken, err := s.takeActivity(ctx, act.ID, body, act.Actor.ID)
	if err != nil {
		s.log.Error("federation: inbox", "err", err)
		apError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if !taken {
		// A replay (or a retry of something we already took): refused, and nothing stored. A
		// sender that only missed our answer stops retrying on a 4xx, which is right: we have it.
		apError(w, http.StatusConflict, "this activity was received before")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// verifyRequest checks an incoming request's HTTP signature.
func (s *Service) verifyRequest(r *http.Request, body []byte) (httpsig.Result, error) {
	return httpsig.Verify(r.Context(), r, body, s.wall.Now(), s.cfg.MaxSkew, s.resolveKey)
}

func keyIDOf(r *http.Request) string {
	sig := r.Header.Get("Signature")
	i := strings.Index(sig, `keyId="`)
	if i < 0 {
		return ""
	}
	rest := sig[i+len(`keyId="`):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// takeActivity records the activity id and queues its processing, durably, before the inbox
// answers: a replay finds the id and queues nothing; a crash after the answer loses nothing.
func (s *Service) takeActivity(ctx context.Context, id string, body []byte, actor string) (bool, error) {
	return s.intake.take(ctx, id, body, actor)
}

// Jobs.

const (
	inboxQueue    = "federation_inbox"
	deliveryQueue = "federation_delivery"
)

// inboxArgs name the activities in ap_inbox that one group commit took (intake.go).
type inboxArgs struct {
	ActivityIDs []string `json:"activity_ids"`
}

func (inboxArgs) Kind() string { return "federation_inbox" }

type inboxWorker struct {
	river.WorkerDefaults[inboxArgs]
	s *Service
}

// Work processes the group's activities, each actor's in the order they arrived, marking each
// as done, so that a retry (after an error, or a crash) does only the ones left.
//
// Groups are processed side by side, so one actor's activities in two groups could be
// processed the wrong way round: an Undo before its Follow, a changed poll vote before the
// first one. Each actor's activities are therefore processed under that actor's lock, and
// from the earliest still pending: a job that finds activities of its actor from an earlier
// group not yet processed does those first (the job they belong to then finds them done).
// An earlier activity that failed does not hold up the ones after it: it is retried with
// its job, with backoff, and takes effect when it goes through.
func (w *inboxWorker) Work(ctx context.Context, job *river.Job[inboxArgs]) error {
	rows, err := w.s.pool.Query(ctx, `
SELECT i.actor, max(i.seq)
FROM unnest($1::text[]) WITH ORDINALITY AS j(id, n) JOIN ap_inbox i ON i.activity_id = j.id
WHERE i.processed_at IS NULL AND i.body IS NOT NULL
GROUP BY i.actor ORDER BY min(j.n)`, job.Args.ActivityIDs)
	if err != nil {
		return err
	}
	type upTo struct {
		actor string
		seq   int64
	}
	actors, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (upTo, error) {
		var u upTo
		return u, r.Scan(&u.actor, &u.seq)
	})
	if err != nil {
		return err
	}
	var failure error
	for _, a := range actors {
		if err := w.s.processActor(ctx, a.actor, a.seq, job.Args.ActivityIDs); err != nil {
			failure = errors.Join(failure, err)
			if ctx.Err() != nil {
				break // shutting down or out of time: the rest are done on the retry
			}
		}
	}
	return failure // River retries the job, with backoff, for what is left
}

// processActor processes an actor's pending activities up to seq, in order: those not yet
// tried (of any group) and those of the job's own that failed before.
func (s *Service) processActor(ctx context.Context, actor string, upTo int64, own []string) error {
	mu := &s.actorLocks[maphash.String(actorSeed, actor)%uint64(len(s.actorLocks))]
	mu.Lock()
	defer mu.Unlock()
	rows, err := s.pool.Query(ctx, `
SELECT activity_id, seq, body FROM ap_inbox
WHERE actor = $1 AND seq <= $2 AND processed_at IS NULL AND failed_at IS NULL AND body IS NOT NULL
UNION ALL
SELECT activity_id, seq, body FROM ap_inbox
WHERE activity_id = ANY($3) AND actor = $1 AND processed_at IS NULL AND failed_at IS NOT NULL AND body IS NOT NULL
ORDER BY seq`, actor, upTo, own)
	if err != nil {
		return err
	}
	type pending struct {
		id   string
		seq  int64
		body string
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		return p, r.Scan(&p.id, &p.seq, &p.body)
	})
	if err != nil {
		return err
	}
	var done, failed []string
	var failure error
	for _, p := range todo {
		if err := s.process(ctx, []byte(p.body)); err != nil {
			if ctx.Err() != nil {
				failure = ctx.Err()
				break
			}
			failure = errors.Join(failure, fmt.Errorf("federation: process %s: %w", p.id, err))
			failed = append(failed, p.id)
			continue
		}
		done = append(done, p.id)
	}
	if len(done) > 0 || len(failed) > 0 {
		if _, err := s.pool.Exec(context.WithoutCancel(ctx), `
UPDATE ap_inbox SET processed_at = CASE WHEN activity_id = ANY($1) THEN $3::timestamptz END,
                    failed_at = CASE WHEN activity_id = ANY($2) THEN $3::timestamptz END
WHERE activity_id = ANY($1) OR activity_id = ANY($2)`, done, failed, s.clock.Now()); err != nil {
			return errors.Join(failure, err)
		}
	}
	return failure
}

// actorLocks serialise the processing of one actor's activities within this process; an
// actor's lock is one of these, by hash.
const actorLockStripes = 64

var actorSeed = maphash.MakeSeed()

// AddWorkers registers federation's River workers.
func (s *Service) AddWorkers(workers *river.Workers) {
	river.AddWorker(workers, &inboxWorker{s: s})
	river.AddWorker(workers, &deliveryWorker{s: s})
}

// Queues are the River queues federation works in.
func Queues() map[string]river.QueueConfig {
	// Both queues wait on the network or the database far more than on the CPU, and River
	// fetches at most MaxWorkers jobs per FetchCooldown: these bound a queue's throughput at a
	// few thousand jobs a second.
	return map[string]river.QueueConfig{
		inboxQueue:    {MaxWorkers: 32, FetchCooldown: 10 * time.Millisecond},
		deliveryQueue: {MaxWorkers: 64, FetchCooldown: 10 * time.Millisecond},
	}
}
