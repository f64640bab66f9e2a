package nachbarn_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// The listing shows our Anträge and our neighbours' together, newest first (ours first among
// those filed at the same moment), cut at the limit, filtered by status: the order the API
// serves today.
func TestListingOursAndTheirsNewestFirst(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := nachbarn.NewService(inst.Pool, inst.Clock, inst.Antraege)
	ada, err := inst.Accounts.Get(ctx, uuid.MustParse(inst.VerifiedResident("Ada", 51.3362, 12.3363).ID))
	if err != nil {
		t.Fatal(err)
	}
	names := map[uuid.UUID]string{}
	var ours []antrag.Antrag
	for i := range 3 {
		if i > 0 {
			if _, err := inst.DevClock.Advance(time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		a, err := inst.Antraege.File(ctx, ada, antrag.Filing{Title: fmt.Sprintf("ours %d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, a)
		names[a.ID] = a.Title
	}
	for _, c := range []struct {
		name, status string
		opened       time.Time
	}{
		{"theirs before 1", "offen", ours[0].OpenedAt.Add(-30 * time.Minute)},
		{"theirs with 2", "offen", ours[1].OpenedAt},
		{"theirs after 3", "abstimmung", ours[2].OpenedAt.Add(30 * time.Minute)},
		{"theirs, long decided", "angenommen", ours[0].OpenedAt.Add(-30 * 24 * time.Hour)},
	} {
		a := remoteAntrag(plagwitz, c.name)
		a.IRI = plagwitz + "/ap/antraege/" + uuid.NewString()
		a.Title, a.Status, a.OpenedAt = c.name, c.status, c.opened
		if err := svc.StoreAntrag(ctx, a); err != nil {
			t.Fatal(err)
		}
		stored, err := svc.Find(ctx, a.IRI)
		if err != nil {
			t.Fatal(err)
		}
		names[stored.ID] = c.name
	}
	listing := func(status string, limit int) []string {
		t.Helper()
		es, err := svc.Listing(ctx, status, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			switch {
			case e.Ours != nil && e.Theirs == nil:
				out = append(out, e.Ours.Title)
			case e.Theirs != nil && e.Ours == nil:
				out = append(out, e.Theirs.Title)
			default:
				t.Fatalf("entry %+v is neither ours nor theirs", e)
			}
		}
		return out
	}
	all := []string{"theirs after 3", "ours 3", "ours 2", "theirs with 2", "ours 1", "theirs before 1", "theirs, long decided"}
	for _, c := range []struct {
		status string
		limit  int
		want   []string
	}{
		{"", 0, all},
		{"", 3, all[:3]},
		{"", 1000, all},
		{"offen", 0, []string{"ours 3", "ours 2", "theirs with 2", "ours 1", "theirs before 1"}},
		{"angenommen", 0, []string{"theirs, long decided"}},
	} {
		if got := listing(c.status, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("Listing(%q, %d)\n got %q\nwant %q", c.status, c.limit, got, c.want)
		}
	}
	// The API lists them in the same order.
	var served struct {
		Antraege []struct {
			ID uuid.UUID `json:"id"`
		} `json:"antraege"`
	}
	inst.Client().Get("/api/antraege").Expect(t, 200).JSON(t, &served)
	var api []string
	for _, a := range served.Antraege {
		api = append(api, names[a.ID])
	}
	if !slices.Equal(api, all) {
		t.Errorf("the API lists\n%q\nthe listing\n%q", api, all)
	}
	for _, c := range []struct {
		status string
		limit  int
		code   string
	}{{"unbekannt", 0, "unknown_status"}, {"", antrag.MaxLimit + 1, "invalid_limit"}} {
		if _, err := svc.Listing(ctx, c.status, c.limit); !fault.Is(err, c.code) {
			t.Errorf("Listing(%q, %d): %v, want %s", c.status, c.limit, err, c.code)
		}
	}
}
