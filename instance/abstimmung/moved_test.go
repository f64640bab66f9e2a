package abstimmung_test

import (
	"context"
	"maps"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A delegation that takes effect while an Abstimmung is open moves the count its followers on
// the Fediverse see, unless the delegator voted there directly (that stops the chain) or the
// weight lands on no one who voted. CountsMovedBy names each open Abstimmung's subject whose
// count moved, with the last move's event; closed Abstimmungen are final and never named.
func TestCountsMovedBy(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	resident := func(name string) account.Account {
		t.Helper()
		a, err := inst.Accounts.Get(ctx, uuid.MustParse(inst.VerifiedResident(name, 51.3362, 12.3363).ID))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ada, ben, cem, dan, eva := resident("Ada"), resident("Ben"), resident("Cem"), resident("Dan"), resident("Eva")
	open := func() (abstimmung.Abstimmung, uuid.UUID) {
		t.Helper()
		subject := uuid.New()
		var a abstimmung.Abstimmung
		err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) (err error) {
			a, err = inst.Abstimmungen.OpenTx(tx, subject, nil, inst.Clock.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return a, subject
	}
	vote := func(who account.Account, a abstimmung.Abstimmung, choice string) {
		t.Helper()
		if _, err := inst.Abstimmungen.Vote(ctx, who, a.ID, choice); err != nil {
			t.Fatal(err)
		}
	}
	x, sx := open() // Ada yes, Ben no
	y, sy := open() // Ada yes
	z, _ := open()  // Ada yes, closed
	vote(ada, x, abstimmung.Yes)
	vote(ben, x, abstimmung.No)
	vote(ada, y, abstimmung.Yes)
	vote(ada, z, abstimmung.Yes)
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		_, _, err := inst.Abstimmungen.CloseTx(ctx, tx, z.ID, inst.Clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range [][2]account.Account{{cem, ada}, {dan, eva}, {ben, ada}} {
		if _, err := inst.Delegations.Request(ctx, d[0], d[1].ID); err != nil {
			t.Fatal(err)
		}
	}
	inst.Advance("24h") // the batch makes all three effective

	// Read returns only what lies below the log's horizon: wait until every transaction
	// running now (the instance's own background work, too) has ended.
	if err := inst.Events.CatchUp(ctx, 0); err != nil {
		t.Fatal(err)
	}
	evs, err := inst.Events.Read(ctx, eventstore.Position{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	moves := map[uuid.UUID]delegation.Move{}
	for _, e := range evs {
		m, ok, err := inst.Delegations.MoveOf(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			moves[m.From] = m
		}
	}
	if len(moves) != 3 {
		t.Fatalf("moves: %v", moves)
	}
	for _, c := range []struct {
		what  string
		moves []delegation.Move
		want  map[uuid.UUID]int64
	}{
		{"Cem's weight to Ada, who voted in both", []delegation.Move{moves[cem.ID]},
			map[uuid.UUID]int64{sx: moves[cem.ID].Event, sy: moves[cem.ID].Event}},
		{"Dan's weight to Eva, who voted nowhere", []delegation.Move{moves[dan.ID]}, map[uuid.UUID]int64{}},
		{"Ben's weight to Ada: in X Ben voted himself", []delegation.Move{moves[ben.ID]}, map[uuid.UUID]int64{sy: moves[ben.ID].Event}},
		{"all three: the last move that moved each", []delegation.Move{moves[cem.ID], moves[dan.ID], moves[ben.ID]},
			map[uuid.UUID]int64{sx: moves[cem.ID].Event, sy: max(moves[cem.ID].Event, moves[ben.ID].Event)}},
		{"none", nil, map[uuid.UUID]int64{}},
	} {
		got, err := inst.Abstimmungen.CountsMovedBy(ctx, c.moves)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%s: moved %v, want %v (X %s, Y %s)", c.what, got, c.want, sx, sy)
		}
	}
}
