package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A Garn (a twisted Faden) lives on after the event log has dropped its FadenGesponnen (the
// retention deletes events a snapshot holds once they are 30 days old): /ap/faeden/{id} still
// answers, from the map's table, as it did from the events.
func TestFadenOutlivesItsEvents(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	var k, garn struct {
		ID string `json:"id"`
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Trinkbrunnen", "description": "Am Markt", "lat": lat, "lon": lon}).
		Expect(t, 201).JSON(t, &k)
	ben.Post("/api/faeden", map[string]any{"to_knoten_id": k.ID, "type": "gespraech"}).Expect(t, 201).JSON(t, &garn)
	ben.Post("/api/faeden/"+garn.ID+"/twist", nil).Expect(t, 200)

	fetch := func() map[string]any {
		t.Helper()
		code, body := apGet(t, inst.URL+"/ap/faeden/"+garn.ID)
		if code != http.StatusOK {
			t.Fatalf("GET /ap/faeden/%s: %d %s", garn.ID, code, body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := fetch()
	if _, err := inst.Pool.Exec(context.Background(), `DELETE FROM events WHERE subject_id = $1`, garn.ID); err != nil {
		t.Fatal(err)
	}
	after := fetch()
	for _, member := range []string{"id", "type", "attributedTo", "knoten", "fadenType", "twisted", "published", "to", "expiresAt"} {
		b1, _ := json.Marshal(before[member])
		b2, _ := json.Marshal(after[member])
		if string(b1) != string(b2) {
			t.Errorf("%s: %s from the events, %s without them", member, b1, b2)
		}
	}
	if after["twisted"] != true {
		t.Errorf("the Garn is served as %v", after)
	}
}

// NodeInfo's half year reaches past the log's retention: residents who wrote 31 days ago are
// active in the half year after the retention dropped their events (done by hand here, as the
// retention would once a snapshot holds them).
func TestNodeInfoHalfyearOutlivesTheEvents(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	inst.VerifiedResident("Jana Weber", lat, lon)
	inst.VerifiedResident("Ben Zwirn", lat, lon)
	inst.Advance("31d") // the sweeps run: the activity reader has read their writes
	if _, err := inst.Pool.Exec(context.Background(), `DELETE FROM events WHERE at < $1`, inst.DevClock.Now().AddDate(0, 0, -30)); err != nil {
		t.Fatal(err)
	}
	code, ni, _ := getJSON(t, inst.URL+"/nodeinfo/2.1", "")
	if code != 200 {
		t.Fatalf("nodeinfo: %d %v", code, ni)
	}
	users := ni["usage"].(map[string]any)["users"].(map[string]any)
	if users["total"] != 2.0 || users["activeMonth"] != 0.0 || users["activeHalfyear"] != 2.0 {
		t.Fatalf("users: %v, want 2 residents, none active this month, both in the half year", users)
	}
}
