package wortfilter_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// patience is a safety net for a busy machine: the tests wait for the state they expect.
const patience = 60 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, patience)
		}
	}
}

// A change through one replica applies there at once and reaches the other through the log;
// a change through the other comes back; a process started later, or started before a change
// but following only after it, checks against the newest list.
func TestReplicasFollowChanges(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	newProcess := func(follow bool) (*wortfilter.Service, func()) {
		ev := eventstore.NewStore(pool, 10*time.Millisecond, nil)
		go ev.Run(ctx)
		s, err := wortfilter.New(ctx, pool, clock.System{}, ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		run := func() { go s.Run(ctx) }
		if follow {
			run()
		}
		return s, run
	}
	a, _ := newProcess(true)
	b, _ := newProcess(true)
	late, runLate := newProcess(false)
	admin := account.Account{ID: uuid.New(), IsAdmin: true}
	blocks := func(s *wortfilter.Service, text string) func() bool {
		return func() bool { return s.Check(text).Action == moderation.ActionBlock }
	}
	if v := a.Check("du arsch"); v.Action != "" {
		t.Fatalf("before any list: %+v", v)
	}

	if _, err := a.Set(ctx, admin, wortfilter.List{Words: []string{"arsch"}, Hold: []string{"mist"}}); err != nil {
		t.Fatal(err)
	}
	if !blocks(a, "Du Arsch")() {
		t.Fatal("the replica that made the change does not apply it at once")
	}
	waitFor(t, "block on replica b", blocks(b, "Du Arsch"))
	if v := b.Check("so ein Mist"); v != (moderation.Verdict{Action: moderation.ActionHold, Word: "mist"}) {
		t.Fatalf("replica b holds with %+v", v)
	}

	if _, err := b.Set(ctx, admin, wortfilter.List{Words: []string{"*idiot*"}, Hold: []string{}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica a to block the new entry", blocks(a, "Vollidiot"))
	if v := a.Check("Du Arsch, so ein Mist"); v.Action != "" {
		t.Fatalf("replica a still applies the old list: %+v", v)
	}

	// late was started before the changes and follows only from now: what changed in
	// between is in the table, not after its starting point in the log.
	if blocks(late, "Vollidiot")() {
		t.Fatal("late applies a change before it follows")
	}
	runLate()
	waitFor(t, "the late process to catch up", blocks(late, "Vollidiot"))
	fresh, _ := newProcess(false)
	if !blocks(fresh, "Vollidiot")() {
		t.Fatal("a process started now does not load the stored list")
	}

	// Both changes are recorded, by whom and what; an unchanged list records nothing.
	if _, err := a.Set(ctx, admin, wortfilter.List{Words: []string{" *idiot* "}, Hold: nil}); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT actor_id, payload, public FROM events WHERE type = 'WortfilterGeaendert' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []wortfilter.GeaendertV1
	for rows.Next() {
		var actor uuid.UUID
		var payload []byte
		var public bool
		if err := rows.Scan(&actor, &payload, &public); err != nil {
			t.Fatal(err)
		}
		if actor != admin.ID || public {
			t.Errorf("event by %s, public %v; want by the admin, private", actor, public)
		}
		var p wortfilter.GeaendertV1
		if err := json.Unmarshal(payload, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 2 {
		t.Fatalf("%d events, want 2 (the unchanged list records nothing): %+v", len(got), got)
	}
	second := got[1]
	if second.Version != 2 || len(second.Words.Added) != 1 || second.Words.Added[0] != "*idiot*" ||
		len(second.Words.Removed) != 1 || second.Words.Removed[0] != "arsch" || len(second.Hold.Removed) != 1 || second.Hold.Removed[0] != "mist" {
		t.Errorf("second change recorded as %+v", second)
	}
	if a.Version() != 2 || b.Version() != 2 {
		t.Errorf("versions %d and %d, want 2", a.Version(), b.Version())
	}
}

// Only admins read or change the list; a refused change changes nothing.
func TestOnlyAdmins(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	s, err := wortfilter.New(ctx, pool, clock.System{}, eventstore.NewStore(pool, 0, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	resident := account.Account{ID: uuid.New()}
	if _, err := s.Set(ctx, resident, wortfilter.List{Words: []string{"arsch"}}); !fault.Is(err, "admin_required") {
		t.Fatalf("a resident's Set: %v", err)
	}
	if _, err := s.Get(ctx, resident); !fault.Is(err, "admin_required") {
		t.Fatalf("a resident's Get: %v", err)
	}
	admin := account.Account{ID: uuid.New(), IsAdmin: true}
	if _, err := s.Set(ctx, admin, wortfilter.List{Words: []string{"ok", "f*ck"}}); !fault.Is(err, "wortfilter_entry_star") {
		t.Fatalf("an invalid list: %v", err)
	}
	l, err := s.Get(ctx, admin)
	if err != nil || len(l.Words)+len(l.Hold) != 0 || s.Version() != 0 {
		t.Fatalf("after refused changes: %+v, %v, version %d", l, err, s.Version())
	}
}

// Checks run while the list changes: each sees one list or the other, never a mix
// (go test -race checks the handover).
func TestCheckWhileChanging(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	s, err := wortfilter.New(ctx, pool, clock.System{}, eventstore.NewStore(pool, 0, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := account.Account{ID: uuid.New(), IsAdmin: true}
	lists := []wortfilter.List{{Words: []string{"arsch"}, Hold: []string{"mist"}}, {Words: []string{"mist"}, Hold: []string{"arsch"}}}
	if _, err := s.Set(ctx, admin, lists[1]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				v := s.Check("arsch", "mist")
				if v.Action != moderation.ActionBlock {
					t.Errorf("a check during a change saw %+v", v)
					return
				}
			}
		})
	}
	for i := range 20 {
		if _, err := s.Set(ctx, admin, lists[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}
