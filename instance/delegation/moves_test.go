package delegation_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A delegation's life as the delegation graph in effect sees it: which events moved weight
// from whom and where it went before (MoveOf), and which delegation was in effect between two
// accounts at a given time (InEffectAt: what a closed Abstimmung's count was made with).
func TestMovesAndDelegationsInEffect(t *testing.T) {
	t.Parallel()
	// The log is read whole 33 days on: the retention would have removed what a snapshot covers
	// by then (followers read the moves as they happen, long before).
	inst := instancetest.Start(t, instancetest.Options{Retention: -1})
	ctx := context.Background()
	svc := inst.Delegations
	resident := func(name string) account.Account {
		t.Helper()
		a, err := inst.Accounts.Get(ctx, uuid.MustParse(inst.VerifiedResident(name, 51.3362, 12.3363).ID))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ada, ben, cem := resident("Ada"), resident("Ben"), resident("Cem")
	request := func(from, to account.Account) delegation.Delegation {
		t.Helper()
		d, err := svc.Request(ctx, from, to.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	inEffect := func(from, to account.Account, at time.Time) uuid.UUID {
		t.Helper()
		d, err := svc.InEffectAt(ctx, from.ID, to.ID, at)
		if errors.Is(err, delegation.ErrNotFound) {
			return uuid.Nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.FromID != from.ID || d.ToID != to.ID || d.FromName != from.Name || d.ToName != to.Name {
			t.Errorf("InEffectAt(%s, %s) gave %+v", from.Name, to.Name, d)
		}
		return d.ID
	}

	d1 := request(ada, ben)
	if got := inEffect(ada, ben, inst.Clock.Now()); got != uuid.Nil {
		t.Errorf("a request is in effect before the batch: %s", got)
	}
	inst.Advance("24h")
	t1 := inst.Clock.Now()
	if got := inEffect(ada, ben, t1); got != d1.ID {
		t.Errorf("after the batch Ada→Ben in effect: %s, want %s", got, d1.ID)
	}
	if got := inEffect(ada, ben, d1.EffectiveAt.Add(-time.Second)); got != uuid.Nil {
		t.Errorf("Ada→Ben in effect a second before the batch: %s", got)
	}
	d2 := request(ada, cem) // replaces Ada→Ben at the next batch
	inst.Advance("24h")
	t2 := inst.Clock.Now()
	if inEffect(ada, ben, t1) != d1.ID || inEffect(ada, ben, t2) != uuid.Nil || inEffect(ada, cem, t2) != d2.ID {
		t.Errorf("after the replacement: Ada→Ben at t1 %s, at t2 %s; Ada→Cem at t2 %s",
			inEffect(ada, ben, t1), inEffect(ada, ben, t2), inEffect(ada, cem, t2))
	}
	// Ben asks and takes it back before it counted: no move.
	d3 := request(ben, cem)
	if _, err := svc.Revoke(ctx, ben, d3.ID); err != nil {
		t.Fatal(err)
	}
	// Ada revokes: no move until the batch ends it.
	if _, err := svc.Revoke(ctx, ada, d2.ID); err != nil {
		t.Fatal(err)
	}
	inst.Advance("24h")
	if got := inEffect(ada, cem, t2); got != d2.ID {
		t.Errorf("Ada→Cem in effect at t2, after it ended: %s, want %s", got, d2.ID)
	}
	if got := inEffect(ada, cem, inst.Clock.Now()); got != uuid.Nil {
		t.Errorf("Ada→Cem still in effect after its revocation's batch: %s", got)
	}
	request(cem, ben)
	inst.Advance("24h")
	inst.Advance("29d")

	// Read returns only what lies below the log's horizon: wait until every transaction
	// running now (the instance's own background work, too) has ended.
	if err := inst.Events.CatchUp(ctx, 0); err != nil {
		t.Fatal(err)
	}
	evs, err := inst.Events.Read(ctx, eventstore.Position{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	name := map[uuid.UUID]string{uuid.Nil: "nobody", ada.ID: "Ada", ben.ID: "Ben", cem.ID: "Cem"}
	var got []string
	for _, e := range evs {
		if !strings.HasPrefix(e.Type, "Delegation") {
			continue
		}
		m, ok, err := svc.MoveOf(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			got = append(got, e.Type+": -")
			continue
		}
		if m.Event != e.Position.ID {
			t.Errorf("%s's move names event %d", e.Type, m.Event)
		}
		got = append(got, fmt.Sprintf("%s: %s, was %s", e.Type, name[m.From], name[m.Was]))
	}
	want := []string{
		"DelegationAngefragt: -",
		"DelegationWirksam: Ada, was nobody",
		"DelegationAngefragt: -",
		"DelegationBeendet: Ada, was Ben", // replaced, in the batch that makes Ada→Cem effective
		"DelegationWirksam: Ada, was Ben",
		"DelegationAngefragt: -",
		"DelegationBeendet: -", // withdrawn before it counted
		"DelegationWiderrufen: -",
		"DelegationBeendet: Ada, was Cem", // revoked, at the batch
		"DelegationAngefragt: -",
		"DelegationWirksam: Cem, was nobody",
		"DelegationAbgelaufen: Cem, was Ben", // 28 days after Cem last wrote
	}
	if !slices.Equal(got, want) {
		t.Errorf("moves\n got %q\nwant %q", got, want)
	}
}
