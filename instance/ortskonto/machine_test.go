package ortskonto_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// model is the reference the database is checked against: each donation's status and amount,
// and the legal steps, written out plainly here rather than taken from the package.
type model struct {
	status map[uuid.UUID]string
	amount map[uuid.UUID]int64
	events map[uuid.UUID]int // events recorded about the donation
	ids    []uuid.UUID
}

var legal = map[[2]string]bool{
	{"initiated", "pending"}: true, {"initiated", "failed"}: true,
	{"pending", "settled"}: true, {"pending", "failed"}: true,
	{"settled", "reversed"}: true,
}

// snapshot is everything a refused step must leave as it was.
type snapshot struct {
	konto     string
	events    int
	buchungen int
	spenden   string
}

func (r *rig) machineSnapshot(t *rapid.T) snapshot {
	var s snapshot
	err := r.pool.QueryRow(context.Background(), `
SELECT (SELECT to_jsonb(o)::text FROM ortskonto o), (SELECT count(*) FROM events), (SELECT count(*) FROM buchungen),
       (SELECT coalesce(string_agg(id::text || status || updated_at::text, ',' ORDER BY id), '') FROM spenden)`).
		Scan(&s.konto, &s.events, &s.buchungen, &s.spenden)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Random sequences of donations and steps — by hand, and by the bank import's TransitionTx,
// legal and illegal — against the model. After every step: the balance is Σ settled − Σ
// reversed and agrees with the journal, no donation is booked twice, every donation is in the
// state the model says (so never in an illegal one), pending and the counts agree, every step
// left exactly its events; and a refused step changed nothing at all.
func TestDonationMachineProperties(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	donors := []account.Account{r.resident(t, "Jana"), r.resident(t, "Max"), r.resident(t, "Anna")}
	treasurer := r.admin

	rapid.Check(t, func(rt *rapid.T) {
		m := &model{status: map[uuid.UUID]string{}, amount: map[uuid.UUID]int64{}, events: map[uuid.UUID]int{}}
		pick := func(rt *rapid.T) uuid.UUID {
			if len(m.ids) == 0 {
				rt.Skip("no donation yet")
			}
			return rapid.SampledFrom(m.ids).Draw(rt, "spende")
		}
		// step checks the outcome of moving id to `to` in `steps` legal steps.
		step := func(rt *rapid.T, id uuid.UUID, to string, path []string, err error, before snapshot) {
			if path == nil {
				if !fault.Is(err, "illegal_transition") {
					rt.Fatalf("%s → %s: %v, want illegal_transition", m.status[id], to, err)
				}
				if after := r.machineSnapshot(rt); after != before {
					rt.Fatalf("a refused step %s → %s changed something:\n%+v\n%+v", m.status[id], to, before, after)
				}
				return
			}
			if err != nil {
				rt.Fatalf("%s → %s: %v", m.status[id], to, err)
			}
			m.status[id] = to
			m.events[id] += len(path)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"donate": func(rt *rapid.T) {
				d := ortskonto.Donation{
					AmountCents: rapid.Int64Range(1, ortskonto.MaxAmountCents).Draw(rt, "amount"),
					Visible:     rapid.Bool().Draw(rt, "visible"),
				}
				by := rapid.SampledFrom(donors).Draw(rt, "donor")
				sp, replayed, err := r.konto.Donate(ctx, by, d, uuid.NewString())
				if err != nil || replayed {
					rt.Fatalf("donate: %v (replayed %v)", err, replayed)
				}
				m.ids = append(m.ids, sp.ID)
				m.status[sp.ID], m.amount[sp.ID], m.events[sp.ID] = ortskonto.StatusInitiated, d.AmountCents, 1
			},
			"by hand": func(rt *rapid.T) {
				id := pick(rt)
				to := rapid.SampledFrom(ortskonto.Statuses[1:]).Draw(rt, "to")
				before := r.machineSnapshot(rt)
				_, err := r.konto.Transition(ctx, treasurer, id, to, "")
				var path []string
				if legal[[2]string{m.status[id], to}] {
					path = []string{to}
				}
				step(rt, id, to, path, err, before)
			},
			"bank import": func(rt *rapid.T) {
				id := pick(rt)
				to := rapid.SampledFrom(ortskonto.Statuses[1:]).Draw(rt, "to")
				before := r.machineSnapshot(rt)
				err := database.InTx(ctx, r.pool, func(tx *database.Tx) error {
					_, err := r.konto.TransitionTx(ctx, tx, treasurer.ID, id, to, r.clock.Now())
					return err
				})
				var path []string
				switch {
				case legal[[2]string{m.status[id], to}]:
					path = []string{to}
				case m.status[id] == "initiated" && to == "settled": // a booked credit takes both steps
					path = []string{"pending", "settled"}
				}
				step(rt, id, to, path, err, before)
			},
			"": func(rt *rapid.T) { r.checkInvariants(rt, m) },
		})
	})
}

func (r *rig) checkInvariants(t *rapid.T, m *model) {
	ctx := context.Background()
	k, err := r.konto.Konto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Recomputed from the donations themselves, across every case so far.
	var settled, reversed, pending int64
	counts := map[string]int64{}
	rows, err := r.pool.Query(ctx, `SELECT status, amount_cents FROM spenden`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var st string
		var a int64
		if err := rows.Scan(&st, &a); err != nil {
			t.Fatal(err)
		}
		counts[st]++
		switch st {
		case "settled":
			settled += a
		case "reversed":
			settled += a
			reversed += a
		case "initiated", "pending":
			pending += a
		case "failed":
		default:
			t.Fatalf("a donation in state %q", st)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if k.SettledCents != settled || k.ReversedCents != reversed || k.BalanceCents() != settled-reversed || k.PendingCents != pending {
		t.Fatalf("balance row %+v; the donations say settled %d, reversed %d, pending %d", k, settled, reversed, pending)
	}
	if k.Counts != (ortskonto.Counts{Initiated: counts["initiated"], Pending: counts["pending"], Settled: counts["settled"],
		Failed: counts["failed"], Reversed: counts["reversed"]}) {
		t.Fatalf("counts %+v; the donations say %v", k.Counts, counts)
	}
	// The journal: the balance is its sum, and each donation is booked once when settled and
	// once more (negative) when reversed, never more.
	var journal, wrong int64
	if err := r.pool.QueryRow(ctx, `
SELECT (SELECT coalesce(sum(amount_cents), 0) FROM buchungen),
       (SELECT count(*) FROM spenden s WHERE
            (SELECT count(*) FROM buchungen b WHERE b.spende_id = s.id AND b.kind = 'spende' AND b.amount_cents = s.amount_cents)
              <> CASE WHEN s.status IN ('settled', 'reversed') THEN 1 ELSE 0 END
         OR (SELECT count(*) FROM buchungen b WHERE b.spende_id = s.id AND b.kind = 'storno' AND b.amount_cents = -s.amount_cents)
              <> CASE WHEN s.status = 'reversed' THEN 1 ELSE 0 END
         OR (SELECT count(*) FROM buchungen b WHERE b.spende_id = s.id) > 2)`).Scan(&journal, &wrong); err != nil {
		t.Fatal(err)
	}
	if journal != k.BalanceCents() || wrong != 0 {
		t.Fatalf("journal sums to %d (balance %d); %d donations booked wrongly", journal, k.BalanceCents(), wrong)
	}
	// This case's donations are where the model says, with one event per step.
	for _, id := range m.ids {
		var st string
		var events int
		if err := r.pool.QueryRow(ctx, `SELECT status, (SELECT count(*) FROM events WHERE subject_id = $1) FROM spenden WHERE id = $1`, id).
			Scan(&st, &events); err != nil {
			t.Fatal(err)
		}
		if st != m.status[id] || events != m.events[id] {
			t.Fatalf("donation %s: %s with %d events, the model says %s with %d", id, st, events, m.status[id], m.events[id])
		}
	}
}
