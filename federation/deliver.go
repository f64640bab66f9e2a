package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/keys"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/transport"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// DeliveryConsumer is the delivery follower's name among the log's consumers (event_cursors).
const DeliveryConsumer = "federation-delivery"

// deliveryLock keeps the delivery follower to one process among replicas.
const deliveryLock = 0x77676465 // "wgde"

// RunDelivery follows the public event log and turns what federates into delivery jobs, until
// ctx ends. Among replicas one process does it; the others wait and take over when it stops.
func (s *Service) RunDelivery(ctx context.Context) error {
	for {
		err := s.withLock(ctx, func(ctx context.Context) error {
			after, err := eventstore.LoadCursor(ctx, s.pool, DeliveryConsumer, false)
			if err != nil {
				return err
			}
			if after == (eventstore.Position{}) {
				// A new node starts delivering from now on, not its whole history. Where it
				// started is saved at once: a restart before the first delivery goes on from
				// there rather than from a later present, which would skip what came between.
				if after, err = s.svc.Events.Head(ctx); err != nil {
					return err
				}
				if err := eventstore.SaveCursorNow(ctx, s.pool, DeliveryConsumer, after, s.wall.Now()); err != nil {
					return err
				}
			}
			return s.svc.Events.FollowTypes(ctx, after, 200, deliveredTypes(), s.deliverEvents)
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Warn("federation: delivery follower stopped; restarting", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *Service) withLock(ctx context.Context, fn func(context.Context) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, deliveryLock).Scan(&got); err != nil || !got {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, deliveryLock) //nolint:errcheck
	return fn(ctx)
}

// outgoing is one activity for the followers of some local actors.
type outgoing struct {
	signer   string   // the path of the local actor that sends it
	locals   []string // whose followers receive it
	activity any
	// only, when set, picks among those followers the ones whose servers use the activity.
	only func(follower) bool
}

// follower is one follower of a local actor, as the delivery chooses its inboxes.
type follower struct {
	local string // whom it follows: "ortsweberei", "antrag:<id>", a resident's key
	inbox string // where its activities go (its server's shared inbox if it has one)
	actor remoteActor
}

// A new Antrag is two activities, and each server gets the one it uses. Mastodon and
// GoToSocial drop a Create from an actor nobody there follows (Mastodon's Create
// related_to_local_activity?, GoToSocial's StatusableOK: answered 202 all the same), and
// nobody follows an Antrag's actor before it exists: a follower of the Ortsweberei sees the
// Antrag through the Group's Announce, after which it fetches the Question and takes the
// Antrag actor's Updates to it. A neighbouring Ortsweberei keeps the Antrag from the Create,
// which carries it (the Announce only names it, to be fetched), so it gets the Create and not
// the Announce. Sending both, as before, cost every Fediverse server two signed POSTs, one of
// them dropped.

// usesCreate: the followers of the Antrag's actor, and neighbouring Ortswebereien.
func usesCreate(f follower) bool { return f.local != "ortsweberei" || f.actor.IsOrtsweberei() }

// isNeighbour: neighbouring Ortswebereien alone.
func isNeighbour(f follower) bool { return f.actor.IsOrtsweberei() }

// usesAnnounce: the Fediverse followers of the Ortsweberei.
func usesAnnounce(f follower) bool { return !f.actor.IsOrtsweberei() }

// inboxesFor is where an outgoing activity goes: each inbox once, of the followers it is for.
func inboxesFor(o outgoing, fs []follower) []string {
	var inboxes []string
	seen := map[string]bool{}
	for _, f := range fs {
		if !slices.Contains(o.locals, f.local) || o.only != nil && !o.only(f) || seen[f.inbox] {
			continue
		}
		seen[f.inbox] = true
		inboxes = append(inboxes, f.inbox)
	}
	return inboxes
}

// deliverEvents decides what a batch of events federates, and queues one delivery per
// receiving server, together with the cursor, so that a crash neither loses nor repeats one.
//
// What federates: the Anträge and everything that happens to them. A new Antrag is created by
// its own actor, for the followers of that actor and for neighbouring Ortswebereien, and
// announced by the Ortsweberei to its Fediverse followers (who drop a Create from an actor they
// do not follow, and show an Announce from one they do: see usesCreate); Einsprüche are created
// by their residents, for the resident's own followers, the Antrag's and the neighbours; a
// Stimme is created signed for the neighbouring Ortswebereien, which recount it, and as a post
// for the resident's followers; and after anything that changes an Antrag, its actor sends the
// Question as it now stands (Update), so Mastodon's poll shows the live count. A delegation that takes effect
// or ends changes counts too: every open Abstimmung whose count it moved gets its Update. A
// withdrawal is an Update like every other change (as in the outbox). Knoten, Fäden, profiles
// and the Delegationen themselves are in the outboxes, not delivered.
func (s *Service) deliverEvents(ctx context.Context, evs []eventstore.Event) error {
	var out []outgoing
	updated := map[uuid.UUID]string{} // Antrag → the id of the Update(Question) after its last change
	var moves []delegationMove
	for _, e := range evs {
		if !e.Public {
			continue
		}
		if m, ok, err := s.delegationMoveOf(ctx, e); err != nil {
			return err
		} else if ok {
			moves = append(moves, m)
			continue
		}
		antragID, err := s.antragOf(ctx, e)
		if err != nil && !errors.Is(iri.NotFoundOr(err), iri.ErrNotFound) {
			return err // not "none": the batch is read again, rather than the event skipped for good
		}
		if err != nil || antragID == uuid.Nil {
			continue
		}
		locals := []string{"ortsweberei", "antrag:" + antragID.String()}
		switch {
		case antrag.AntragGestellt.Is(e):
			a, err := s.svc.Antraege.Get(ctx, antragID)
			if err != nil {
				return err
			}
			q, err := s.antragObject(ctx, a)
			if err != nil {
				return err
			}
			out = append(out,
				outgoing{signer: iri.AntragActorPath(antragID), locals: locals, only: usesCreate, activity: vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, ""),
					Type: "Create", Actor: s.iri.AntragActor(antragID), Object: q, To: q.To, Cc: q.Cc, Published: &e.At}},
				outgoing{signer: iri.GroupPath, locals: []string{"ortsweberei"}, only: usesAnnounce, activity: vocab.Activity{Context: vocab.Context, ID: s.iri.Activity(e.Position.ID, "/announce"),
					Type: "Announce", Actor: s.iri.Group(), Object: q.ID, To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.GroupPath)}, Published: &e.At}})
			continue
		case antrag.EinspruchErhoben.Is(e):
			// The resident's own public doing: to the followers of the Ortsweberei, of the
			// Antrag, and of the resident.
			act, err := s.activityFor(ctx, s.handles(), e)
			if err != nil {
				return err
			}
			act.Context = vocab.Context
			path, _ := s.iri.Local(act.Actor)
			act.Cc = []string{s.iri.FollowersOf(iri.GroupPath), s.iri.FollowersOf(iri.AntragActorPath(antragID)), s.iri.FollowersOf(path)}
			out = append(out, outgoing{signer: path, locals: append(locals, iri.UserFollowKey(path)), only: usesCreate, activity: act})
		case abstimmung.StimmeAbgegeben.Is(e), abstimmung.StimmeGeaendert.Is(e):
			// The signed Stimme, shaped like a poll vote, is for the neighbouring
			// Ortswebereien that recount it; Mastodon and GoToSocial would take it as a vote
			// on a poll they do not own and drop it. The resident's followers get a post they
			// are shown instead.
			act, err := s.activityFor(ctx, s.handles(), e)
			if err != nil {
				return err
			}
			act.Context = vocab.Context
			path, _ := s.iri.Local(act.Actor)
			act.Cc = []string{s.iri.FollowersOf(iri.GroupPath), s.iri.FollowersOf(iri.AntragActorPath(antragID))}
			note, err := s.stimmeNoteCreateFor(ctx, e)
			if err != nil {
				return err
			}
			out = append(out, outgoing{signer: path, locals: locals, only: isNeighbour, activity: act},
				outgoing{signer: path, locals: []string{iri.UserFollowKey(path)}, activity: note})
		}
		updated[antragID] = s.iri.Activity(e.Position.ID, "/update")
	}
	if len(moves) > 0 {
		moved, err := s.countsMovedBy(ctx, moves)
		if err != nil {
			return err
		}
		for id, event := range moved {
			if _, ok := updated[id]; !ok {
				// One delegation event can move several counts: the Antrag is in the id.
				updated[id] = s.iri.Activity(event, "/update/"+id.String())
			}
		}
	}
	for id, activityID := range updated {
		a, err := s.svc.Antraege.Get(ctx, id)
		if err != nil {
			return err
		}
		q, err := s.antragObject(ctx, a)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		out = append(out, outgoing{signer: iri.AntragActorPath(id), locals: []string{"ortsweberei", "antrag:" + id.String()},
			activity: vocab.Activity{Context: vocab.Context, ID: activityID, Type: "Update",
				Actor: s.iri.AntragActor(id), Object: q, To: q.To, Cc: q.Cc, Published: &now}})
	}
	return s.queue(ctx, out, evs[len(evs)-1].Position)
}

// deliveredTypes are the event types deliverEvents acts on (those antragOf and
// delegationMoveOf know): the delivery follower reads no others from the log. A type that is
// to federate must be added here.
func deliveredTypes() []string {
	return slices.Concat(antragTypes, abstimmungTypes,
		[]string{delegation.DelegationWirksam.Name(), delegation.DelegationBeendet.Name(), delegation.DelegationAbgelaufen.Name()})
}

// The events about an Antrag, and about its Abstimmung.
var (
	antragTypes = []string{antrag.AntragGestellt.Name(), antrag.EinspruchErhoben.Name(), antrag.AntragFristVerlaengert.Name(),
		antrag.AntragZurAbstimmung.Name(), antrag.AntragAngenommen.Name(), antrag.AntragAbgelehnt.Name(),
		antrag.AntragZurueckgezogen.Name()}
	abstimmungTypes = []string{abstimmung.AbstimmungEroeffnet.Name(), abstimmung.AbstimmungGeschlossen.Name(),
		abstimmung.StimmeAbgegeben.Name(), abstimmung.StimmeGeaendert.Name()}
)

// antragOf names the Antrag an event is about, if any.
func (s *Service) antragOf(ctx context.Context, e eventstore.Event) (uuid.UUID, error) {
	switch {
	case slices.Contains(antragTypes, e.Type):
		return e.SubjectID, nil
	case slices.Contains(abstimmungTypes, e.Type):
		a, err := s.svc.Abstimmungen.Find(ctx, e.SubjectID)
		if err != nil {
			return uuid.Nil, err
		}
		return a.SubjectID, nil
	}
	return uuid.Nil, nil
}

// queue stores the outgoing activities and their delivery jobs, and saves the cursor, in one
// transaction.
func (s *Service) queue(ctx context.Context, out []outgoing, cursor eventstore.Position) error {
	// A new actor (a new Antrag's) gets its keys now, once, rather than in the middle of its
	// first fan-out, where an RSA key's tenth of a second would hold every job of it up.
	for _, o := range out {
		if _, err := s.keys.Get(ctx, o.signer); err != nil {
			return err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, o := range out {
		rows, err := tx.Query(ctx, `
SELECT f.local, coalesce(a.shared_inbox, a.inbox), a.type
FROM ap_followers f JOIN ap_actors a ON a.iri = f.follower
WHERE f.local = ANY($1)
ORDER BY 2`, o.locals)
		if err != nil {
			return err
		}
		fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (follower, error) {
			var f follower
			return f, r.Scan(&f.local, &f.inbox, &f.actor.Type)
		})
		if err != nil {
			return err
		}
		if err := s.queueTx(ctx, tx, o.signer, inboxesFor(o, fs), o.activity); err != nil {
			return err
		}
	}
	if err := eventstore.SaveCursorNow(ctx, tx, DeliveryConsumer, cursor, s.wall.Now()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// maxInboxesPerJob bounds one delivery job, so that it ends well within its timeout; a host
// with more inboxes gets several jobs (sharing the host's request slots, see perHost).
const maxInboxesPerJob = 100

// queueTx queues one activity for the inboxes in the caller's transaction: the activity is
// stored once (ap_outgoing) and each receiving host gets one job naming it and its inboxes
// there. Blocked hosts get nothing.
func (s *Service) queueTx(ctx context.Context, tx pgx.Tx, signer string, inboxes []string, activity any) error {
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
			params = append(params, river.InsertManyParams{Args: deliverArgs{Outgoing: id, Host: h, Inboxes: list[:n]},
				InsertOpts: &river.InsertOpts{Queue: deliveryQueue}})
			list = list[n:]
		}
	}
	_, err = s.river.InsertManyTx(ctx, tx, params)
	return err
}

// deliverArgs name an activity in ap_outgoing and the inboxes of one host that are to get it.
type deliverArgs struct {
	Outgoing int64    `json:"outgoing"`
	Host     string   `json:"host"`
	Inboxes  []string `json:"inboxes"`
	// Tries counts the attempts of earlier jobs this one continues (see Work).
	Tries int `json:"tries,omitempty"`
}

func (deliverArgs) Kind() string { return "federation_deliver" }

type deliveryWorker struct {
	river.WorkerDefaults[deliverArgs]
	s *Service
}

// Timeout bounds one job. It is also how long a job left running by a killed process waits
// before River hands it out again, so it is kept short: a job stops starting requests when
// less than jobReserve of it is left, and the rest go on in a job of their own.
func (w *deliveryWorker) Timeout(*river.Job[deliverArgs]) time.Duration { return jobTimeout }

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
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
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
	_, err = s.river.Insert(ctx, deliverArgs{Outgoing: a.Outgoing, Host: a.Host, Inboxes: rest, Tries: tries},
		&river.InsertOpts{Queue: deliveryQueue, ScheduledAt: s.wall.Now().Add(wait)})
	return err
}

// post signs and sends the activity to one inbox.
func (s *Service) post(ctx context.Context, inbox string, body []byte, keyID string, k *keys.Pair) result {
	res, err := s.client.Post(ctx, inbox, ActivityJSON, body, func(r *http.Request, body []byte) error {
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
