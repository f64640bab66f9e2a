package instance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// moderator makes a verified resident a moderator, as an admin does.
func moderator(t *testing.T, inst *instancetest.Instance, admin *instancetest.Client, name string) *instancetest.Client {
	t.Helper()
	m := inst.VerifiedResident(name, lat, lon)
	admin.Do("PUT", "/api/admin/accounts/"+m.ID+"/roles/moderator", nil).Expect(t, http.StatusOK)
	return m
}

// writesNothing runs requests that are refused, and fails the test if they appended an event.
func writesNothing(t *testing.T, inst *instancetest.Instance, refused func()) {
	t.Helper()
	before := inst.Count("SELECT count(*) FROM events")
	refused()
	if after := inst.Count("SELECT count(*) FROM events"); after != before {
		t.Errorf("refused requests appended %d events", after-before)
	}
}

// startModeration starts an instance with an admin and one moderator for each name: the cast
// every moderation test begins with.
func startModeration(t *testing.T, moderators ...string) (*instancetest.Instance, *instancetest.Client, []*instancetest.Client) {
	t.Helper()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	mods := make([]*instancetest.Client, len(moderators))
	for i, name := range moderators {
		mods[i] = moderator(t, inst, admin, name)
	}
	return inst, admin, mods
}

// startModerator is startModeration with one moderator, Mona.
func startModerator(t *testing.T) (*instancetest.Instance, *instancetest.Client, *instancetest.Client) {
	t.Helper()
	inst, admin, mods := startModeration(t, "Mona")
	return inst, admin, mods[0]
}

// wantCount fails the test unless query counts want rows; what names them in the message.
func wantCount(t *testing.T, inst *instancetest.Instance, want int, what, query string) {
	t.Helper()
	if n := inst.Count(query); n != want {
		t.Errorf("%d %s, want %d", n, what, want)
	}
}

// sanctionView is the sanction GET /api/me shows its account.
type sanctionView struct {
	State   string     `json:"state"`
	Reason  string     `json:"reason"`
	Until   *time.Time `json:"until"`
	Eintrag string     `json:"eintrag_id"`
}

// sanctionOf is the sanction c's account is shown (nil: none).
func sanctionOf(t *testing.T, c *instancetest.Client) *sanctionView {
	t.Helper()
	var me struct {
		Sanction *sanctionView `json:"sanction"`
	}
	c.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &me)
	return me.Sanction
}

type logOut struct {
	Eintraege []struct {
		ID        string            `json:"id"`
		Action    string            `json:"action"`
		Target    moderation.Target `json:"target"`
		Moderator struct{ ID, Name string }
		Reason    string     `json:"reason"`
		Until     *time.Time `json:"until"`
		Undoes    *string    `json:"undoes"`
		Appeal    *struct {
			State     string                     `json:"state"`
			DecidedBy *struct{ ID, Name string } `json:"decided_by"`
			Reason    string                     `json:"reason"`
		} `json:"appeal"`
	} `json:"eintraege"`
	Next *string `json:"next"`
}

func readLog(t *testing.T, c *instancetest.Client) logOut {
	t.Helper()
	var out logOut
	c.Get("/api/moderation/log").Expect(t, http.StatusOK).JSON(t, &out)
	return out
}

type queueOut struct {
	Meldungen []struct {
		ID       string              `json:"id"`
		Target   moderation.Target   `json:"target"`
		Summary  *moderation.Summary `json:"summary"`
		Reason   string              `json:"reason"`
		Source   string              `json:"source"`
		Reporter map[string]any      `json:"reporter"`
		State    string              `json:"state"`
	} `json:"meldungen"`
}

// A verified resident reports an account, by id and by its actor IRI; a second report of the
// same target is the first; the queue shows it to moderators only; a dismissal is logged
// without the reporter.
func TestReportQueueDismiss(t *testing.T) {
	t.Parallel()
	inst, _, mods := startModeration(t, "Mona Moderat")
	mod := mods[0]
	ada := inst.VerifiedResident("Ada", lat, lon)
	troll := inst.VerifiedResident("Troll", lat, lon)
	newbie := inst.Resident("Neu", lat, lon)

	first := ada.Post("/api/meldungen", map[string]string{"target": troll.ID, "reason": "beleidigt alle"}).Expect(t, http.StatusCreated).Map(t)
	if first["state"] != "open" {
		t.Fatalf("a new report: %v", first)
	}
	var me struct{ Handle string }
	troll.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &me)
	again := ada.Post("/api/meldungen", map[string]string{"target": inst.URL + "/ap/users/" + me.Handle, "reason": "schon wieder"}).
		Expect(t, http.StatusOK).Map(t)
	if again["id"] != first["id"] {
		t.Errorf("a second open report of the same account by its actor IRI: %v, want the first %v", again["id"], first["id"])
	}
	host := strings.TrimPrefix(inst.URL, "http://")
	if again := ada.Post("/api/meldungen", map[string]string{"target": "@" + me.Handle + "@" + host, "reason": "x"}).Expect(t, http.StatusOK).Map(t); again["id"] != first["id"] {
		t.Errorf("by the handle: %v, want the first report", again["id"])
	}
	if code := newbie.Post("/api/meldungen", map[string]string{"target": troll.ID, "reason": "x"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "verified_resident_required" {
		t.Errorf("an unverified resident reports: %s", code)
	}
	if code := ada.Post("/api/meldungen", map[string]string{"target": uuid.NewString(), "reason": "x"}).Expect(t, http.StatusNotFound).ErrorCode(); code != "meldung_target_unknown" {
		t.Errorf("an unknown id: %s", code)
	}
	if code := ada.Post("/api/meldungen", map[string]string{"target": troll.ID, "reason": "  "}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_reason" {
		t.Errorf("an empty reason: %s", code)
	}
	ada.Post("/api/meldungen", map[string]string{"target": "https://mastodon.example/users/spam", "reason": "Spam"}).Expect(t, http.StatusCreated)

	if code := ada.Get("/api/admin/meldungen").Expect(t, http.StatusForbidden).ErrorCode(); code != "moderator_required" {
		t.Errorf("a resident reads the queue: %s", code)
	}
	var q queueOut
	mod.Get("/api/admin/meldungen").Expect(t, http.StatusOK).JSON(t, &q)
	if len(q.Meldungen) != 2 {
		t.Fatalf("queue: %+v, want the two open reports", q)
	}
	remote, local := q.Meldungen[0], q.Meldungen[1] // newest first
	if remote.Target.Kind != moderation.KindRemote || remote.Target.ID != "https://mastodon.example/users/spam" {
		t.Errorf("a remote IRI is a remote target: %+v", remote)
	}
	if local.Target != (moderation.Target{Kind: moderation.KindAccount, ID: troll.ID}) || local.Summary == nil ||
		local.Summary.AuthorName != "Troll" || local.Reporter["id"] != ada.ID || local.Reporter["name"] != "Ada" || local.Source != "resident" {
		t.Errorf("the report of the account: %+v", local)
	}

	mod.Post("/api/admin/meldungen/"+local.ID+"/dismiss", map[string]string{"reason": "kein Verstoß"}).Expect(t, http.StatusNoContent)
	if code := mod.Post("/api/admin/meldungen/"+local.ID+"/resolve", map[string]string{"reason": "doch"}).Expect(t, http.StatusConflict).ErrorCode(); code != "meldung_closed" {
		t.Errorf("deciding a decided report: %s", code)
	}
	mod.Get("/api/admin/meldungen?state=dismissed").Expect(t, http.StatusOK).JSON(t, &q)
	if len(q.Meldungen) != 1 || q.Meldungen[0].State != "dismissed" {
		t.Errorf("dismissed queue: %+v", q)
	}
	// The public log: the dismissal, by the moderator, about the target; nothing names Ada.
	anon := inst.Client()
	res := anon.Get("/api/moderation/log").Expect(t, http.StatusOK)
	if strings.Contains(string(res.Body), ada.ID) || strings.Contains(string(res.Body), "Ada") {
		t.Errorf("the public log names the reporter: %s", res.Body)
	}
	l := readLog(t, anon)
	if len(l.Eintraege) != 1 || l.Eintraege[0].Action != "dismiss" || l.Eintraege[0].Moderator.ID != mod.ID || l.Eintraege[0].Reason != "kein Verstoß" {
		t.Errorf("log: %+v", l)
	}
}

// Suspended accounts cannot write (403 account_suspended with Retry-After) but can read, see
// the sanction and their warnings, and appeal; the suspension ends on time. A ban is an
// admin's, and so is lifting it.
func TestSanctionsKeepFromWriting(t *testing.T) {
	t.Parallel()
	inst, admin, mods := startModeration(t, "Mona Moderat")
	mod := mods[0]
	ben := inst.VerifiedResident("Ben", lat, lon)

	warn := mod.Post("/api/admin/accounts/"+ben.ID+"/warn", map[string]string{"reason": "Bitte sachlich bleiben"}).Expect(t, http.StatusOK).Map(t)
	e := mod.Post("/api/admin/accounts/"+ben.ID+"/suspend", map[string]any{"days": 3, "reason": "Beleidigungen"}).Expect(t, http.StatusOK).Map(t)
	res := ben.Patch("/api/me", map[string]string{"name": "Benni"}).Expect(t, http.StatusForbidden)
	if res.ErrorCode() != "account_suspended" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a suspended account writes: %s %s (Retry-After %q)", res.ErrorCode(), res.Body, res.Header.Get("Retry-After"))
	}
	if ra := res.Header.Get("Retry-After"); ra != fmt.Sprint(3*24*3600) && ra != fmt.Sprint(3*24*3600-1) {
		t.Errorf("Retry-After %s, want about three days", ra)
	}
	var me struct {
		Sanction *sanctionView
		Warnings []struct {
			Reason  string
			Eintrag string `json:"eintrag_id"`
		}
	}
	ben.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &me)
	if me.Sanction == nil || me.Sanction.State != "suspended" || me.Sanction.Eintrag != e["id"] ||
		len(me.Warnings) != 1 || me.Warnings[0].Reason != "Bitte sachlich bleiben" || me.Warnings[0].Eintrag != warn["id"] {
		t.Errorf("/api/me of the suspended account: %+v", me)
	}
	// The log marks the entries about the viewer for the viewer alone.
	for who, c := range map[string]*instancetest.Client{"ben": ben, "anonymous": inst.Client(), "the moderator": mod} {
		var raw struct{ Eintraege []map[string]any }
		c.Get("/api/moderation/log").Expect(t, http.StatusOK).JSON(t, &raw)
		for _, x := range raw.Eintraege {
			if yours := x["yours"] == true; yours != (who == "ben") {
				t.Errorf("%s sees yours=%v on %v", who, x["yours"], x)
			}
		}
	}
	// The appeal is open to it while suspended.
	ben.Post("/api/moderation/log/"+e["id"].(string)+"/appeal", map[string]string{"reason": "war ein Zitat"}).Expect(t, http.StatusCreated)

	if code := mod.Post("/api/admin/accounts/"+ben.ID+"/ban", map[string]string{"reason": "x"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
		t.Errorf("a moderator bans: %s", code)
	}
	admin.Post("/api/admin/accounts/"+ben.ID+"/ban", map[string]string{"reason": "wiederholt"}).Expect(t, http.StatusOK)
	if code := ben.Patch("/api/me", map[string]string{"name": "Benni"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "account_banned" {
		t.Errorf("a banned account writes: %s", code)
	}
	ben.Get("/api/moderation/log").Expect(t, http.StatusOK) // reading stays open
	if code := mod.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]string{"reason": "x"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
		t.Errorf("a moderator lifts a ban: %s", code)
	}
	admin.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]string{"reason": "Gespräch geführt"}).Expect(t, http.StatusOK)
	// The ban is lifted; the suspension still runs, and is a moderator's to lift.
	if code := ben.Patch("/api/me", map[string]string{"name": "Benni"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "account_suspended" {
		t.Errorf("after the ban's lift the suspended account writes: %s", code)
	}
	mod.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]string{"reason": "Gespräch geführt"}).Expect(t, http.StatusOK)
	ben.Patch("/api/me", map[string]string{"name": "Benni"}).Expect(t, http.StatusOK)
	if code := admin.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]string{"reason": "x"}).Expect(t, http.StatusConflict).ErrorCode(); code != "not_sanctioned" {
		t.Errorf("lifting nothing: %s", code)
	}

	// A suspension ends by itself.
	mod.Post("/api/admin/accounts/"+ben.ID+"/suspend", map[string]any{"days": 1, "reason": "nochmal"}).Expect(t, http.StatusOK)
	ben.Patch("/api/me", map[string]string{"name": "Ben"}).Expect(t, http.StatusForbidden)
	inst.Advance("25h")
	ben.Patch("/api/me", map[string]string{"name": "Ben"}).Expect(t, http.StatusOK)
	ben.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &me)
	if me.Sanction != nil {
		t.Errorf("an ended suspension still shows: %+v", me.Sanction)
	}

	l := readLog(t, inst.Client())
	var actions []string
	for _, x := range l.Eintraege {
		actions = append(actions, x.Action)
	}
	if got := strings.Join(actions, ","); got != "suspend,lift,lift,ban,suspend,warn" {
		t.Errorf("log, newest first: %s", got)
	}
}

// An appeal is decided by a moderator other than the one who acted; upheld undoes the action
// as its own entry, and the contested entry shows the decision.
func TestAppealNeedsASecondModerator(t *testing.T) {
	t.Parallel()
	inst, _, mods := startModeration(t, "Mona", "Otto")
	mona, otto := mods[0], mods[1]
	cem := inst.VerifiedResident("Cem", lat, lon)
	other := inst.VerifiedResident("Dana", lat, lon)

	e := mona.Post("/api/admin/accounts/"+cem.ID+"/suspend", map[string]any{"days": 7, "reason": "Spam"}).Expect(t, http.StatusOK).Map(t)
	entry := e["id"].(string)
	if code := other.Post("/api/moderation/log/"+entry+"/appeal", map[string]string{"reason": "für Cem"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "appeal_not_yours" {
		t.Errorf("someone else appeals: %s", code)
	}
	appeal := cem.Post("/api/moderation/log/"+entry+"/appeal", map[string]string{"reason": "kein Spam"}).Expect(t, http.StatusCreated).Map(t)
	if code := cem.Post("/api/moderation/log/"+entry+"/appeal", map[string]string{"reason": "nochmal"}).Expect(t, http.StatusConflict).ErrorCode(); code != "already_appealed" {
		t.Errorf("a second appeal: %s", code)
	}
	var q queueOut
	otto.Get("/api/admin/meldungen").Expect(t, http.StatusOK).JSON(t, &q)
	if len(q.Meldungen) != 1 || q.Meldungen[0].Source != "appeal" || q.Meldungen[0].Target.Kind != "log" || q.Meldungen[0].Target.ID != entry {
		t.Fatalf("the appeal in the queue: %+v", q)
	}
	id := appeal["id"].(string)
	if code := mona.Post("/api/admin/appeals/"+id, map[string]string{"decision": "upheld", "reason": "x"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "second_moderator_required" {
		t.Errorf("the acting moderator decides: %s", code)
	}
	if code := otto.Post("/api/admin/meldungen/"+id+"/dismiss", map[string]string{"reason": "x"}).Expect(t, http.StatusConflict).ErrorCode(); code != "meldung_is_appeal" {
		t.Errorf("an appeal dismissed as a report: %s", code)
	}
	otto.Post("/api/admin/appeals/"+id, map[string]string{"decision": "upheld", "reason": "war kein Spam"}).Expect(t, http.StatusOK)
	cem.Patch("/api/me", map[string]string{"name": "Cem A."}).Expect(t, http.StatusOK)
	if code := otto.Post("/api/admin/appeals/"+id, map[string]string{"decision": "rejected", "reason": "x"}).Expect(t, http.StatusConflict).ErrorCode(); code != "meldung_closed" {
		t.Errorf("deciding twice: %s", code)
	}

	l := readLog(t, inst.Client())
	if len(l.Eintraege) != 3 {
		t.Fatalf("log: %+v, want suspend, its lift and the decision", l)
	}
	decided, lift, suspend := l.Eintraege[0], l.Eintraege[1], l.Eintraege[2]
	if decided.Action != "appeal_decided" || lift.Action != "lift" || lift.Undoes == nil || *lift.Undoes != entry || lift.Moderator.ID != otto.ID {
		t.Errorf("the decision's entries: %+v %+v", decided, lift)
	}
	if suspend.Appeal == nil || suspend.Appeal.State != "upheld" || suspend.Appeal.DecidedBy == nil || suspend.Appeal.DecidedBy.ID != otto.ID {
		t.Errorf("the contested entry: %+v", suspend)
	}
}

// Every forbidden combination of role and moderation endpoint, through the HTTP API: a
// resident reaches none, a moderator none of the admin's, nobody acts about themselves, and a
// moderator never about an admin or another moderator. Nothing is written by a refusal.
func TestModerationRolesMatrix(t *testing.T) {
	t.Parallel()
	inst, admin, mods := startModeration(t, "Mona", "Otto")
	admin2 := inst.Admin()
	mod, mod2 := mods[0], mods[1]
	res := inst.VerifiedResident("Rita", lat, lon)
	victim := inst.VerifiedResident("Viktor", lat, lon)
	anon := inst.Client()
	report := res.Post("/api/meldungen", map[string]string{"target": victim.ID, "reason": "x"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)

	type call struct {
		method, path string
		body         any
	}
	reason := map[string]any{"reason": "Test"}
	sanction := func(id, kind string) call {
		if kind == "suspend" {
			return call{"POST", "/api/admin/accounts/" + id + "/" + kind, map[string]any{"reason": "Test", "days": 1}}
		}
		return call{"POST", "/api/admin/accounts/" + id + "/" + kind, reason}
	}
	hide := map[string]any{"target": victim.ID, "reason": "Test"}
	type tcase struct {
		who    string
		c      *instancetest.Client
		call   call
		status int
		code   string
	}
	var cases []tcase
	add := func(who string, c *instancetest.Client, cl call, status int, code string) {
		cases = append(cases, tcase{who, c, cl, status, code})
	}
	moderatorCalls := []call{
		{"GET", "/api/admin/meldungen", nil}, {"POST", "/api/admin/meldungen/" + report + "/resolve", reason},
		{"POST", "/api/admin/meldungen/" + report + "/dismiss", reason}, {"POST", "/api/admin/meldungen/" + report + "/forward", map[string]any{"comment": "x"}},
		{"POST", "/api/admin/inhalte/hide", hide}, {"POST", "/api/admin/inhalte/unhide", hide},
		sanction(victim.ID, "warn"), sanction(victim.ID, "suspend"), sanction(victim.ID, "lift"),
		{"POST", "/api/admin/appeals/" + uuid.NewString(), map[string]any{"decision": "upheld", "reason": "Test"}},
	}
	adminCalls := []call{
		sanction(victim.ID, "ban"), {"GET", "/api/admin/ipsperren", nil}, {"POST", "/api/admin/ipsperren", map[string]any{"cidr": "192.0.2.0/24", "reason": "Test"}},
		{"DELETE", "/api/admin/ipsperren/" + uuid.NewString(), nil}, {"PUT", "/api/admin/accounts/" + victim.ID + "/roles/moderator", nil},
	}
	for _, cl := range moderatorCalls {
		add("anonymous", anon, cl, http.StatusUnauthorized, "unauthenticated")
		add("resident", res, cl, http.StatusForbidden, "moderator_required")
	}
	for _, cl := range adminCalls {
		add("anonymous", anon, cl, http.StatusUnauthorized, "unauthenticated")
		add("resident", res, cl, http.StatusForbidden, "admin_required")
		add("moderator", mod, cl, http.StatusForbidden, "admin_required")
	}
	add("anonymous", anon, call{"POST", "/api/meldungen", map[string]any{"target": victim.ID, "reason": "x"}}, http.StatusUnauthorized, "unauthenticated")
	// Nobody about themselves.
	for _, kind := range []string{"warn", "suspend", "lift"} {
		add("moderator", mod, sanction(mod.ID, kind), http.StatusForbidden, "moderation_self")
		add("admin", admin, sanction(admin.ID, kind), http.StatusForbidden, "moderation_self")
	}
	add("admin", admin, sanction(admin.ID, "ban"), http.StatusForbidden, "moderation_self")
	// A moderator never about an admin or another moderator.
	for _, kind := range []string{"warn", "suspend", "lift"} {
		add("moderator", mod, sanction(mod2.ID, kind), http.StatusForbidden, "admin_required")
		add("moderator", mod, sanction(admin2.ID, kind), http.StatusForbidden, "admin_required")
	}

	writesNothing(t, inst, func() {
		for _, tc := range cases {
			r := tc.c.Do(tc.call.method, tc.call.path, tc.call.body)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Errorf("%s %s %s: %d %s, want %d %s", tc.who, tc.call.method, tc.call.path, r.Status, r.ErrorCode(), tc.status, tc.code)
			}
		}
	})
	if len(cases) < 40 {
		t.Fatalf("only %d combinations", len(cases))
	}
	// An admin may sanction a moderator.
	admin.Post("/api/admin/accounts/"+mod2.ID+"/warn", map[string]string{"reason": "ok"}).Expect(t, http.StatusOK)
}

// An address block made through one replica holds on the other, and lifting it lifts it on
// both; the public log hides the range from everyone but admins.
func TestIPBlocksHoldOnEveryReplica(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t)
	b := instancetest.Start(t, instancetest.Options{ReplicaOf: a})
	admin := a.Admin()
	blk := admin.Post("/api/admin/ipsperren", map[string]any{"cidr": "192.0.2.77/24", "reason": "Spam-Welle"}).Expect(t, http.StatusCreated).Map(t)
	if blk["cidr"] != "192.0.2.0/24" {
		t.Errorf("the range is stored masked: %v", blk["cidr"])
	}
	if !a.Moderation.Blocked("192.0.2.5") {
		t.Errorf("the replica that made the block does not hold it")
	}
	instancetest.WaitFor(t, "the block on the other replica", func() bool { return b.Moderation.Blocked("192.0.2.200:4711") })
	if a.Moderation.Blocked("192.0.3.1") || a.Moderation.Blocked("2001:db8::1") {
		t.Errorf("addresses outside the range are blocked")
	}
	if code := admin.Post("/api/admin/ipsperren", map[string]any{"cidr": "nope", "reason": "x"}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_cidr" {
		t.Errorf("a malformed range: %s", code)
	}
	var list struct{ Ipsperren []struct{ ID, CIDR string } }
	admin.Get("/api/admin/ipsperren").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Ipsperren) != 1 {
		t.Fatalf("blocks: %+v", list)
	}
	if l := readLog(t, a.Client()); len(l.Eintraege) != 1 || l.Eintraege[0].Target.ID != "" || l.Eintraege[0].Target.Kind != "ip" {
		t.Errorf("the public log shows the range: %+v", l)
	}
	if l := readLog(t, admin); l.Eintraege[0].Target.ID != "192.0.2.0/24" {
		t.Errorf("the admin's log lacks the range: %+v", l)
	}
	admin.Do("DELETE", "/api/admin/ipsperren/"+list.Ipsperren[0].ID, nil).Expect(t, http.StatusNoContent)
	if a.Moderation.Blocked("192.0.2.5") {
		t.Errorf("lifted, and still blocked here")
	}
	instancetest.WaitFor(t, "the lift on the other replica", func() bool { return !b.Moderation.Blocked("192.0.2.5") })
}

// fakeForwarder records what it was asked to forward.
type fakeForwarder struct {
	mu    sync.Mutex
	calls [][]string
}

func (f *fakeForwarder) ForwardTx(_ context.Context, _ *database.Tx, _ uuid.UUID, targets []string, comment string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, append(append([]string{}, targets...), comment))
	return nil
}

// A report about a remote account is forwarded through the Forwarder, once; a local one is not.
func TestForwardRemoteReport(t *testing.T) {
	t.Parallel()
	inst, _, mod := startModerator(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	remote := ada.Post("/api/meldungen", map[string]string{"target": "https://mastodon.example/users/troll", "reason": "Spam"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)
	local := ada.Post("/api/meldungen", map[string]string{"target": mod.ID, "reason": "x"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)

	fw := &fakeForwarder{}
	inst.Moderation.SetForwarder(nil)
	if code := mod.Post("/api/admin/meldungen/"+remote+"/forward", map[string]string{"comment": "Spam"}).Expect(t, http.StatusConflict).ErrorCode(); code != "forwarding_off" {
		t.Errorf("forwarding without a forwarder: %s", code)
	}
	inst.Moderation.SetForwarder(fw)
	if code := mod.Post("/api/admin/meldungen/"+local+"/forward", map[string]string{}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "meldung_not_remote" {
		t.Errorf("forwarding a local report: %s", code)
	}
	mod.Post("/api/admin/meldungen/"+remote+"/forward", map[string]string{"comment": "Spam von dort"}).Expect(t, http.StatusNoContent)
	if code := mod.Post("/api/admin/meldungen/"+remote+"/forward", map[string]string{}).Expect(t, http.StatusConflict).ErrorCode(); code != "meldung_forwarded" {
		t.Errorf("forwarding twice: %s", code)
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if len(fw.calls) != 1 || strings.Join(fw.calls[0], " ") != "https://mastodon.example/users/troll Spam von dort" {
		t.Errorf("forwarded: %v", fw.calls)
	}
	if l := readLog(t, inst.Client()); len(l.Eintraege) != 1 || l.Eintraege[0].Action != "forward" {
		t.Errorf("log: %+v", l)
	}
}

// fakeContent is reportable content of a kind no package owns, to test hiding through the
// Content contract before the content packages implement it.
type fakeContent struct {
	mu     sync.Mutex
	author uuid.UUID
	hidden map[string]bool
}

func (f *fakeContent) isHidden(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hidden[id]
}

func (*fakeContent) Kinds() []string { return []string{"testinhalt"} }

func (f *fakeContent) Resolve(_ context.Context, _ database.Querier, ref string) (moderation.Target, bool, error) {
	id, ok := strings.CutPrefix(ref, "testinhalt:")
	return moderation.Target{Kind: "testinhalt", ID: id}, ok, nil
}

func (f *fakeContent) Describe(_ context.Context, _ database.Querier, t moderation.Target) (moderation.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return moderation.Summary{Target: t, AuthorID: &f.author, AuthorName: "Autorin", Text: "Text " + t.ID, Hidden: f.hidden[t.ID]}, nil
}

func (f *fakeContent) HideTx(_ context.Context, _ *database.Tx, t moderation.Target, hide bool, _ uuid.UUID, _ string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hidden[t.ID] = hide
	return nil
}

// A moderator hides reported content, which resolves the report; its author appeals, and a
// second moderator's upheld decision shows it again.
func TestHideAndAppealUnhides(t *testing.T) {
	t.Parallel()
	inst, _, mods := startModeration(t, "Mona", "Otto")
	mona, otto := mods[0], mods[1]
	autorin := inst.VerifiedResident("Autorin", lat, lon)
	ada := inst.VerifiedResident("Ada", lat, lon)
	fc := &fakeContent{author: uuid.MustParse(autorin.ID), hidden: map[string]bool{}}
	inst.Moderation.Register(fc)

	rep := ada.Post("/api/meldungen", map[string]string{"target": "testinhalt:1", "reason": "Hetze"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)
	if code := mona.Post("/api/admin/inhalte/hide", map[string]string{"target": autorin.ID, "reason": "x"}).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "target_not_hideable" {
		t.Errorf("hiding an account: %s", code)
	}
	e := mona.Post("/api/admin/inhalte/hide", map[string]string{"target": "testinhalt:1", "reason": "Hetze", "meldung": rep}).Expect(t, http.StatusOK).Map(t)
	if !fc.isHidden("1") {
		t.Fatal("the content was not hidden through its Content")
	}
	if code := mona.Post("/api/admin/inhalte/hide", map[string]string{"target": "testinhalt:1", "reason": "x"}).Expect(t, http.StatusConflict).ErrorCode(); code != "already_hidden" {
		t.Errorf("hiding twice: %s", code)
	}
	var q queueOut
	mona.Get("/api/admin/meldungen?state=resolved").Expect(t, http.StatusOK).JSON(t, &q)
	if len(q.Meldungen) != 1 || q.Meldungen[0].ID != rep {
		t.Errorf("the report was not resolved by the action: %+v", q)
	}
	ap := autorin.Post("/api/moderation/log/"+e["id"].(string)+"/appeal", map[string]string{"reason": "Satire"}).Expect(t, http.StatusCreated).Map(t)
	otto.Post("/api/admin/appeals/"+ap["id"].(string), map[string]string{"decision": "upheld", "reason": "erkennbar Satire"}).Expect(t, http.StatusOK)
	if fc.isHidden("1") {
		t.Error("the upheld appeal did not show the content again")
	}
	l := readLog(t, inst.Client())
	var actions []string
	for _, x := range l.Eintraege {
		actions = append(actions, x.Action)
	}
	if got := strings.Join(actions, ","); got != "appeal_decided,unhide,hide" {
		t.Errorf("log: %s", got)
	}
	b, _ := json.Marshal(l)
	if strings.Contains(string(b), ada.ID) {
		t.Errorf("the log names the reporter: %s", b)
	}
}

// An incoming Flag queues one report per local target (remote and unknown objects left out),
// from the server's actor; the word filter's hold queues one report per content, however often
// it holds it; the queue pages.
func TestFlagAndHoldReports(t *testing.T) {
	t.Parallel()
	inst, _, mod := startModerator(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	var me struct{ Handle string }
	ada.Get("/api/me").Expect(t, http.StatusOK).JSON(t, &me)
	ctx := context.Background()
	const actor = "https://mastodon.example/actor"
	err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		n, err := inst.Moderation.FlagTx(ctx, tx, actor, []string{inst.URL + "/ap/users/" + me.Handle, ada.ID,
			"https://mastodon.example/users/x", uuid.NewString()}, "Spam\x00 von hier", inst.DevClock.Now())
		if n != 1 {
			t.Errorf("a Flag of one local account (twice), a remote one and an unknown id: %d reports, want 1", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeContent{author: uuid.MustParse(ada.ID), hidden: map[string]bool{}}
	inst.Moderation.Register(fc)
	for range 2 {
		err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
			return inst.Moderation.HoldTx(ctx, tx, moderation.Target{Kind: "testinhalt", ID: "7"}, moderation.Verdict{Action: moderation.ActionHold, Word: "*mist*"}, inst.DevClock.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var q queueOut
	var next struct{ Next *string }
	res := mod.Get("/api/admin/meldungen?limit=1").Expect(t, http.StatusOK)
	res.JSON(t, &q)
	res.JSON(t, &next)
	if len(q.Meldungen) != 1 || next.Next == nil || q.Meldungen[0].Source != "wortfilter" || q.Meldungen[0].Reporter != nil ||
		q.Meldungen[0].Reason != "wortfilter: *mist*" || q.Meldungen[0].Summary == nil || q.Meldungen[0].Summary.Text != "Text 7" {
		t.Fatalf("first page: %+v next %v", q, next.Next)
	}
	mod.Get("/api/admin/meldungen?limit=1&before="+*next.Next).Expect(t, http.StatusOK).JSON(t, &q)
	if len(q.Meldungen) != 1 || q.Meldungen[0].Source != "fediverse" || q.Meldungen[0].Reporter["actor"] != actor ||
		q.Meldungen[0].Reason != "Spam von hier" || q.Meldungen[0].Target != (moderation.Target{Kind: moderation.KindAccount, ID: ada.ID}) {
		t.Errorf("second page: %+v", q)
	}
	res = mod.Get("/api/admin/meldungen?limit=1&before="+q.Meldungen[0].ID).Expect(t, http.StatusOK)
	res.JSON(t, &q)
	res.JSON(t, &next)
	if len(q.Meldungen) != 0 || next.Next != nil {
		t.Errorf("after the last: %+v %v", q, next.Next)
	}
}

// Bad input to the moderation routes is refused with its code and writes nothing.
func TestModerationBadInput(t *testing.T) {
	t.Parallel()
	inst, admin, mod := startModerator(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	rep := ada.Post("/api/meldungen", map[string]string{"target": mod.ID, "reason": "x"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)
	e := mod.Post("/api/admin/accounts/"+ada.ID+"/warn", map[string]string{"reason": "x"}).Expect(t, http.StatusOK).Map(t)["id"].(string)
	long := strings.Repeat("ä", 1001)
	cases := []struct {
		c            *instancetest.Client
		method, path string
		body         any
		status       int
		code         string
	}{
		{ada, "POST", "/api/meldungen", map[string]string{"reason": "x"}, 422, "missing_field"},
		{ada, "POST", "/api/meldungen", map[string]string{"target": mod.ID, "reason": long}, 422, "invalid_reason"},
		{ada, "POST", "/api/meldungen", map[string]string{"target": mod.ID, "reason": "a\x07b"}, 422, "invalid_reason"},
		// Not https (nor http, which this dev instance takes like its federation: resolve_test.go).
		{ada, "POST", "/api/meldungen", map[string]string{"target": "ftp://evil.example/x", "reason": "x"}, 404, "meldung_target_unknown"},
		{ada, "POST", "/api/meldungen", map[string]string{"target": inst.URL + "/ap/users/niemand", "reason": "x"}, 404, "meldung_target_unknown"},
		{mod, "GET", "/api/admin/meldungen?state=offen", nil, 422, "invalid_state"},
		{mod, "GET", "/api/admin/meldungen?limit=0", nil, 422, "invalid_limit"},
		{mod, "GET", "/api/admin/meldungen?before=x", nil, 422, "invalid_before"},
		{mod, "POST", "/api/admin/meldungen/" + rep + "/resolve", map[string]string{}, 422, "missing_field"},
		{mod, "POST", "/api/admin/meldungen/" + rep + "/resolve", map[string]string{"reason": long}, 422, "invalid_reason"},
		{mod, "POST", "/api/admin/meldungen/42/dismiss", map[string]string{"reason": "x"}, 404, "meldung_not_found"},
		{mod, "POST", "/api/admin/meldungen/" + rep + "/forward", map[string]string{"comment": long}, 422, "invalid_comment"},
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/suspend", map[string]any{"reason": "x"}, 422, "missing_field"},
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/suspend", map[string]any{"days": 0, "reason": "x"}, 422, "invalid_days"},
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/suspend", map[string]any{"days": 366, "reason": "x"}, 422, "invalid_days"},
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/suspend", map[string]any{"days": "3", "reason": "x"}, 400, "invalid_field_type"},
		{mod, "POST", "/api/admin/accounts/" + uuid.NewString() + "/warn", map[string]any{"reason": "x"}, 404, "account_not_found"},
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/warn", map[string]any{"reason": "x", "sanction": "ban"}, 400, "unknown_field"}, // a lift's only
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/lift", map[string]any{"sanction": "ban"}, 422, "missing_field"},
		{mod, "POST", "/api/admin/accounts/" + ada.ID + "/warn", map[string]any{"reason": "x", "meldung": uuid.NewString()}, 404, "meldung_not_found"},
		{mod, "POST", "/api/admin/inhalte/hide", map[string]any{"target": "https://mastodon.example/@x", "reason": "x"}, 422, "target_not_hideable"},
		{mod, "POST", "/api/admin/appeals/" + rep, map[string]string{"decision": "upheld", "reason": "x"}, 404, "appeal_not_found"},
		{mod, "POST", "/api/admin/appeals/" + uuid.NewString(), map[string]string{"decision": "vielleicht", "reason": "x"}, 422, "invalid_decision"},
		{ada, "POST", "/api/moderation/log/" + e + "/appeal", map[string]string{"reason": ""}, 422, "invalid_reason"},
		{ada, "POST", "/api/moderation/log/" + uuid.NewString() + "/appeal", map[string]string{"reason": "x"}, 404, "eintrag_not_found"},
		{admin, "POST", "/api/admin/ipsperren", map[string]any{"cidr": "10.0.0.0/33", "reason": "x"}, 422, "invalid_cidr"},
		{admin, "POST", "/api/admin/ipsperren", map[string]any{"cidr": "10.0.0.0/8", "days": -1, "reason": "x"}, 422, "invalid_days"},
		{admin, "DELETE", "/api/admin/ipsperren/" + uuid.NewString(), nil, 404, "ipsperre_not_found"},
	}
	writesNothing(t, inst, func() {
		for _, c := range cases {
			r := c.c.Do(c.method, c.path, c.body)
			if r.Status != c.status || r.ErrorCode() != c.code {
				t.Errorf("%s %s %v: %d %s, want %d %s", c.method, c.path, c.body, r.Status, r.ErrorCode(), c.status, c.code)
			}
		}
	})
}

// A moderator reported is not the one to close the report: dismissing or resolving a report
// about their own account, or closing it as the "meldung" of some other action, is 403
// moderation_self and leaves the report open for another moderator.
func TestModeratorCannotCloseReportsAboutThemselves(t *testing.T) {
	t.Parallel()
	inst, admin, mod := startModerator(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	other := inst.VerifiedResident("Otto", lat, lon)
	report := ada.Post("/api/meldungen", map[string]string{"target": mod.ID, "reason": "moderiert parteiisch"}).
		Expect(t, http.StatusCreated).Map(t)["id"].(string)

	writesNothing(t, inst, func() {
		for _, path := range []string{"/dismiss", "/resolve"} {
			if code := mod.Post("/api/admin/meldungen/"+report+path, map[string]string{"reason": "erledigt"}).
				Expect(t, http.StatusForbidden).ErrorCode(); code != "moderation_self" {
				t.Errorf("the reported moderator %s the report about them: %s, want moderation_self", path, code)
			}
		}
		if code := mod.Post("/api/admin/accounts/"+other.ID+"/warn", map[string]any{"reason": "irgendwas", "meldung": report}).
			Expect(t, http.StatusForbidden).ErrorCode(); code != "moderation_self" {
			t.Errorf("the reported moderator closes the report about them through a warning of someone else: %s, want moderation_self", code)
		}
	})
	var q queueOut
	admin.Get("/api/admin/meldungen").Expect(t, http.StatusOK).JSON(t, &q)
	if len(q.Meldungen) != 1 || q.Meldungen[0].ID != report || q.Meldungen[0].State != "open" {
		t.Fatalf("queue: %+v, want the report still open", q)
	}
	// Another moderator (here an admin) decides it.
	admin.Post("/api/admin/meldungen/"+report+"/dismiss", map[string]string{"reason": "kein Verstoß"}).Expect(t, http.StatusNoContent)
}

// Two moderators hiding the same message at once: one hides it, the other is told it is
// hidden already (409 already_hidden); the public log holds one hide, as the chat holds one
// NachrichtEntfernt. The test holds the message's row lock until both requests wait for it,
// so that both have looked at the message before either hides it.
func TestConcurrentHidesLogOnce(t *testing.T) {
	t.Parallel()
	inst, _, mods := startModeration(t, "Mona", "Otto")
	ben := inst.VerifiedResident("Ben", lat, lon)
	var msg struct{ ID string }
	ben.Post("/api/chat", map[string]string{"text": "Nachricht"}).Expect(t, http.StatusCreated).JSON(t, &msg)

	ctx := context.Background()
	lock, err := inst.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck
	if _, err := lock.Exec(ctx, `SELECT FROM chat_nachrichten WHERE id = $1 FOR UPDATE`, msg.ID); err != nil {
		t.Fatal(err)
	}
	statuses := make([]int, len(mods))
	var wg sync.WaitGroup
	for j, m := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[j] = m.Post("/api/admin/inhalte/hide", map[string]string{"target": msg.ID, "reason": "beleidigend"}).Status
		}()
	}
	// Wait for both to block on a lock (the row's, or one taken before it), never a fixed time;
	// a request that answers without waiting would leave this loop waiting for good.
	for waiting, deadline := 0, time.Now().Add(instancetest.Patience); waiting < len(mods); {
		if err := inst.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d hides wait for the lock within %v", waiting, len(mods), instancetest.Patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
		}
	}
	if ok != 1 || conflict != 1 {
		t.Errorf("a message hidden twice at once: %v, want one 200 and one 409", statuses)
	}
	wantCount(t, inst, 1, "hide entries in the log for one hide", "SELECT count(*) FROM moderation_log WHERE action = 'hide'")
}

// A report forwarded without a comment: the public log's entry must not carry the reporter's
// words (the report is never public; they may name the reporter).
func TestForwardWithoutCommentKeepsTheReportPrivate(t *testing.T) {
	t.Parallel()
	inst, _, mod := startModerator(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	words := "Ich, Ada aus der Lindenstraße 3, werde von diesem Konto belästigt"
	remote := ada.Post("/api/meldungen", map[string]string{"target": "https://mastodon.example/users/troll", "reason": words}).
		Expect(t, http.StatusCreated).Map(t)["id"].(string)
	inst.Moderation.SetForwarder(&fakeForwarder{})
	mod.Post("/api/admin/meldungen/"+remote+"/forward", map[string]string{}).Expect(t, http.StatusNoContent)
	res := inst.Client().Get("/api/moderation/log").Expect(t, http.StatusOK)
	if strings.Contains(string(res.Body), "Lindenstraße") {
		t.Errorf("the public log shows the report's words: %s", res.Body)
	}
	if l := readLog(t, inst.Client()); len(l.Eintraege) != 1 || l.Eintraege[0].Action != "forward" {
		t.Errorf("log: %+v", l)
	}
}

// An upheld appeal of a suspension undoes that suspension only: when an admin has banned the
// account since, the ban stays, whoever decides the appeal (a moderator's decision is not
// refused for want of an admin's right, an admin's does not lift the ban with it).
func TestUpheldAppealOfASuspensionKeepsALaterBan(t *testing.T) {
	t.Parallel()
	inst, admin, mods := startModeration(t, "Mona", "Otto")
	admin2 := inst.Admin()
	mona, otto := mods[0], mods[1]
	for _, decider := range []*instancetest.Client{otto, admin2} {
		cem := inst.VerifiedResident("Cem", lat, lon)
		entry := mona.Post("/api/admin/accounts/"+cem.ID+"/suspend", map[string]any{"days": 7, "reason": "Spam"}).
			Expect(t, http.StatusOK).Map(t)["id"].(string)
		admin.Post("/api/admin/accounts/"+cem.ID+"/ban", map[string]any{"reason": "Hetze"}).Expect(t, http.StatusOK)
		appeal := cem.Post("/api/moderation/log/"+entry+"/appeal", map[string]string{"reason": "kein Spam"}).
			Expect(t, http.StatusCreated).Map(t)["id"].(string)
		decider.Post("/api/admin/appeals/"+appeal, map[string]string{"decision": "upheld", "reason": "war kein Spam"}).Expect(t, http.StatusOK)
		if s := sanctionOf(t, cem); s == nil || s.State != "banned" {
			t.Errorf("after the upheld appeal of the earlier suspension: sanction %+v, want still banned", s)
		}
		if code := cem.Patch("/api/me", map[string]string{"name": "Cem B."}).Expect(t, http.StatusForbidden).ErrorCode(); code != "account_banned" {
			t.Errorf("the banned account writes: %s", code)
		}
		// The upheld appeal lifted the suspension: once the ban is lifted, nothing holds.
		admin.Post("/api/admin/accounts/"+cem.ID+"/lift", map[string]string{"reason": "vorbei"}).Expect(t, http.StatusOK)
		cem.Patch("/api/me", map[string]string{"name": "Cem B."}).Expect(t, http.StatusOK)
	}
}

// A suspension of an account banned already leaves the ban the sanction in force: the account
// is still shown the ban's reason, and an upheld appeal of the ban lifts it.
func TestSuspendingABannedAccountKeepsTheBanAppealable(t *testing.T) {
	t.Parallel()
	inst, admin, mods := startModeration(t, "Mona")
	admin2 := inst.Admin()
	mona := mods[0]
	cem := inst.VerifiedResident("Cem", lat, lon)
	ban := admin.Post("/api/admin/accounts/"+cem.ID+"/ban", map[string]any{"reason": "Hetze"}).Expect(t, http.StatusOK).Map(t)["id"].(string)
	mona.Post("/api/admin/accounts/"+cem.ID+"/suspend", map[string]any{"days": 3, "reason": "Spam"}).Expect(t, http.StatusOK)
	if s := sanctionOf(t, cem); s == nil || s.State != "banned" || s.Reason != "Hetze" || s.Eintrag != ban {
		t.Errorf("the banned, then suspended account is shown %+v, want the ban (%s, Hetze)", s, ban)
	}
	appeal := cem.Post("/api/moderation/log/"+ban+"/appeal", map[string]string{"reason": "keine Hetze"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)
	admin2.Post("/api/admin/appeals/"+appeal, map[string]string{"decision": "upheld", "reason": "war keine Hetze"}).Expect(t, http.StatusOK)
	// The ban is lifted; the suspension since, still running, stays in force with its reason.
	if s := sanctionOf(t, cem); s == nil || s.State != "suspended" || s.Reason != "Spam" {
		t.Errorf("after the upheld appeal of the ban: %+v, want the ban lifted and the suspension (Spam) in force", s)
	}
}

// An action answers a report only when it acts on what was reported: the reported content
// itself, the reported account, or (warn, suspend, ban) the author of the reported content.
// Anything else is 422 meldung_target_mismatch, nothing written, the report still open.
func TestActionMustAnswerItsReport(t *testing.T) {
	t.Parallel()
	inst, _, mod := startModerator(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	troll := inst.VerifiedResident("Troll", lat, lon)
	otto := inst.VerifiedResident("Otto", lat, lon)
	var trollMsg, ottoMsg struct{ ID string }
	troll.Post("/api/chat", map[string]string{"text": "Beleidigung"}).Expect(t, http.StatusCreated).JSON(t, &trollMsg)
	otto.Post("/api/chat", map[string]string{"text": "Hallo"}).Expect(t, http.StatusCreated).JSON(t, &ottoMsg)
	report := func(target string) string {
		return ada.Post("/api/meldungen", map[string]string{"target": target, "reason": "bitte prüfen"}).Expect(t, http.StatusCreated).Map(t)["id"].(string)
	}
	aboutMsg, aboutTroll := report(trollMsg.ID), report(troll.ID)

	type call struct {
		path string
		body map[string]any
	}
	mismatched := []call{
		{"/api/admin/inhalte/hide", map[string]any{"target": ottoMsg.ID, "reason": "x", "meldung": aboutMsg}},            // other content
		{"/api/admin/accounts/" + otto.ID + "/warn", map[string]any{"reason": "x", "meldung": aboutMsg}},                 // not the author
		{"/api/admin/accounts/" + otto.ID + "/suspend", map[string]any{"days": 1, "reason": "x", "meldung": aboutTroll}}, // another account
		{"/api/admin/inhalte/hide", map[string]any{"target": trollMsg.ID, "reason": "x", "meldung": aboutTroll}},         // content, not the account
	}
	writesNothing(t, inst, func() {
		for _, c := range mismatched {
			if code := mod.Post(c.path, c.body).Expect(t, http.StatusUnprocessableEntity).ErrorCode(); code != "meldung_target_mismatch" {
				t.Errorf("%s %v: %s, want meldung_target_mismatch", c.path, c.body, code)
			}
		}
	})
	wantCount(t, inst, 2, "reports open after the refusals", "SELECT count(*) FROM moderation_meldungen WHERE state = 'open'")

	// The author of the reported message is warned, answering the report about the message; the
	// reported account suspended, answering the report about it; both reports resolved.
	mod.Post("/api/admin/accounts/"+troll.ID+"/warn", map[string]any{"reason": "Beleidigung im Chat", "meldung": aboutMsg}).Expect(t, http.StatusOK)
	mod.Post("/api/admin/accounts/"+troll.ID+"/suspend", map[string]any{"days": 2, "reason": "wiederholt", "meldung": aboutTroll}).Expect(t, http.StatusOK)
	aboutOtto := report(ottoMsg.ID)
	mod.Post("/api/admin/inhalte/hide", map[string]any{"target": ottoMsg.ID, "reason": "x", "meldung": aboutOtto}).Expect(t, http.StatusOK)
	wantCount(t, inst, 3, "reports resolved", "SELECT count(*) FROM moderation_meldungen WHERE state = 'resolved'")
}

// A ban and a suspension are lifted each on its own: lifting a ban leaves a suspension that
// still runs in force (shown on /api/me, writes refused), and the reverse. "sanction" names
// which; without it the strongest in force is lifted. A ban is an admin's to lift, a
// suspension a moderator's too.
func TestBanAndSuspensionAreLiftedApart(t *testing.T) {
	t.Parallel()
	inst, admin, mod := startModerator(t)
	ben := inst.VerifiedResident("Ben", lat, lon)
	lift := func(c *instancetest.Client, body map[string]any, status int) *instancetest.Response {
		t.Helper()
		return c.Post("/api/admin/accounts/"+ben.ID+"/lift", body).Expect(t, status)
	}

	susp := mod.Post("/api/admin/accounts/"+ben.ID+"/suspend", map[string]any{"days": 3, "reason": "Beleidigungen"}).Expect(t, http.StatusOK).Map(t)["id"].(string)
	admin.Post("/api/admin/accounts/"+ben.ID+"/ban", map[string]any{"reason": "Hetze"}).Expect(t, http.StatusOK)

	writesNothing(t, inst, func() {
		if code := lift(mod, map[string]any{"reason": "x"}, http.StatusForbidden).ErrorCode(); code != "admin_required" {
			t.Errorf("a moderator lifts the strongest (the ban): %s", code)
		}
		if code := lift(mod, map[string]any{"reason": "x", "sanction": "ban"}, http.StatusForbidden).ErrorCode(); code != "admin_required" {
			t.Errorf("a moderator lifts the ban: %s", code)
		}
		if code := lift(admin, map[string]any{"reason": "x", "sanction": "bann"}, http.StatusUnprocessableEntity).ErrorCode(); code != "invalid_sanction" {
			t.Errorf("an unknown sanction: %s", code)
		}
	})

	lift(admin, map[string]any{"reason": "Gespräch geführt", "sanction": "ban"}, http.StatusOK)
	if s := sanctionOf(t, ben); s == nil || s.State != "suspended" || s.Reason != "Beleidigungen" || s.Eintrag != susp || s.Until == nil {
		t.Errorf("after the ban's lift: %+v, want the suspension (%s, Beleidigungen) still in force", s, susp)
	}
	if code := ben.Patch("/api/me", map[string]string{"name": "Benni"}).Expect(t, http.StatusForbidden).ErrorCode(); code != "account_suspended" {
		t.Errorf("the suspended account writes after the ban's lift: %s", code)
	}
	if code := lift(admin, map[string]any{"reason": "x", "sanction": "ban"}, http.StatusConflict).ErrorCode(); code != "not_sanctioned" {
		t.Errorf("lifting a ban not in force: %s", code)
	}
	wantCount(t, inst, 1, "SperreAufgehoben naming the ban", `SELECT count(*) FROM events WHERE type = 'SperreAufgehoben' AND payload->>'sanction' = 'ban'`)

	// The reverse: banned again, the moderator lifts the suspension; the ban stays.
	admin.Post("/api/admin/accounts/"+ben.ID+"/ban", map[string]any{"reason": "Hetze"}).Expect(t, http.StatusOK)
	lift(mod, map[string]any{"reason": "abgesessen", "sanction": "suspension"}, http.StatusOK)
	if s := sanctionOf(t, ben); s == nil || s.State != "banned" || s.Reason != "Hetze" {
		t.Errorf("after the suspension's lift: %+v, want still banned", s)
	}
	if code := lift(mod, map[string]any{"reason": "x", "sanction": "suspension"}, http.StatusConflict).ErrorCode(); code != "not_sanctioned" {
		t.Errorf("lifting a suspension not in force: %s", code)
	}
	lift(admin, map[string]any{"reason": "vorbei"}, http.StatusOK) // the strongest: the ban
	if s := sanctionOf(t, ben); s != nil {
		t.Errorf("after both lifts: %+v", s)
	}
	ben.Patch("/api/me", map[string]string{"name": "Benni"}).Expect(t, http.StatusOK)
	wantCount(t, inst, 1, "SperreAufgehoben naming the suspension", `SELECT count(*) FROM events WHERE type = 'SperreAufgehoben' AND payload->>'sanction' = 'suspension'`)
}

// Whoever delegated their vote to an account that is banned or suspended is told so on the
// delegation (the delegation list the Webrat reads); the delegation itself stays.
func TestDelegationShowsTheDelegatesSanction(t *testing.T) {
	t.Parallel()
	inst, admin, _ := startModeration(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	ada.Post("/api/delegationen", map[string]string{"to_account_id": ben.ID}).Expect(t, http.StatusCreated)
	sanctionOf := func() (string, int) {
		t.Helper()
		var out struct {
			Delegationen []struct {
				Sanction string `json:"delegate_sanction"`
			} `json:"delegationen"`
		}
		ada.Get("/api/delegationen?from="+ada.ID).Expect(t, http.StatusOK).JSON(t, &out)
		if len(out.Delegationen) == 0 {
			return "", 0
		}
		return out.Delegationen[0].Sanction, len(out.Delegationen)
	}
	if s, n := sanctionOf(); s != "" || n != 1 {
		t.Fatalf("before any sanction: %q (%d delegations)", s, n)
	}
	admin.Post("/api/admin/accounts/"+ben.ID+"/ban", map[string]any{"reason": "Hetze"}).Expect(t, http.StatusOK)
	if s, n := sanctionOf(); s != "banned" || n != 1 {
		t.Errorf("delegate banned: %q (%d delegations), want banned and the delegation kept", s, n)
	}
	admin.Post("/api/admin/accounts/"+ben.ID+"/lift", map[string]any{"reason": "x"}).Expect(t, http.StatusOK)
	admin.Post("/api/admin/accounts/"+ben.ID+"/suspend", map[string]any{"days": 2, "reason": "x"}).Expect(t, http.StatusOK)
	if s, _ := sanctionOf(); s != "suspended" {
		t.Errorf("delegate suspended: %q", s)
	}
	inst.Advance("49h")
	if s, n := sanctionOf(); s != "" || n != 1 {
		t.Errorf("after the suspension ended: %q (%d delegations)", s, n)
	}
}

// A moderator an admin suspended or banned no longer reads what only moderators read — the
// queue with its reporters, the residents' list — though the role stays until an admin takes
// it: a sanctioned moderator acts on nothing, and reads nothing of the moderation's either.
// Public reads and the account's own stay open.
func TestSanctionedModeratorReadsNoModeration(t *testing.T) {
	t.Parallel()
	inst, admin, mona := startModerator(t)
	rita := inst.VerifiedResident("Rita", lat, lon)
	rita.Post("/api/meldungen", map[string]string{"target": inst.VerifiedResident("Viktor", lat, lon).ID, "reason": "Droht"}).Expect(t, http.StatusCreated)
	moderationReads := []string{"/api/admin/meldungen", "/api/admin/accounts?verified=false"}
	reads := func(want int, code string) {
		t.Helper()
		for _, path := range moderationReads {
			if r := mona.Get(path); r.Status != want || r.ErrorCode() != code {
				t.Errorf("GET %s: %d %s, want %d %s", path, r.Status, r.ErrorCode(), want, code)
			}
		}
		for _, path := range []string{"/api/me", "/api/moderation/log"} {
			mona.Get(path).Expect(t, http.StatusOK)
		}
	}
	reads(http.StatusOK, "")
	if body := string(mona.Get("/api/admin/meldungen").Body); !strings.Contains(body, "Rita") {
		t.Fatalf("the queue names no reporter: %s", body)
	}

	admin.Post("/api/admin/accounts/"+mona.ID+"/suspend", map[string]any{"days": 3, "reason": "Hat Meldende bloßgestellt"}).Expect(t, http.StatusOK)
	reads(http.StatusForbidden, "account_suspended")
	admin.Post("/api/admin/accounts/"+mona.ID+"/lift", map[string]any{"reason": "Geklärt"}).Expect(t, http.StatusOK)
	reads(http.StatusOK, "")
	admin.Post("/api/admin/accounts/"+mona.ID+"/ban", map[string]any{"reason": "Wieder bloßgestellt"}).Expect(t, http.StatusOK)
	reads(http.StatusForbidden, "account_banned")
}

// An admin another admin banned reads the moderation log as the public does: without the
// ranges of address blocks, which only admins are shown.
func TestBannedAdminReadsThePublicLog(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada, bea := inst.Admin(), inst.Admin()
	ada.Post("/api/admin/ipsperren", map[string]any{"cidr": "192.0.2.0/24", "reason": "Spam-Welle"}).Expect(t, http.StatusCreated)
	rangeShown := func() bool {
		for _, e := range readLog(t, ada).Eintraege {
			if e.Target.Kind == "ip" && e.Target.ID != "" {
				return true
			}
		}
		return false
	}
	if !rangeShown() {
		t.Fatal("the admin's log lacks the range")
	}
	bea.Post("/api/admin/accounts/"+ada.ID+"/ban", map[string]any{"reason": "Hat Sperren missbraucht"}).Expect(t, http.StatusOK)
	if rangeShown() {
		t.Error("the banned admin's log still shows the range")
	}
	// Her own entry, the ban, is still marked hers: she may appeal it.
	var log struct {
		Eintraege []struct {
			Action string `json:"action"`
			Yours  bool   `json:"yours"`
		} `json:"eintraege"`
	}
	ada.Get("/api/moderation/log").Expect(t, http.StatusOK).JSON(t, &log)
	if len(log.Eintraege) == 0 || log.Eintraege[0].Action != "ban" || !log.Eintraege[0].Yours {
		t.Errorf("the banned admin's log does not mark her ban as hers: %+v", log.Eintraege)
	}
}
