package knoten_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var home = geo.Point{Lat: 51.3362, Lon: 12.3363}

// Residents spin, twist and untwist on a few Knoten while time jumps, sweeps run and a
// moderator hides and shows Knoten and Fäden. Whatever the interleaving, nothing deadlocks,
// only rule errors come back, and the projection agrees with the Fäden it summarises and with
// the event log.
func TestConcurrentWeavingKeepsInvariants(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := inst.Knoten

	const residents, ops = 8, 60
	ids := make([]uuid.UUID, residents)
	for i := range ids {
		a, err := inst.Accounts.Register(ctx, account.Registration{Name: "R", Address: "A", Home: home,
			Email: uuid.NewString() + "@example.org", Password: "lange genug"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	var knotenIDs []uuid.UUID
	for range 3 {
		k, _, err := svc.Place(ctx, ids[0], knoten.Placement{Type: "idee", Title: "K", Point: home})
		if err != nil {
			t.Fatal(err)
		}
		knotenIDs = append(knotenIDs, k.ID)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // time and sweeps
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(2 * time.Millisecond)
			inst.DevClock.Advance(time.Duration(rng.IntN(20)) * time.Hour)
			if _, err := svc.Sweep(ctx); err != nil {
				t.Errorf("sweep: %v", err)
				return
			}
		}
	}()
	var mu sync.Mutex
	pick := func(rng *rand.Rand) uuid.UUID {
		mu.Lock()
		defer mu.Unlock()
		return knotenIDs[rng.IntN(len(knotenIDs))]
	}
	wg.Add(1)
	go func() { // a moderator hiding and showing Knoten and Fäden again
		defer wg.Done()
		content := svc.Moderation(inst.URL)
		rng := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(2 * time.Millisecond)
			target := moderation.Target{Kind: moderation.KindKnoten, ID: pick(rng).String()}
			if rng.IntN(2) == 0 {
				var f uuid.UUID
				if err := inst.Pool.QueryRow(ctx, `SELECT id FROM faeden ORDER BY random() LIMIT 1`).Scan(&f); err != nil {
					t.Errorf("a Faden to hide: %v", err)
					return
				}
				target = moderation.Target{Kind: moderation.KindFaden, ID: f.String()}
			}
			if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
				return content.HideTx(ctx, tx, target, rng.IntN(2) == 0, ids[0], "Hausregeln", inst.Clock.Now())
			}); err != nil {
				t.Errorf("moderator: %v", err)
				return
			}
		}
	}()
	var workers sync.WaitGroup
	for r := range residents {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			var mine []uuid.UUID
			for range ops {
				var err error
				switch op := rng.IntN(5); {
				case op == 4:
					var k knoten.Knoten
					k, _, err = svc.Place(ctx, ids[r], knoten.Placement{Type: "idee", Title: "K", Point: home})
					if err == nil {
						mu.Lock()
						knotenIDs = append(knotenIDs, k.ID)
						mu.Unlock()
					}
				case op == 0 || len(mine) == 0:
					var f knoten.Faden
					f, err = svc.Spin(ctx, ids[r], knoten.Spinning{KnotenID: pick(rng), Type: "gespraech", Twisted: rng.IntN(4) == 0})
					if err == nil {
						mine = append(mine, f.ID)
					}
				case op == 1:
					_, err = svc.Twist(ctx, ids[r], mine[rng.IntN(len(mine))])
				case op == 2:
					_, err = svc.Untwist(ctx, ids[r], mine[rng.IntN(len(mine))])
				default:
					_, err = svc.Twist(ctx, ids[(r+1)%residents], mine[rng.IntN(len(mine))]) // someone else's
				}
				if _, isRule := fault.As(err); err != nil && !isRule {
					t.Errorf("resident %d: %v", r, err)
				}
			}
		}()
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if _, err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}

	// The Knoten summary agrees with its Fäden.
	if n := inst.Count(`
SELECT count(*) FROM knoten k
WHERE k.dissolved_at IS NULL AND (
    k.garn_count <> (SELECT count(*) FROM faeden f WHERE f.knoten_id = k.id AND f.twisted)
 OR (k.garn_count = 0 AND k.dissolves_at IS DISTINCT FROM
        (SELECT max(expires_at) FROM faeden f WHERE f.knoten_id = k.id AND f.expired_at IS NULL AND NOT f.twisted))
 OR (k.garn_count > 0 AND k.dissolves_at IS NOT NULL))`); n != 0 {
		t.Errorf("%d Knoten whose garn_count or dissolves_at disagrees with their Fäden", n)
	}
	if n := inst.Count(`SELECT count(*) FROM faeden f JOIN knoten k ON k.id = f.knoten_id WHERE k.dissolved_at IS NOT NULL AND f.expired_at IS NULL`); n != 0 {
		t.Errorf("%d active Fäden lead to dissolved Knoten", n)
	}
	if n := inst.Count(`SELECT count(*) FROM faeden WHERE twisted AND expired_at IS NOT NULL`); n != 0 {
		t.Errorf("%d Garne marked expired", n)
	}
	// The log tells the same story as the tables.
	counts := func(sql string) int { return inst.Count(sql) }
	if a, b := counts(`SELECT count(*) FROM events WHERE type = 'FadenGesponnen'`), counts(`SELECT count(*) FROM faeden`); a != b {
		t.Errorf("%d FadenGesponnen events for %d Fäden", a, b)
	}
	if a, b := counts(`SELECT count(*) FROM events WHERE type = 'FadenAbgelaufen'`), counts(`SELECT count(*) FROM faeden WHERE expired_at IS NOT NULL`); a != b {
		t.Errorf("%d FadenAbgelaufen events for %d expired Fäden", a, b)
	}
	twistedByLog := counts(`SELECT count(*) FROM events WHERE type = 'FadenVerzwirnt'`) -
		counts(`SELECT count(*) FROM events WHERE type = 'FadenEntzwirnt'`) +
		counts(`SELECT count(*) FROM events WHERE type = 'FadenGesponnen' AND (payload->>'is_twisted')::boolean`)
	if b := counts(`SELECT count(*) FROM faeden WHERE twisted`); twistedByLog != b {
		t.Errorf("the log says %d Garne, the table %d", twistedByLog, b)
	}
	if a, b := counts(`SELECT count(*) FROM events WHERE type = 'KnotenAufgeloest'`), counts(`SELECT count(*) FROM knoten WHERE dissolved_at IS NOT NULL`); a != b {
		t.Errorf("%d KnotenAufgeloest events for %d dissolved Knoten", a, b)
	}
	hiddenByLog := counts(`SELECT count(*) FROM events WHERE type = 'KnotenVerborgen'`) - counts(`SELECT count(*) FROM events WHERE type = 'KnotenWiederhergestellt'`)
	if b := counts(`SELECT count(*) FROM knoten WHERE hidden_at IS NOT NULL`); hiddenByLog != b || counts(`SELECT count(*) FROM events WHERE type = 'KnotenVerborgen'`) == 0 {
		t.Errorf("the log says %d hidden Knoten, the table %d", hiddenByLog, b)
	}
	hiddenByLog = counts(`SELECT count(*) FROM events WHERE type = 'FadenVerborgen'`) - counts(`SELECT count(*) FROM events WHERE type = 'FadenWiederhergestellt'`)
	if b := counts(`SELECT count(*) FROM faeden WHERE hidden_at IS NOT NULL`); hiddenByLog != b {
		t.Errorf("the log says %d hidden Fäden, the table %d", hiddenByLog, b)
	}
	t.Logf("%d Fäden spun, %d expired, %d Knoten dissolved", counts(`SELECT count(*) FROM faeden`),
		counts(`SELECT count(*) FROM faeden WHERE expired_at IS NOT NULL`), counts(`SELECT count(*) FROM knoten WHERE dissolved_at IS NOT NULL`))
}
