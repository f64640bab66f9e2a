package delegation_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestBatchNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	b := delegation.Batch{At: 3 * time.Hour, Location: berlin}
	for _, c := range []struct{ at, want string }{
		{"2026-11-22T10:00:00Z", "2026-11-23T02:00:00Z"}, // 03:00 CET
		{"2026-11-23T01:59:59Z", "2026-11-23T02:00:00Z"},
		{"2026-11-23T02:00:00Z", "2026-11-24T02:00:00Z"}, // strictly after
		{"2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"}, // summer time starts that night: 03:00 CEST
		{"2026-10-24T12:00:00Z", "2026-10-25T02:00:00Z"}, // and ends: 03:00 CET
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		want, _ := time.Parse(time.RFC3339, c.want)
		if got := b.Next(at); !got.Equal(want) {
			t.Errorf("Next(%s) = %s, want %s", c.at, got.Format(time.RFC3339), c.want)
		}
	}
}

// Two requests that pass their checks at the same time (different delegators do not wait for
// each other) can together close a circle. The batch applies them in request order and refuses
// the one that would close it.
func TestBatchRefusesACircleThatRacedIn(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", 51.3362, 12.3363)
	ben := inst.VerifiedResident("Ben", 51.3362, 12.3363)
	var first struct {
		ID          string    `json:"id"`
		EffectiveAt time.Time `json:"effective_at"`
	}
	ada.Post("/api/delegationen", map[string]string{"to_account_id": ben.ID}).Expect(t, http.StatusCreated).JSON(t, &first)
	// Ben's request, as if its check had run before Ada's committed.
	var raced string
	err := inst.Pool.QueryRow(context.Background(), `
INSERT INTO delegationen (id, from_id, to_id, state, requested_at, effective_at)
VALUES (gen_random_uuid(), $1, $2, 'pending', now(), $3) RETURNING id`, ben.ID, ada.ID, first.EffectiveAt).Scan(&raced)
	if err != nil {
		t.Fatal(err)
	}
	inst.Advance("24h")

	got := map[string]string{}
	for _, id := range []string{first.ID, raced} {
		var d struct {
			State     string `json:"state"`
			EndReason string `json:"end_reason"`
		}
		ben.Get("/api/delegationen/"+id).Expect(t, http.StatusOK).JSON(t, &d)
		got[id] = d.State + "/" + d.EndReason
	}
	if got[first.ID] != "active/" || got[raced] != "ended/cycle" {
		t.Fatalf("the earlier request takes effect, the later one is refused as a circle: %v", got)
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'DelegationAbgelehnt' AND subject_id = $1`, raced); n != 1 {
		t.Errorf("%d DelegationAbgelehnt events for the refused request", n)
	}
}
