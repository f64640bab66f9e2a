package knoten_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Taps that arrive together are written as one batch (spinbatch.go), and each resident gets
// what a transaction of their own would give: the Faden and its event, or the refusal the
// Knoten gives, with nothing written for it; the batch's other spins go on. Two spins on one
// Knoten in one batch both count (its Garn, its dissolution).
func TestSpinBatch(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := inst.Knoten
	owner := uuid.MustParse(inst.Resident("Ute", home.Lat, home.Lon).ID)
	var spinners []uuid.UUID
	for _, name := range []string{"Ada", "Bo", "Cem", "Dana"} {
		spinners = append(spinners, uuid.MustParse(inst.Resident(name, home.Lat, home.Lon).ID))
	}
	place := func() knoten.Knoten {
		t.Helper()
		k, _, err := svc.Place(ctx, owner, knoten.Placement{Type: "idee", Title: "K", Point: home})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b, hidden := place(), place(), place()
	moderator := uuid.MustParse(inst.Admin().ID)
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		return svc.Moderation(inst.URL).HideTx(ctx, tx, moderation.Target{Kind: moderation.KindKnoten, ID: hidden.ID.String()}, true, moderator, "Hausregeln", inst.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	inst.DevClock.Advance(time.Hour)
	events0 := inst.Count(`SELECT count(*) FROM events`)

	type tap struct {
		actor  uuid.UUID
		knoten uuid.UUID
		garn   bool
		want   error
		got    knoten.Faden
		err    error
	}
	taps := []*tap{
		{actor: spinners[0], knoten: a.ID}, {actor: spinners[1], knoten: a.ID, garn: true}, {actor: spinners[2], knoten: a.ID},
		{actor: spinners[3], knoten: b.ID}, {actor: spinners[0], knoten: b.ID},
		{actor: spinners[1], knoten: hidden.ID, want: knoten.ErrKnotenHidden},
		{actor: spinners[2], knoten: uuid.Must(uuid.NewV7()), want: knoten.ErrKnotenNotFound},
	}
	waiting, release := knoten.HoldSpins(svc)
	var wg sync.WaitGroup
	for _, tp := range taps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp.got, tp.err = svc.Spin(ctx, tp.actor, knoten.Spinning{KnotenID: tp.knoten, Type: "gespraech", Twisted: tp.garn})
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); waiting() < len(taps); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d taps queued", waiting(), len(taps))
		}
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()

	spun := 0
	for i, tp := range taps {
		if tp.want != nil {
			if !errors.Is(tp.err, tp.want) {
				t.Errorf("tap %d: %v, want %v", i, tp.err, tp.want)
			}
			continue
		}
		if tp.err != nil {
			t.Fatalf("tap %d: %v", i, tp.err)
		}
		spun++
		f := tp.got
		if f.KnotenID != tp.knoten || f.AccountID != tp.actor || f.Twisted != tp.garn {
			t.Errorf("tap %d: spun %+v", i, f)
		}
		if n := inst.Count(`SELECT count(*) FROM faeden WHERE id = $1 AND knoten_id = $2 AND account_id = $3 AND twisted = $4`, f.ID, tp.knoten, tp.actor, tp.garn); n != 1 {
			t.Errorf("tap %d: %d Faden rows", i, n)
		}
		if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'FadenGesponnen' AND subject_id = $1 AND actor_id = $2 AND h3_index = $3`, f.ID, tp.actor, a.Cell); n != 1 {
			t.Errorf("tap %d: %d events at the Knoten's cell", i, n)
		}
	}
	// Written together: one transaction, and nothing for the refused taps.
	if n := inst.Count(`SELECT count(DISTINCT tx) FROM events WHERE type = 'FadenGesponnen' AND subject_id IN (SELECT id FROM faeden WHERE knoten_id IN ($1, $2) AND account_id <> $3)`, a.ID, b.ID, owner); n != 1 {
		t.Errorf("the batch's events are in %d transactions, want 1", n)
	}
	if n := inst.Count(`SELECT count(*) FROM events`) - events0; n != spun {
		t.Errorf("%d events appended for %d spins", n, spun)
	}
	if n := inst.Count(`SELECT count(*) FROM faeden WHERE knoten_id = $1`, hidden.ID); n != 1 { // its creator's
		t.Errorf("the hidden Knoten has %d Fäden", n)
	}
	gotA, err := svc.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gotA.GarnCount != 1 || gotA.DissolvesAt != nil {
		t.Errorf("Knoten a: Garn %d, dissolves %v; want 1 Garn, permanent", gotA.GarnCount, gotA.DissolvesAt)
	}
	gotB, err := svc.Get(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	// As long as its Fäden: the batch's spins share their instant.
	if want := *taps[3].got.ExpiresAt; gotB.GarnCount != 0 || gotB.DissolvesAt == nil || !gotB.DissolvesAt.Equal(want) || !taps[4].got.ExpiresAt.Equal(want) {
		t.Errorf("Knoten b: Garn %d, dissolves %v; want none, %v", gotB.GarnCount, gotB.DissolvesAt, want)
	}
}

// A batch the database refuses as a whole (here: a tap by an account that does not exist,
// which its Faden's reference refuses) is written tap by tap: the others are spun, the one
// tap fails alone.
func TestSpinBatchFailureIsTheTapsOwn(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := inst.Knoten
	owner := uuid.MustParse(inst.Resident("Ute", home.Lat, home.Lon).ID)
	k, _, err := svc.Place(ctx, owner, knoten.Placement{Type: "idee", Title: "K", Point: home})
	if err != nil {
		t.Fatal(err)
	}
	actors := []uuid.UUID{owner, uuid.Must(uuid.NewV7()), owner}
	errs := make([]error, len(actors))
	waiting, release := knoten.HoldSpins(svc)
	var wg sync.WaitGroup
	for i, actor := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.Spin(ctx, actor, knoten.Spinning{KnotenID: k.ID, Type: "gespraech"})
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); waiting() < len(actors); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d taps queued", waiting(), len(actors))
		}
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	if errs[0] != nil || errs[2] != nil || errs[1] == nil {
		t.Fatalf("errors %v; want only the unknown account's tap to fail", errs)
	}
	if n := inst.Count(`SELECT count(*) FROM faeden WHERE knoten_id = $1 AND account_id = $2`, k.ID, owner); n != 3 { // the first and two taps
		t.Errorf("%d of the owner's Fäden, want 3", n)
	}
}
