package ortskonto_test

import (
	"testing"
	"time"
)

// A remittance text may say "WG" before the code — a Wohngemeinschaft donating, or a donor who
// typed "WG" and then pasted the whole code. Ten code-like characters read from that first
// "WG" run into the real code; the real one must still be found and settle its donation.
func TestCAMTCodeAfterAnotherWG(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	jana := r.resident(t, "Jana")
	a := r.camtDonate(t, jana, 1250, true)
	b := r.camtDonate(t, jana, 800, true)
	today := r.clock.Now().In(berlinZone(t)).Format(time.DateOnly)
	res, err := r.importCAMT(t, camtStmt(ortsIBAN, today,
		camtCredit("12.50", "R1", "Spende der WG Mitte "+a.Reference),
		camtCredit("8.00", "R2", "WG "+b.Reference),
	))
	if err != nil {
		t.Fatal(err)
	}
	if res.Settled != 2 || len(res.Unmatched) != 0 {
		t.Errorf("result %+v (unmatched %v)", res, camtReasons(res.Unmatched))
	}
	for _, sp := range []string{r.camtStatus(t, a), r.camtStatus(t, b)} {
		if sp != "settled" {
			t.Errorf("a donation is %s, want settled", sp)
		}
	}
}
