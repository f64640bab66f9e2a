package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// Who was active: each of the given accounts that is the actor of any event, public or
// private, strictly after the time, counted once however much it wrote; others' events and
// events without actor do not count.
func TestCountActorsSince(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	store := eventstore.NewStore(pool, time.Hour, nil)
	ana, ben, cem, outsider := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	write := func(actor uuid.UUID, at time.Time, kind eventstore.Kind[pinged]) {
		t.Helper()
		if err := database.InTx(ctx, pool, func(tx *database.Tx) error {
			return eventstore.Append(tx, at, kind.New(eventstore.Header{Actor: actor}, pinged{}))
		}); err != nil {
			t.Fatal(err)
		}
	}
	since := at.Add(-30 * 24 * time.Hour)
	write(ana, at, testPinged)
	write(ana, at.Add(time.Minute), testEchoed) // private, and a second time: still one
	write(ben, since, testPinged)               // exactly at the bound: not after it
	write(cem, since.Add(-time.Hour), testPinged)
	write(outsider, at, testPinged)
	write(uuid.Nil, at, testPinged) // a timer's event

	for _, c := range []struct {
		ids   []uuid.UUID
		since time.Time
		want  int
	}{
		{[]uuid.UUID{ana, ben, cem}, since, 1},
		{[]uuid.UUID{ana, ben, cem}, since.Add(-time.Second), 2},
		{[]uuid.UUID{ana, ben, cem}, since.Add(-2 * time.Hour), 3},
		{[]uuid.UUID{ben, cem}, since, 0},
		{nil, since.Add(-2 * time.Hour), 0},
	} {
		n, err := store.CountActorsSince(ctx, c.ids, c.since)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%d of %d accounts active after %s, want %d", n, len(c.ids), c.since, c.want)
		}
	}
}
