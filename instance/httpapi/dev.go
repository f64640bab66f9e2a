package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// The dev clock exists only in `serve --dev`: without it these routes are not registered.

type clockJSON struct {
	Now time.Time `json:"now"`
}

func (s *Server) getClock(w http.ResponseWriter, r *http.Request) error {
	respond.JSON(w, http.StatusOK, clockJSON{Now: s.Dev.Clock.Now()})
	return nil
}

type advanceRequest struct {
	Advance *string `json:"advance"`
}

// advanceClock moves the instance clock forward and returns once every sweep that became due
// has run, so the caller sees the world as it is at the new time.
func (s *Server) advanceClock(w http.ResponseWriter, r *http.Request) error {
	var in advanceRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Advance == nil {
		return missing("advance")
	}
	d, err := parseDuration(*in.Advance)
	if err != nil {
		return fault.Invalidf("advance", "invalid_duration", `advance must be a duration such as "168h", "90m" or "7d".`)
	}
	switch _, err := s.Dev.Clock.Advance(d); {
	case errors.Is(err, clock.ErrBackwards):
		return fault.Invalidf("advance", "clock_backwards", "The clock only moves forward.")
	case errors.Is(err, clock.ErrJumpTooLarge):
		return fault.Invalidf("advance", "clock_jump_too_large", "The clock moves at most 366 days per call.")
	case errors.Is(err, clock.ErrTooFar):
		return fault.Invalidf("advance", "clock_jump_too_large", "The clock runs at most 100 years ahead of real time.")
	case err != nil:
		return err
	}
	if err := s.Dev.RunDue(r.Context()); err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, clockJSON{Now: s.Dev.Clock.Now()})
	return nil
}

// parseDuration is time.ParseDuration plus whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil {
			// Beyond the bound either way the exact figure does not matter, and multiplying
			// it could overflow into a small or negative one.
			n = max(-367, min(n, 367))
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}
