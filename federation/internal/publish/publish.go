// Package publish decides what federates: it follows the public event log (consumer
// "federation-delivery", one process among replicas by an advisory lock), turns the events
// about Anträge into activities, asks the actors who follows, and queues the deliveries in the
// cursor's transaction.
package publish

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/federation/internal/actors"
	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/keys"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Services are the domain services publishing reads from.
type Services struct {
	Events       *eventstore.Store
	Antraege     *antrag.Service
	Abstimmungen *abstimmung.Service
	Delegations  *delegation.Service
}

// Config is what publishing needs.
type Config struct {
	Pool        *pgxpool.Pool
	Clock, Wall clock.Clock // the instance clock (Updates' published); real time (the cursor's save time)
	IRI         iri.Base
	Services    Services
	Keys        *keys.Store
	Actors      *actors.Service
	Convert     *convert.Converter
	Delivery    *delivery.Service
	Log         *slog.Logger
}

// Service is the log follower that publishes.
type Service struct {
	pool     *pgxpool.Pool
	clock    clock.Clock
	wall     clock.Clock
	iri      iri.Base
	svc      Services
	keys     *keys.Store
	actors   *actors.Service
	convert  *convert.Converter
	delivery *delivery.Service
	log      *slog.Logger
}

// New returns the publisher.
func New(c Config) *Service {
	return &Service{pool: c.Pool, clock: c.Clock, wall: c.Wall, iri: c.IRI, svc: c.Services, keys: c.Keys, actors: c.Actors,
		convert: c.Convert, delivery: c.Delivery, log: c.Log}
}

// Consumer is the delivery follower's name among the log's consumers (event_cursors).
const Consumer = "federation-delivery"

// Lock keeps the delivery follower to one process among replicas.
const Lock = 0x77676465 // "wgde"

// Run follows the public event log and turns what federates into delivery jobs, until
// ctx ends. Among replicas one process does it; the others wait and take over when it stops.
func (s *Service) Run(ctx context.Context) error {
	for {
		err := s.withLock(ctx, func(ctx context.Context) error {
			after, saved, err := eventstore.FindCursor(ctx, s.pool, Consumer)
			if err != nil {
				return err
			}
			if !saved {
				// A new node starts delivering from now on, not its whole history. Where it
				// started is saved at once: a restart before the first delivery goes on from
				// there rather than from a later present, which would skip what came between.
				// (That start may be the empty log's zero Position: a replica taking over
				// from one that died before its first delivery goes on from there too; it
				// used to take a saved zero for none and skip everything up to its own start.)
				if after, err = s.svc.Events.Head(ctx); err != nil {
					return err
				}
				if err := eventstore.SaveCursorNow(ctx, s.pool, Consumer, after, s.wall.Now()); err != nil {
					return err
				}
			}
			return s.svc.Events.FollowTypesAs(ctx, Consumer, after, 200, Types(), s.deliverEvents)
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
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, Lock).Scan(&got); err != nil || !got {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, Lock) //nolint:errcheck
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
type follower = actors.Follower

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
func usesCreate(f follower) bool { return f.Local != "ortsweberei" || f.Actor.IsOrtsweberei() }

// isNeighbour: neighbouring Ortswebereien alone.
func isNeighbour(f follower) bool { return f.Actor.IsOrtsweberei() }

// usesAnnounce: the Fediverse followers of the Ortsweberei (also those of its posts about
// livestreams).
func usesAnnounce(f follower) bool { return !f.Actor.IsOrtsweberei() }

// inboxesFor is where an outgoing activity goes: each inbox once, of the followers it is for.
func inboxesFor(o outgoing, fs []follower) []string {
	var inboxes []string
	seen := map[string]bool{}
	for _, f := range fs {
		if !slices.Contains(o.locals, f.Local) || o.only != nil && !o.only(f) || seen[f.Inbox] {
			continue
		}
		seen[f.Inbox] = true
		inboxes = append(inboxes, f.Inbox)
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
// and the Delegationen themselves are in the outboxes, not delivered. Besides the Anträge, the
// Ortsweberei posts about its livestreams: a Note when one first goes live, its Update at the
// end (convert.StreamDelivery).
func (s *Service) deliverEvents(ctx context.Context, evs []eventstore.Event) error {
	var out []outgoing
	updated := map[uuid.UUID]string{} // Antrag → the id of the Update(Question) after its last change
	var moves []delegation.Move
	// An Antrag a moderator hid federates nothing more but the Delete of it: no Create of it
	// (hidden before this follower came to it), no Einspruch, Stimme or Update with its words.
	hidden := map[uuid.UUID]bool{}
	isHidden := func(id uuid.UUID) (bool, error) {
		if h, ok := hidden[id]; ok {
			return h, nil
		}
		a, err := s.svc.Antraege.Get(ctx, id)
		if err != nil {
			return false, err
		}
		hidden[id] = a.HiddenAt != nil
		return hidden[id], nil
	}
	for _, e := range evs {
		if !e.Public {
			continue
		}
		if act, ok, err := s.convert.StreamDelivery(ctx, e); err != nil {
			return err
		} else if ok {
			// The Ortsweberei's post about a livestream, to its Fediverse followers (a
			// neighbouring Ortsweberei has no use for a Note: it reads Anträge).
			if act != nil {
				out = append(out, outgoing{signer: iri.GroupPath, locals: []string{"ortsweberei"}, only: usesAnnounce, activity: act})
			}
			continue
		}
		if m, ok, err := s.svc.Delegations.MoveOf(ctx, e); err != nil {
			return err
		} else if ok {
			moves = append(moves, m)
			continue
		}
		antragID, err := s.convert.AntragOf(ctx, e)
		if err != nil && !errors.Is(iri.NotFoundOr(err), iri.ErrNotFound) {
			return err // not "none": the batch is read again, rather than the event skipped for good
		}
		if err != nil || antragID == uuid.Nil {
			continue
		}
		locals := []string{"ortsweberei", "antrag:" + antragID.String()}
		if antrag.AntragVerborgen.Is(e) {
			// Every follower that may show it gets the Delete: the Ortsweberei's (who saw the
			// Announce; Mastodon drops the boost with the post), the Antrag's, and the
			// neighbouring Ortswebereien (which take it as withdrawn).
			out = append(out, outgoing{signer: iri.AntragActorPath(antragID), locals: locals, activity: s.convert.AntragDelete(e)})
			delete(updated, antragID)
			continue
		}
		if h, err := isHidden(antragID); err != nil {
			return err
		} else if h {
			continue
		}
		if antrag.EinspruchVerborgen.Is(e) {
			// To whoever got the Einspruch (EinspruchErhoben below).
			del, path, err := s.convert.EinspruchDelete(ctx, e)
			if err != nil {
				return err
			}
			out = append(out, outgoing{signer: path, locals: append(locals, iri.UserFollowKey(path)), only: usesCreate, activity: del})
			continue
		}
		switch {
		case antrag.AntragGestellt.Is(e):
			a, err := s.svc.Antraege.Get(ctx, antragID)
			if err != nil {
				return err
			}
			q, err := s.convert.AntragObject(ctx, a)
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
			act, err := s.convert.ActivityFor(ctx, s.convert.Handles(), e)
			if errors.Is(err, convert.ErrHidden) {
				continue // hidden before this follower came to it
			}
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
			act, err := s.convert.ActivityFor(ctx, s.convert.Handles(), e)
			if err != nil {
				return err
			}
			act.Context = vocab.Context
			path, _ := s.iri.Local(act.Actor)
			act.Cc = []string{s.iri.FollowersOf(iri.GroupPath), s.iri.FollowersOf(iri.AntragActorPath(antragID))}
			note, err := s.convert.StimmeNoteCreateFor(ctx, e)
			if err != nil {
				return err
			}
			out = append(out, outgoing{signer: path, locals: locals, only: isNeighbour, activity: act},
				outgoing{signer: path, locals: []string{iri.UserFollowKey(path)}, activity: note})
		}
		updated[antragID] = s.iri.Activity(e.Position.ID, "/update")
	}
	if len(moves) > 0 {
		moved, err := s.svc.Abstimmungen.CountsMovedBy(ctx, moves)
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
		if a.HiddenAt != nil {
			continue // a delegation moved its count: nothing of it federates while hidden
		}
		q, err := s.convert.AntragObject(ctx, a)
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

// Types are the event types deliverEvents acts on (those convert.AntragOf and
// delegation.MoveOf know): the delivery follower reads no others from the log. A type that is
// to federate must be added here.
func Types() []string {
	return slices.Concat(convert.AntragTypes, convert.AbstimmungTypes, convert.StreamTypes,
		[]string{delegation.DelegationWirksam.Name(), delegation.DelegationBeendet.Name(), delegation.DelegationAbgelaufen.Name()})
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
		fs, err := s.actors.FollowersTx(ctx, tx, o.locals)
		if err != nil {
			return err
		}
		if err := s.delivery.QueueTx(ctx, tx, o.signer, inboxesFor(o, fs), o.activity); err != nil {
			return err
		}
	}
	if err := eventstore.SaveCursorNow(ctx, tx, Consumer, cursor, s.wall.Now()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
