package federation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// MaxInboxBytes is the largest activity the inbox takes.
const MaxInboxBytes = 256 << 10

// keyRetryAfter is what a 503 asks a sender to wait when its own server did not hand out its
// key: a restart or a passing overload over there, which a minute usually sees through.
const keyRetryAfter = time.Minute

// inbox takes an activity: the signature is verified (digest, date, key, and that the key's
// owner is the activity's actor, on the same host), a replay of an activity already taken is
// acknowledged and dropped, and what is left is queued durably and processed in the background.
// A refused request stores nothing.
func (s *Service) inbox(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if len(r.Header.Values("Signature")) == 0 {
		// Not authenticated, whatever the body: 401, as Mastodon and GoToSocial answer, and the
		// body is not read.
		code, message := signatureRefusal(httpsig.ErrNoSignature)
		apError(w, http.StatusUnauthorized, code, message)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInboxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("Activities are limited to %d bytes.", MaxInboxBytes))
			return
		}
		apError(w, http.StatusBadRequest, "unreadable_body", "The body could not be read.")
		return
	}
	// Only what deciding on it needs is decoded here; the worker decodes the rest. Text that
	// is not text is refused here, anywhere in the body, rather than fail its job at every
	// retry.
	act, err := vocab.DecodeHead(body)
	if errors.Is(err, vocab.ErrNotText) {
		apError(w, http.StatusBadRequest, "invalid_text", "The activity holds a string that is not text: invalid UTF-8, an unpaired surrogate or U+0000.")
		return
	}
	if err != nil || act.ID == "" || act.Actor.ID == "" {
		apError(w, http.StatusBadRequest, "not_an_activity", "The body is not an activity with an id and an actor.")
		return
	}
	// Each IRI's host is parsed once: the checks below compare them several times.
	keyID := keyIDOf(r)
	actorHost, keyHost := iri.HostOf(act.Actor.ID), iri.HostOf(keyID)
	for _, host := range []string{actorHost, keyHost} {
		blocked, err := s.blocks.Lookup(ctx, host)
		if err != nil {
			s.serverError(w, r, err) // not a refusal: the list cannot be read just now
			return
		}
		if blocked {
			apError(w, http.StatusForbidden, "domain_blocked", "This domain is blocked here.")
			return
		}
	}
	res, err := s.actors.Verify(r, body)
	if fetch.OurOutage(ctx, err) || (errors.Is(err, httpsig.ErrKeyResolution) && fetch.OurFailure(err)) {
		// The key could not be looked up because our database cannot be reached (or the
		// request ran out of time), or failed at it: no reason to refuse the sender, who
		// tries again later (503, or 500 for a failure that is logged as our bug).
		s.serverError(w, r, err)
		return
	}
	if errors.Is(err, httpsig.ErrKeyResolution) && fetch.Temporary(err) {
		// The sender's server did not hand out the key just now (no answer, a timeout, a 5xx,
		// 408 or 429): not a refusal either. A 401 would make the sender drop the activity for
		// good (Weltgewebe does, deliver.go); a 503 makes it try again later.
		s.log.Info("federation: inbox put off: the key could not be fetched just now", "actor", act.Actor.ID, "reason", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(keyRetryAfter/time.Second)))
		apError(w, http.StatusServiceUnavailable, "key_fetch_failed", "The signing key could not be fetched from its server just now; try again later.")
		return
	}
	if err != nil {
		// The sender does not retry a 401 (GoToSocial never does): the activity is lost, and
		// this line is what there is to find out why.
		s.log.Warn("federation: inbox refused", "activity", act.ID, "actor", act.Actor.ID, "key_id", keyID, "reason", err)
		code, message := signatureRefusal(err)
		apError(w, http.StatusUnauthorized, code, message)
		return
	}
	if res.KeyID != keyID { // keyIDOf reads the header loosely; Verify's keyId is the one
		keyHost = iri.HostOf(res.KeyID)
	}
	if res.Owner != act.Actor.ID || keyHost != actorHost {
		s.log.Warn("federation: inbox refused: the key is not the actor's", "activity", act.ID, "actor", act.Actor.ID, "key_id", res.KeyID, "owner", res.Owner)
		apError(w, http.StatusUnauthorized, "key_not_actors", "The signing key does not belong to the activity's actor.")
		return
	}
	if iri.HostOf(act.ID) != actorHost {
		apError(w, http.StatusUnauthorized, "id_not_on_actor_host", "The activity's id is not on its actor's host.")
		return
	}
	if !handled(act.Type) {
		// Likes, reactions, moves, reports …: verified, acknowledged, and not kept, since
		// nothing here would act on them.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	key, vote := inboxKey(act, body)
	taken, err := s.takeActivity(ctx, key, body, act.Actor.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !taken && vote {
		// The same vote again: GoToSocial's retry, or the same choice in a poll it rebuilt.
		// We have it; 202, as GoToSocial answers an activity it has.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if !taken {
		// A replay (or a retry of something we already took): refused, and nothing stored. A
		// sender that only missed our answer stops retrying on a 4xx, which is right: we have it.
		apError(w, http.StatusConflict, "already_received", "This activity was received before.")
		return
	}
	w.WriteHeader(http.StatusAccepted)
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

// takeActivity records the activity's key (inboxKey) and queues its processing, durably, before the inbox
// answers: a replay finds the id and queues nothing; a crash after the answer loses nothing.
func (s *Service) takeActivity(ctx context.Context, id string, body []byte, actor string) (bool, error) {
	return s.intake.take(ctx, id, body, actor)
}

// Jobs.

const inboxQueue = "federation_inbox"

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
// first one. Each actor's activities are therefore processed under that actor's lock, in
// order: a job that finds activities of its actor from an earlier group still pending does
// those first (their own job then finds them done). An earlier activity that failed does not
// hold up the ones after it: it is retried with its job, with backoff, and takes effect when
// it goes through.
func (w *inboxWorker) Work(ctx context.Context, job *river.Job[inboxArgs]) error {
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

// AddWorkers registers federation's River workers.
func (s *Service) AddWorkers(workers *river.Workers) {
	river.AddWorker(workers, &inboxWorker{s: s})
	s.delivery.AddWorker(workers)
}

// Queues are the River queues federation works in.
func Queues() map[string]river.QueueConfig {
	// Both queues wait on the network or the database far more than on the CPU, and River
	// fetches at most MaxWorkers jobs per FetchCooldown: these bound a queue's throughput at a
	// few thousand jobs a second.
	return map[string]river.QueueConfig{
		inboxQueue:     {MaxWorkers: 32, FetchCooldown: 10 * time.Millisecond},
		delivery.Queue: {MaxWorkers: 64, FetchCooldown: 10 * time.Millisecond},
	}
}
