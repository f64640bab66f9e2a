package instance_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A Knoten the moderators hid is in no moment of the timeline, not even in the days before
// the hiding, whose snapshots (signed, never rewritten) still hold it; nor are its Fäden.
// Shown again, the past shows it again.
func TestTimelineLeavesHiddenKnotenOut(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.Client()
	admin := inst.Admin()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	day := func() string { return inst.DevClock.Now().In(berlin).Format("2006-01-02") }
	advance := func(d string) { c.Post("/api/dev/clock", map[string]string{"advance": d}).Expect(t, http.StatusOK) }
	ana := inst.Resident("Ana", 51.3362, 12.3363)
	place := func(title string, lon float64) string {
		var k struct{ ID string }
		ana.Post("/api/knoten", map[string]any{"type": "idee", "title": title, "lat": 51.3365, "lon": lon}).Expect(t, http.StatusCreated).JSON(t, &k)
		return k.ID
	}
	advance("1m") // the first (full) snapshot
	first := day()
	place("Montag", 12.33)
	bad := place("Lästerknoten", 12.331)
	advance("24h") // the next snapshot holds both
	second := day()

	at := func(date string) (titles, faedenOf []string) {
		var a timelineAnswer
		c.Get("/api/timeline?date="+date+"&bbox="+timelineBox).Expect(t, http.StatusOK).JSON(t, &a)
		for _, k := range a.Knoten {
			titles = append(titles, k.Title)
		}
		for _, f := range a.Faeden {
			faedenOf = append(faedenOf, f.KnotenID)
		}
		slices.Sort(titles)
		return titles, faedenOf
	}
	if got, _ := at(first); !slices.Equal(got, []string{"Lästerknoten", "Montag"}) {
		t.Fatalf("before the hiding: %v", got)
	}

	// The timeline learns of a hide from the log (every replica keeps what is hidden in memory,
	// read again after each hide or show): it is in the answers once the log has it.
	until := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(instancetest.Patience); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, instancetest.Patience)
			}
		}
	}
	admin.Post("/api/admin/inhalte/hide", map[string]any{"target": bad, "reason": "Beleidigung"}).Expect(t, http.StatusOK)
	for _, date := range []string{first, second} {
		until(date+", after the hiding", func() bool {
			got, faeden := at(date)
			return slices.Equal(got, []string{"Montag"}) && !slices.Contains(faeden, bad)
		})
	}

	admin.Post("/api/admin/inhalte/unhide", map[string]any{"target": bad, "reason": "Doch nicht"}).Expect(t, http.StatusOK)
	until("shown again", func() bool {
		got, faeden := at(first)
		return slices.Equal(got, []string{"Lästerknoten", "Montag"}) && slices.Contains(faeden, bad)
	})
}
