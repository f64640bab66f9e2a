package instance_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

type personOut struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type antragOut struct {
	ID               string     `json:"id"`
	Title            string     `json:"title"`
	DetailsHTML      string     `json:"details_html"`
	Applicant        personOut  `json:"applicant"`
	OpenedAt         time.Time  `json:"opened_at"`
	DecisionDeadline time.Time  `json:"decision_deadline"`
	Extended         bool       `json:"extended"`
	Status           string     `json:"status"`
	DecidedAt        *time.Time `json:"decided_at"`
	AbstimmungID     *string    `json:"abstimmung_id"`
	EinspruchCount   int        `json:"einspruch_count"`
	Einsprueche      []struct {
		AccountID string    `json:"account_id"`
		Name      string    `json:"name"`
		Reason    string    `json:"reason"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"einsprueche"`
}

type abstimmungOut struct {
	ID       string    `json:"id"`
	AntragID string    `json:"antrag_id"`
	Status   string    `json:"status"`
	OpensAt  time.Time `json:"opens_at"`
	ClosesAt time.Time `json:"closes_at"`
	Result   *string   `json:"result"`
	Votes    []voteOut `json:"votes"`
	History  []struct {
		Name   string    `json:"name"`
		Choice string    `json:"choice"`
		At     time.Time `json:"at"`
	} `json:"history"`
	Tally struct {
		Yes     int  `json:"yes"`
		No      int  `json:"no"`
		Abstain int  `json:"abstain"`
		Turnout int  `json:"turnout"`
		Final   bool `json:"final"`
	} `json:"tally"`
}

type voteOut struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	Choice    string `json:"choice"`
	Weight    int    `json:"weight"`
	Delegated []struct {
		AccountID string      `json:"account_id"`
		Name      string      `json:"name"`
		Chain     []personOut `json:"chain"`
	} `json:"delegated"`
}

func (a abstimmungOut) vote(name string) voteOut {
	for _, v := range a.Votes {
		if v.Name == name {
			return v
		}
	}
	return voteOut{}
}

func fileAntrag(t *testing.T, c *instancetest.Client, title string) antragOut {
	t.Helper()
	var a antragOut
	c.Post("/api/antraege", map[string]any{"title": title, "details_md": "Wir wollen **" + title + "**."}).
		Expect(t, http.StatusCreated).JSON(t, &a)
	return a
}

func getAntrag(t *testing.T, c *instancetest.Client, id string) antragOut {
	t.Helper()
	var a antragOut
	c.Get("/api/antraege/"+id).Expect(t, http.StatusOK).JSON(t, &a)
	return a
}

func object(t *testing.T, c *instancetest.Client, id, reason string) antragOut {
	t.Helper()
	var a antragOut
	c.Post("/api/antraege/"+id+"/einspruch", map[string]string{"reason": reason}).Expect(t, http.StatusCreated).JSON(t, &a)
	return a
}

func getAbstimmung(t *testing.T, c *instancetest.Client, id string) abstimmungOut {
	t.Helper()
	var a abstimmungOut
	c.Get("/api/abstimmungen/"+id).Expect(t, http.StatusOK).JSON(t, &a)
	return a
}

func castVote(t *testing.T, c *instancetest.Client, abstimmungID, choice string) {
	t.Helper()
	c.Post("/api/abstimmungen/"+abstimmungID+"/vote", map[string]string{"choice": choice}).Expect(t, http.StatusOK)
}

// Acceptance test 3 (seed 000): an Einspruch extends by exactly 7 days; the end of the deadline
// starts the Abstimmung; without Einspruch the Antrag is accepted.
func TestAcceptance3EinspruchExtendsAndDeadlineStartsVote(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)

	contested := fileAntrag(t, ada, "Trinkbrunnen am Markt")
	quiet := fileAntrag(t, ada, "Bank am Spielplatz")
	if contested.Status != "offen" || contested.DecisionDeadline.Sub(contested.OpenedAt) != 7*24*time.Hour {
		t.Fatalf("a new Antrag is open for exactly 7 days: %+v", contested)
	}
	if !strings.Contains(contested.DetailsHTML, "<strong>Trinkbrunnen am Markt</strong>") {
		t.Errorf("details not rendered: %q", contested.DetailsHTML)
	}

	inst.Advance("24h")
	after := object(t, ben, contested.ID, "Zu teuer für die Gemeinschaftskasse.")
	if !after.DecisionDeadline.Equal(contested.DecisionDeadline.Add(7*24*time.Hour)) || !after.Extended {
		t.Fatalf("the first Einspruch moves the deadline by exactly 7 days: %v → %v", contested.DecisionDeadline, after.DecisionDeadline)
	}
	second := object(t, cem, contested.ID, "Der Markt hat schon einen.")
	if !second.DecisionDeadline.Equal(after.DecisionDeadline) {
		t.Fatalf("a second Einspruch must not extend again: %v → %v", after.DecisionDeadline, second.DecisionDeadline)
	}
	if len(second.Einsprueche) != 2 || second.Einsprueche[0].Name != "Ben" || second.Einsprueche[1].Name != "Cem" ||
		second.Einsprueche[1].Reason != "Der Markt hat schon einen." {
		t.Fatalf("every Einspruch is public with name, reason and time: %+v", second.Einsprueche)
	}
	if code := ben.Post("/api/antraege/"+contested.ID+"/einspruch", map[string]string{"reason": "Nochmal"}).
		Expect(t, http.StatusConflict).ErrorCode(); code != "already_objected" {
		t.Errorf("second Einspruch of the same resident: %q", code)
	}
	if code := ada.Post("/api/antraege/"+contested.ID+"/einspruch", map[string]string{"reason": "Eigener"}).
		Expect(t, http.StatusForbidden).ErrorCode(); code != "own_antrag" {
		t.Errorf("Einspruch against one's own Antrag: %q", code)
	}
	if code := ben.Post("/api/antraege/"+quiet.ID+"/einspruch", map[string]string{"reason": "  "}).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "empty_reason" {
		t.Errorf("Einspruch without reason: %q", code)
	}

	// Without Einspruch: accepted at exactly 7 days, not a minute before.
	advanceTo(t, inst, quiet.DecisionDeadline.Add(-time.Minute))
	if a := getAntrag(t, ada, quiet.ID); a.Status != "offen" {
		t.Fatalf("one minute before its deadline the quiet Antrag is %q", a.Status)
	}
	inst.Advance("1m")
	if a := getAntrag(t, ada, quiet.ID); a.Status != "angenommen" || a.DecidedAt == nil || !a.DecidedAt.Equal(quiet.DecisionDeadline) {
		t.Fatalf("at its deadline an Antrag without Einspruch is angenommen: %+v", a)
	}
	if code := ben.Post("/api/antraege/"+quiet.ID+"/einspruch", map[string]string{"reason": "Zu spät"}).
		Expect(t, http.StatusConflict).ErrorCode(); code != "antrag_not_open" {
		t.Errorf("Einspruch after the decision: %q", code)
	}

	// With Einsprüche: the Abstimmung opens at the extended deadline, not before.
	advanceTo(t, inst, after.DecisionDeadline.Add(-time.Minute))
	if a := getAntrag(t, ada, contested.ID); a.Status != "offen" || a.AbstimmungID != nil {
		t.Fatalf("one minute before the extended deadline: %+v", a)
	}
	inst.Advance("1m")
	a := getAntrag(t, ada, contested.ID)
	if a.Status != "abstimmung" || a.AbstimmungID == nil {
		t.Fatalf("at the extended deadline the Abstimmung must open: %+v", a)
	}
	vote := getAbstimmung(t, ada, *a.AbstimmungID)
	if !vote.OpensAt.Equal(after.DecisionDeadline) || vote.ClosesAt.Sub(vote.OpensAt) != 7*24*time.Hour || vote.Status != "offen" {
		t.Fatalf("the Abstimmung opens at the new deadline and runs 7 days: %+v", vote)
	}
	for _, typ := range []string{"AntragGestellt", "EinspruchErhoben", "AntragFristVerlaengert", "AntragAngenommen", "AntragZurAbstimmung", "AbstimmungEroeffnet"} {
		if inst.Count(`SELECT count(*) FROM events WHERE type = $1`, typ) == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'AntragFristVerlaengert'`); n != 1 {
		t.Errorf("%d extensions recorded, want 1", n)
	}
}

// The applicant may withdraw before the deadline, not after, and nobody else may.
func TestWithdrawAntrag(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	a := fileAntrag(t, ada, "Laternenfest")
	b := fileAntrag(t, ada, "Straßenfest")
	if code := ben.Post("/api/antraege/"+a.ID+"/withdraw", nil).Expect(t, http.StatusForbidden).ErrorCode(); code != "not_your_antrag" {
		t.Errorf("withdraw by another: %q", code)
	}
	var out antragOut
	ada.Post("/api/antraege/"+a.ID+"/withdraw", nil).Expect(t, http.StatusOK).JSON(t, &out)
	if out.Status != "zurueckgezogen" {
		t.Fatalf("withdrawn: %+v", out)
	}
	if code := ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "x"}).Expect(t, http.StatusConflict).ErrorCode(); code != "antrag_not_open" {
		t.Errorf("Einspruch on a withdrawn Antrag: %q", code)
	}
	inst.Advance("7d")
	if code := ada.Post("/api/antraege/"+b.ID+"/withdraw", nil).Expect(t, http.StatusConflict).ErrorCode(); code != "antrag_not_open" {
		t.Errorf("withdraw after the deadline: %q", code)
	}
	if got := getAntrag(t, ada, a.ID); got.Status != "zurueckgezogen" {
		t.Errorf("the deadline changed a withdrawn Antrag: %q", got.Status)
	}
	var list struct {
		Antraege []antragOut `json:"antraege"`
	}
	inst.Client().Get("/api/antraege?status=zurueckgezogen").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Antraege) != 1 || list.Antraege[0].ID != a.ID {
		t.Errorf("filter by status: %+v", list.Antraege)
	}
	inst.Client().Get("/api/antraege?status=angenommen").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Antraege) != 1 || list.Antraege[0].ID != b.ID {
		t.Errorf("filter by status: %+v", list.Antraege)
	}
	if code := inst.Client().Get("/api/antraege?status=vielleicht").Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "unknown_status" {
		t.Errorf("unknown status filter: %q", code)
	}
}

// toVote files an Antrag, objects, and moves time to the opening of its Abstimmung.
func toVote(t *testing.T, inst *instancetest.Instance, applicant, objector *instancetest.Client, title string) (antragOut, string) {
	t.Helper()
	a := fileAntrag(t, applicant, title)
	object(t, objector, a.ID, "Einwand")
	inst.Advance("14d")
	a = getAntrag(t, applicant, a.ID)
	if a.AbstimmungID == nil {
		t.Fatalf("no Abstimmung opened: %+v", a)
	}
	return a, *a.AbstimmungID
}

// Votes can change until the close; at the close the count is fixed for good; a tie and 0:0
// reject.
func TestAbstimmungCountsChangesAndFreezes(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)

	tie := fileAntrag(t, ada, "Gleichstand")
	empty := fileAntrag(t, ada, "Niemand stimmt")
	passes := fileAntrag(t, ada, "Mehrheit")
	for _, a := range []antragOut{tie, empty, passes} {
		object(t, ben, a.ID, "Einwand")
	}
	inst.Advance("14d")
	ids := map[string]string{}
	for name, a := range map[string]antragOut{"tie": tie, "empty": empty, "passes": passes} {
		got := getAntrag(t, ada, a.ID)
		if got.AbstimmungID == nil {
			t.Fatalf("%s: no Abstimmung", name)
		}
		ids[name] = *got.AbstimmungID
	}

	castVote(t, ada, ids["tie"], "yes")
	castVote(t, ben, ids["tie"], "yes")
	inst.Advance("1h")
	castVote(t, ben, ids["tie"], "no") // a change
	castVote(t, ben, ids["tie"], "no") // the same again: no change
	castVote(t, cem, ids["tie"], "abstain")
	castVote(t, ada, ids["passes"], "yes")
	castVote(t, ben, ids["passes"], "yes")
	castVote(t, cem, ids["passes"], "no")

	v := getAbstimmung(t, cem, ids["tie"])
	if v.Tally.Yes != 1 || v.Tally.No != 1 || v.Tally.Abstain != 1 || v.Tally.Final || v.Result != nil {
		t.Fatalf("live tally of the tie: %+v", v.Tally)
	}
	if ben := v.vote("Ben"); ben.Choice != "no" || ben.Weight != 1 {
		t.Fatalf("Ben's changed vote: %+v", ben)
	}
	var history []string
	for _, h := range v.History {
		history = append(history, h.Name+":"+h.Choice)
	}
	if strings.Join(history, " ") != "Ada:yes Ben:yes Ben:no Cem:abstain" {
		t.Fatalf("the history shows every cast and change, once: %v", history)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'StimmeGeaendert'`); n != 1 {
		t.Errorf("%d StimmeGeaendert events, want 1", n)
	}

	inst.Advance("7d")
	results := map[string]string{}
	for name, id := range ids {
		v := getAbstimmung(t, ada, id)
		if v.Status != "geschlossen" || v.Result == nil || !v.Tally.Final {
			t.Fatalf("%s: not closed after 7 days: %+v", name, v)
		}
		results[name] = *v.Result
	}
	if results["tie"] != "abgelehnt" || results["empty"] != "abgelehnt" || results["passes"] != "angenommen" {
		t.Fatalf("results: %v (tie and 0:0 reject, 2:1 passes)", results)
	}
	if a := getAntrag(t, ada, passes.ID); a.Status != "angenommen" {
		t.Errorf("the Antrag of a passed vote is %q", a.Status)
	}
	if a := getAntrag(t, ada, tie.ID); a.Status != "abgelehnt" {
		t.Errorf("the Antrag of a tied vote is %q", a.Status)
	}

	// After the close nothing changes: no vote, and a delegation that takes effect later does
	// not move the frozen count.
	before := getAbstimmung(t, ada, ids["passes"])
	if code := cem.Post("/api/abstimmungen/"+ids["passes"]+"/vote", map[string]string{"choice": "yes"}).
		Expect(t, http.StatusConflict).ErrorCode(); code != "abstimmung_closed" {
		t.Errorf("vote after the close: %q", code)
	}
	ada.Post("/api/delegationen", map[string]string{"to_account_id": cem.ID}).Expect(t, http.StatusCreated)
	inst.Advance("2d")
	after := getAbstimmung(t, ada, ids["passes"])
	if after.Tally != before.Tally || *after.Result != *before.Result || len(after.Votes) != len(before.Votes) {
		t.Fatalf("a closed Abstimmung changed: %+v → %+v", before.Tally, after.Tally)
	}
}

// Only verified residents take part; anyone may read.
func TestOnlyVerifiedResidentsGovern(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	dora := inst.Resident("Dora", lat, lon) // not verified
	admin := inst.Admin()                   // verified or not, no home here: not a resident
	inst.Verify(admin)
	a, voteID := toVote(t, inst, ada, ben, "Nur für Verifizierte")
	pending := fileAntrag(t, ada, "Noch offen")

	for _, c := range []*instancetest.Client{dora, admin} {
		before := inst.Rows()
		for _, req := range []struct {
			path string
			body any
		}{
			{"/api/antraege", map[string]string{"title": "Darf ich?"}},
			{"/api/antraege/" + pending.ID + "/einspruch", map[string]string{"reason": "Ich will auch"}},
			{"/api/abstimmungen/" + voteID + "/vote", map[string]string{"choice": "yes"}},
			{"/api/delegationen", map[string]string{"to_account_id": ada.ID}},
		} {
			if code := c.Post(req.path, req.body).Expect(t, http.StatusForbidden).ErrorCode(); code != "verified_resident_required" {
				t.Errorf("POST %s by a non-verified account: %q", req.path, code)
			}
		}
		assertNothingWritten(t, inst, before)
	}
	// Delegating to someone who may not vote is refused too.
	if code := ada.Post("/api/delegationen", map[string]string{"to_account_id": dora.ID}).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "delegate_not_eligible" {
		t.Errorf("delegation to an unverified account: %q", code)
	}
	// Reading is open to all.
	anon := inst.Client()
	anon.Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK)
	anon.Get("/api/abstimmungen/"+voteID).Expect(t, http.StatusOK)
	anon.Get("/api/delegationen").Expect(t, http.StatusOK)
	anon.Post("/api/abstimmungen/"+voteID+"/vote", map[string]string{"choice": "yes"}).Expect(t, http.StatusUnauthorized)
	if code := ada.Post("/api/abstimmungen/"+voteID+"/vote", map[string]string{"choice": "vielleicht"}).
		Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_choice" {
		t.Errorf("unknown choice: %q", code)
	}
}

// Markdown is rendered without raw HTML or script links.
func TestAntragDetailsAreRenderedSafely(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	var a antragOut
	ada.Post("/api/antraege", map[string]string{"title": "XSS", "details_md": "# Plan\n\n<script>alert(1)</script>\n\n" +
		"<img src=x onerror=alert(2)>\n\n[klick](javascript:alert(3)) <javascript:alert(4)> [gut](https://example.org)"}).
		Expect(t, http.StatusCreated).JSON(t, &a)
	for _, bad := range []string{"<script", "onerror=", `href="javascript`, "<img"} {
		if strings.Contains(a.DetailsHTML, bad) {
			t.Errorf("rendered details contain %q: %s", bad, a.DetailsHTML)
		}
	}
	for _, good := range []string{"<h1>Plan</h1>", `<a href="https://example.org">gut</a>`} {
		if !strings.Contains(a.DetailsHTML, good) {
			t.Errorf("rendered details lack %q: %s", good, a.DetailsHTML)
		}
	}
}

// A closed Abstimmung shows the count taken at its close, whatever changes afterwards: here
// every change after the close would turn the result if the count were taken again. At the
// close Cem carries Dan's weight: 2:2, rejected. Afterwards Dan's delegation is revoked (Cem
// alone: 2:1) and Eve, who did not vote, delegates to Ada (3:1): a recount would say
// angenommen.
func TestClosedAbstimmungKeepsItsCount(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)
	dan := inst.VerifiedResident("Dan", lat, lon)
	eve := inst.VerifiedResident("Eve", lat, lon)
	danCem := delegate(t, dan, cem)
	_, voteID := toVote(t, inst, ada, ben, "Spielstraße")
	castVote(t, ada, voteID, "yes")
	castVote(t, ben, voteID, "yes")
	castVote(t, cem, voteID, "no")
	inst.Advance("7d")

	closed := getAbstimmung(t, ada, voteID)
	if closed.Status != "geschlossen" || !closed.Tally.Final || closed.Result == nil || *closed.Result != "abgelehnt" ||
		closed.Tally.Yes != 2 || closed.Tally.No != 2 || closed.vote("Cem").Weight != 2 {
		t.Fatalf("at the close: %+v, result %v, Cem %+v", closed.Tally, closed.Result, closed.vote("Cem"))
	}

	dan.Do("DELETE", "/api/delegationen/"+danCem.ID, nil).Expect(t, http.StatusOK)
	delegate(t, eve, ada)
	inst.Advance("2d") // the batches: the revocation and the new delegation take effect
	var ended delegationOut
	dan.Get("/api/delegationen/"+danCem.ID).Expect(t, http.StatusOK).JSON(t, &ended)
	if ended.State != "ended" {
		t.Fatalf("Dan's revoked delegation: %+v", ended)
	}
	if ds := delegationen(t, ada, "?to="+ada.ID); len(ds) != 1 || ds[0].From.Name != "Eve" || ds[0].State != "active" {
		t.Fatalf("Eve's delegation to Ada is in effect: %+v", ds)
	}

	after := getAbstimmung(t, ada, voteID)
	if after.Tally != closed.Tally || after.Result == nil || *after.Result != "abgelehnt" ||
		after.vote("Cem").Weight != 2 || after.vote("Ada").Weight != 1 || len(after.vote("Cem").Delegated) != 1 ||
		after.vote("Cem").Delegated[0].Name != "Dan" {
		t.Fatalf("a closed Abstimmung was counted again: %+v → %+v; Ada %+v, Cem %+v", closed.Tally, after.Tally, after.vote("Ada"), after.vote("Cem"))
	}
	var eff struct {
		Final  bool `json:"final"`
		Voters []struct {
			Name   string `json:"name"`
			Weight int    `json:"weight"`
		} `json:"voters"`
	}
	ada.Get("/api/delegationen/effective?abstimmung="+voteID).Expect(t, http.StatusOK).JSON(t, &eff)
	weights := map[string]int{}
	for _, v := range eff.Voters {
		weights[v.Name] = v.Weight
	}
	if !eff.Final || weights["Cem"] != 2 || weights["Ada"] != 1 {
		t.Fatalf("the effective delegations of a closed Abstimmung are those of its close: %+v", eff)
	}
	if a := getAntrag(t, ada, closed.AntragID); a.Status != "abgelehnt" {
		t.Fatalf("the Antrag of the closed Abstimmung: %q", a.Status)
	}
}

// After its deadline an Antrag takes no Einspruch and cannot be withdrawn (409
// deadline_passed), even while the sweep that decides it has not run yet: the rule reads the
// clock, not the status.
func TestDeadlinePassedBeforeTheSweep(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	a := fileAntrag(t, ada, "Hecke schneiden")
	if _, err := inst.DevClock.Advance(7*24*time.Hour + time.Second); err != nil { // no sweep runs
		t.Fatal(err)
	}
	before := inst.Rows()
	if code := ben.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zu spät"}).
		Expect(t, http.StatusConflict).ErrorCode(); code != "deadline_passed" {
		t.Errorf("Einspruch after the deadline, before the sweep: %q", code)
	}
	if code := ada.Post("/api/antraege/"+a.ID+"/withdraw", nil).Expect(t, http.StatusConflict).ErrorCode(); code != "deadline_passed" {
		t.Errorf("withdrawing after the deadline, before the sweep: %q", code)
	}
	assertNothingWritten(t, inst, before)
	if got := getAntrag(t, ada, a.ID); got.Status != "offen" || got.EinspruchCount != 0 {
		t.Fatalf("the sweep has not decided it yet: %+v", got)
	}
	inst.Advance("0s")
	if got := getAntrag(t, ada, a.ID); got.Status != "angenommen" || !got.DecidedAt.Equal(a.DecisionDeadline) {
		t.Fatalf("the sweep accepts it as of its deadline, as no Einspruch came in time: %+v", got)
	}
}

// An Antrag about a Knoten spins the applicant's antrag Faden to it, and each voter's first
// Stimme (not a change) an abstimmung Faden; a Knoten that has dissolved by the vote takes no
// Faden, and the Stimme counts all the same.
func TestAntragAboutAKnotenSpinsFaeden(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cem := inst.VerifiedResident("Cem", lat, lon)
	kept := place(t, ada, "Brunnen")
	ada.Post("/api/faeden/"+kept.Faden.ID+"/twist", nil).Expect(t, http.StatusOK) // Garn: it lives to the vote
	gone := place(t, ada, "Bank")                                                 // dissolves before the vote

	types := func(k knotenOut) map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, f := range faeden(t, ada, k.ID) {
			out[f.AccountName+":"+f.Type]++
		}
		return out
	}
	file := func(k knotenOut) antragOut {
		t.Helper()
		var a antragOut
		ada.Post("/api/antraege", map[string]any{"title": "Über " + k.Title, "knoten_id": k.ID}).Expect(t, http.StatusCreated).JSON(t, &a)
		object(t, ben, a.ID, "Einwand")
		return a
	}
	a1, a2 := file(kept), file(gone)
	if got := types(kept); got["Ada:antrag"] != 1 {
		t.Fatalf("filing an Antrag about a Knoten spins the applicant's antrag Faden: %v", got)
	}
	inst.Advance("14d")
	vote := func(a antragOut) string {
		t.Helper()
		got := getAntrag(t, ada, a.ID)
		if got.AbstimmungID == nil {
			t.Fatalf("no Abstimmung: %+v", got)
		}
		return *got.AbstimmungID
	}
	v1, v2 := vote(a1), vote(a2)
	castVote(t, ben, v1, "yes")
	castVote(t, ben, v1, "no") // a change spins nothing
	castVote(t, cem, v1, "yes")
	if got := types(kept); got["Ben:abstimmung"] != 1 || got["Cem:abstimmung"] != 1 || got["Ada:abstimmung"] != 0 {
		t.Fatalf("each voter's first Stimme spins one abstimmung Faden: %v", got)
	}
	inst.Client().Get("/api/knoten/"+gone.ID).Expect(t, http.StatusGone)
	castVote(t, ben, v2, "yes")
	castVote(t, cem, v2, "yes")
	if v := getAbstimmung(t, ada, v2); v.Tally.Yes != 2 {
		t.Fatalf("Stimmen about a dissolved Knoten count: %+v", v.Tally)
	}
	if n := inst.Count(`SELECT count(*) FROM faeden WHERE knoten_id = $1 AND type = 'abstimmung'`, gone.ID); n != 0 {
		t.Fatalf("a dissolved Knoten took %d Fäden", n)
	}
}
