package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/httpsig"
	"github.com/weltgewebe/weltgewebe/federation/transport"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/vocab"
)

const deliveryConsumer = "federation-delivery"

// deliveryLock keeps the delivery follower to one process among replicas.
const deliveryLock = 0x77676465 // "wgde"

// RunDelivery follows the public event log and turns what federates into delivery jobs, until
// ctx ends. Among replicas one process does it; the others wait and take over when it stops.
func (s *Service) RunDelivery(ctx context.Context) error {
	for {
		err := s.withLock(ctx, func(ctx context.Context) error {
			after, err := eventstore.LoadCursor(ctx, s.pool, deliveryConsumer, false)
			if err != nil {
				return err
			}
			if after == (eventstore.Position{}) {
				// A new node starts delivering from now on, not its whole history.
				if after, err = s.svc.Events.Head(ctx); err != nil {
					return err
				}
			}
			return s.svc.Events.Follow(ctx, after, 200, s.deliverEvents)
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
}

// deliverEvents decides what a batch of events federates, and queues one delivery per
// receiving server, together with the cursor, so that a crash neither loses nor repeats one.
//
// What federates: the Anträge and everything that happens to them. A new Antrag is created by
// its own actor and announced by the Ortsweberei (Mastodon shows an Announce from an account one
// follows); Einsprüche and Stimmen are created by their residents; and after anything that
// changes an Antrag, its actor sends the Question as it now stands (Update), so Mastodon's poll
// shows the live count. Knoten, Fäden and profiles are in the outboxes, not delivered.
func (s *Service) deliverEvents(ctx context.Context, evs []eventstore.Event) error {
	var out []outgoing
	updated := map[uuid.UUID]int64{} // Antrag → last event id that changed it
	for _, e := range evs {
		if !e.Public {
			continue
		}
		antragID, err := s.antragOf(ctx, e)
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
				outgoing{antragActorPath(antragID), locals, vocab.Activity{Context: vocab.Context, ID: s.activityIRI(e.Position.ID, ""),
					Type: "Create", Actor: s.AntragActorIRI(antragID), Object: q, To: q.To, Cc: q.Cc, Published: &e.At}},
				outgoing{groupPath, []string{"ortsweberei"}, vocab.Activity{Context: vocab.Context, ID: s.activityIRI(e.Position.ID, "/announce"),
					Type: "Announce", Actor: s.GroupIRI(), Object: q.ID, To: []string{vocab.Public}, Cc: []string{s.followersOf(groupPath)}, Published: &e.At}})
			continue
		case antrag.EinspruchErhoben.Is(e):
			act, err := s.activityFor(ctx, s.handles(), e)
			if err != nil {
				return err
			}
			act.Context = vocab.Context
			act.Cc = []string{s.followersOf(groupPath), s.followersOf(antragActorPath(antragID))}
			path, _ := s.local(act.Actor)
			out = append(out, outgoing{path, locals, act})
		case abstimmung.StimmeAbgegeben.Is(e), abstimmung.StimmeGeaendert.Is(e):
			act, err := s.activityFor(ctx, s.handles(), e)
			if err != nil {
				return err
			}
			act.Context = vocab.Context
			act.Cc = []string{s.followersOf(groupPath), s.followersOf(antragActorPath(antragID))}
			path, _ := s.local(act.Actor)
			out = append(out, outgoing{path, locals, act})
		}
		updated[antragID] = e.Position.ID
	}
	for id, last := range updated {
		a, err := s.svc.Antraege.Get(ctx, id)
		if err != nil {
			return err
		}
		q, err := s.antragObject(ctx, a)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		out = append(out, outgoing{antragActorPath(id), []string{"ortsweberei", "antrag:" + id.String()},
			vocab.Activity{Context: vocab.Context, ID: s.activityIRI(last, "/update"), Type: "Update",
				Actor: s.AntragActorIRI(id), Object: q, To: q.To, Cc: q.Cc, Published: &now}})
	}
	return s.queue(ctx, out, evs[len(evs)-1].Position)
}

// antragOf names the Antrag an event is about, if any.
func (s *Service) antragOf(ctx context.Context, e eventstore.Event) (uuid.UUID, error) {
	switch e.Type {
	case antrag.AntragGestellt.Name(), antrag.EinspruchErhoben.Name(), antrag.AntragFristVerlaengert.Name(),
		antrag.AntragZurAbstimmung.Name(), antrag.AntragAngenommen.Name(), antrag.AntragAbgelehnt.Name(),
		antrag.AntragZurueckgezogen.Name():
		return e.SubjectID, nil
	case abstimmung.AbstimmungEroeffnet.Name(), abstimmung.AbstimmungGeschlossen.Name(),
		abstimmung.StimmeAbgegeben.Name(), abstimmung.StimmeGeaendert.Name():
		v, err := s.svc.Abstimmungen.Get(ctx, e.SubjectID)
		if err != nil {
			return uuid.Nil, err
		}
		return v.SubjectID, nil
	}
	return uuid.Nil, nil
}

// queue turns outgoing activities into delivery jobs, one per receiving inbox, and saves the
// cursor, in one transaction.
func (s *Service) queue(ctx context.Context, out []outgoing, cursor eventstore.Position) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var params []river.InsertManyParams
	for _, o := range out {
		body, err := json.Marshal(o.activity)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
SELECT DISTINCT coalesce(a.shared_inbox, a.inbox)
FROM ap_followers f JOIN ap_actors a ON a.iri = f.follower
WHERE f.local = ANY($1)`, o.locals)
		if err != nil {
			return err
		}
		inboxes, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, inbox := range inboxes {
			if s.blocked(ctx, hostOf(inbox)) {
				continue
			}
			params = append(params, river.InsertManyParams{Args: deliverArgs{Inbox: inbox, Activity: body, Signer: o.signer},
				InsertOpts: &river.InsertOpts{Queue: deliveryQueue}})
		}
	}
	if len(params) > 0 {
		if _, err := s.river.InsertManyTx(ctx, tx, params); err != nil {
			return err
		}
	}
	if err := eventstore.SaveCursorNow(ctx, tx, deliveryConsumer, cursor, s.wall.Now()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// enqueue queues one activity for one inbox.
func (s *Service) enqueue(ctx context.Context, signer, inbox string, activity any) error {
	body, err := json.Marshal(activity)
	if err != nil {
		return err
	}
	_, err = s.river.Insert(ctx, deliverArgs{Inbox: inbox, Activity: body, Signer: signer}, &river.InsertOpts{Queue: deliveryQueue})
	return err
}

type deliverArgs struct {
	Inbox    string          `json:"inbox"`
	Activity json.RawMessage `json:"activity"`
	Signer   string          `json:"signer"` // the local actor's path
}

func (deliverArgs) Kind() string { return "federation_deliver" }

type deliveryWorker struct {
	river.WorkerDefaults[deliverArgs]
	s *Service
}

// Timeout bounds one delivery attempt (the transport's own deadline is shorter).
func (w *deliveryWorker) Timeout(*river.Job[deliverArgs]) time.Duration { return 30 * time.Second }

// Pausing: a host that has failed this many deliveries in a row gets no more for a while,
// doubling from a minute up to 12 hours, and its queued deliveries wait.
const (
	pauseAfter = 8
	maxPause   = 12 * time.Hour
)

// Work delivers one activity to one inbox, signed by its actor. Retries follow River's
// exponential backoff; a Retry-After answer is honoured; a host that keeps failing is paused.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	s := w.s
	host := hostOf(job.Args.Inbox)
	if s.blocked(ctx, host) {
		return nil
	}
	if until, ok := s.pausedUntil(ctx, host); ok {
		return river.JobSnooze(until.Sub(s.wall.Now()))
	}
	k, err := s.keys.get(ctx, job.Args.Signer)
	if err != nil {
		return err
	}
	keyID := s.iri(job.Args.Signer) + "#main-key"
	res, err := s.client.Post(ctx, job.Args.Inbox, ActivityJSON, job.Args.Activity, func(r *http.Request, body []byte) error {
		return httpsig.Sign(r, body, keyID, k.rsa, s.wall.Now())
	})
	if err != nil && !(errors.Is(err, transport.ErrStatus) && res != nil) {
		s.hostFailed(ctx, host, err.Error())
		return fmt.Errorf("federation: deliver to %s: %w", job.Args.Inbox, err)
	}
	res.Body.Close()
	switch code := res.StatusCode; {
	case code >= 200 && code < 300:
		s.hostOK(ctx, host)
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		s.hostFailed(ctx, host, res.Status)
		if d, ok := retryAfter(res.Header.Get("Retry-After"), s.wall.Now()); ok {
			return river.JobSnooze(d)
		}
		return fmt.Errorf("federation: deliver to %s: %s", job.Args.Inbox, res.Status)
	case code >= 500 || code == http.StatusRequestTimeout:
		s.hostFailed(ctx, host, res.Status)
		return fmt.Errorf("federation: deliver to %s: %s", job.Args.Inbox, res.Status)
	default:
		// The server understood and refused (401, 403, 404, 409, 410, 413, 422 …): sending the
		// same bytes again will not change its mind.
		s.log.Info("federation: delivery refused", "inbox", job.Args.Inbox, "status", res.Status)
		return nil
	}
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

func (s *Service) hostFailed(ctx context.Context, host, reason string) {
	now := s.wall.Now()
	_, err := s.pool.Exec(ctx, `
INSERT INTO ap_hosts (host, failures, last_error, updated_at) VALUES ($1, 1, $2, $3)
ON CONFLICT (host) DO UPDATE SET failures = ap_hosts.failures + 1, last_error = excluded.last_error, updated_at = excluded.updated_at,
    paused_until = CASE WHEN ap_hosts.failures + 1 >= $4
        THEN $3::timestamptz + least(interval '1 minute' * power(2, ap_hosts.failures + 1 - $4), $5::interval)
        ELSE ap_hosts.paused_until END`, host, reason, now, pauseAfter, maxPause)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("federation: host health", "host", host, "err", err)
	}
}

func (s *Service) hostOK(ctx context.Context, host string) {
	_, _ = s.pool.Exec(ctx, `UPDATE ap_hosts SET failures = 0, paused_until = NULL, updated_at = $2 WHERE host = $1 AND failures > 0`, host, s.wall.Now())
}
