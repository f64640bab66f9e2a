package knoten_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// setHidden hides (or shows again) a Knoten or a Faden as a moderator's action does: through
// the map's moderation.Content, in a transaction of its own.
func setHidden(t *testing.T, inst *instancetest.Instance, kind, id string, hide bool) {
	t.Helper()
	ctx := context.Background()
	c := inst.Knoten.Moderation(inst.URL)
	moderator := uuid.MustParse(inst.Admin().ID)
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		return c.HideTx(ctx, tx, moderation.Target{Kind: kind, ID: id}, hide, moderator, "Hausregeln", inst.Clock.Now())
	}); err != nil {
		t.Fatalf("hide %s %s (%v): %v", kind, id, hide, err)
	}
}

// bboxIDs lists the Knoten ids GET /api/knoten shows anyone in a box around home.
func bboxIDs(t *testing.T, inst *instancetest.Instance, extra string) map[string]bool {
	t.Helper()
	var out struct {
		Knoten []struct{ ID string } `json:"knoten"`
	}
	inst.Client().Get(fmt.Sprintf("/api/knoten?bbox=%f,%f,%f,%f%s", home.Lon-0.01, home.Lat-0.01, home.Lon+0.01, home.Lat+0.01, extra)).
		Expect(t, 200).JSON(t, &out)
	ids := map[string]bool{}
	for _, k := range out.Knoten {
		ids[k.ID] = true
	}
	return ids
}

// A hidden Knoten leaves the listings (box and search) and its page for everyone but its
// creator, who sees it marked; it takes no new Faden; its Fäden leave its page. Shown again,
// it is back everywhere, with its Fäden.
func TestHiddenKnotenLeavesTheReads(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.Resident("Jana", home.Lat, home.Lon)
	ben := inst.Resident("Ben", home.Lat, home.Lon)
	var k struct {
		ID    string
		Faden struct{ ID string }
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Lästerbank", "lat": home.Lat, "lon": home.Lon}).Expect(t, 201).JSON(t, &k)
	var f struct{ ID string }
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}).Expect(t, 201).JSON(t, &f)
	if !bboxIDs(t, inst, "")[k.ID] {
		t.Fatal("the Knoten is not listed before it is hidden")
	}

	setHidden(t, inst, moderation.KindKnoten, k.ID, true)
	if bboxIDs(t, inst, "")[k.ID] || bboxIDs(t, inst, "&q=L%C3%A4sterbank")[k.ID] {
		t.Fatal("a hidden Knoten is listed")
	}
	for who, c := range map[string]*instancetest.Client{"anyone": inst.Client(), "Ben": ben} {
		if r := c.Get("/api/knoten/" + k.ID); r.Status != 410 || r.ErrorCode() != "knoten_hidden" {
			t.Fatalf("%s reads a hidden Knoten: %d %s", who, r.Status, r.ErrorCode())
		}
		if r := c.Get("/api/knoten/" + k.ID + "/faeden"); r.Status != 410 || r.ErrorCode() != "knoten_hidden" {
			t.Fatalf("%s reads a hidden Knoten's Fäden: %d %s", who, r.Status, r.ErrorCode())
		}
	}
	var own struct {
		ID     string
		Title  string
		Hidden bool
	}
	jana.Get("/api/knoten/"+k.ID).Expect(t, 200).JSON(t, &own)
	if own.Title != "Lästerbank" || !own.Hidden {
		t.Fatalf("its creator sees %+v, want it marked hidden", own)
	}
	if r := ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}); r.Status != 410 || r.ErrorCode() != "knoten_hidden" {
		t.Fatalf("a Faden to a hidden Knoten: %d %s", r.Status, r.ErrorCode())
	}
	if r := ben.Post("/api/faeden/"+f.ID+"/twist", nil); r.Status != 410 || r.ErrorCode() != "knoten_hidden" {
		t.Fatalf("twisting a Faden of a hidden Knoten: %d %s", r.Status, r.ErrorCode())
	}
	// Hiding it again changes nothing and writes nothing.
	events := inst.Count(`SELECT count(*) FROM events WHERE type = 'KnotenVerborgen'`)
	setHidden(t, inst, moderation.KindKnoten, k.ID, true)
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'KnotenVerborgen'`); n != events || n != 1 {
		t.Fatalf("%d KnotenVerborgen after hiding twice (%d after once)", n, events)
	}

	setHidden(t, inst, moderation.KindKnoten, k.ID, false)
	if !bboxIDs(t, inst, "")[k.ID] {
		t.Fatal("a Knoten shown again is not listed")
	}
	var fs struct {
		Faeden []struct{ ID string } `json:"faeden"`
	}
	inst.Client().Get("/api/knoten/"+k.ID+"/faeden").Expect(t, 200).JSON(t, &fs)
	if len(fs.Faeden) != 2 {
		t.Fatalf("a Knoten shown again has %d Fäden, want its 2", len(fs.Faeden))
	}

	// One Faden hidden: the Knoten stays, the Faden leaves its page for all but its spinner.
	setHidden(t, inst, moderation.KindFaden, f.ID, true)
	inst.Client().Get("/api/knoten/"+k.ID+"/faeden").Expect(t, 200).JSON(t, &fs)
	if len(fs.Faeden) != 1 || fs.Faeden[0].ID != k.Faden.ID {
		t.Fatalf("with Ben's Faden hidden anyone sees %+v", fs.Faeden)
	}
	var bens struct {
		Faeden []struct {
			ID     string
			Hidden bool
		} `json:"faeden"`
	}
	ben.Get("/api/knoten/"+k.ID+"/faeden").Expect(t, 200).JSON(t, &bens)
	if len(bens.Faeden) != 2 || bens.Faeden[1].ID != f.ID || !bens.Faeden[1].Hidden {
		t.Fatalf("Ben sees %+v, want his own Faden marked hidden", bens.Faeden)
	}
	if r := ben.Post("/api/faeden/"+f.ID+"/twist", nil); r.Status != 410 || r.ErrorCode() != "faden_hidden" {
		t.Fatalf("twisting a hidden Faden: %d %s", r.Status, r.ErrorCode())
	}
}

// fakeFilter is the word filter as a content package sees it: "verboten" blocks, "zweifel"
// holds (whole words, enough for these tests; instance/wortfilter is the real one).
type fakeFilter struct{}

func (fakeFilter) Check(texts ...string) moderation.Verdict {
	for _, text := range texts {
		for _, w := range strings.Fields(strings.ToLower(text)) {
			switch w {
			case "verboten":
				return moderation.Verdict{Action: moderation.ActionBlock, Word: w}
			case "zweifel":
				return moderation.Verdict{Action: moderation.ActionHold, Word: w}
			}
		}
	}
	return moderation.Verdict{}
}

// fakeHolder records what was held, and checks it is called inside the Knoten's transaction:
// the Knoten it is told of is already there, in that transaction.
type fakeHolder struct {
	mu   sync.Mutex
	held []moderation.Target
	seen []bool // whether the Knoten was visible in the transaction
}

func (h *fakeHolder) HoldTx(ctx context.Context, tx *database.Tx, t moderation.Target, v moderation.Verdict, at time.Time) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM knoten WHERE id = $1 AND hidden_at IS NOT NULL`, t.ID).Scan(&n); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, t)
	h.seen = append(h.seen, n == 1 && v.Word == "zweifel")
	return nil
}

// The word filter on a new Knoten: a blocked word refuses it with the field it is in and
// stores nothing; a held word stores it hidden — others do not see it, its creator does,
// marked — and queues it for review in the same transaction.
func TestWordFilterOnKnoten(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	jana := inst.Resident("Jana", home.Lat, home.Lon)
	ben := inst.Resident("Ben", home.Lat, home.Lon)
	holder := &fakeHolder{}
	// A service of its own, so that the instance's (which its server uses) stays unfiltered.
	svc := knoten.NewService(inst.Pool, inst.Clock, inst.Ortsweberei)
	svc.SetModeration(fakeFilter{}, holder)
	janaID := uuid.MustParse(jana.ID)
	before := inst.Count(`SELECT count(*) FROM knoten`)
	eventsBefore := inst.Count(`SELECT count(*) FROM events`)

	for field, p := range map[string]knoten.Placement{
		"title":       {Type: "idee", Title: "Das ist VERBOTEN hier", Point: home},
		"description": {Type: "idee", Title: "Harmlos", Description: "aber verboten", Point: home},
	} {
		_, _, err := svc.Place(ctx, janaID, p)
		f, ok := fault.As(err)
		if !ok || f.Code != "wortfilter_blocked" || f.Field != field || f.Kind != fault.Invalid {
			t.Fatalf("a blocked word in the %s: %v", field, err)
		}
	}
	if inst.Count(`SELECT count(*) FROM knoten`) != before || inst.Count(`SELECT count(*) FROM events`) != eventsBefore {
		t.Fatal("a blocked Knoten left rows or events behind")
	}

	// "Scunthorpe": a word that only contains a listed one passes.
	if _, _, err := svc.Place(ctx, janaID, knoten.Placement{Type: "idee", Title: "Unverboten", Point: home}); err != nil {
		t.Fatal(err)
	}

	k, f, err := svc.Place(ctx, janaID, knoten.Placement{Type: "idee", Title: "Im Zweifel", Point: home})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Hidden {
		t.Fatal("a held Knoten is not marked hidden to its creator")
	}
	if len(holder.held) != 1 || holder.held[0] != (moderation.Target{Kind: moderation.KindKnoten, ID: k.ID.String()}) || !holder.seen[0] {
		t.Fatalf("held: %+v (seen in its transaction: %v)", holder.held, holder.seen)
	}
	if bboxIDs(t, inst, "")[k.ID.String()] {
		t.Fatal("a held Knoten is listed")
	}
	if r := ben.Get("/api/knoten/" + k.ID.String()); r.Status != 410 || r.ErrorCode() != "knoten_hidden" {
		t.Fatalf("another resident reads a held Knoten: %d %s", r.Status, r.ErrorCode())
	}
	var own struct {
		Title  string
		Hidden bool
	}
	jana.Get("/api/knoten/"+k.ID.String()).Expect(t, 200).JSON(t, &own)
	if own.Title != "Im Zweifel" || !own.Hidden {
		t.Fatalf("its creator sees %+v", own)
	}
	// Held as a moderator's hiding leaves it: one KnotenVerborgen, naming its first Faden.
	var payload json.RawMessage
	if err := inst.Pool.QueryRow(ctx, `SELECT payload FROM events WHERE type = 'KnotenVerborgen' AND subject_id = $1`, k.ID).Scan(&payload); err != nil {
		t.Fatalf("the held Knoten's KnotenVerborgen: %v", err)
	}
	var p knoten.KnotenVerborgenV1
	if err := json.Unmarshal(payload, &p); err != nil || len(p.FadenIDs) != 1 || p.FadenIDs[0] != f.ID {
		t.Fatalf("KnotenVerborgen of a held Knoten: %s", payload)
	}

	// A moderator who lets it through shows it to everyone.
	setHidden(t, inst, moderation.KindKnoten, k.ID.String(), false)
	if !bboxIDs(t, inst, "")[k.ID.String()] {
		t.Fatal("a held Knoten let through is not listed")
	}
}

// dumpJSON is every object of the map's sections, as one text.
func dumpJSON(t *testing.T, inst *instancetest.Instance) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, sec := range knoten.SnapshotSections() {
		if err := sec.Dump(ctx, inst.Pool, nil, func(o snapshot.Object) error {
			fmt.Fprintf(&b, "%s %s %s\n", sec.Name(), o.ID, o.JSON)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// A snapshot never holds what is hidden: of a hidden (or held) Knoten only a stub without its
// type, texts or place, none of its Fäden, and no hidden Faden. Shown again, all is back.
func TestSnapshotsHoldNoHiddenContent(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.Resident("Jana", home.Lat, home.Lon)
	ben := inst.Resident("Ben", home.Lat, home.Lon)
	secret := geo.Point{Lat: 51.34123, Lon: 12.34567}
	var k struct {
		ID    string
		Faden struct{ ID string }
	}
	jana.Post("/api/knoten", map[string]any{"type": "schlafplatz", "title": "Geheimer Titel", "description": "Geheime Beschreibung",
		"lat": secret.Lat, "lon": secret.Lon}).Expect(t, 201).JSON(t, &k)
	var kept struct {
		ID    string
		Faden struct{ ID string }
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bleibt", "lat": home.Lat, "lon": home.Lon}).Expect(t, 201).JSON(t, &kept)
	var f, g struct{ ID string }
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}).Expect(t, 201).JSON(t, &f)
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": kept.ID, "type": "gespraech"}).Expect(t, 201).JSON(t, &g)

	setHidden(t, inst, moderation.KindKnoten, k.ID, true)
	setHidden(t, inst, moderation.KindFaden, g.ID, true)
	dump := dumpJSON(t, inst)
	for _, leak := range []string{"Geheim", "schlafplatz", "51.34123", "12.34567", k.Faden.ID, f.ID, g.ID} {
		if strings.Contains(dump, leak) {
			t.Errorf("the snapshot holds %q of hidden content:\n%s", leak, dump)
		}
	}
	if !strings.Contains(dump, `"hidden":true`) || !strings.Contains(dump, kept.Faden.ID) {
		t.Errorf("the snapshot lacks the hidden Knoten's stub or the shown Faden:\n%s", dump)
	}

	setHidden(t, inst, moderation.KindKnoten, k.ID, false)
	setHidden(t, inst, moderation.KindFaden, g.ID, false)
	dump = dumpJSON(t, inst)
	for _, back := range []string{"Geheimer Titel", k.Faden.ID, f.ID, g.ID} {
		if !strings.Contains(dump, back) {
			t.Errorf("shown again, the snapshot lacks %q:\n%s", back, dump)
		}
	}
}

// Resolve: a Knoten's or a Faden's bare id, or their URLs on this instance; nothing else.
func TestResolveTargets(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	jana := inst.Resident("Jana", home.Lat, home.Lon)
	var k struct {
		ID    string
		Faden struct{ ID string }
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank", "description": "am Markt", "lat": home.Lat, "lon": home.Lon}).
		Expect(t, 201).JSON(t, &k)
	base := "https://lindenau.example.org"
	c := inst.Knoten.Moderation(base)
	for ref, want := range map[string]moderation.Target{
		k.ID:                        {Kind: moderation.KindKnoten, ID: k.ID},
		" " + k.ID + " ":            {Kind: moderation.KindKnoten, ID: k.ID},
		k.Faden.ID:                  {Kind: moderation.KindFaden, ID: k.Faden.ID},
		base + "/ap/knoten/" + k.ID: {Kind: moderation.KindKnoten, ID: k.ID},
		base + "/api/knoten/" + k.ID + "/?x=1#top":       {Kind: moderation.KindKnoten, ID: k.ID},
		base + "/ap/faeden/" + k.Faden.ID:                {Kind: moderation.KindFaden, ID: k.Faden.ID},
		"HTTPS://Lindenau.Example.org/ap/knoten/" + k.ID: {Kind: moderation.KindKnoten, ID: k.ID},
	} {
		got, ok, err := c.Resolve(ctx, inst.Pool, ref)
		if err != nil || !ok || got != want {
			t.Errorf("Resolve(%q) = %+v, %v, %v; want %+v", ref, got, ok, err, want)
		}
	}
	for _, ref := range []string{
		uuid.NewString(), // no such content
		jana.ID,          // an account: not the map's
		"https://elsewhere.example/ap/knoten/" + k.ID, // another server
		base + "/ap/faeden/" + k.ID,                   // a Knoten's id as a Faden
		base + "/ap/knoten/" + k.ID + "/extra",
		"urn:uuid:" + k.ID,
		"",
	} {
		if got, ok, err := c.Resolve(ctx, inst.Pool, ref); ok || err != nil {
			t.Errorf("Resolve(%q) = %+v, %v, %v; want not the map's", ref, got, ok, err)
		}
	}

	sum, err := c.Describe(ctx, inst.Pool, moderation.Target{Kind: moderation.KindKnoten, ID: k.ID})
	if err != nil || sum.Text != "Bank\n\nam Markt" || sum.AuthorName != "Jana" || sum.AuthorID == nil || sum.AuthorID.String() != jana.ID ||
		sum.URL != base+"/ap/knoten/"+k.ID || sum.Hidden {
		t.Fatalf("Describe: %+v, %v", sum, err)
	}
	setHidden(t, inst, moderation.KindKnoten, k.ID, true)
	if h, err := inst.Knoten.Hidden(ctx, []uuid.UUID{uuid.MustParse(k.ID), uuid.MustParse(k.Faden.ID), uuid.New()}); err != nil || len(h) != 2 {
		t.Fatalf("Hidden after hiding the Knoten: %v, %v (want it and its Faden)", h, err)
	}
	if sum, err := c.Describe(ctx, inst.Pool, moderation.Target{Kind: moderation.KindKnoten, ID: k.ID}); err != nil || !sum.Hidden {
		t.Fatalf("Describe of a hidden Knoten: %+v, %v", sum, err)
	}
	if _, err := c.Describe(ctx, inst.Pool, moderation.Target{Kind: moderation.KindFaden, ID: uuid.NewString()}); err != moderation.ErrUnknownTarget {
		t.Fatalf("Describe of an unknown Faden: %v", err)
	}
}

// Through the instance as assembled (the word filter and the moderation service wired to the
// map): the admin's word list refuses or holds a new Knoten; the held one waits in the queue,
// seen by its creator only; a moderator's unhide (naming it by its URL) shows it to everyone,
// and a hide takes it away again; the public log says so.
func TestModerationOfTheMapThroughTheAPI(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	jana := inst.Resident("Jana", home.Lat, home.Lon)
	admin.Do("PUT", "/api/admin/wortfilter", map[string]any{"words": []string{"verboten"}, "hold": []string{"zweifel"}}).Expect(t, 200)

	before := inst.Count(`SELECT count(*) FROM knoten`)
	r := jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank", "description": "Das ist Verboten!", "lat": home.Lat, "lon": home.Lon})
	if r.Status != 422 || r.ErrorCode() != "wortfilter_blocked" || !strings.Contains(string(r.Body), `"description"`) {
		t.Fatalf("a blocked description: %d %s", r.Status, r.Body)
	}
	if inst.Count(`SELECT count(*) FROM knoten`) != before {
		t.Fatal("a blocked Knoten was stored")
	}

	var k struct {
		ID     string
		Hidden bool
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Im Zweifel", "lat": home.Lat, "lon": home.Lon}).Expect(t, 201).JSON(t, &k)
	if !k.Hidden || bboxIDs(t, inst, "")[k.ID] {
		t.Fatalf("a held Knoten: %+v, listed: %v", k, bboxIDs(t, inst, "")[k.ID])
	}
	if r := inst.Client().Get("/api/knoten/" + k.ID); r.ErrorCode() != "knoten_hidden" {
		t.Fatalf("anyone reads a held Knoten: %d %s", r.Status, r.Body)
	}
	var q struct {
		Meldungen []struct {
			Target  moderation.Target `json:"target"`
			Source  string            `json:"source"`
			Summary struct {
				Text   string `json:"text"`
				Hidden bool   `json:"hidden"`
				URL    string `json:"url"`
			} `json:"summary"`
		} `json:"meldungen"`
	}
	admin.Get("/api/admin/meldungen?state=open").Expect(t, 200).JSON(t, &q)
	if len(q.Meldungen) != 1 || q.Meldungen[0].Target != (moderation.Target{Kind: "knoten", ID: k.ID}) || q.Meldungen[0].Source != "wortfilter" ||
		q.Meldungen[0].Summary.Text != "Im Zweifel" || !q.Meldungen[0].Summary.Hidden {
		t.Fatalf("the queue: %+v", q.Meldungen)
	}

	url := q.Meldungen[0].Summary.URL
	admin.Post("/api/admin/inhalte/unhide", map[string]any{"target": url, "reason": "Harmlos"}).Expect(t, 200)
	if !bboxIDs(t, inst, "")[k.ID] {
		t.Fatal("a held Knoten let through is not listed")
	}
	inst.Client().Get("/api/knoten/"+k.ID).Expect(t, 200)
	admin.Post("/api/admin/inhalte/hide", map[string]any{"target": k.ID, "reason": "Doch nicht"}).Expect(t, 200)
	if bboxIDs(t, inst, "")[k.ID] {
		t.Fatal("a hidden Knoten is listed")
	}
	var log struct {
		Eintraege []struct {
			Action string            `json:"action"`
			Target moderation.Target `json:"target"`
		} `json:"eintraege"`
	}
	inst.Client().Get("/api/moderation/log").Expect(t, 200).JSON(t, &log)
	if len(log.Eintraege) < 2 || log.Eintraege[0].Action != "hide" || log.Eintraege[0].Target.ID != k.ID {
		t.Fatalf("the public log: %+v", log.Eintraege)
	}
}

// The outboxes federation serves are public reads too: a held Knoten, and one a moderator
// hid, are not in them (neither its Create nor its Fäden's).
func TestHiddenKnotenLeavesTheOutboxes(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	admin := inst.Admin()
	jana := inst.Resident("Jana", home.Lat, home.Lon)
	admin.Do("PUT", "/api/admin/wortfilter", map[string]any{"words": []string{}, "hold": []string{"zweifel"}}).Expect(t, 200)
	var held, hidden struct{ ID string }
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Im Zweifel Geheimtitel", "description": "Geheimtext eins",
		"lat": home.Lat, "lon": home.Lon}).Expect(t, 201).JSON(t, &held)
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Zweiter Geheimtitel", "description": "Geheimtext zwei",
		"lat": home.Lat, "lon": home.Lon}).Expect(t, 201).JSON(t, &hidden)
	admin.Post("/api/admin/inhalte/hide", map[string]any{"target": hidden.ID, "reason": "beleidigend"}).Expect(t, 200)
	var me struct{ Handle string }
	jana.Get("/api/me").Expect(t, 200).JSON(t, &me)
	for _, outbox := range []string{"/ap/users/" + me.Handle + "/outbox?page=true", "/ap/ortsweberei/outbox?page=true"} {
		body := string(inst.Client().Get(outbox).Expect(t, 200).Body)
		for _, secret := range []string{"Geheimtitel", "Geheimtext", held.ID, hidden.ID} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows hidden content (%q): %s", outbox, secret, body)
			}
		}
	}
}
