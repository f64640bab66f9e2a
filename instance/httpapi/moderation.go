package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// Moderation (docs/MODERATION.md): handlers decode, call instance/moderation, encode.
func (s *Server) moderationRoutes() {
	if s.Moderation == nil {
		return
	}
	s.handle("POST /api/meldungen", s.authed(bodyRoute(nil, s.report)))
	s.handle("GET /api/admin/meldungen", s.authed(s.queue))
	s.handle("POST /api/admin/meldungen/{id}/resolve", s.authed(s.decideMeldung(s.Moderation.Resolve)))
	s.handle("POST /api/admin/meldungen/{id}/dismiss", s.authed(s.decideMeldung(s.Moderation.Dismiss)))
	s.handle("POST /api/admin/meldungen/{id}/forward", s.authed(bodyRoute(errMeldungNotFound, s.forwardMeldung)))
	s.handle("POST /api/admin/inhalte/hide", s.authed(s.hideContent(true)))
	s.handle("POST /api/admin/inhalte/unhide", s.authed(s.hideContent(false)))
	for _, kind := range []string{account.SanctionWarn, account.SanctionSuspend, account.SanctionBan, account.SanctionLift} {
		s.handle("POST /api/admin/accounts/{id}/"+kind, s.authed(s.sanction(kind)))
	}
	s.handle("GET /api/moderation/log", s.moderationLog)
	s.handle("POST /api/moderation/log/{id}/appeal", s.authed(bodyRoute(errEntryNotFound, s.appeal)))
	s.handle("POST /api/admin/appeals/{id}", s.authed(bodyRoute(errAppealNotFound, s.decideAppeal)))
	s.handle("GET /api/admin/ipsperren", s.authed(s.listIPBlocks))
	s.handle("POST /api/admin/ipsperren", s.authed(bodyRoute(nil, s.blockIP)))
	s.handle("DELETE /api/admin/ipsperren/{id}", s.authed(s.unblockIP))
}

var (
	errMeldungNotFound = fault.NotFoundf("meldung_not_found", "There is no such report.")
	errEntryNotFound   = fault.NotFoundf("eintrag_not_found", "There is no such entry in the moderation log.")
	errAppealNotFound  = fault.NotFoundf("appeal_not_found", "There is no such appeal.")
	errSperreNotFound  = fault.NotFoundf("ipsperre_not_found", "There is no such address block.")
)

type reportRequest struct {
	Target *string `json:"target" required:"true"`
	Reason *string `json:"reason" required:"true"`
}

func (s *Server) report(r *http.Request, me account.Account, _ uuid.UUID, in reportRequest) (int, any, error) {
	m, created, err := s.Moderation.Report(r.Context(), me, *in.Target, *in.Reason)
	if !created {
		return http.StatusOK, meldungJSON(m), err
	}
	return http.StatusCreated, meldungJSON(m), err
}

func meldungJSON(m moderation.Meldung) map[string]any {
	return map[string]any{"id": m.ID, "state": m.State}
}

// page reads ?before=<uuid>&limit=<n>.
func page(r *http.Request) (before uuid.UUID, limit int, err error) {
	v := r.URL.Query()
	if b := v.Get("before"); b != "" {
		if before, err = uuid.Parse(b); err != nil {
			return uuid.Nil, 0, fault.Invalidf("before", "invalid_before", "before must be an id from the list.")
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return uuid.Nil, 0, fault.Invalidf("limit", "invalid_limit", "limit must be a positive whole number (at most %d).", 100)
		}
		limit = n
	}
	return before, limit, nil
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request, me account.Account) error {
	before, limit, err := page(r)
	if err != nil {
		return err
	}
	ms, next, err := s.Moderation.Queue(r.Context(), me, r.URL.Query().Get("state"), before, limit)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []moderation.Meldung{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"meldungen": ms, "next": next})
	return nil
}

type reasonRequest struct {
	Reason  *string    `json:"reason" required:"true"`
	Meldung *uuid.UUID `json:"meldung"`
}

func (s *Server) decideMeldung(decide func(ctx context.Context, by account.Account, id uuid.UUID, reason string) error) authedFunc {
	return bodyRoute(errMeldungNotFound, func(r *http.Request, me account.Account, id uuid.UUID, in reasonRequest) (int, any, error) {
		return http.StatusNoContent, nil, decide(r.Context(), me, id, *in.Reason)
	})
}

type forwardRequest struct {
	Comment string `json:"comment"`
}

func (s *Server) forwardMeldung(r *http.Request, me account.Account, id uuid.UUID, in forwardRequest) (int, any, error) {
	return http.StatusNoContent, nil, s.Moderation.Forward(r.Context(), me, id, in.Comment)
}

// entryJSON is the answer to an action: the log entry it made.
func entryJSON(e moderation.Entry) map[string]any {
	return map[string]any{"id": e.ID, "at": e.At, "action": e.Action, "target": e.Target, "reason": e.Reason, "until": e.Until}
}

type hideRequest struct {
	Target  *string    `json:"target" required:"true"`
	Reason  *string    `json:"reason" required:"true"`
	Meldung *uuid.UUID `json:"meldung"`
}

func (s *Server) hideContent(hide bool) authedFunc {
	return bodyRoute(nil, func(r *http.Request, me account.Account, _ uuid.UUID, in hideRequest) (int, any, error) {
		var e moderation.Entry
		var err error
		if hide {
			e, err = s.Moderation.Hide(r.Context(), me, *in.Target, *in.Reason, in.Meldung)
		} else {
			e, err = s.Moderation.Unhide(r.Context(), me, *in.Target, *in.Reason)
		}
		return http.StatusOK, entryJSON(e), err
	})
}

type sanctionRequest struct {
	Days    *int       `json:"days"` // a suspension's, required there
	Reason  *string    `json:"reason" required:"true"`
	Meldung *uuid.UUID `json:"meldung"`
}

// liftRequest: only a lift names the sanction it lifts.
type liftRequest struct {
	sanctionRequest
	Sanction string `json:"sanction"` // "ban" or "suspension" ("": the strongest in force)
}

func (s *Server) sanction(kind string) authedFunc {
	act := func(r *http.Request, me account.Account, id uuid.UUID, in sanctionRequest, lifts string) (int, any, error) {
		days := 0
		if kind == account.SanctionSuspend {
			if in.Days == nil {
				return 0, nil, missing("days")
			}
			days = *in.Days
		}
		e, err := s.Moderation.Sanction(r.Context(), me, id, kind, days, lifts, *in.Reason, in.Meldung)
		return http.StatusOK, entryJSON(e), err
	}
	if kind == account.SanctionLift {
		return bodyRoute(account.ErrNotFound, func(r *http.Request, me account.Account, id uuid.UUID, in liftRequest) (int, any, error) {
			return act(r, me, id, in.sanctionRequest, in.Sanction)
		})
	}
	return bodyRoute(account.ErrNotFound, func(r *http.Request, me account.Account, id uuid.UUID, in sanctionRequest) (int, any, error) {
		return act(r, me, id, in, "")
	})
}

// moderationLog is public; an admin's session shows the ranges of address blocks.
func (s *Server) moderationLog(w http.ResponseWriter, r *http.Request) error {
	before, limit, err := page(r)
	if err != nil {
		return err
	}
	var viewer *account.Account
	if c, err := r.Cookie(sessionCookie); err == nil {
		if me, err := s.Accounts.Authenticate(r.Context(), c.Value); err == nil {
			// A suspended or banned admin is shown no address ranges (as nothing under
			// /api/admin/), but still their own entries, which they may appeal.
			if s.Accounts.MayWrite(me) != nil {
				me.IsAdmin = false
			}
			viewer = &me
		}
	}
	es, next, err := s.Moderation.Log(r.Context(), viewer, before, limit)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, map[string]any{"eintraege": es, "next": next})
	return nil
}

func (s *Server) appeal(r *http.Request, me account.Account, id uuid.UUID, in reasonRequest) (int, any, error) {
	m, err := s.Moderation.FileAppeal(r.Context(), me, id, *in.Reason)
	return http.StatusCreated, meldungJSON(m), err
}

type decideAppealRequest struct {
	Decision *string `json:"decision" required:"true"`
	Reason   *string `json:"reason" required:"true"`
}

func (s *Server) decideAppeal(r *http.Request, me account.Account, id uuid.UUID, in decideAppealRequest) (int, any, error) {
	e, err := s.Moderation.DecideAppeal(r.Context(), me, id, *in.Decision, *in.Reason)
	return http.StatusOK, entryJSON(e), err
}

func (s *Server) listIPBlocks(w http.ResponseWriter, r *http.Request, me account.Account) error {
	bs, err := s.Moderation.Blocks(r.Context(), me)
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []moderation.Sperre{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"ipsperren": bs})
	return nil
}

type blockIPRequest struct {
	CIDR   *string `json:"cidr" required:"true"`
	Days   int     `json:"days"`
	Reason *string `json:"reason" required:"true"`
}

func (s *Server) blockIP(r *http.Request, me account.Account, _ uuid.UUID, in blockIPRequest) (int, any, error) {
	b, err := s.Moderation.Block(r.Context(), me, *in.CIDR, in.Days, *in.Reason)
	return http.StatusCreated, b, err
}

func (s *Server) unblockIP(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, errSperreNotFound)
	if err != nil {
		return err
	}
	// The reason is optional here: a DELETE often has no body.
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	if err := s.Moderation.Unblock(r.Context(), me, id, in.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
