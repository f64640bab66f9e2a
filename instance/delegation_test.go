package instance_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

type delegationOut struct {
	ID            string     `json:"id"`
	From          personOut  `json:"from"`
	To            personOut  `json:"to"`
	State         string     `json:"state"`
	RequestedAt   time.Time  `json:"requested_at"`
	EffectiveAt   time.Time  `json:"effective_at"`
	EndsAt        *time.Time `json:"ends_at"`
	IdleExpiresAt *time.Time `json:"idle_expires_at"`
	EndReason     string     `json:"end_reason"`
}

func delegate(t *testing.T, from, to *instancetest.Client) delegationOut {
	t.Helper()
	var d delegationOut
	from.Post("/api/delegationen", map[string]string{"to_account_id": to.ID}).Expect(t, http.StatusCreated).JSON(t, &d)
	return d
}

func delegationen(t *testing.T, c *instancetest.Client, query string) []delegationOut {
	t.Helper()
	var out struct {
		Delegationen []delegationOut `json:"delegationen"`
	}
	c.Get("/api/delegationen"+query).Expect(t, http.StatusOK).JSON(t, &out)
	return out.Delegationen
}

// nextBatch is the first 03:00 UTC after t: the test instances' daily batch.
func nextBatch(t time.Time) time.Time {
	b := time.Date(t.Year(), t.Month(), t.Day(), 3, 0, 0, 0, time.UTC)
	if !b.After(t) {
		b = b.AddDate(0, 0, 1)
	}
	return b
}

// Acceptance test 5 (seed 000), first half: delegation is transitive, a direct vote overrides,
// circles are refused, a chain that ends without a voter adds nothing; changes take effect in
// the daily batch.
func TestAcceptance5DelegationIsTransitive(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)
	dan := inst.VerifiedResident("Dan", lat, lon)
	eve := inst.VerifiedResident("Eve", lat, lon)
	fay := inst.VerifiedResident("Fay", lat, lon)

	now := inst.Advance("0s")
	ab := delegate(t, ada, ben)
	delegate(t, ben, cem)
	delegate(t, fay, eve) // Eve will not vote
	if ab.State != "pending" || !ab.EffectiveAt.Equal(nextBatch(now)) {
		t.Fatalf("a delegation takes effect at the next daily batch (%v): %+v", nextBatch(now), ab)
	}
	if ds := delegationen(t, dan, "?from="+ada.ID); len(ds) != 1 || ds[0].To.Name != "Ben" || ds[0].State != "pending" {
		t.Fatalf("the public list shows Ada's pending delegation: %+v", ds)
	}
	if ds := delegationen(t, dan, "?to="+cem.ID); len(ds) != 1 || ds[0].From.Name != "Ben" {
		t.Fatalf("filter by delegate: %+v", ds)
	}
	// C → A would close A → B → C → A.
	before := inst.Rows()
	if code := cem.Post("/api/delegationen", map[string]string{"to_account_id": ada.ID}).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "delegation_cycle" {
		t.Fatalf("circle: %q", code)
	}
	assertNothingWritten(t, inst, before)
	if code := ada.Post("/api/delegationen", map[string]string{"to_account_id": ada.ID}).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "self_delegation" {
		t.Errorf("self-delegation: %q", code)
	}
	if code := ada.Post("/api/delegationen", map[string]string{"to_account_id": ben.ID}).
		Expect(t, http.StatusConflict).ErrorCode(); code != "already_delegated" {
		t.Errorf("the same delegation twice: %q", code)
	}

	a, voteID := toVote(t, inst, dan, eve, "Radweg")
	_ = a
	if ds := delegationen(t, dan, "?from="+ada.ID); len(ds) != 1 || ds[0].State != "active" || !ds[0].EffectiveAt.Equal(ab.EffectiveAt) {
		t.Fatalf("after the batch Ada's delegation is active since the batch: %+v", ds)
	}

	castVote(t, cem, voteID, "yes")
	v := getAbstimmung(t, dan, voteID)
	cemVote := v.vote("Cem")
	if cemVote.Weight != 3 || v.Tally.Yes != 3 {
		t.Fatalf("Cem carries Ada's and Ben's weight: %+v, tally %+v", cemVote, v.Tally)
	}
	chains := map[string]string{}
	for _, d := range cemVote.Delegated {
		s := ""
		for _, p := range d.Chain {
			s += p.Name + ">"
		}
		chains[d.Name] = s
	}
	if chains["Ada"] != "Ada>Ben>Cem>" || chains["Ben"] != "Ben>Cem>" {
		t.Fatalf("the vote list shows the chains: %v", chains)
	}

	// Ben votes himself: the chain stops at him.
	castVote(t, ben, voteID, "no")
	v = getAbstimmung(t, dan, voteID)
	if v.vote("Ben").Weight != 2 || v.vote("Cem").Weight != 1 || v.Tally.Yes != 1 || v.Tally.No != 2 {
		t.Fatalf("a direct vote stops the chain: Ben %+v, Cem %+v, tally %+v", v.vote("Ben"), v.vote("Cem"), v.Tally)
	}
	// Fay → Eve, and Eve does not vote: Fay's weight counts nowhere.
	if v.Tally.Turnout != 3 {
		t.Fatalf("turnout %d; Fay's delegation to a non-voter must add nothing", v.Tally.Turnout)
	}
	var eff struct {
		Final  bool `json:"final"`
		Voters []struct {
			Name   string `json:"name"`
			Weight int    `json:"weight"`
		} `json:"voters"`
		Delegators []struct {
			Name  string      `json:"name"`
			Voter personOut   `json:"voter"`
			Chain []personOut `json:"chain"`
		} `json:"delegators"`
	}
	dan.Get("/api/delegationen/effective?abstimmung="+voteID).Expect(t, http.StatusOK).JSON(t, &eff)
	if len(eff.Delegators) != 1 || eff.Delegators[0].Name != "Ada" || eff.Delegators[0].Voter.Name != "Ben" || len(eff.Delegators[0].Chain) != 2 {
		t.Fatalf("effective: %+v", eff)
	}

	inst.Advance("7d")
	v = getAbstimmung(t, dan, voteID)
	if *v.Result != "abgelehnt" || v.Tally.No != 2 || v.Tally.Yes != 1 {
		t.Fatalf("the close counts with the delegations: %+v %v", v.Tally, *v.Result)
	}
}

// Acceptance test 5, second half: a delegation ends after 28 days without a write by the
// delegator, and not before; any write counts as activity.
func TestAcceptance5DelegationExpiresAfter28IdleDays(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)
	idle := delegate(t, ada, ben)   // Ada's last write: this request
	active := delegate(t, cem, ben) // Cem will write again
	const days28 = 28 * 24 * time.Hour

	state := func(d delegationOut) delegationOut {
		t.Helper()
		var out delegationOut
		ben.Get("/api/delegationen/"+d.ID).Expect(t, http.StatusOK).JSON(t, &out)
		return out
	}

	advanceTo(t, inst, idle.RequestedAt.Add(10*24*time.Hour))
	place(t, cem, "Cem war da") // any write is activity
	inst.Advance("0s")          // the sweep reads it from the log
	if got := state(active); got.State != "active" || got.IdleExpiresAt == nil || got.IdleExpiresAt.Sub(idle.RequestedAt) < 38*24*time.Hour-time.Minute {
		t.Fatalf("Cem's write moved his delegation's expiry to 28 days after it: %+v", got)
	}

	advanceTo(t, inst, idle.RequestedAt.Add(days28-time.Minute))
	if got := state(idle); got.State != "active" || !got.IdleExpiresAt.Equal(idle.RequestedAt.Add(days28)) {
		t.Fatalf("one minute before 28 idle days the delegation is still in effect: %+v", got)
	}
	advanceTo(t, inst, idle.RequestedAt.Add(days28))
	if got := state(idle); got.State != "ended" || got.EndReason != "expired" {
		t.Fatalf("after 28 idle days the delegation ended by itself: %+v", got)
	}
	if got := state(active); got.State != "active" {
		t.Fatalf("Cem wrote on day 10: his delegation is still in effect: %+v", got)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'DelegationAbgelaufen' AND subject_id = $1`, idle.ID); n != 1 {
		t.Errorf("%d DelegationAbgelaufen events, want 1", n)
	}
	if ds := delegationen(t, ben, "?to="+ben.ID); len(ds) != 1 || ds[0].From.Name != "Cem" {
		t.Errorf("the public list drops the expired delegation: %+v", ds)
	}
}

// Revoking and replacing take effect in the batch too; a request not yet in effect can be taken
// back at once.
func TestDelegationChangesWaitForTheBatch(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)

	withdrawn := delegate(t, ada, cem)
	var out delegationOut
	ada.Do("DELETE", "/api/delegationen/"+withdrawn.ID, nil).Expect(t, http.StatusOK).JSON(t, &out)
	if out.State != "ended" || out.EndReason != "withdrawn" {
		t.Fatalf("a pending request taken back ends at once: %+v", out)
	}
	first := delegate(t, ada, ben)
	inst.Advance("24h")
	if code := ben.Do("DELETE", "/api/delegationen/"+first.ID, nil).Expect(t, http.StatusForbidden).ErrorCode(); code != "not_your_delegation" {
		t.Errorf("revoke by the delegate: %q", code)
	}

	// Replace Ben by Cem: until the batch, Ben it is.
	second := delegate(t, ada, cem)
	ds := delegationen(t, ben, "?from="+ada.ID)
	if len(ds) != 2 || ds[0].To.Name != "Ben" || ds[0].State != "active" || ds[1].To.Name != "Cem" || ds[1].State != "pending" {
		t.Fatalf("before the batch: active to Ben, pending to Cem: %+v", ds)
	}
	inst.Advance("24h")
	ds = delegationen(t, ben, "?from="+ada.ID)
	if len(ds) != 1 || ds[0].ID != second.ID || ds[0].State != "active" {
		t.Fatalf("after the batch only the delegation to Cem: %+v", ds)
	}

	// Revoke: in effect until the next batch, which the answer names.
	ada.Do("DELETE", "/api/delegationen/"+second.ID, nil).Expect(t, http.StatusOK).JSON(t, &out)
	if out.State != "active" || out.EndsAt == nil {
		t.Fatalf("a revocation waits for the batch and says when: %+v", out)
	}
	if code := ada.Do("DELETE", "/api/delegationen/"+second.ID, nil).Expect(t, http.StatusConflict).ErrorCode(); code != "already_revoked" {
		t.Errorf("revoking twice: %q", code)
	}
	inst.Advance("24h")
	if ds := delegationen(t, ben, "?from="+ada.ID); len(ds) != 0 {
		t.Fatalf("after the batch the revoked delegation is gone: %+v", ds)
	}
	ben.Get("/api/delegationen/"+second.ID).Expect(t, http.StatusOK).JSON(t, &out)
	if out.EndReason != "revoked" {
		t.Errorf("end reason %q", out.EndReason)
	}
}

// The circle check at a request sees the graph as the next batch will leave it: a pending
// replacement instead of the delegation it replaces, and without a delegation being revoked.
// The batch then ends the revocation before it applies the requests.
func TestCircleCheckSeesTheGraphOfTheNextBatch(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)
	dan := inst.VerifiedResident("Dan", lat, lon)
	eve := inst.VerifiedResident("Eve", lat, lon)
	delegate(t, ada, ben)
	danEve := delegate(t, dan, eve)
	inst.Advance("24h") // both in effect

	// Ada replaces Ben by Cem; until the batch Ben it is, but Cem → Ada would close
	// Ada → Cem → Ada once the replacement takes effect.
	delegate(t, ada, cem)
	before := inst.Rows()
	if code := cem.Post("/api/delegationen", map[string]string{"to_account_id": ada.ID}).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "delegation_cycle" {
		t.Fatalf("a circle through a pending replacement: %q", code)
	}
	assertNothingWritten(t, inst, before)
	// And Ben → Ada closes nothing any more: Ada's delegation to Ben is being replaced.
	benAda := delegate(t, ben, ada)

	// Dan revokes his delegation to Eve: it ends at the batch, so Eve → Dan is no circle.
	dan.Do("DELETE", "/api/delegationen/"+danEve.ID, nil).Expect(t, http.StatusOK)
	eveDan := delegate(t, eve, dan)

	inst.Advance("24h")
	state := func(id string) string {
		t.Helper()
		var d delegationOut
		ada.Get("/api/delegationen/"+id).Expect(t, http.StatusOK).JSON(t, &d)
		return d.State + "/" + d.EndReason
	}
	if got := state(danEve.ID); got != "ended/revoked" {
		t.Errorf("Dan's revoked delegation: %s", got)
	}
	if got := state(eveDan.ID); got != "active/" {
		t.Errorf("Eve's delegation to Dan, applied after the revocation: %s", got)
	}
	if got := state(benAda.ID); got != "active/" {
		t.Errorf("Ben's delegation to Ada, applied after Ada's replacement: %s", got)
	}
	if ds := delegationen(t, ada, "?from="+ada.ID); len(ds) != 1 || ds[0].To.Name != "Cem" || ds[0].State != "active" {
		t.Errorf("Ada delegates to Cem now: %+v", ds)
	}
}
