package instance_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// The dev clock moves forward by at most a year per call.
func TestDevClockJumpIsBounded(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	for _, advance := range []string{"1918440h", "80000d", "367d", "8785h", "106751991167300d", "-1d"} {
		before := inst.DevClock.Now()
		res := c.Post("/api/dev/clock", map[string]string{"advance": advance})
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("advance %s: %d %s", advance, res.Status, res.Body)
		}
		if moved := inst.DevClock.Now().Sub(before); moved > time.Hour {
			t.Errorf("advance %s moved the clock by %s", advance, moved)
		}
	}
	c.Post("/api/dev/clock", map[string]string{"advance": "366d"}).Expect(t, http.StatusOK)
}
