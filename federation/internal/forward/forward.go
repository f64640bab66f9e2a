// Package forward sends a report about a remote account or object to its server, as the
// Fediverse expects one: a Flag from our instance actor (the reporter stays unnamed, as
// Mastodon and GoToSocial send theirs), "object" the reported account and then the reported
// objects, "content" the moderator's comment. The moderation package's forward action queues
// it in its own transaction (ForwardTx); a River job of this package (kind
// federation_forward_flag) finds the account and its inbox, which takes fetches, and queues
// the delivery as every other delivery is queued (package delivery).
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/weltgewebe/weltgewebe/federation/internal/actors"
	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Config is what forwarding needs.
type Config struct {
	Pool     *pgxpool.Pool
	IRI      iri.Base
	Fetch    *fetch.Fetcher
	Actors   *actors.Service
	Delivery *delivery.Service
	Log      *slog.Logger
}

// Service forwards reports.
type Service struct {
	c     Config
	river *river.Client[pgx.Tx]
}

// New returns the forwarding; SetRiver must be called before it queues.
func New(c Config) *Service { return &Service{c: c} }

// SetRiver gives forwarding its job queue.
func (s *Service) SetRiver(c *river.Client[pgx.Tx]) { s.river = c }

// AddWorker registers the forwarding worker.
func (s *Service) AddWorker(workers *river.Workers) { river.AddWorker(workers, &worker{s: s}) }

// Args are one report to forward.
type Args struct {
	Report  uuid.UUID `json:"report"`
	Targets []string  `json:"targets"` // remote IRIs: an account, or objects of one account
	Comment string    `json:"comment"`
}

func (Args) Kind() string { return "federation_forward_flag" }

// ForwardTx (moderation.Forwarder) queues the Flag in the forward action's transaction: the
// report is marked forwarded exactly when its Flag is on its way. The job runs in delivery's
// queue: it is a delivery's first step.
func (s *Service) ForwardTx(ctx context.Context, tx *database.Tx, report uuid.UUID, targets []string, comment string) error {
	if len(targets) == 0 {
		return errors.New("federation: a report to forward names no target")
	}
	_, err := s.river.InsertTx(ctx, delivery.PgxTx(tx), Args{Report: report, Targets: targets, Comment: comment},
		&river.InsertOpts{Queue: delivery.Queue, MaxAttempts: 10})
	return err
}

type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Timeout(*river.Job[Args]) time.Duration { return time.Minute }

// Work finds the reported account (the target itself when it is an actor, else the author of
// the reported object, on the object's own server) and queues the Flag for its server's
// shared inbox, or its own inbox when it has none (GoToSocial). What cannot be had by trying
// again (a blocked domain, an address the guard refuses, an object without an author on its
// host) cancels the job, with the reason in the log; what may pass is retried.
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	s := w.s
	account, objects, err := s.resolve(ctx, job.Args.Targets)
	if err != nil {
		if fetch.MayPass(err) && !fetch.Final(err) {
			return err
		}
		s.c.Log.Warn("federation: report not forwarded", "report", job.Args.Report, "targets", job.Args.Targets, "reason", err)
		return river.JobCancel(err)
	}
	inbox := account.SharedInbox
	if inbox == "" {
		inbox = account.Inbox
	}
	flag := vocab.Flag{Context: vocab.ActivityStreams, ID: s.c.IRI.Of("/ap/flags/" + job.Args.Report.String()), Type: "Flag",
		Actor: s.c.IRI.Of(iri.InstancePath), Object: objects, Content: job.Args.Comment}
	err = database.InTx(ctx, s.c.Pool, func(tx *database.Tx) error {
		return s.c.Delivery.EnqueueTx(ctx, tx, iri.InstancePath, inbox, flag)
	})
	if err == nil {
		s.c.Log.Info("federation: report forwarded", "report", job.Args.Report, "account", account.IRI, "inbox", inbox)
	}
	return err
}

// errNoAccount: the target is neither an actor nor an object with an author on its host.
var errNoAccount = errors.New("federation: the reported target names no account on its server")

// resolve returns the account a report is about and the Flag's objects: the account first,
// then the reported objects, as Mastodon's FlagSerializer orders them.
func (s *Service) resolve(ctx context.Context, targets []string) (*actors.Remote, []string, error) {
	var account *actors.Remote
	var objects []string
	for _, t := range targets {
		if _, local := s.c.IRI.Local(t); local {
			continue
		}
		body, err := s.c.Fetch.Object(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		obj, err := vocab.DecodeObject(body)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", errNoAccount, t, err)
		}
		author := t
		if !isActor(obj.Type) {
			author = obj.AttributedTo.ID
			if author == "" || !iri.SameOrigin(author, t) {
				return nil, nil, fmt.Errorf("%w: %s", errNoAccount, t)
			}
			objects = append(objects, t)
		}
		switch {
		case account == nil:
			if account, err = s.c.Actors.Remote(ctx, author, false); err != nil {
				return nil, nil, err
			}
		case account.IRI != author:
			// One Flag is about one account; a report about two goes as two forwards.
			return nil, nil, fmt.Errorf("%w: %s is not by %s", errNoAccount, t, account.IRI)
		}
	}
	if account == nil {
		return nil, nil, errNoAccount
	}
	return account, append([]string{account.IRI}, objects...), nil
}

// isActor: the types Mastodon takes as accounts.
func isActor(t vocab.Types) bool {
	for _, a := range []string{"Person", "Service", "Application", "Group", "Organization"} {
		if t.Has(a) {
			return true
		}
	}
	return false
}
