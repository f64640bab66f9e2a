package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

var kontoBookings = flag.Int("konto-bookings", 1_000_000, "bookings in the journal while the Ortskonto's balance is read")

// benchKonto: the Ortskonto's balance read with a full journal (a projection: one row, whatever
// the journal holds), and a donation's step with its event and projections against a bare
// single-row INSERT, in alternating one-second slots as benchAppend measures.
func benchKonto(ctx context.Context, e *env, cfg config) {
	admin, err := e.inst.Accounts.CreateAdmin(ctx, "Bench Kasse", "konto-"+uuid.NewString()[:8]+"@example.org", "bench password")
	check(err)
	_, err = e.inst.Konto.Configure(ctx, admin, ortskonto.Settings{Empfaenger: "Bench e.V.", IBAN: "DE02120300000000202051", Position: leipzig})
	check(err)

	// The journal: settled donations in bulk, each with its booking, and the balance row to
	// match (seedDonations, bank.go).
	start := time.Now()
	n := *kontoBookings
	for done := 0; done < n; {
		chunk := min(200_000, n-done)
		seedDonations(ctx, e, chunk, ortskonto.StatusSettled, time.Now().Add(-time.Duration(done+1)*time.Second))
		done += chunk
	}
	var bookings int64
	check(e.inst.Pool.QueryRow(ctx, `SELECT count(*) FROM buchungen`).Scan(&bookings))
	setup := time.Since(start)

	read := func(f func() error) []time.Duration {
		d := make([]time.Duration, 0, cfg.queries)
		for range cfg.queries {
			t := time.Now()
			check(f())
			d = append(d, time.Since(t))
		}
		return sortDurations(d)
	}
	konto := read(func() error {
		k, err := e.inst.Konto.Konto(ctx)
		if err == nil && k.SettledCents == 0 {
			err = fmt.Errorf("empty balance")
		}
		return err
	})
	client := &http.Client{Timeout: 30 * time.Second}
	api := read(func() error {
		res, err := client.Get(e.url + "/api/konto")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/konto: %s", res.Status)
		}
		return nil
	})
	// What the projection saves: the same figure summed from the journal, a few times.
	sum := make([]time.Duration, 0, 10)
	for range 10 {
		t := time.Now()
		var s int64
		check(e.inst.Pool.QueryRow(ctx, `SELECT coalesce(sum(amount_cents), 0) FROM buchungen`).Scan(&s))
		sum = append(sum, time.Since(t))
	}
	sortDurations(sum)

	fmt.Printf("## Ortskonto: balance and donation steps\n\n")
	fmt.Printf("The balance with %d bookings in the journal (set up in bulk in %s), %d reads each, one\n", bookings, setup.Round(time.Second), cfg.queries)
	fmt.Println("client; `GET /api/konto` adds the last Goldfäden (a partial index) and the HTTP round trip.")
	fmt.Println()
	fmt.Println("| read | p50 | p95 | p99 |")
	fmt.Println("|---|--:|--:|--:|")
	fmt.Printf("| `ortskonto.Service.Konto` (the balance row) | %s | %s | %s |\n", ms(percentile(konto, .5)), ms(percentile(konto, .95)), ms(percentile(konto, .99)))
	fmt.Printf("| `GET /api/konto` | %s | %s | %s |\n", ms(percentile(api, .5)), ms(percentile(api, .95)), ms(percentile(api, .99)))
	fmt.Printf("| for comparison: `sum(amount_cents)` over the journal (10 runs) | %s | %s | %s |\n\n", ms(percentile(sum, .5)), ms(percentile(sum, .95)), ms(percentile(sum, 1)))

	// The steps: pending donations, each settled once (lock the balance row, check and update
	// the donation, a booking, the balance row, SpendeGebucht — one transaction, one round
	// trip), against a bare INSERT.
	e.exec(ctx, `CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, at timestamptz NOT NULL, payload jsonb NOT NULL)`)
	payload := `{"spende_id":"01a1f5c2-7a3e-7000-8000-000000000000","from":"pending","to":"settled","amount_cents":1250}`
	bare := func(int) error {
		_, err := e.inst.Pool.Exec(ctx, `INSERT INTO bench_raw (at, payload) VALUES ($1, $2)`, time.Now(), payload)
		return err
	}
	rounds := max(3, int(cfg.duration/time.Second))
	// Enough for every slot at a generous rate; a step with none left stops the run.
	pendingIDs := seedPending(ctx, e, rounds*2*20_000)
	var next atomic.Int64
	settle := func(int) error {
		i := next.Add(1) - 1
		if int(i) >= len(pendingIDs) {
			return fmt.Errorf("konto bench: out of pending donations after %d steps", i)
		}
		_, err := e.inst.Konto.Transition(ctx, admin, pendingIDs[i], ortskonto.StatusSettled, "")
		return err
	}
	fmt.Println("A donation settled by hand (`POST /api/spenden/{id}/status` without HTTP: lock the balance row,")
	fmt.Println("check and update the donation, the journal and the balance row, append `SpendeGebucht`; one")
	fmt.Println("transaction, one round trip) against a bare single-row autocommit INSERT, in alternating one-second slots")
	fmt.Println("(each first in every other round); the ratio is the median of the per-round ratios. Every step")
	fmt.Println("holds the one balance row, so concurrent steps run one after the other.")
	fmt.Println()
	fmt.Println("| writers | bare INSERT/s | steps/s | ratio |")
	fmt.Println("|--:|--:|--:|--:|")
	for _, workers := range []int{1, cfg.workers} {
		var b, s float64
		var ratios []float64
		for i := range rounds {
			var rb, rs float64
			if i%2 == 0 {
				rb, rs = rate(workers, time.Second, bare), rate(workers, time.Second, settle)
			} else {
				rs, rb = rate(workers, time.Second, settle), rate(workers, time.Second, bare)
			}
			b, s = b+rb, s+rs
			ratios = append(ratios, rs/rb)
		}
		fmt.Printf("| %d | %.0f | %.0f | %.2f× |\n", workers, b/float64(rounds), s/float64(rounds), median(ratios))
	}
	fmt.Println()
}

// seedPending writes n pending donations in bulk and returns their ids, oldest first.
func seedPending(ctx context.Context, e *env, n int) []uuid.UUID {
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	seedDonations(ctx, e, n, ortskonto.StatusInitiated, at)
	e.exec(ctx, `
WITH moved AS (UPDATE spenden SET status = 'pending' WHERE status = 'initiated' AND created_at = $1 RETURNING 1)
UPDATE ortskonto SET initiated_count = initiated_count - (SELECT count(*) FROM moved), pending_count = pending_count + (SELECT count(*) FROM moved)`, at)
	rows, err := e.inst.Pool.Query(ctx, `SELECT id FROM spenden WHERE status = 'pending' AND created_at = $1 ORDER BY id`, at)
	check(err)
	defer rows.Close()
	ids := make([]uuid.UUID, 0, n)
	for rows.Next() {
		var id uuid.UUID
		check(rows.Scan(&id))
		ids = append(ids, id)
	}
	check(rows.Err())
	e.exec(ctx, `VACUUM ANALYZE spenden`)
	return ids
}
