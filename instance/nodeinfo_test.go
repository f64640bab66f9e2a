package instance_test

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// NodeInfo's figures come from the owners of what they count: the residents
// (account.ResidentIDs), the active ones among them (eventstore.CountActorsSince over 30 and
// 180 days) and the Anträge (antrag.Count). Asked at the same moments as the served NodeInfo,
// they give its numbers.
func TestNodeInfoFiguresFromTheirOwners(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	type figures struct{ Total, ActiveMonth, ActiveHalfyear, LocalPosts int }
	served := func() figures {
		t.Helper()
		var ni struct {
			Usage struct {
				Users struct {
					Total          int `json:"total"`
					ActiveMonth    int `json:"activeMonth"`
					ActiveHalfyear int `json:"activeHalfyear"`
				} `json:"users"`
				LocalPosts int `json:"localPosts"`
			} `json:"usage"`
		}
		inst.Client().Get("/nodeinfo/2.1").Expect(t, 200).JSON(t, &ni)
		u := ni.Usage.Users
		return figures{u.Total, u.ActiveMonth, u.ActiveHalfyear, ni.Usage.LocalPosts}
	}
	owned := func() figures {
		t.Helper()
		ids, err := inst.Accounts.ResidentIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := inst.Clock.Now()
		month, err := inst.Events.CountActorsSince(ctx, ids, now.Add(-30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		halfyear, err := inst.Events.CountActorsSince(ctx, ids, now.Add(-180*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		posts, err := inst.Antraege.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return figures{len(ids), month, halfyear, posts}
	}
	check := func(when string, want figures) {
		t.Helper()
		if got := owned(); got != want {
			t.Errorf("%s: the owners count %+v, want %+v", when, got, want)
		}
		if got := served(); got != want {
			t.Errorf("%s: NodeInfo serves %+v, want %+v", when, got, want)
		}
	}

	check("empty", figures{})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	inst.VerifiedResident("Ben Zwirn", lat, lon)
	check("two new residents", figures{2, 2, 2, 0})
	inst.Advance("31d")
	// Jana files an Antrag; an admin verifies a third resident (the admin writes, the new
	// resident registered a moment ago); the admin is no resident.
	jana.Post("/api/antraege", map[string]any{"title": "Bank am Teich"}).Expect(t, 201)
	inst.VerifiedResident("Cem Faden", lat, lon)
	check("a month later", figures{3, 2, 3, 1})
	inst.Advance("181d")
	check("half a year later", figures{3, 0, 0, 1})
}
