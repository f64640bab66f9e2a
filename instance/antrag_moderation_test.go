package instance_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// wordList is a stand-in for the word filter (instance/wortfilter): its contract, not its
// matching.
type wordList map[string]string // word → moderation.ActionBlock or ActionHold

func (f wordList) Check(texts ...string) moderation.Verdict {
	for _, t := range texts {
		for w, action := range f {
			if strings.Contains(strings.ToLower(t), w) {
				return moderation.Verdict{Action: action, Word: w}
			}
		}
	}
	return moderation.Verdict{}
}

// queue is a stand-in for the moderators' queue: it records what was held.
type queue struct {
	mu   sync.Mutex
	held []moderation.Target
}

func (q *queue) HoldTx(_ context.Context, _ *database.Tx, t moderation.Target, _ moderation.Verdict, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held = append(q.held, t)
	return nil
}

func (q *queue) has(t moderation.Target) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, h := range q.held {
		if h == t {
			return true
		}
	}
	return false
}

// moderate hides (or shows again) a target as a moderator's action would, at the instance's
// clock.
func moderate(t *testing.T, inst *instancetest.Instance, by *instancetest.Client, c moderation.Content, target moderation.Target, hide bool) {
	t.Helper()
	if err := database.InTx(context.Background(), inst.Pool, func(tx *database.Tx) error {
		return c.HideTx(context.Background(), tx, target, hide, uuid.MustParse(by.ID), "Hausregeln", inst.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
}

// dumpSection is what a snapshot holds of one section now, as text.
func dumpSection(t *testing.T, inst *instancetest.Instance, name string) string {
	t.Helper()
	var b strings.Builder
	for _, sec := range instance.SnapshotSections() {
		if sec.Name() != name {
			continue
		}
		if err := sec.Dump(context.Background(), inst.Pool, nil, func(o snapshot.Object) error {
			b.WriteString(o.ID + " " + string(o.JSON) + "\n")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func antragListed(t *testing.T, c *instancetest.Client, id string) bool {
	t.Helper()
	var out struct{ Antraege []struct{ ID string } }
	c.Get("/api/antraege").Expect(t, http.StatusOK).JSON(t, &out)
	for _, a := range out.Antraege {
		if a.ID == id {
			return true
		}
	}
	return false
}

// A moderator hides an Antrag: it is gone from the list and its page for everyone but its
// applicant, who sees it marked; no one can object to it; its clock stands still, so it is
// not accepted unseen; snapshots hold it without its words. Shown again, its deadline has
// moved by the time it was hidden.
func TestHiddenAntrag(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	gerda := inst.VerifiedResident("Gerda", 51.3362, 12.3363)
	hans := inst.VerifiedResident("Hans", 51.3370, 12.3370)
	a := fileAntrag(t, gerda, "Geheimplan Marktplatz")
	if !antragListed(t, hans, a.ID) {
		t.Fatal("a new Antrag is not listed")
	}

	mod, admin := inst.Antraege.Moderation(inst.URL), inst.Admin()
	target, ok, err := mod.Resolve(context.Background(), inst.Pool, inst.URL+"/antraege/"+a.ID)
	if err != nil || !ok || target != (moderation.Target{Kind: moderation.KindAntrag, ID: a.ID}) {
		t.Fatalf("resolve its page: %+v %v %v", target, ok, err)
	}
	moderate(t, inst, admin, mod, target, true)

	for _, c := range []*instancetest.Client{hans, inst.Client()} {
		if antragListed(t, c, a.ID) {
			t.Fatal("a hidden Antrag is listed for others")
		}
		if code := c.Get("/api/antraege/"+a.ID).Expect(t, http.StatusGone).ErrorCode(); code != "antrag_hidden" {
			t.Fatalf("code %q", code)
		}
	}
	var own struct {
		Title  string
		Hidden bool
	}
	gerda.Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &own)
	if !own.Hidden || own.Title != "Geheimplan Marktplatz" {
		t.Fatalf("its applicant is not shown it marked: %+v", own)
	}
	if code := hans.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Nein."}).
		Expect(t, http.StatusGone).ErrorCode(); code != "antrag_hidden" {
		t.Fatalf("objecting to a hidden Antrag: %q", code)
	}
	if dump := dumpSection(t, inst, "antraege"); !strings.Contains(dump, a.ID) || strings.Contains(dump, "Geheimplan") {
		t.Fatalf("the snapshot holds the hidden Antrag's words, or not the Antrag:\n%s", dump)
	}
	other := fileAntrag(t, hans, "Offen sichtbar")
	if h, err := inst.Antraege.Hidden(context.Background(), []uuid.UUID{uuid.MustParse(a.ID), uuid.MustParse(other.ID), uuid.New()}); err != nil ||
		len(h) != 1 || !h[uuid.MustParse(a.ID)] {
		t.Fatalf("hidden for the timeline: %v %v", h, err)
	}

	inst.Advance("8d") // past its deadline: hidden, it waits
	gerda.Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &own)
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'AntragAngenommen' AND subject_id = $1`, a.ID); n != 0 {
		t.Fatal("a hidden Antrag was accepted at its deadline")
	}

	moderate(t, inst, admin, mod, target, false)
	back := getAntrag(t, hans, a.ID)
	// The dev clock also runs on its own: the deadline moves by 8 days and the seconds the test took.
	if moved := back.DecisionDeadline.Sub(a.DecisionDeadline); back.Status != antrag.Offen || moved < 8*24*time.Hour || moved > 8*24*time.Hour+time.Hour {
		t.Fatalf("shown again: %s, deadline %s (was %s)", back.Status, back.DecisionDeadline, a.DecisionDeadline)
	}
	if !antragListed(t, hans, a.ID) || !strings.Contains(dumpSection(t, inst, "antraege"), "Geheimplan") {
		t.Fatal("shown again, it is not listed or not in the snapshot")
	}
	object(t, hans, a.ID, "Jetzt lese ich es.")
}

// The word filter on Anträge and Einsprüche: a blocked text is refused with its code and
// nothing is stored, no event; held content is stored hidden and queued, shown to its author
// only, never in a public event or a snapshot until a moderator releases it. A Fediverse
// reply is never refused: held, it is hidden.
func TestWordFilterOnAntraege(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	q := &queue{}
	inst.Antraege.SetModeration(wordList{"schimpf": moderation.ActionBlock, "zweifel": moderation.ActionHold}, q)
	gerda := inst.VerifiedResident("Gerda", 51.3362, 12.3363)
	hans := inst.VerifiedResident("Hans", 51.3370, 12.3370)
	a := fileAntrag(t, gerda, "Bank am Markt")

	rows := inst.Rows()
	res := hans.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Ihr Schimpfnasen!"}).Expect(t, http.StatusUnprocessableEntity)
	if res.ErrorCode() != "wortfilter_blocked" {
		t.Fatalf("code %q", res.ErrorCode())
	}
	res = gerda.Post("/api/antraege", map[string]any{"title": "Schimpfen erlaubt"}).Expect(t, http.StatusUnprocessableEntity)
	if e, _ := res.Map(t)["error"].(map[string]any); res.ErrorCode() != "wortfilter_blocked" || e["field"] != "title" {
		t.Fatalf("refused filing: %v", res.Map(t))
	}
	if after := inst.Rows(); after["einsprueche"] != rows["einsprueche"] || after["antraege"] != rows["antraege"] || after["events"] != rows["events"] {
		t.Fatalf("a blocked text was stored: %v → %v", rows, after)
	}

	// A held Einspruch: its author sees it, marked; it neither counts nor extends yet.
	var mine antragOut
	hans.Post("/api/antraege/"+a.ID+"/einspruch", map[string]string{"reason": "Zweifelhaft."}).Expect(t, http.StatusCreated).JSON(t, &mine)
	var raw struct {
		Einsprueche []struct{ Hidden bool } `json:"einsprueche"`
	}
	hans.Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &raw)
	if len(raw.Einsprueche) != 1 || !raw.Einsprueche[0].Hidden || mine.EinspruchCount != 0 || mine.Extended {
		t.Fatalf("held Einspruch, as its author sees it: %+v %+v", raw, mine)
	}
	if other := getAntrag(t, gerda, a.ID); len(other.Einsprueche) != 0 {
		t.Fatalf("others read a held Einspruch: %+v", other.Einsprueche)
	}
	einspruch := moderation.Target{Kind: moderation.KindEinspruch, ID: a.ID + "/" + hans.ID}
	if !q.has(einspruch) || inst.Count(`SELECT count(*) FROM events WHERE type = 'EinspruchErhoben' AND subject_id = $1`, a.ID) != 0 ||
		strings.Contains(dumpSection(t, inst, "einsprueche"), hans.ID) {
		t.Fatal("a held Einspruch was not queued, or is in a public event or the snapshot")
	}

	// A held Antrag: filed privately, public only when released.
	var held struct {
		ID           string
		Hidden, Held bool
	}
	gerda.Post("/api/antraege", map[string]any{"title": "Zweifel am Rathaus", "details_md": "Text"}).Expect(t, http.StatusCreated).JSON(t, &held)
	if !held.Hidden || !held.Held {
		t.Fatalf("the applicant is not told it is held: %+v", held)
	}
	hans.Get("/api/antraege/"+held.ID).Expect(t, http.StatusGone)
	if antragListed(t, hans, held.ID) || strings.Contains(dumpSection(t, inst, "antraege"), held.ID) ||
		inst.Count(`SELECT count(*) FROM events WHERE public AND subject_id = $1`, held.ID) != 0 {
		t.Fatal("a held Antrag is listed, in the snapshot or in a public event")
	}
	if !q.has(moderation.Target{Kind: moderation.KindAntrag, ID: held.ID}) {
		t.Fatal("the held Antrag is not queued")
	}
	gerda.Post("/api/antraege/"+held.ID+"/withdraw", nil).Expect(t, http.StatusConflict)

	mod, admin := inst.Antraege.Moderation(inst.URL), inst.Admin()
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: held.ID}, false)
	moderate(t, inst, admin, mod, einspruch, false)
	if released := getAntrag(t, hans, held.ID); released.Status != antrag.Offen || !antragListed(t, hans, held.ID) ||
		inst.Count(`SELECT count(*) FROM events WHERE type = 'AntragGestellt' AND subject_id = $1`, held.ID) != 1 {
		t.Fatalf("released, the Antrag is not filed publicly: %+v", released)
	}
	if now := getAntrag(t, gerda, a.ID); now.EinspruchCount != 1 || !now.Extended || len(now.Einsprueche) != 1 {
		t.Fatalf("released, the Einspruch does not count: %+v", now)
	}

	// Fediverse replies: never refused, held ones hidden and queued.
	for i, html := range []string{"<p>Schimpf!</p>", "<p>Zweifel.</p>", "<p>Gute Idee.</p>"} {
		if err := inst.Antraege.AddComment(context.Background(), antrag.Kommentar{AntragID: uuid.MustParse(a.ID),
			IRI: "https://social.example/notes/" + string(rune('a'+i)), Author: "https://social.example/users/x",
			ContentHTML: html, Published: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := inst.Antraege.Comments(context.Background(), uuid.MustParse(a.ID))
	if err != nil || len(cs) != 1 || !strings.Contains(cs[0].ContentHTML, "Gute Idee") {
		t.Fatalf("public replies: %+v %v", cs, err)
	}
	if !q.has(moderation.Target{Kind: moderation.KindKommentar, ID: "https://social.example/notes/a"}) {
		t.Fatal("a reply the filter would block is not queued")
	}
	b, _ := json.Marshal(q.held)
	t.Logf("held: %s", b)
}

// What a report names resolves to the content it means — an Antrag by its id or any of this
// instance's addresses of it, an Einspruch by "<antrag>/<account>", a Fediverse reply by its
// IRI — and nothing else resolves; the queue's summary is what the public page shows.
func TestAntragTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inst := instancetest.Start(t)
	gerda := inst.VerifiedResident("Gerda", 51.3362, 12.3363)
	hans := inst.VerifiedResident("Hans", 51.3370, 12.3370)
	a := fileAntrag(t, gerda, "Bank am Markt")
	object(t, hans, a.ID, "Zu teuer.")
	reply := "https://social.example/users/x/statuses/1"
	if err := inst.Antraege.AddComment(ctx, antrag.Kommentar{AntragID: uuid.MustParse(a.ID), IRI: reply,
		Author: "https://social.example/users/x", AuthorName: "X", ContentHTML: "<p>Gute <b>Idee</b></p>", Published: time.Now()}); err != nil {
		t.Fatal(err)
	}
	mod := inst.Antraege.Moderation(inst.URL)
	antragT := moderation.Target{Kind: moderation.KindAntrag, ID: a.ID}
	einspruchT := moderation.Target{Kind: moderation.KindEinspruch, ID: a.ID + "/" + hans.ID}
	for ref, want := range map[string]moderation.Target{
		a.ID: antragT, inst.URL + "/antraege/" + a.ID: antragT, inst.URL + "/api/antraege/" + a.ID: antragT,
		inst.URL + "/ap/antraege/" + a.ID: antragT, " " + a.ID + " ": antragT,
		a.ID + "/" + hans.ID: einspruchT,
		reply:                moderation.Target{Kind: moderation.KindKommentar, ID: reply},
	} {
		got, ok, err := mod.Resolve(ctx, inst.Pool, ref)
		if err != nil || !ok || got != want {
			t.Errorf("resolve %q: %+v %v %v, want %+v", ref, got, ok, err, want)
		}
	}
	for _, ref := range []string{uuid.NewString(), a.ID + "/" + gerda.ID, "https://elsewhere.example/antraege/" + a.ID,
		"https://social.example/users/x/statuses/2", "", hans.ID} {
		if got, ok, err := mod.Resolve(ctx, inst.Pool, ref); ok || err != nil {
			t.Errorf("resolve %q: %+v %v %v, want nothing", ref, got, ok, err)
		}
	}

	sum, err := mod.Describe(ctx, inst.Pool, antragT)
	if err != nil || sum.AuthorName != "Gerda" || sum.AuthorID == nil || sum.AuthorID.String() != gerda.ID ||
		!strings.HasPrefix(sum.Text, "Bank am Markt") || sum.URL != inst.URL+"/antraege/"+a.ID || sum.Hidden {
		t.Errorf("antrag: %+v %v", sum, err)
	}
	sum, err = mod.Describe(ctx, inst.Pool, einspruchT)
	if err != nil || sum.AuthorName != "Hans" || sum.Text != "Zu teuer." || sum.URL != inst.URL+"/antraege/"+a.ID {
		t.Errorf("einspruch: %+v %v", sum, err)
	}
	sum, err = mod.Describe(ctx, inst.Pool, moderation.Target{Kind: moderation.KindKommentar, ID: reply})
	if err != nil || sum.AuthorName != "X" || sum.Text != "Gute Idee" || sum.URL != reply || sum.AuthorID != nil {
		t.Errorf("kommentar: %+v %v", sum, err)
	}
	if _, err := mod.Describe(ctx, inst.Pool, moderation.Target{Kind: moderation.KindAntrag, ID: uuid.NewString()}); err != moderation.ErrUnknownTarget {
		t.Errorf("an unknown Antrag: %v", err)
	}

	// A hidden Einspruch still counts; only its reason leaves the page. A hidden reply leaves it.
	type pageOut struct {
		EinspruchCount int `json:"einspruch_count"`
		Einsprueche    []struct{ Reason string }
		Comments       []struct{ ID string }
	}
	var page pageOut
	inst.Client().Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &page)
	if page.EinspruchCount != 1 || len(page.Einsprueche) != 1 || len(page.Comments) != 1 {
		t.Fatalf("before: %+v", page)
	}
	admin := inst.Admin()
	moderate(t, inst, admin, mod, einspruchT, true)
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindKommentar, ID: reply}, true)
	page = pageOut{}
	inst.Client().Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &page)
	if page.EinspruchCount != 1 || len(page.Einsprueche) != 0 || len(page.Comments) != 0 {
		t.Errorf("with the Einspruch and the reply hidden: %+v", page)
	}
	if strings.Contains(dumpSection(t, inst, "einsprueche"), "Zu teuer") {
		t.Error("the snapshot holds the hidden Einspruch's reason")
	}
	moderate(t, inst, admin, mod, einspruchT, false)
	if got := getAntrag(t, inst.Client(), a.ID); len(got.Einsprueche) != 1 || got.Einsprueche[0].Reason != "Zu teuer." {
		t.Errorf("shown again: %+v", got.Einsprueche)
	}
}

// The Ortskonto keeps a copy of an Antrag's title with its payout (GET /api/konto shows it):
// the copy follows the Antrag, hidden or held, and comes back with it.
func TestHiddenAntragTitleLeavesTheOrtskonto(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Lindenau e. V.", "iban": bankIBAN, "bic": "BYLADEM1001",
		"position": map[string]float64{"lat": 51.3366, "lon": 12.3366}}).Expect(t, http.StatusOK)
	inst.Antraege.SetModeration(wordList{"zweifel": moderation.ActionHold}, nil)
	gerda := inst.VerifiedResident("Gerda", 51.3362, 12.3363)
	var a, held struct{ ID string }
	gerda.Post("/api/antraege", map[string]any{"title": "Geheime Bank", "betrag_cents": 5000}).Expect(t, http.StatusCreated).JSON(t, &a)
	gerda.Post("/api/antraege", map[string]any{"title": "Zweifelhafte Laterne", "betrag_cents": 700}).Expect(t, http.StatusCreated).JSON(t, &held)
	konto := func() string {
		t.Helper()
		return string(inst.Client().Get("/api/konto").Expect(t, http.StatusOK).Body)
	}
	if k := konto(); !strings.Contains(k, "Geheime Bank") || strings.Contains(k, "Zweifelhafte") || !strings.Contains(k, held.ID) {
		t.Fatalf("before: the Ortskonto should show the payout of both, the title of the shown one only:\n%s", k)
	}
	mod := inst.Antraege.Moderation(inst.URL)
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: a.ID}, true)
	if k := konto(); strings.Contains(k, "Geheime Bank") {
		t.Fatalf("the hidden Antrag's title is still shown with its payout:\n%s", k)
	}
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: a.ID}, false)
	moderate(t, inst, admin, mod, moderation.Target{Kind: moderation.KindAntrag, ID: held.ID}, false)
	if k := konto(); !strings.Contains(k, "Geheime Bank") || !strings.Contains(k, "Zweifelhafte Laterne") {
		t.Fatalf("shown again and released, the titles are not back:\n%s", k)
	}
}

// A hidden Antrag past its open phase is not held up: its Abstimmung runs, and the residents
// find it in the list and at its address without its words, and vote; its applicant sees it
// whole.
func TestHiddenAntragInItsAbstimmung(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	gerda := inst.VerifiedResident("Gerda", 51.3362, 12.3363)
	hans := inst.VerifiedResident("Hans", 51.3370, 12.3370)
	a := fileAntrag(t, gerda, "Anstößiger Titel")
	object(t, hans, a.ID, "Nein.")
	inst.Advance("14d") // the extended deadline: to the vote
	if got := getAntrag(t, hans, a.ID); got.Status != antrag.ImAbstimmung || got.AbstimmungID == nil {
		t.Fatalf("not in its Abstimmung: %+v", got)
	}
	moderate(t, inst, inst.Admin(), inst.Antraege.Moderation(inst.URL), moderation.Target{Kind: moderation.KindAntrag, ID: a.ID}, true)

	var page struct {
		Title, Status string
		Hidden        bool
		AbstimmungID  string `json:"abstimmung_id"`
		DetailsHTML   string `json:"details_html"`
	}
	hans.Get("/api/antraege/"+a.ID).Expect(t, http.StatusOK).JSON(t, &page)
	if page.Title != "" || page.DetailsHTML != "" || !page.Hidden || page.Status != antrag.ImAbstimmung || page.AbstimmungID == "" {
		t.Fatalf("others should see the process without its words: %+v", page)
	}
	var list struct {
		Antraege []struct {
			ID, Title string
			Hidden    bool
		}
	}
	inst.Client().Get("/api/antraege").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Antraege) != 1 || list.Antraege[0].ID != a.ID || list.Antraege[0].Title != "" || !list.Antraege[0].Hidden {
		t.Fatalf("listing: %+v", list)
	}
	hans.Post("/api/abstimmungen/"+page.AbstimmungID+"/vote", map[string]string{"choice": "no"}).Expect(t, http.StatusOK)
	if own := getAntrag(t, gerda, a.ID); own.Title != "Anstößiger Titel" {
		t.Fatalf("its applicant should see it whole: %+v", own)
	}
	if dump := dumpSection(t, inst, "antraege"); strings.Contains(dump, "Anstößiger") {
		t.Fatalf("the snapshot holds the hidden words:\n%s", dump)
	}
	inst.Advance("8d") // the vote closes: decided, still without its words
	if got := getAntrag(t, inst.Client(), a.ID); got.Status != antrag.Abgelehnt || got.Title != "" {
		t.Fatalf("decided: %+v", got)
	}
}
