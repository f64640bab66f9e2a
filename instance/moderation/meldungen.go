package moderation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// kindLog is an appeal's target kind: the log entry it contests.
const kindLog = "log"

// Meldung is a report as the moderators' queue shows it.
type Meldung struct {
	ID             uuid.UUID  `json:"id"`
	Target         Target     `json:"target"`
	Summary        *Summary   `json:"summary"` // null when the target is gone
	Reason         string     `json:"reason"`
	Source         string     `json:"source"`
	Reporter       any        `json:"reporter"` // Person, {"actor": IRI}, or null (the word filter)
	CreatedAt      time.Time  `json:"created_at"`
	State          string     `json:"state"`
	DecidedBy      *Person    `json:"decided_by"`
	DecisionReason string     `json:"decision_reason"`
	DecidedAt      *time.Time `json:"decided_at"`
	ForwardedAt    *time.Time `json:"forwarded_at"`

	reporterID    *uuid.UUID
	reporterActor *string
	decidedByID   *uuid.UUID
}

const meldungColumns = `id, target_kind, target_id, reason, source, reporter_id, reporter_actor, created_at, state,
       decided_by, coalesce(decision_reason, ''), decided_at, forwarded_at`

func scanMeldung(r pgx.Row) (Meldung, error) {
	var m Meldung
	err := r.Scan(&m.ID, &m.Target.Kind, &m.Target.ID, &m.Reason, &m.Source, &m.reporterID, &m.reporterActor, &m.CreatedAt,
		&m.State, &m.decidedByID, &m.DecisionReason, &m.DecidedAt, &m.ForwardedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	m.DecidedAt, m.ForwardedAt = utc(m.DecidedAt), utc(m.ForwardedAt)
	return m, err
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func getMeldung(ctx context.Context, q database.Querier, id uuid.UUID, forUpdate bool) (Meldung, error) {
	sql := `SELECT ` + meldungColumns + ` FROM moderation_meldungen WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	m, err := scanMeldung(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Meldung{}, errMeldungNotFound
	}
	if err != nil {
		return Meldung{}, fmt.Errorf("moderation: get report: %w", err)
	}
	return m, nil
}

// insertMeldung queues the report with its event. With a local reporter, a second open
// report of the same target is not made: created is false and m is the first.
func insertMeldung(ctx context.Context, tx *database.Tx, m Meldung, at time.Time) (Meldung, bool, error) {
	m.ID, m.CreatedAt, m.State = uuid.Must(uuid.NewV7()), at.UTC(), StateOpen
	rows, err := tx.Query(ctx, `
INSERT INTO moderation_meldungen (id, target_kind, target_id, reason, source, reporter_id, reporter_actor, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING true`, m.ID, m.Target.Kind, m.Target.ID, m.Reason, m.Source, m.reporterID, m.reporterActor, m.CreatedAt)
	var created bool
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&created}, func() error { return nil })
	}
	if err != nil {
		return Meldung{}, false, fmt.Errorf("moderation: insert report: %w", err)
	}
	if !created {
		// The open one that conflicted: the same reporter's, or the word filter's.
		sql := `SELECT ` + meldungColumns + ` FROM moderation_meldungen
WHERE state = 'open' AND target_kind = $1 AND target_id = $2 AND `
		args := []any{m.Target.Kind, m.Target.ID}
		if m.reporterID != nil {
			sql += `reporter_id = $3`
			args = append(args, *m.reporterID)
		} else {
			sql += `source = $3`
			args = append(args, m.Source)
		}
		first, err := scanMeldung(tx.QueryRow(ctx, sql, args...))
		if err != nil {
			return Meldung{}, false, fmt.Errorf("moderation: the open report: %w", err)
		}
		return first, false, nil
	}
	actor := uuid.Nil
	if m.reporterID != nil {
		actor = *m.reporterID
	}
	p := InhaltGemeldetV1{MeldungID: m.ID, Target: m.Target, Source: m.Source, Reason: m.Reason}
	if m.reporterActor != nil {
		p.ReporterActor = *m.reporterActor
	}
	return m, true, eventstore.Append(tx, at, InhaltGemeldet.New(eventstore.Header{Actor: actor, Subject: m.ID}, p))
}

// Report files a resident's report (POST /api/meldungen): target is an id or URL of local
// content or an account, or a remote IRI. created is false when the reporter has an open
// report of the target already (m is that one).
func (s *Service) Report(ctx context.Context, by account.Account, target, reason string) (m Meldung, created bool, err error) {
	if !by.Verified() && !isModerator(by) {
		return Meldung{}, false, errNotVerified
	}
	if reason, err = checkText(reason, true, errReason); err != nil {
		return Meldung{}, false, err
	}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		t, err := s.resolve(ctx, tx, target)
		if err != nil {
			return err
		}
		m, created, err = insertMeldung(ctx, tx, Meldung{Target: t, Reason: reason, Source: SourceResident, reporterID: &by.ID}, s.clock.Now())
		return err
	})
	return m, created, err
}

// FlagTx records an incoming ActivityPub Flag inside the inbox's transaction: one report per
// local target among objects (remote ones, and what this instance does not know, are left
// out), source fediverse, from the reporting server's actor. It returns how many it queued.
func (s *Service) FlagTx(ctx context.Context, tx *database.Tx, actor string, objects []string, comment string, at time.Time) (int, error) {
	// Another server's words: kept as far as they are text, never refused for their form.
	comment = strings.TrimSpace(strings.Map(func(r rune) rune {
		if (unicode.IsControl(r) && r != '\n') || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(comment, "")))
	if r := []rune(comment); len(r) > MaxReason {
		comment = string(r[:MaxReason])
	}
	seen := map[Target]bool{}
	n := 0
	for _, o := range objects {
		t, err := s.resolve(ctx, tx, o)
		if errors.Is(err, ErrUnknownTarget) || (err == nil && t.Kind == KindRemote) {
			continue
		}
		if err != nil {
			return n, err
		}
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, _, err := insertMeldung(ctx, tx, Meldung{Target: t, Reason: comment, Source: SourceFediverse, reporterActor: &actor}, at); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// HoldTx (Holder) queues content the word filter held, in the content's own transaction.
// A second hold of the same content while the first is open adds nothing.
func (s *Service) HoldTx(ctx context.Context, tx *database.Tx, t Target, v Verdict, at time.Time) error {
	_, _, err := insertMeldung(ctx, tx, Meldung{Target: t, Reason: "wortfilter: " + v.Word, Source: SourceFilter}, at)
	return err
}

// MaxQueue is the most reports one page of the queue holds.
const MaxQueue = 100

// Queue lists reports in a state (default open), newest first, before the given id (uuid.Nil:
// from the newest); next is the id to ask before for the next page, or nil.
func (s *Service) Queue(ctx context.Context, by account.Account, state string, before uuid.UUID, limit int) (ms []Meldung, next *uuid.UUID, err error) {
	if err := checkModerator(by); err != nil {
		return nil, nil, err
	}
	if state == "" {
		state = StateOpen
	}
	if state != StateOpen && state != StateResolved && state != StateDismissed {
		return nil, nil, errState
	}
	if limit <= 0 || limit > MaxQueue {
		limit = MaxQueue
	}
	rows, err := s.pool.Query(ctx, `SELECT `+meldungColumns+` FROM moderation_meldungen
WHERE state = $1 AND ($2 = '00000000-0000-0000-0000-000000000000'::uuid OR id < $2)
ORDER BY id DESC LIMIT $3`, state, before, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("moderation: queue: %w", err)
	}
	ms, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Meldung, error) { return scanMeldung(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("moderation: queue: %w", err)
	}
	if len(ms) > limit {
		ms = ms[:limit]
		id := ms[limit-1].ID
		next = &id
	}
	var ids []uuid.UUID
	for _, m := range ms {
		for _, id := range []*uuid.UUID{m.reporterID, m.decidedByID} {
			if id != nil {
				ids = append(ids, *id)
			}
		}
	}
	names, err := s.names(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for i := range ms {
		m := &ms[i]
		if m.Summary, err = s.describe(ctx, s.pool, m.Target); err != nil {
			return nil, nil, err
		}
		switch {
		case m.reporterID != nil:
			m.Reporter = person(m.reporterID, names)
		case m.reporterActor != nil:
			m.Reporter = map[string]string{"actor": *m.reporterActor}
		}
		m.DecidedBy = person(m.decidedByID, names)
	}
	return ms, next, nil
}

// decideTx closes an open report (not an appeal) with its event.
func decideTx(ctx context.Context, tx *database.Tx, id uuid.UUID, state string, by uuid.UUID, reason string, at time.Time, appeal bool) (Meldung, error) {
	m, err := getMeldung(ctx, tx, id, true)
	if err != nil {
		return Meldung{}, err
	}
	if m.State != StateOpen {
		return Meldung{}, errMeldungClosed
	}
	if (m.Source == SourceAppeal) != appeal {
		if appeal {
			return Meldung{}, errAppealNotFound
		}
		return Meldung{}, errMeldungIsAppeal
	}
	tx.Defer(`UPDATE moderation_meldungen SET state = $2, decided_by = $3, decision_reason = $4, decided_at = $5 WHERE id = $1`,
		id, state, by, reason, at)
	m.State, m.decidedByID, m.DecisionReason, m.DecidedAt = state, &by, reason, &at
	return m, eventstore.Append(tx, at, MeldungEntschieden.New(eventstore.Header{Actor: by, Subject: id},
		MeldungEntschiedenV1{MeldungID: id, State: state, By: by, Reason: reason}))
}

// Resolve closes a report as acted upon.
func (s *Service) Resolve(ctx context.Context, by account.Account, id uuid.UUID, reason string) error {
	return s.decide(ctx, by, id, StateResolved, reason)
}

// Dismiss closes a report without action; the dismissal is an entry of the public log (about
// the target, never the reporter).
func (s *Service) Dismiss(ctx context.Context, by account.Account, id uuid.UUID, reason string) error {
	return s.decide(ctx, by, id, StateDismissed, reason)
}

func (s *Service) decide(ctx context.Context, by account.Account, id uuid.UUID, state, reason string) error {
	if err := checkModerator(by); err != nil {
		return err
	}
	reason, err := checkText(reason, true, errReason)
	if err != nil {
		return err
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		m, err := decideTx(ctx, tx, id, state, by.ID, reason, now, false)
		if err != nil {
			return err
		}
		if err := s.checkNotAbout(ctx, tx, m.Target, by.ID); err != nil {
			return err
		}
		if state != StateDismissed {
			return nil
		}
		_, err = s.entryTx(ctx, tx, Entry{Action: DoDismiss, Target: m.Target, ModeratorID: by.ID, Reason: reason, MeldungID: &m.ID}, now)
		return err
	})
}

// Forward sends a report about a remote target to its server (the Forwarder, in the same
// transaction) and logs it.
func (s *Service) Forward(ctx context.Context, by account.Account, id uuid.UUID, comment string) error {
	if err := checkModerator(by); err != nil {
		return err
	}
	comment, err := checkText(comment, false, errComment)
	if err != nil {
		return err
	}
	s.mu.RLock()
	fw := s.forwarder
	s.mu.RUnlock()
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		m, err := getMeldung(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if m.Target.Kind != KindRemote {
			return errNotRemote
		}
		if m.ForwardedAt != nil {
			return errAlreadyForwarded
		}
		if fw == nil {
			return errForwardingOff
		}
		now := s.clock.Now()
		tx.Defer(`UPDATE moderation_meldungen SET forwarded_at = $2 WHERE id = $1`, id, now)
		targets := []string{m.Target.ID}
		if err := eventstore.Append(tx, now, MeldungWeitergeleitet.New(eventstore.Header{Actor: by.ID, Subject: id},
			MeldungWeitergeleitetV1{MeldungID: id, Targets: targets, Comment: comment, By: by.ID})); err != nil {
			return err
		}
		// The log is public and the report is not: without the moderator's comment the entry
		// says nothing rather than the reporter's words.
		reason := comment
		if reason == "" {
			reason = "—"
		}
		if _, err := s.entryTx(ctx, tx, Entry{Action: DoForward, Target: m.Target, ModeratorID: by.ID, Reason: reason, MeldungID: &id}, now); err != nil {
			return err
		}
		return fw.ForwardTx(ctx, tx, id, targets, comment)
	})
}
