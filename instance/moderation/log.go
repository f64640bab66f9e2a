package moderation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Entry is one action of the public moderation log.
type Entry struct {
	ID          uuid.UUID
	At          time.Time
	Action      string
	Target      Target
	ModeratorID uuid.UUID
	Reason      string
	Until       *time.Time
	MeldungID   *uuid.UUID // the report it answered; never public
	SubjectID   *uuid.UUID // the local account affected: who may appeal
	Undoes      *uuid.UUID
	AppealID    *uuid.UUID
	AppealState string
	AppealBy    *uuid.UUID
	AppealWhy   string
}

const entryColumns = `id, at, action, target_kind, target_id, moderator_id, reason, until, meldung_id, subject_id, undoes,
       appeal_id, coalesce(appeal_state, ''), appeal_decided_by, coalesce(appeal_reason, '')`

func scanEntry(r pgx.Row) (Entry, error) {
	var e Entry
	err := r.Scan(&e.ID, &e.At, &e.Action, &e.Target.Kind, &e.Target.ID, &e.ModeratorID, &e.Reason, &e.Until, &e.MeldungID,
		&e.SubjectID, &e.Undoes, &e.AppealID, &e.AppealState, &e.AppealBy, &e.AppealWhy)
	e.At, e.Until = e.At.UTC(), utc(e.Until)
	return e, err
}

func getEntry(ctx context.Context, q database.Querier, id uuid.UUID, forUpdate bool) (Entry, error) {
	sql := `SELECT ` + entryColumns + ` FROM moderation_log WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	e, err := scanEntry(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, errEntryNotFound
	}
	if err != nil {
		return Entry{}, fmt.Errorf("moderation: get entry: %w", err)
	}
	return e, nil
}

// entryTx writes the log entry and its event MassnahmeErgriffen; with a report (MeldungID,
// for an action, not a dismissal), the report is resolved with it.
func (s *Service) entryTx(ctx context.Context, tx *database.Tx, e Entry, at time.Time) (Entry, error) {
	if e.ID == uuid.Nil {
		e.ID = uuid.Must(uuid.NewV7())
	}
	e.At = at.UTC()
	if e.MeldungID != nil && e.Action != DoDismiss && e.Action != DoForward {
		m, err := decideTx(ctx, tx, *e.MeldungID, StateResolved, e.ModeratorID, e.Reason, at, false)
		if err != nil {
			return Entry{}, err
		}
		if err := s.checkAnswers(ctx, tx, m.Target, e); err != nil {
			return Entry{}, err
		}
	}
	tx.Defer(`
INSERT INTO moderation_log (id, at, action, target_kind, target_id, moderator_id, reason, until, meldung_id, subject_id, undoes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ID, e.At, e.Action, e.Target.Kind, e.Target.ID, e.ModeratorID, e.Reason, e.Until, e.MeldungID, e.SubjectID, e.Undoes)
	return e, eventstore.Append(tx, at, MassnahmeErgriffen.New(eventstore.Header{Actor: e.ModeratorID, Subject: e.ID},
		MassnahmeErgriffenV1{EintragID: e.ID, Action: e.Action, Target: e.Target, ModeratorID: e.ModeratorID, Reason: e.Reason,
			Until: e.Until, Undoes: e.Undoes}))
}

// Appeal is an entry's appeal as the log shows it.
type Appeal struct {
	State     string  `json:"state"`
	DecidedBy *Person `json:"decided_by"`
	Reason    string  `json:"reason"`
}

// Eintrag is an entry as the public log shows it: never the reporter, never the report.
type Eintrag struct {
	ID        uuid.UUID  `json:"id"`
	At        time.Time  `json:"at"`
	Action    string     `json:"action"`
	Target    Target     `json:"target"`
	Moderator Person     `json:"moderator"`
	Reason    string     `json:"reason"`
	Until     *time.Time `json:"until"`
	Undoes    *uuid.UUID `json:"undoes"`
	Appeal    *Appeal    `json:"appeal"`
	// Yours: the entry is about the viewer (the author of hidden content, the sanctioned
	// account), who may appeal it. Shown only to that viewer.
	Yours bool `json:"yours,omitempty"`
}

// MaxLog is the most entries one page of the log holds.
const MaxLog = 100

// Log lists the public log, newest first, before the given id (uuid.Nil: from the newest).
// viewer is who asks (nil: anonymous); only admins see the address ranges of IP blocks.
func (s *Service) Log(ctx context.Context, viewer *account.Account, before uuid.UUID, limit int) (out []Eintrag, next *uuid.UUID, err error) {
	if limit <= 0 || limit > MaxLog {
		limit = MaxLog
	}
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM moderation_log
WHERE $1 = '00000000-0000-0000-0000-000000000000'::uuid OR id < $1 ORDER BY id DESC LIMIT $2`, before, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("moderation: log: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("moderation: log: %w", err)
	}
	if len(es) > limit {
		es = es[:limit]
		id := es[limit-1].ID
		next = &id
	}
	var ids []uuid.UUID
	for _, e := range es {
		ids = append(ids, e.ModeratorID)
		if e.AppealBy != nil {
			ids = append(ids, *e.AppealBy)
		}
	}
	names, err := s.names(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	admin := viewer != nil && viewer.IsAdmin
	out = make([]Eintrag, len(es))
	for i, e := range es {
		v := Eintrag{ID: e.ID, At: e.At, Action: e.Action, Target: e.Target, Moderator: Person{ID: e.ModeratorID, Name: names[e.ModeratorID]},
			Reason: e.Reason, Until: e.Until, Undoes: e.Undoes}
		if e.Target.Kind == kindIP && !admin {
			v.Target.ID = ""
		}
		v.Yours = viewer != nil && e.SubjectID != nil && *e.SubjectID == viewer.ID
		if e.AppealState != "" {
			v.Appeal = &Appeal{State: e.AppealState, DecidedBy: person(e.AppealBy, names), Reason: e.AppealWhy}
		}
		out[i] = v
	}
	return out, next, nil
}

// Hide hides content (POST /api/admin/inhalte/hide); meldung, when given, is the report it
// answers, resolved with it.
func (s *Service) Hide(ctx context.Context, by account.Account, target, reason string, meldung *uuid.UUID) (Entry, error) {
	return s.hide(ctx, by, target, reason, meldung, true, nil)
}

// Unhide shows hidden content again.
func (s *Service) Unhide(ctx context.Context, by account.Account, target, reason string) (Entry, error) {
	return s.hide(ctx, by, target, reason, nil, false, nil)
}

func (s *Service) hide(ctx context.Context, by account.Account, target, reason string, meldung *uuid.UUID, hide bool, undoes *uuid.UUID) (Entry, error) {
	if err := checkModerator(by); err != nil {
		return Entry{}, err
	}
	reason, err := checkText(reason, true, errReason)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		t, err := s.resolve(ctx, tx, target)
		if err != nil {
			return err
		}
		e, err = s.hideTx(ctx, tx, by, t, reason, meldung, hide, undoes, s.clock.Now())
		return err
	})
	return e, err
}

func (s *Service) hideTx(ctx context.Context, tx *database.Tx, by account.Account, t Target, reason string, meldung *uuid.UUID,
	hide bool, undoes *uuid.UUID, now time.Time) (Entry, error) {
	c, ok := s.contentOf(t.Kind)
	if !ok || t.Kind == KindAccount || t.Kind == KindRemote {
		return Entry{}, errNotHideable
	}
	// One hide or unhide of a target at a time: Describe does not lock, and a Content's HideTx
	// does nothing when the state is already the one asked for, so two moderators acting at once
	// would both pass the check below and log two hides of one. Serialized, the second sees the
	// first's result (409).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('moderation.hide:' || $1 || ':' || $2, 0))`,
		t.Kind, t.ID); err != nil {
		return Entry{}, fmt.Errorf("moderation: hide lock: %w", err)
	}
	sum, err := c.Describe(ctx, tx, t)
	if err != nil {
		return Entry{}, err
	}
	if sum.AuthorID != nil && *sum.AuthorID == by.ID {
		return Entry{}, errSelf
	}
	if sum.Hidden == hide {
		if hide {
			return Entry{}, errAlreadyHidden
		}
		return Entry{}, errNotHidden
	}
	if err := c.HideTx(ctx, tx, t, hide, by.ID, reason, now); err != nil {
		return Entry{}, err
	}
	action := DoHide
	if !hide {
		action = DoUnhide
	}
	return s.entryTx(ctx, tx, Entry{Action: action, Target: t, ModeratorID: by.ID, Reason: reason, MeldungID: meldung,
		SubjectID: sum.AuthorID, Undoes: undoes}, now)
}

// MaxSuspensionDays is the longest suspension; beyond it an admin bans.
const MaxSuspensionDays = 365

// Sanction warns, suspends (days), bans or lifts (account.Sanction* kinds) the account id:
// warnings, suspensions and the lift of a suspension by moderators, bans and the lift of a
// ban by admins; nobody about themselves, and a moderator never about an admin or another
// moderator. A lift lifts what lifts names (account.LiftBan, account.LiftSuspension; "": the
// strongest in force) and leaves the other in force.
func (s *Service) Sanction(ctx context.Context, by account.Account, id uuid.UUID, kind string, days int, lifts, reason string,
	meldung *uuid.UUID) (Entry, error) {
	if kind == account.SanctionLift && lifts != "" && lifts != account.LiftBan && lifts != account.LiftSuspension {
		return Entry{}, account.ErrInvalidSanction
	}
	if kind == account.SanctionBan && !by.IsAdmin {
		return Entry{}, errAdminRequired
	}
	if err := checkModerator(by); err != nil {
		return Entry{}, err
	}
	if kind == account.SanctionSuspend && (days < 1 || days > MaxSuspensionDays) {
		return Entry{}, errDays
	}
	reason, err := checkText(reason, true, errReason)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		e, err = s.sanctionTx(ctx, tx, by, id, kind, days, lifts, reason, meldung, nil, s.clock.Now())
		return err
	})
	return e, err
}

func (s *Service) sanctionTx(ctx context.Context, tx *database.Tx, by account.Account, id uuid.UUID, kind string, days int, lifts, reason string,
	meldung, undoes *uuid.UUID, now time.Time) (Entry, error) {
	if id == by.ID {
		return Entry{}, errSelf
	}
	target, err := account.GetTx(ctx, tx, id, true)
	if errors.Is(err, account.ErrNotFound) {
		return Entry{}, errTargetNotAnAccount
	}
	if err != nil {
		return Entry{}, err
	}
	if !by.IsAdmin && (target.IsAdmin || target.Has(account.Moderator)) {
		return Entry{}, errAdminTarget
	}
	if kind == account.SanctionLift && lifts == "" {
		lifts = target.InForce(now)
	}
	if kind == account.SanctionLift && lifts == account.LiftBan && target.Banned() && !by.IsAdmin {
		return Entry{}, errAdminRequired
	}
	entryID := uuid.Must(uuid.NewV7())
	x := account.Sanction{Kind: kind, By: by.ID, Reason: reason, Ref: entryID, Lifts: lifts}
	var until *time.Time
	if kind == account.SanctionSuspend {
		x.Until = now.Add(time.Duration(days) * 24 * time.Hour).UTC()
		until = &x.Until
	}
	if _, err := account.SanctionTx(ctx, tx, id, x, now); err != nil {
		return Entry{}, err
	}
	return s.entryTx(ctx, tx, Entry{ID: entryID, Action: kind, Target: Target{Kind: KindAccount, ID: id.String()}, ModeratorID: by.ID, Reason: reason,
		Until: until, MeldungID: meldung, SubjectID: &id, Undoes: undoes}, now)
}

// appealable actions, and how an upheld appeal undoes each (warnings stay on record: the
// upheld decision beside the entry says they were wrong).
var appealable = map[string]string{DoHide: DoUnhide, DoWarn: "", DoSuspend: DoLift, DoBan: DoLift}

// FileAppeal contests a log entry (POST /api/moderation/log/{id}/appeal) by the account it
// was about, once: an appeal in the queue.
func (s *Service) FileAppeal(ctx context.Context, by account.Account, entryID uuid.UUID, reason string) (Meldung, error) {
	reason, err := checkText(reason, true, errReason)
	if err != nil {
		return Meldung{}, err
	}
	var m Meldung
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		e, err := getEntry(ctx, tx, entryID, true)
		if err != nil {
			return err
		}
		if e.SubjectID == nil || *e.SubjectID != by.ID {
			return errNotAffected
		}
		if _, ok := appealable[e.Action]; !ok || e.Undoes != nil {
			return errNotAppealable
		}
		if e.AppealID != nil {
			return errAlreadyAppealed
		}
		now := s.clock.Now()
		m, _, err = insertMeldung(ctx, tx, Meldung{Target: Target{Kind: kindLog, ID: e.ID.String()}, Reason: reason, Source: SourceAppeal,
			reporterID: &by.ID}, now)
		if err != nil {
			return err
		}
		tx.Defer(`UPDATE moderation_log SET appeal_id = $2, appeal_state = 'open' WHERE id = $1`, e.ID, m.ID)
		return eventstore.Append(tx, now, WiderspruchEingelegt.New(eventstore.Header{Actor: by.ID, Subject: e.ID},
			WiderspruchEingelegtV1{EintragID: e.ID, MeldungID: m.ID, Reason: reason}))
	})
	return m, err
}

// Appeal decisions.
const (
	Upheld   = "upheld"
	Rejected = "rejected"
)

// DecideAppeal decides an appeal (POST /api/admin/appeals/{id}, id the appeal's report) by a
// moderator other than the one who acted. Upheld undoes the action as an entry of its own;
// the decision is an entry too, and shows beside the contested one.
func (s *Service) DecideAppeal(ctx context.Context, by account.Account, appealID uuid.UUID, decision, reason string) (Entry, error) {
	if err := checkModerator(by); err != nil {
		return Entry{}, err
	}
	if decision != Upheld && decision != Rejected {
		return Entry{}, errDecision
	}
	reason, err := checkText(reason, true, errReason)
	if err != nil {
		return Entry{}, err
	}
	var decided Entry
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		m, err := getMeldung(ctx, tx, appealID, true)
		if errors.Is(err, errMeldungNotFound) || (err == nil && m.Source != SourceAppeal) {
			return errAppealNotFound
		}
		if err != nil {
			return err
		}
		eid, err := uuid.Parse(m.Target.ID)
		if err != nil {
			return errAppealNotFound
		}
		e, err := getEntry(ctx, tx, eid, true)
		if err != nil {
			return err
		}
		if e.ModeratorID == by.ID {
			return errSecondModerator
		}
		if e.SubjectID != nil && *e.SubjectID == by.ID {
			return errSelf
		}
		now := s.clock.Now()
		state := StateResolved
		if decision == Rejected {
			state = StateDismissed
		}
		if _, err := decideTx(ctx, tx, appealID, state, by.ID, reason, now, true); err != nil {
			return err
		}
		if decision == Upheld {
			switch appealable[e.Action] {
			case DoUnhide:
				if c, ok := s.contentOf(e.Target.Kind); ok {
					sum, err := c.Describe(ctx, tx, e.Target)
					if err != nil && !errors.Is(err, ErrUnknownTarget) {
						return err
					}
					if err == nil && sum.Hidden {
						if _, err := s.hideTx(ctx, tx, by, e.Target, reason, nil, false, &e.ID, now); err != nil {
							return err
						}
					}
				}
			case DoLift:
				sub, err := account.GetTx(ctx, tx, *e.SubjectID, true)
				if err != nil {
					return err
				}
				// Only the contested sanction, if it still holds: a ban or another suspension
				// since is another entry's, and lifting a suspension leaves a ban, and the reverse.
				lifts, ref := account.LiftSuspension, sub.SuspensionRef
				if e.Action == DoBan {
					lifts, ref = account.LiftBan, sub.SanctionRef
				}
				held := (lifts == account.LiftBan && sub.Banned()) || (lifts == account.LiftSuspension && sub.Suspended(now))
				if held && ref != nil && *ref == e.ID {
					if _, err := s.sanctionTx(ctx, tx, by, sub.ID, account.SanctionLift, 0, lifts, reason, nil, &e.ID, now); err != nil {
						return err
					}
				}
			}
		}
		tx.Defer(`UPDATE moderation_log SET appeal_state = $2, appeal_decided_by = $3, appeal_reason = $4 WHERE id = $1`,
			e.ID, decision, by.ID, reason)
		if err := eventstore.Append(tx, now, WiderspruchEntschieden.New(eventstore.Header{Actor: by.ID, Subject: e.ID},
			WiderspruchEntschiedenV1{EintragID: e.ID, MeldungID: appealID, Decision: decision, By: by.ID, Reason: reason})); err != nil {
			return err
		}
		decided, err = s.entryTx(ctx, tx, Entry{Action: DoAppealDecided, Target: Target{Kind: kindLog, ID: e.ID.String()},
			ModeratorID: by.ID, Reason: decision + ": " + reason, SubjectID: e.SubjectID, Undoes: nil}, now)
		return err
	})
	return decided, err
}

// LogActionTx records an action another package took, inside that package's transaction,
// as an entry of the public log (federation's domain blocks: DoBlockHost, DoUnblockHost with
// target {"kind": "domain", "id": host}).
func (s *Service) LogActionTx(ctx context.Context, tx *database.Tx, by uuid.UUID, action string, target Target, reason string, at time.Time) error {
	if reason == "" {
		reason = "—"
	}
	_, err := s.entryTx(ctx, tx, Entry{Action: action, Target: target, ModeratorID: by, Reason: reason}, at)
	return err
}
