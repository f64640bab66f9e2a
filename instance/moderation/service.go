package moderation

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Options configure the Service.
type Options struct {
	// BaseURL is the instance's public URL: an https IRI on another host is a remote target,
	// and an account's actor IRI (<BaseURL>/ap/users/<handle>) names the account.
	BaseURL string
	// Events is the log the address blocks are refreshed from (nil: only this process's own
	// blocks and Load are seen).
	Events *eventstore.Store
	// Forwarder sends forwarded reports as a Flag (nil: forwarding is off).
	Forwarder Forwarder
	// PlainHTTP takes http IRIs of other hosts as remote targets too, as federation's own
	// Config.Dev lets it reach plain http peers (serve --dev and the test rigs' loopback
	// peers); set it from the same setting and only then. Production: https only.
	PlainHTTP bool
	Log       *slog.Logger
}

// Service is the moderation: reports, the queue, actions, the public log, appeals and
// address blocks. It implements Holder and IPBlocks.
type Service struct {
	pool      *pgxpool.Pool
	clock     clock.Clock
	accounts  *account.Service
	events    *eventstore.Store
	forwarder Forwarder
	plainHTTP bool // http IRIs of other hosts are remote targets too (Options.PlainHTTP)
	base      *url.URL
	log       *slog.Logger

	mu       sync.RWMutex
	contents []Content          // in registration order: Resolve asks them in turn
	byKind   map[string]Content // the owner of each kind

	blocks ipBlocks
}

// NewService returns the moderation service. The contents are registered afterwards
// (Register), since the content packages take the Service as their Holder.
func NewService(pool *pgxpool.Pool, c clock.Clock, accounts *account.Service, o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil || base.Host == "" {
		base = &url.URL{Scheme: "http", Host: "localhost"}
	}
	s := &Service{pool: pool, clock: c, accounts: accounts, events: o.Events, forwarder: o.Forwarder, plainHTTP: o.PlainHTTP,
		base: base, log: o.Log, byKind: map[string]Content{}}
	s.Register(accountContent{accounts: accounts, base: base.String(), host: base.Host})
	return s
}

// SetForwarder sets the forwarder (federation is assembled after the Service).
func (s *Service) SetForwarder(f Forwarder) {
	s.mu.Lock()
	s.forwarder = f
	s.mu.Unlock()
}

// Register adds reportable content. A kind has one owner: registering a kind twice panics
// (a wiring mistake).
func (s *Service) Register(cs ...Content) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		for _, k := range c.Kinds() {
			if _, dup := s.byKind[k]; dup {
				panic("moderation: kind registered twice: " + k)
			}
			s.byKind[k] = c
		}
		s.contents = append(s.contents, c)
	}
}

func (s *Service) contentOf(kind string) (Content, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.byKind[kind]
	return c, ok
}

// Errors a client can meet.
var (
	errModeratorRequired  = fault.Forbiddenf("moderator_required", "Only a moderator or an admin of this instance can do this.")
	errAdminRequired      = fault.Forbiddenf("admin_required", "Only an admin of this instance can do this.")
	errAdminTarget        = fault.Forbiddenf("admin_required", "Only an admin can sanction an admin or a moderator.")
	errSelf               = fault.Forbiddenf("moderation_self", "Moderators and admins cannot take moderation actions about themselves.")
	errSecondModerator    = fault.Forbiddenf("second_moderator_required", "An appeal is decided by a moderator other than the one who acted.")
	errNotVerified        = fault.Forbiddenf("verified_resident_required", "Only verified residents can report; ask an admin to verify your account.")
	errReason             = fault.Invalidf("reason", "invalid_reason", "A reason is 1 to 1000 characters, without control characters.")
	errComment            = fault.Invalidf("comment", "invalid_comment", "A comment is at most 1000 characters, without control characters.")
	errMeldungNotFound    = fault.NotFoundf("meldung_not_found", "There is no such report.")
	errMeldungClosed      = fault.Conflictf("meldung_closed", "This report has been decided already.")
	errMeldungMismatch    = fault.Invalidf("meldung", "meldung_target_mismatch", "This action is not about the reported content, its author or the reported account.")
	errMeldungIsAppeal    = fault.Conflictf("meldung_is_appeal", "An appeal is decided through POST /api/admin/appeals/{id}.")
	errNotRemote          = fault.Invalidf("meldung", "meldung_not_remote", "Only reports about a remote account or object can be forwarded to its server.")
	errForwardingOff      = fault.Conflictf("forwarding_off", "This instance does not federate; it cannot forward reports.")
	errAlreadyForwarded   = fault.Conflictf("meldung_forwarded", "This report has been forwarded already.")
	errNotHideable        = fault.Invalidf("target", "target_not_hideable", "Accounts and remote content are not hidden: accounts are warned, suspended or banned.")
	errAlreadyHidden      = fault.Conflictf("already_hidden", "This content is hidden already.")
	errNotHidden          = fault.Conflictf("not_hidden", "This content is not hidden.")
	errEntryNotFound      = fault.NotFoundf("eintrag_not_found", "There is no such entry in the moderation log.")
	errNotAffected        = fault.Forbiddenf("appeal_not_yours", "Only the account an action was about can appeal it.")
	errAlreadyAppealed    = fault.Conflictf("already_appealed", "This action has been appealed already; an action is appealed once.")
	errNotAppealable      = fault.Invalidf("eintrag", "not_appealable", "Only hiding content, warnings, suspensions and bans can be appealed.")
	errAppealNotFound     = fault.NotFoundf("appeal_not_found", "There is no such appeal.")
	errDecision           = fault.Invalidf("decision", "invalid_decision", `The decision is "upheld" or "rejected".`)
	errDays               = fault.Invalidf("days", "invalid_days", "A suspension lasts 1 to 365 days.")
	errState              = fault.Invalidf("state", "invalid_state", `The state is "open", "resolved" or "dismissed".`)
	errTargetNotAnAccount = fault.NotFoundf("account_not_found", "There is no account with this id.")
)

// isModerator: admins have every moderator's right.
func isModerator(a account.Account) bool { return a.IsAdmin || a.Has(account.Moderator) }

func checkModerator(a account.Account) error {
	if !isModerator(a) {
		return errModeratorRequired
	}
	return nil
}

// MaxReason is the longest reason, comment or appeal, in characters.
const MaxReason = 1000

func checkText(s string, required bool, bad error) (string, error) {
	s = strings.TrimSpace(s)
	if (required && s == "") || utf8.RuneCountInString(s) > MaxReason ||
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 || !utf8.ValidString(s) {
		return "", bad
	}
	return s, nil
}

// resolve reads a client's target reference: each registered Content in turn, then an https
// IRI on another host as a remote target (or an http one, where federation reaches plain http
// peers: Options.PlainHTTP).
func (s *Service) resolve(ctx context.Context, q database.Querier, ref string) (Target, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > 2000 {
		return Target{}, ErrUnknownTarget
	}
	s.mu.RLock()
	cs := append([]Content(nil), s.contents...)
	s.mu.RUnlock()
	for _, c := range cs {
		t, ok, err := c.Resolve(ctx, q, ref)
		if err != nil {
			return Target{}, err
		}
		if ok {
			return t, nil
		}
	}
	if u, err := url.Parse(ref); err == nil && (u.Scheme == "https" || (u.Scheme == "http" && s.plainHTTP)) && u.Host != "" && u.User == nil &&
		!strings.EqualFold(u.Host, s.base.Host) {
		return Target{Kind: KindRemote, ID: u.String()}, nil
	}
	return Target{}, ErrUnknownTarget
}

// describe returns the target's summary, or nil when it is gone (or of no registered kind).
func (s *Service) describe(ctx context.Context, q database.Querier, t Target) (*Summary, error) {
	switch t.Kind {
	case KindRemote:
		u, _ := url.Parse(t.ID)
		name := t.ID
		if u != nil {
			name = u.Host
		}
		return &Summary{Target: t, AuthorName: name, URL: t.ID}, nil
	case kindLog:
		id, err := uuid.Parse(t.ID)
		if err != nil {
			return nil, nil
		}
		e, err := getEntry(ctx, q, id, false)
		if err != nil {
			if fault.Is(err, errEntryNotFound.Code) {
				return nil, nil
			}
			return nil, err
		}
		return &Summary{Target: t, AuthorID: e.SubjectID, Text: e.Action + ": " + e.Reason}, nil
	}
	c, ok := s.contentOf(t.Kind)
	if !ok {
		return nil, nil
	}
	sum, err := c.Describe(ctx, q, t)
	if fault.Is(err, ErrUnknownTarget.Code) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r := []rune(sum.Text); len(r) > 500 {
		sum.Text = string(r[:500])
	}
	return &sum, nil
}

// checkNotAbout refuses (moderation_self) closing a report about by's own account or content:
// a reported moderator does not decide the report about them, whether directly or as the
// "meldung" of another action; another moderator does.
func (s *Service) checkNotAbout(ctx context.Context, q database.Querier, t Target, by uuid.UUID) error {
	_, err := s.describeNotAbout(ctx, q, t, by)
	return err
}

func (s *Service) describeNotAbout(ctx context.Context, q database.Querier, t Target, by uuid.UUID) (*Summary, error) {
	sum, err := s.describe(ctx, q, t)
	if err != nil {
		return nil, err
	}
	if sum != nil && sum.AuthorID != nil && *sum.AuthorID == by {
		return nil, errSelf
	}
	return sum, nil
}

// checkAnswers is checkNotAbout for an action e that answers a report about reported, and
// refuses (meldung_target_mismatch) an action that does not act on what was reported: it must
// be about the reported content or account itself, or warn, suspend or ban the author of the
// reported content. Otherwise a report would be closed as acted upon by an unrelated action,
// and the queue would show it resolved while its content stays.
func (s *Service) checkAnswers(ctx context.Context, q database.Querier, reported Target, e Entry) error {
	sum, err := s.describeNotAbout(ctx, q, reported, e.ModeratorID)
	if err != nil || e.Target == reported {
		return err
	}
	if e.Target.Kind == KindAccount && (e.Action == DoWarn || e.Action == DoSuspend || e.Action == DoBan) &&
		sum != nil && sum.AuthorID != nil && sum.AuthorID.String() == e.Target.ID {
		return nil
	}
	return errMeldungMismatch
}

// Person is an account as the queue and the log name it.
type Person struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

func (s *Service) names(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	return s.accounts.Names(ctx, ids)
}

func person(id *uuid.UUID, names map[uuid.UUID]string) *Person {
	if id == nil {
		return nil
	}
	return &Person{ID: *id, Name: names[*id]}
}
