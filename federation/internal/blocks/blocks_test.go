package blocks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/nachbarn"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// failing is an owner that cannot forget (its database refuses, say).
type failing struct{}

var errCannotForget = errors.New("cannot forget")

func (failing) ForgetDomainTx(context.Context, *database.Tx, string) error { return errCannotForget }

// A block is one transaction over every owner (layout plan §4): when one owner cannot forget
// what the domain sent, the domain is not blocked — no row, no DomainGesperrt — and what the
// owners before it forgot is still there; the admin's retry then does it all.
func TestBlockIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	neighbours := nachbarn.NewService(pool, clock.System{}, nil)
	opens := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	closes := opens.Add(7 * 24 * time.Hour)
	const evil = "https://evil.example"
	err := neighbours.StoreAntrag(ctx, nachbarn.Antrag{IRI: evil + "/ap/antraege/1", Ortsweberei: evil + "/ap/ortsweberei",
		Actor: evil + "/ap/antraege/1/actor", Title: "Bank", Status: "abstimmung", OpenedAt: opens, DecisionDeadline: opens,
		OpensAt: &opens, ClosesAt: &closes, Updated: opens})
	if err != nil {
		t.Fatal(err)
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	admin := account.Account{ID: uuid.New(), IsAdmin: true}

	b := blocks.New(pool, clock.System{}, clock.System{})
	b.SetForgetting(nil, neighbours, failing{})
	if err := b.Block(ctx, admin, "evil.example", ""); !errors.Is(err, errCannotForget) {
		t.Fatalf("Block with an owner that cannot forget: %v, want its error", err)
	}
	if n := count(`SELECT count(*) FROM ap_domain_blocks`); n != 0 {
		t.Errorf("the domain is blocked (%d rows) although an owner could not forget what it sent", n)
	}
	if n := count(`SELECT count(*) FROM events WHERE type = 'DomainGesperrt'`); n != 0 {
		t.Errorf("%d DomainGesperrt in the log for a block that failed", n)
	}
	if _, err := neighbours.Find(ctx, evil+"/ap/antraege/1"); err != nil {
		t.Errorf("the first owner's forgetting committed without the block: %v", err)
	}
	if blocked, err := b.BlockedNow(ctx, "evil.example"); err != nil || blocked {
		t.Errorf("BlockedNow after the failed block: %v, %v", blocked, err)
	}

	// The retry, every owner able to forget, does it all.
	b.SetForgetting(nil, neighbours)
	if err := b.Block(ctx, admin, "evil.example", ""); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM ap_domain_blocks`) + count(`SELECT count(*) FROM events WHERE type = 'DomainGesperrt'`); n != 2 {
		t.Errorf("after the block: %d block rows and DomainGesperrt, want 1 each", n)
	}
	if _, err := neighbours.Find(ctx, evil+"/ap/antraege/1"); !errors.Is(err, nachbarn.ErrUnknownAntrag) {
		t.Errorf("the blocked domain's Antrag after the block: %v, want ErrUnknownAntrag", err)
	}
}
