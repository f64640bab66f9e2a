// Package delivery is the mechanism of sending: an activity is stored once (ap_outgoing), each
// receiving host gets one job (River kind federation_deliver) that signs and POSTs it to the
// host's inboxes, and hosts that keep failing are paused (ap_hosts). It knows nothing of what
// it sends or to whom: publish and actors decide that.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/keys"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/transport"
)

// Queue is the River queue deliveries run in.
const Queue = "federation_delivery"

// Service delivers. One is built per process: the request slots and pauses of hosts, and the
// cache of stored activities, are this process's.
type Service struct {
	pool   *pgxpool.Pool
	wall   clock.Clock
	client *transport.Client
	keys   *keys.Store
	blocks *blocks.Blocks
	iri    iri.Base
	river  *river.Client[pgx.Tx]
	log    *slog.Logger
	// Stored outgoing activities are immutable; a fan-out's jobs share one copy.
	outgoingCache *lru.Cache[int64, outgoingRow]
	paused        sync.Map // host → time.Time: hosts this process paused
	slots         sync.Map // host → chan struct{}: its request slots
	// Observe, when set, hears of each POST to an inbox: its host and "delivered",
	// "refused" or "failed" (the operators' metrics). Set before the first job runs.
	Observe func(host, result string)
}

// New returns the delivery; SetRiver must be called before it queues.
func New(pool *pgxpool.Pool, wall clock.Clock, client *transport.Client, k *keys.Store, b *blocks.Blocks, base iri.Base, log *slog.Logger) *Service {
	s := &Service{pool: pool, wall: wall, client: client, keys: k, blocks: b, iri: base, log: log}
	s.outgoingCache, _ = lru.New[int64, outgoingRow](256)
	return s
}

// SetRiver gives delivery the job queue it inserts into.
func (s *Service) SetRiver(c *river.Client[pgx.Tx]) { s.river = c }

// AddWorker registers the delivery worker.
func (s *Service) AddWorker(workers *river.Workers) { river.AddWorker(workers, &deliveryWorker{s: s}) }

// maxInboxesPerJob bounds one delivery job, so that it ends well within its timeout; a host
// with more inboxes gets several jobs (sharing the host's request slots, see perHost).
const maxInboxesPerJob = 100

// QueueTx queues one activity for the inboxes in the caller's transaction: the activity is
// stored once (ap_outgoing) and each receiving host gets one job naming it and its inboxes
// there. Blocked hosts get nothing.
func (s *Service) QueueTx(ctx context.Context, tx pgx.Tx, signer string, inboxes []string, activity any) error {
	byHost := map[string][]string{}
	var hosts []string
	for _, inbox := range inboxes {
		h := iri.HostOf(inbox)
		switch err := s.blocks.Check(ctx, h); {
		case errors.Is(err, blocks.ErrBlocked):
			continue
		case err != nil:
			return err // the list cannot be read: queue nothing now rather than skip a host
		}
		if _, ok := byHost[h]; !ok {
			hosts = append(hosts, h)
		}
		byHost[h] = append(byHost[h], inbox)
	}
	if len(hosts) == 0 {
		return nil
	}
	body, err := json.Marshal(activity)
	if err != nil {
		return err
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO ap_outgoing (signer, body, created_at) VALUES ($1, $2, $3) RETURNING id`,
		signer, string(body), s.wall.Now()).Scan(&id); err != nil {
		return fmt.Errorf("federation: store outgoing: %w", err)
	}
	var params []river.InsertManyParams
	for _, h := range hosts {
		list := byHost[h]
		for len(list) > 0 {
			n := min(len(list), maxInboxesPerJob)
			params = append(params, river.InsertManyParams{Args: Args{Outgoing: id, Host: h, Inboxes: list[:n]},
				InsertOpts: &river.InsertOpts{Queue: Queue}})
			list = list[n:]
		}
	}
	_, err = s.river.InsertManyTx(ctx, tx, params)
	return err
}

// Args name an activity in ap_outgoing and the inboxes of one host that are to get it.
type Args struct {
	Outgoing int64    `json:"outgoing"`
	Host     string   `json:"host"`
	Inboxes  []string `json:"inboxes"`
	// Tries counts the attempts of earlier jobs this one continues (see Work).
	Tries int `json:"tries,omitempty"`
}

func (Args) Kind() string { return "federation_deliver" }

type deliveryWorker struct {
	river.WorkerDefaults[Args]
	s *Service
}

// Timeout bounds one job. It is also how long a job left running by a killed process waits
// before River hands it out again, so it is kept short: a job stops starting requests when
// less than jobReserve of it is left, and the rest go on in a job of their own.
func (w *deliveryWorker) Timeout(*river.Job[Args]) time.Duration { return jobTimeout }

const (
	jobTimeout = 30 * time.Second
	jobReserve = 16 * time.Second // longer than one request may take (the transport's 15 s)
)

// Pausing: a host that has failed this many deliveries in a row gets no more for a while,
// doubling from a minute up to 12 hours, and its queued deliveries wait.
const (
	pauseAfter = 8
	maxPause   = 12 * time.Hour
)

// perHost is how many requests this process has in flight to one host at once, however many
// jobs are delivering there.
const perHost = 8

// maxTries is how many attempts a delivery gets before it is given up (River's default too):
// with the backoff of attempt⁴ seconds, about three weeks.
const maxTries = 25

// outcome of one POST.
type outcome int

const (
	delivered outcome = iota
	refused           // the server understood and said no: sending the same again will not help
	failed            // try again later
	untried           // not sent: the host was failing, or the job's time ran out
)

func (o outcome) String() string {
	switch o {
	case delivered:
		return "delivered"
	case refused:
		return "refused"
	case failed:
		return "failed"
	}
	return "untried"
}

type result struct {
	inbox      string
	outcome    outcome
	retryAfter time.Duration // from a 429 or 503, when given
	reason     string
}

// Work delivers one activity to the inboxes of one host, signed by its actor, eight at a time.
// Inboxes that refused are done with; when some failed, the host's trouble stops the job from
// starting more, and the rest (failed or not yet tried) are retried: by River's backoff when
// nothing got through, or, when some did, by a new job for the rest only. A Retry-After
// answer is honoured; a host that keeps failing is paused.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[Args]) error {
	s := w.s
	a := job.Args
	switch err := s.blocks.Check(ctx, a.Host); {
	case errors.Is(err, blocks.ErrBlocked):
		return nil
	case err != nil:
		return err // whether the host is blocked cannot be found out now: the job is retried
	}
	if until, ok := s.pausedUntil(ctx, a.Host); ok {
		return river.JobSnooze(until.Sub(s.wall.Now()))
	}
	signer, body, err := s.outgoingBody(ctx, a.Outgoing)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("federation: outgoing activity %d is no longer kept", a.Outgoing))
	}
	if err != nil {
		return err
	}
	k, err := s.keys.Get(ctx, signer)
	if err != nil {
		return err
	}
	keyID := s.iri.Of(signer) + "#main-key"

	results := make([]result, len(a.Inboxes))
	var trouble atomic.Bool // a failure: start no more requests to this host
	var wg sync.WaitGroup
	sem := s.hostSlots(a.Host)
	stopBy := time.Now().Add(jobTimeout - jobReserve)
	if d, ok := ctx.Deadline(); ok {
		stopBy = d.Add(-jobReserve)
	}
	for i, inbox := range a.Inboxes {
		results[i] = result{inbox: inbox, outcome: untried}
		if trouble.Load() || time.Now().After(stopBy) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		if trouble.Load() {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if s.pausedHere(a.Host) { // another job found the host failing meanwhile
				trouble.Store(true)
				return
			}
			r := s.post(ctx, inbox, body, keyID, k)
			results[i] = r
			if r.outcome == failed {
				trouble.Store(true)
			}
		}()
	}
	wg.Wait()

	var rest []string
	var wait time.Duration
	nFailed, nDelivered := 0, 0
	reason := "not tried in time"
	for _, r := range results {
		if s.Observe != nil && r.outcome != untried {
			s.Observe(a.Host, r.outcome.String())
		}
		switch r.outcome {
		case delivered:
			nDelivered++
		case refused:
			s.log.Info("federation: delivery refused", "inbox", r.inbox, "status", r.reason)
		case failed:
			rest = append(rest, r.inbox)
			nFailed++
			reason = r.reason
			wait = max(wait, r.retryAfter)
		case untried:
			rest = append(rest, r.inbox)
		}
	}
	if nFailed > 0 {
		s.hostFailed(ctx, a.Host, reason, nFailed)
	} else if nDelivered > 0 {
		s.hostOK(ctx, a.Host)
	}
	if len(rest) == 0 {
		return nil
	}
	tries := a.Tries + job.Attempt
	if nDelivered == 0 {
		if wait > 0 {
			return river.JobSnooze(wait)
		}
		return fmt.Errorf("federation: deliver to %s: %s (%d inboxes)", a.Host, reason, len(rest))
	}
	if tries >= maxTries {
		s.log.Warn("federation: delivery given up", "host", a.Host, "inboxes", len(rest), "reason", reason)
		return nil
	}
	// Some got through: the rest go on as a job of their own, so the delivered ones are not
	// sent again; at once when they were only not reached in time.
	if wait == 0 && nFailed > 0 {
		wait = time.Duration(tries*tries*tries*tries+1) * time.Second
	}
	if nFailed == 0 {
		tries = a.Tries
	}
	_, err = s.river.Insert(ctx, Args{Outgoing: a.Outgoing, Host: a.Host, Inboxes: rest, Tries: tries},
		&river.InsertOpts{Queue: Queue, ScheduledAt: s.wall.Now().Add(wait)})
	return err
}

// post signs and sends the activity to one inbox.
func (s *Service) post(ctx context.Context, inbox string, body []byte, keyID string, k *keys.Pair) result {
	res, err := s.client.Post(ctx, inbox, iri.ActivityJSON, body, func(r *http.Request, body []byte) error {
		return httpsig.Sign(r, body, keyID, k.RSA, s.wall.Now())
	})
	if err != nil && !(errors.Is(err, transport.ErrStatus) && res != nil) {
		if transport.Refused(err) {
			return result{inbox: inbox, outcome: refused, reason: err.Error()} // never allowed: never retried
		}
		return result{inbox: inbox, outcome: failed, reason: err.Error()}
	}
	res.Body.Close()
	switch code := res.StatusCode; {
	case code >= 200 && code < 300:
		return result{inbox: inbox, outcome: delivered}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		r := result{inbox: inbox, outcome: failed, reason: res.Status}
		if d, ok := retryAfter(res.Header.Get("Retry-After"), s.wall.Now()); ok {
			r.retryAfter = d
		}
		return r
	case code >= 500 || code == http.StatusRequestTimeout:
		return result{inbox: inbox, outcome: failed, reason: res.Status}
	default:
		// 401, 403, 404, 409, 410, 413, 422 …: the same bytes again will not change its mind.
		return result{inbox: inbox, outcome: refused, reason: res.Status}
	}
}

// outgoingBody reads a stored activity; the many jobs of one fan-out share a cached copy.
func (s *Service) outgoingBody(ctx context.Context, id int64) (string, []byte, error) {
	if o, ok := s.outgoingCache.Get(id); ok {
		return o.signer, o.body, nil
	}
	var o outgoingRow
	var body string
	if err := s.pool.QueryRow(ctx, `SELECT signer, body::text FROM ap_outgoing WHERE id = $1`, id).Scan(&o.signer, &body); err != nil {
		return "", nil, err
	}
	o.body = []byte(body)
	s.outgoingCache.Add(id, o)
	return o.signer, o.body, nil
}

type outgoingRow struct {
	signer string
	body   []byte
}

// outgoingKeep is how long a sent activity is kept: longer than the last retry of its
// delivery (25 attempts, about three weeks).
const outgoingKeep = 30 * 24 * time.Hour

// SweepOutgoing removes activities whose deliveries are long over.
func (s *Service) SweepOutgoing(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM ap_outgoing WHERE created_at < $1`, s.wall.Now().Add(-outgoingKeep))
	if err != nil {
		return 0, fmt.Errorf("federation: sweep outgoing: %w", err)
	}
	return tag.RowsAffected(), nil
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, 24*time.Hour), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), time.Second), 24*time.Hour), true
	}
	return 0, false
}

func (s *Service) pausedUntil(ctx context.Context, host string) (time.Time, bool) {
	var until *time.Time
	err := s.pool.QueryRow(ctx, `SELECT paused_until FROM ap_hosts WHERE host = $1`, host).Scan(&until)
	if err != nil || until == nil || !until.After(s.wall.Now()) {
		return time.Time{}, false
	}
	return *until, true
}

// hostSlots is the semaphore of a host's request slots in this process.
func (s *Service) hostSlots(host string) chan struct{} {
	v, _ := s.slots.LoadOrStore(host, make(chan struct{}, perHost))
	return v.(chan struct{})
}

// pausedHere reports whether this process paused the host a moment ago: jobs already running
// for it stop sending as soon as any of them finds it failing.
func (s *Service) pausedHere(host string) bool {
	v, ok := s.paused.Load(host)
	return ok && v.(time.Time).After(s.wall.Now())
}

// hostFailed counts n failures of the host and pauses it once they reach pauseAfter. A failure
// never shortens a pause: a job whose requests were under way when the host was paused for
// longer (by more failures elsewhere, or by hand) must not end that pause early.
func (s *Service) hostFailed(ctx context.Context, host, reason string, n int) {
	now := s.wall.Now()
	var until *time.Time
	err := s.pool.QueryRow(ctx, `
INSERT INTO ap_hosts (host, failures, last_error, updated_at, paused_until)
VALUES ($1, $6::int, $2, $3, CASE WHEN $6::int >= $4::int THEN $3::timestamptz + least(interval '1 minute' * power(2, $6::int - $4::int), $5::interval) END)
ON CONFLICT (host) DO UPDATE SET failures = ap_hosts.failures + $6::int, last_error = excluded.last_error, updated_at = excluded.updated_at,
    paused_until = CASE WHEN ap_hosts.failures + $6::int >= $4::int
        THEN greatest(ap_hosts.paused_until, $3::timestamptz + least(interval '1 minute' * power(2, ap_hosts.failures + $6::int - $4::int), $5::interval))
        ELSE ap_hosts.paused_until END
RETURNING paused_until`, host, reason, now, pauseAfter, maxPause, n).Scan(&until)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("federation: host health", "host", host, "err", err)
	}
	if until != nil {
		s.paused.Store(host, *until)
	}
}

func (s *Service) hostOK(ctx context.Context, host string) {
	s.paused.Delete(host)
	_, _ = s.pool.Exec(ctx, `UPDATE ap_hosts SET failures = 0, paused_until = NULL, updated_at = $2 WHERE host = $1 AND failures > 0`, host, s.wall.Now())
}
