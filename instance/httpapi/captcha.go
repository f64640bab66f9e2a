package httpapi

import (
	"net/http"

	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// The registration's captcha (instance/captcha; docs/MODERATION.md, "Protection at the
// edge"): GET /api/captcha gives a challenge, POST /api/auth/register takes its solution as
// "altcha". With Deps.Captcha nil (WG_CAPTCHA=off) the route answers 404 captcha_off, which
// tells the web app to show no widget, and registration takes none.

var errCaptchaOff = fault.NotFoundf("captcha_off", "This instance asks no captcha at registration.")

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

// checkCaptcha checks a registration's solution, when the captcha is on; spendCaptcha spends
// it once the registration is about to act.
func (s *Server) checkCaptcha(r *http.Request, payload *string) (captcha.Solved, error) {
	if s.Captcha == nil {
		return captcha.Solved{}, nil
	}
	if payload == nil {
		return captcha.Solved{}, captcha.ErrRequired
	}
	return s.Captcha.Check(r.Context(), *payload)
}

func (s *Server) spendCaptcha(r *http.Request, v captcha.Solved) error {
	if s.Captcha == nil {
		return nil
	}
	return s.Captcha.Spend(r.Context(), v)
}
