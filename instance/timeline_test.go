package instance_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

type timelineAnswer struct {
	AsOf   string `json:"as_of"`
	Source struct {
		Snapshot       string `json:"snapshot"`
		EventsReplayed int    `json:"events_replayed"`
		Exact          bool   `json:"exact"`
	} `json:"source"`
	Knoten []struct{ ID, Title string } `json:"knoten"`
	Faeden []struct {
		ID              string                      `json:"id"`
		KnotenID        string                      `json:"knoten_id"`
		AccountName     string                      `json:"account_name"`
		AccountPosition *struct{ Lat, Lon float64 } `json:"account_position"`
	} `json:"faeden"`
}

const timelineBox = "12.30,51.32,12.36,51.35"

// The timeline on three dev-clock days: each day's map from the snapshots the instance took
// (a full one at the start, then as the clock passed 02:00) and the events after them, the
// days before the first snapshot refused, malformed input refused.
func TestTimelineThreeDays(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	day := func() string { return inst.DevClock.Now().In(berlin).Format("2006-01-02") }
	advance := func(d string) { c.Post("/api/dev/clock", map[string]string{"advance": d}).Expect(t, http.StatusOK) }
	ana := inst.Resident("Ana", 51.3362, 12.3363)
	place := func(title string, lon float64) {
		ana.Post("/api/knoten", map[string]any{"type": "idee", "title": title, "lat": 51.3365, "lon": lon}).Expect(t, http.StatusCreated)
	}
	// The instance takes its first (full) snapshot when its sweep first runs.
	advance("1m")
	before := inst.DevClock.Now().Add(-24 * time.Hour).In(berlin).Format("2006-01-02")

	var days []string
	for i, title := range []string{"Montag", "Dienstag", "Mittwoch"} {
		days = append(days, day())
		place(title, 12.33+float64(i)*0.001)
		advance("24h")
	}
	titles := func(a timelineAnswer) []string {
		var out []string
		for _, k := range a.Knoten {
			out = append(out, k.Title)
		}
		slices.Sort(out)
		return out
	}
	for i, want := range [][]string{{"Montag"}, {"Dienstag", "Montag"}, {"Dienstag", "Mittwoch", "Montag"}} {
		var a timelineAnswer
		c.Get("/api/timeline?date="+days[i]+"&bbox="+timelineBox).Expect(t, http.StatusOK).JSON(t, &a)
		if got := titles(a); !slices.Equal(got, want) {
			t.Errorf("%s: Knoten %v, want %v (source %+v)", days[i], got, want, a.Source)
		}
		if len(a.Faeden) != len(want) {
			t.Errorf("%s: %d Fäden, want one per Knoten", days[i], len(a.Faeden))
		}
		// Drawn as the live feed draws them: from the spinner's Garnrolle.
		for _, f := range a.Faeden {
			if f.AccountName != "Ana" || f.AccountPosition == nil {
				t.Errorf("%s: Faden %s from %q at %v, want from Ana's Garnrolle", days[i], f.ID, f.AccountName, f.AccountPosition)
			}
		}
		if a.Source.Snapshot == "" || !a.Source.Exact {
			t.Errorf("%s: source %+v, want a snapshot, exact", days[i], a.Source)
		}
	}
	// Today, before anything changed: the three, from the snapshot taken as the clock passed.
	var today timelineAnswer
	c.Get("/api/timeline?date="+day()+"&bbox="+timelineBox).Expect(t, http.StatusOK).JSON(t, &today)
	if got := titles(today); len(got) != 3 {
		t.Errorf("today: Knoten %v, want the three", got)
	}
	// Outside the box: none.
	var away timelineAnswer
	c.Get("/api/timeline?date="+days[2]+"&bbox=13.0,52.0,13.1,52.1").Expect(t, http.StatusOK).JSON(t, &away)
	if len(away.Knoten) != 0 || len(away.Faeden) != 0 {
		t.Errorf("a box elsewhere: %+v", away)
	}

	if code := c.Get("/api/timeline?date="+before+"&bbox="+timelineBox).Expect(t, http.StatusNotFound).ErrorCode(); code != "timeline_before_start" {
		t.Errorf("the day before the instance: %s, want timeline_before_start", code)
	}
	tomorrow := inst.DevClock.Now().Add(48 * time.Hour).In(berlin).Format("2006-01-02")
	for _, bad := range []struct {
		query, code string
		status      int
	}{
		{"date=2026-13-01&bbox=" + timelineBox, "malformed_date", 400},
		{"date=gestern&bbox=" + timelineBox, "malformed_date", 400},
		{"date=" + days[0] + "&at=25:00&bbox=" + timelineBox, "malformed_time", 400},
		{"date=" + days[0] + "&bbox=1,2,3", "malformed_bbox", 400},
		{"date=" + days[0] + "&bbox=0,50,1,40", "invalid_bbox", 422},
		{"date=" + tomorrow + "&bbox=" + timelineBox, "timeline_in_future", 422},
	} {
		res := c.Get("/api/timeline?" + bad.query)
		if res.Status != bad.status || res.ErrorCode() != bad.code {
			t.Errorf("%s: %d %s, want %d %s", bad.query, res.Status, res.ErrorCode(), bad.status, bad.code)
		}
	}
}

// An Ortsweberei far from Berlin (serve --timezone Pacific/Auckland): GET /api/ortsweberei
// names its zone, and the timeline's dates are its days. At 12:00 UTC it is already the next
// day in Auckland while Berlin's is still the same: a Knoten placed then is on Auckland's
// today, not on Auckland's yesterday (Berlin's today, which in Berlin's reading would be now).
func TestTimelineInTheOrtswebereisZone(t *testing.T) {
	t.Parallel()
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	inst := instancetest.Start(t, instancetest.Options{Timezone: auckland})
	c := inst.Client()
	var o struct{ Timezone string }
	c.Get("/api/ortsweberei").Expect(t, http.StatusOK).JSON(t, &o)
	if o.Timezone != "Pacific/Auckland" {
		t.Fatalf("GET /api/ortsweberei: timezone %q, want Pacific/Auckland", o.Timezone)
	}
	// The first snapshot, taken now (the sweep runs within the advance), then on to the next
	// 12:00 UTC whose Auckland day began after it: Berlin's date there is Auckland's yesterday,
	// which must have a snapshot to be asked about. (Without the first step the first snapshot
	// was taken at noon, and at real times between Auckland's midnight and 12:00 UTC the
	// instance started after that midnight: timeline_before_start.)
	first := inst.Advance("1m")
	now := inst.DevClock.Now()
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC)
	for l := noon.In(auckland); noon.Before(now.Add(time.Minute)) ||
		!time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, auckland).After(first); l = noon.In(auckland) {
		noon = noon.Add(24 * time.Hour)
	}
	c.Post("/api/dev/clock", map[string]string{"advance": noon.Sub(now).String()}).Expect(t, http.StatusOK)
	now = inst.DevClock.Now()
	here, there := now.In(auckland).Format("2006-01-02"), now.In(berlin).Format("2006-01-02")
	if here == there {
		t.Fatalf("at %v Auckland's date %s is Berlin's", now, here)
	}
	inst.Resident("Ana", 51.3362, 12.3363).Post("/api/knoten", map[string]any{"type": "idee", "title": "Kia ora", "lat": 51.3365, "lon": 12.331}).
		Expect(t, http.StatusCreated)
	// Today is replayed from the log, which is read below the oldest transaction still running
	// (a sweep or a snapshot may hold it back a moment): wait for the Knoten, not for a time.
	var a timelineAnswer
	for deadline := time.Now().Add(instancetest.Patience); ; time.Sleep(20 * time.Millisecond) {
		c.Get("/api/timeline?date="+here+"&bbox="+timelineBox).Expect(t, http.StatusOK).JSON(t, &a)
		if len(a.Knoten) == 1 && a.Knoten[0].Title == "Kia ora" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Auckland's today %s: %+v, want the Knoten placed now", here, a.Knoten)
		}
	}
	l := now.In(auckland)
	end := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, auckland).Add(-time.Microsecond).UTC().Format(time.RFC3339Nano)
	var before timelineAnswer
	c.Get("/api/timeline?date="+there+"&bbox="+timelineBox).Expect(t, http.StatusOK).JSON(t, &before)
	if len(before.Knoten) != 0 || before.AsOf != end {
		t.Errorf("Berlin's today %s (Auckland's yesterday): as of %s, %+v; want as of %s (the end of Auckland's day), no Knoten", there, before.AsOf, before.Knoten, end)
	}
}

// The timeline's Ortskonto and Goldfäden as of the moment, replayed from the events after the
// snapshot: none before the Ortskonto is set up; then the balance of every donation (the
// anonymous ones' too) as GET /api/konto says it, the visible donation as a Goldfaden drawn to
// the Ortskonto's place, and nothing of the anonymous donor or donation.
func TestTimelineOrtskontoAsOfTheMoment(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	query := func(at string) (timelineAnswer, map[string]any, []byte) {
		t.Helper()
		now := inst.DevClock.Now().In(berlin)
		q := "/api/timeline?date=" + now.Format("2006-01-02") + "&bbox=" + timelineBox
		if at != "" {
			q += "&at=" + at
		}
		res := c.Get(q).Expect(t, http.StatusOK)
		var a timelineAnswer
		res.JSON(t, &a)
		return a, res.Map(t), res.Body
	}
	inst.Advance("1m") // the first snapshot: no Ortskonto yet
	snapshotted := inst.DevClock.Now().In(berlin)
	if snapshotted.Hour() >= 23 { // the moments below stay on one day
		t.Skip("too close to midnight")
	}
	inst.Advance("2m")
	if a, m, _ := query(""); m["ortskonto"] != nil || a.Source.Snapshot == "" {
		t.Fatalf("before the Ortskonto is set up: ortskonto %v (source %+v), want null", m["ortskonto"], a.Source)
	}

	admin := inst.Admin()
	admin.Do("PUT", "/api/admin/konto", map[string]any{"empfaenger": "Ortsweberei Lindenau e.V.", "iban": bankIBAN,
		"position": map[string]float64{"lat": 51.3365, "lon": 12.3365}}).Expect(t, http.StatusOK)
	gerda := inst.Resident("Gerda", 51.3362, 12.3363)
	otto := inst.Resident("Otto Anonym", 51.3368, 12.3368)
	type spende struct{ ID string }
	give := func(by *instancetest.Client, cents int, visible bool) spende {
		var out struct{ Spende spende }
		donate(by, uuid.NewString(), map[string]any{"amount_cents": cents, "visible": visible, "message": "Für den Platz"}).
			Expect(t, http.StatusCreated).JSON(t, &out)
		for _, to := range []string{"pending", "settled"} {
			admin.Post("/api/spenden/"+out.Spende.ID+"/status", map[string]string{"status": to}).Expect(t, http.StatusOK)
		}
		return out.Spende
	}
	visible, anon := give(gerda, 1250, true), give(otto, 4000, false)
	var live struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	c.Get("/api/konto").Expect(t, http.StatusOK).JSON(t, &live)

	// The log is read up to its horizon (the oldest transaction still running), which a
	// background transaction may hold back for a moment.
	var (
		a     timelineAnswer
		m     map[string]any
		body  []byte
		konto map[string]any
	)
	instancetest.WaitFor(t, "the donations in the timeline", func() bool {
		a, m, body = query("")
		konto, _ = m["ortskonto"].(map[string]any)
		return konto != nil && konto["balance_cents"] == float64(5250)
	})
	if konto == nil || konto["balance_cents"] != float64(5250) || live.BalanceCents != 5250 || a.Source.EventsReplayed == 0 {
		t.Fatalf("now: ortskonto %v (live balance %d, source %+v), want the balance 5250 replayed", m["ortskonto"], live.BalanceCents, a.Source)
	}
	if pos, _ := konto["position"].(map[string]any); pos == nil || pos["lat"] != 51.3365 {
		t.Errorf("the Ortskonto's position: %v", konto["position"])
	}
	gold, _ := m["goldfaeden"].([]any)
	if len(gold) != 1 {
		t.Fatalf("Goldfäden %v, want the visible donation's", m["goldfaeden"])
	}
	g := gold[0].(map[string]any)
	if g["id"] != visible.ID || g["status"] != "settled" || g["account_name"] != "Gerda" || g["konto_position"] == nil {
		t.Errorf("the Goldfaden: %v", g)
	}
	// Otto's Garnrolle is on the map (he is a resident); nothing ties it to his donation.
	if strings.Contains(string(body), anon.ID) || strings.Contains(string(body), `"account_id":"`+otto.ID) ||
		strings.Contains(string(body), "4000") {
		t.Errorf("the answer shows the anonymous donation or its donor: %s", body)
	}
	// Between the snapshot and the Ortskonto's set-up: none, still.
	if _, m, _ := query(snapshotted.Add(time.Minute).Format("15:04")); m["ortskonto"] != nil || len(m["goldfaeden"].([]any)) != 0 {
		t.Errorf("before the set-up: ortskonto %v, Goldfäden %v", m["ortskonto"], m["goldfaeden"])
	}
}
