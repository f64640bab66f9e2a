package ortskonto_test

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// A long transaction that moves several donations (the bank import's, through TransitionTx)
// and a treasurer's step by hand on one of them at the same time do not deadlock: both take
// the balance row before a donation's row. The import has stepped one donation (so it holds
// the balance row) when the hand step starts on a second; the import then steps the second.
// With the donation locked first, each would wait for the other and PostgreSQL would abort one
// of them (40P01, a 500 to the treasurer or a failed import).
func TestImportAndHandStepDoNotDeadlock(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	var ids [2]ortskonto.Spende
	for i := range ids {
		sp, _, err := r.konto.Donate(ctx, jana, ortskonto.Donation{AmountCents: 100, Visible: true}, string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = sp
	}
	tx, err := database.Begin(ctx, r.pool)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := r.konto.TransitionTx(ctx, tx, r.admin.ID, ids[0].ID, ortskonto.StatusSettled, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1`); err != nil { // sends the queued writes: the balance row is the import's now
		t.Fatal(err)
	}
	hand := make(chan error, 1)
	go func() {
		_, err := r.konto.Transition(ctx, r.admin, ids[1].ID, ortskonto.StatusPending, "")
		hand <- err
	}()
	// Wait until the hand step waits for a lock (on the balance row, or — before the fix — at
	// its commit, holding the donation).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hand step never waited for the import")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := r.konto.TransitionTx(ctx, tx, r.admin.ID, ids[1].ID, ortskonto.StatusSettled, r.clock.Now()); err != nil {
		t.Fatalf("the import's second step: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the import's commit: %v", err)
	}
	// The import settled the second donation first; the hand step, let through now, finds it
	// settled and is refused as any late step is.
	if err := <-hand; !fault.Is(err, "illegal_transition") {
		t.Fatalf("the hand step: %v, want illegal_transition", err)
	}
	k, err := r.konto.Konto(ctx)
	if err != nil || k.BalanceCents() != 200 || k.Counts.Settled != 2 {
		t.Fatalf("konto %+v %v", k, err)
	}
}
