package federation

import (
	"context"
	"errors"
	"fmt"
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

// Work processes the group's activities in the order they arrived, marking each as done, so
// that a retry (after an error, or a crash) does only the ones left.
//
// Groups are processed in parallel, so one actor's activities in two groups could be processed
// the wrong way round: an Undo before its Follow, a changed poll vote before the first one.
// Each actor's activities are therefore processed in the order they came (seq): one whose actor
// has an earlier activity still pending in another group waits (the job snoozes briefly and
// does the rest then). An earlier activity that failed does not hold up the ones after it: it
// is retried on its own, with backoff, and counts as late when it finally goes through.
func (w *inboxWorker) Work(ctx context.Context, job *river.Job[inboxArgs]) error {
	rows, err := w.s.pool.Query(ctx, `
SELECT i.activity_id, i.actor, i.seq, i.body,
       EXISTS (SELECT 1 FROM ap_inbox e
               WHERE e.actor = i.actor AND e.seq < i.seq AND e.processed_at IS NULL AND e.failed_at IS NULL
                 AND e.body IS NOT NULL AND e.activity_id <> ALL ($1))
FROM unnest($1::text[]) WITH ORDINALITY AS j(id, n) JOIN ap_inbox i ON i.activity_id = j.id
WHERE i.processed_at IS NULL AND i.body IS NOT NULL
ORDER BY j.n`, job.Args.ActivityIDs)
	if err != nil {
		return err
	}
	type taken struct {
		id, actor string
		body      []byte
		waits     bool // an earlier activity of its actor is pending elsewhere
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (taken, error) {
		var t taken
		var seq int64
		var body string
		err := r.Scan(&t.id, &t.actor, &seq, &body, &t.waits)
		t.body = []byte(body)
		return t, err
	})
	if err != nil {
		return err
	}
	var done, failed []string
	var failure error
	waiting := map[string]bool{} // actors whose activities here wait
	for _, t := range todo {
		if t.waits || waiting[t.actor] {
			waiting[t.actor] = true
			continue
		}
		if err := w.s.process(ctx, t.body); err != nil {
			if ctx.Err() != nil {
				break // shutting down or timed out: the rest are done on the retry
			}
			failure = errors.Join(failure, fmt.Errorf("federation: process %s: %w", t.id, err))
			failed = append(failed, t.id)
			continue
		}
		done = append(done, t.id)
	}
	now := w.s.clock.Now()
	if len(done) > 0 || len(failed) > 0 {
		if _, err := w.s.pool.Exec(context.WithoutCancel(ctx), `
UPDATE ap_inbox SET processed_at = CASE WHEN activity_id = ANY($1) THEN $3::timestamptz END,
                    failed_at = CASE WHEN activity_id = ANY($2) THEN $3::timestamptz END
WHERE activity_id = ANY($1) OR activity_id = ANY($2)`, done, failed, now); err != nil {
			return errors.Join(failure, err)
		}
	}
	switch {
	case failure != nil:
		return failure // River retries the job with backoff: the failed ones, and any that waited
	case ctx.Err() != nil:
		return ctx.Err()
	case len(waiting) > 0:
		return river.JobSnooze(inboxWait)
	}
	return nil
}

// inboxWait is how long activities wait for an earlier one of their actor before looking again.
const inboxWait = 100 * time.Millisecond

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
