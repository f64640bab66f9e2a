package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// A follower that is stuck shows how far and how long it is behind the head; one that keeps
// up shows nothing; once the stuck one goes on, it is at the head again.
func TestFollowersLag(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := pgtest.Pool(t)
	store := eventstore.NewStore(pool, 10*time.Millisecond, nil)
	go store.Run(ctx)

	release := make(chan struct{})
	types := []string{testPinged.Name()}
	go store.KeepFollowingTypes(ctx, "stuck", eventstore.Position{}, 100, types, func(ctx context.Context, _ []eventstore.Event) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	go store.KeepFollowingTypes(ctx, "quick", eventstore.Position{}, 100, types, func(context.Context, []eventstore.Event) error { return nil })

	for n := range 3 {
		if err := database.InTx(ctx, pool, func(tx *database.Tx) error { appendOne(t, ctx, tx, n); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	lag := func() map[string]eventstore.FollowerLag {
		out := map[string]eventstore.FollowerLag{}
		for _, f := range store.Followers() {
			out[f.Name] = f
		}
		return out
	}
	waitUntil(t, "the stuck follower 3 events behind and the quick one at the head", func() bool {
		l := lag()
		return store.LastHead().ID > 0 && l["stuck"].Events >= 3 && l["stuck"].Behind > 0 && l["quick"] == eventstore.FollowerLag{Name: "quick", Position: store.LastHead()}
	})
	close(release)
	waitUntil(t, "the stuck follower at the head once released", func() bool {
		l := lag()["stuck"]
		return l.Events == 0 && l.Behind == 0 && l.Position == store.LastHead()
	})

	// A follower that stops is no longer listed (it is behind nothing it still follows).
	stopCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = store.FollowTypesAs(stopCtx, "once", eventstore.Position{}, 100, types, func(context.Context, []eventstore.Event) error { return nil })
	}()
	waitUntil(t, "the follower listed while it follows", func() bool { _, ok := lag()["once"]; return ok })
	stop()
	<-stopped
	if _, ok := lag()["once"]; ok {
		t.Fatal("a stopped follower is still listed")
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, patience)
		}
	}
}
