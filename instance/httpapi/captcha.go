package httpapi

import (
	"net/http"

	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// The guests' captcha (instance/captcha; docs/MODERATION.md, "Protection at the edge"):
// GET /api/captcha gives a challenge, POST /api/auth/register and, as the captcha's options
// say, POST /api/auth/login take its solution as "altcha". With Deps.Captcha nil
// (WG_CAPTCHA=off) the route answers 404 captcha_off, which tells the web app to show no
// widget, and neither takes one.

var errCaptchaOff = fault.NotFoundf("captcha_off", "This instance asks no captcha.")

func (s *Server) getCaptcha(w http.ResponseWriter, r *http.Request) error {
	if s.Captcha == nil {
		return errCaptchaOff
	}
	c, err := s.Captcha.NewChallenge(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // each challenge is for one registration
	respond.JSON(w, http.StatusOK, c)
	return nil
}

// checkCaptcha checks a registration's solution, when registration takes one; spendCaptcha
// spends it once the registration is about to act.
func (s *Server) checkCaptcha(r *http.Request, payload *string) (captcha.Solved, error) {
	if !s.Captcha.AtRegister() {
		return captcha.Solved{}, nil
	}
	return s.solved(r, payload)
}

// solved checks a solution that is needed.
func (s *Server) solved(r *http.Request, payload *string) (captcha.Solved, error) {
	if payload == nil {
		return captcha.Solved{}, captcha.ErrRequired
	}
	return s.Captcha.Check(r.Context(), *payload)
}

func (s *Server) spendCaptcha(r *http.Request, v captcha.Solved) error {
	if !s.Captcha.AtRegister() {
		return nil
	}
	return s.Captcha.Spend(r.Context(), v)
}

// loginCaptcha is the login's guard (account.Service.Login): once the lockout has counted
// failed attempts for this login, as many as the captcha's options let by, the login must carry
// a solution, spent before the password is checked — a solution serves one try.
func (s *Server) loginCaptcha(r *http.Request, payload *string) func(failed int) error {
	return func(failed int) error {
		if !s.Captcha.AtLogin(failed) {
			return nil
		}
		v, err := s.solved(r, payload)
		if err != nil {
			return err
		}
		return s.Captcha.Spend(r.Context(), v)
	}
}
