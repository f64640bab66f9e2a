package knoten_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// The rule of knoten_spin (migration 00046), both ways it is called: a resident's Spin in one
// trip, where a refusal aborts the whole command, and SpinTx inside a caller's transaction,
// where a refusal must leave that transaction going. Every refusal names the error a read of
// the Knoten gives (knoten_not_found, knoten_hidden before knoten_dissolved), and writes
// nothing: no Faden, no event, the Knoten as it was.
func TestSpinRefusals(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := inst.Knoten
	owner := uuid.MustParse(inst.Resident("Ute", home.Lat, home.Lon).ID)
	spinner := uuid.MustParse(inst.Resident("Sven", home.Lat, home.Lon).ID)
	place := func() uuid.UUID {
		t.Helper()
		k, _, err := svc.Place(ctx, owner, knoten.Placement{Type: "idee", Title: "K", Point: home})
		if err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	hide := func(id uuid.UUID) {
		t.Helper()
		moderator := uuid.MustParse(inst.Admin().ID)
		if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
			return svc.Moderation(inst.URL).HideTx(ctx, tx, moderation.Target{Kind: moderation.KindKnoten, ID: id.String()}, true, moderator, "Hausregeln", inst.Clock.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Placed now, their creator's Fäden expire in 7 days; the clock then jumps past that and
	// the sweep dissolves them. The next one dissolves by its time alone (no sweep after it).
	dissolvedBySweep := place()
	hiddenDissolved := place()
	hide(hiddenDissolved)
	inst.DevClock.Advance(knoten.FadenLifetime + time.Hour)
	if _, err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if inst.Count(`SELECT count(*) FROM knoten WHERE id = $1 AND dissolved_at IS NOT NULL`, dissolvedBySweep) != 1 {
		t.Fatal("the sweep did not dissolve the Knoten")
	}
	dissolvedByTime := place()
	inst.DevClock.Advance(knoten.FadenLifetime + time.Minute)
	hidden := place()
	hide(hidden)

	cases := []struct {
		name   string
		knoten uuid.UUID
		want   error
	}{
		{"unknown", uuid.Must(uuid.NewV7()), knoten.ErrKnotenNotFound},
		{"hidden", hidden, knoten.ErrKnotenHidden},
		{"hidden and dissolved", hiddenDissolved, knoten.ErrKnotenHidden},
		{"dissolved by its time, not yet swept", dissolvedByTime, knoten.ErrKnotenDissolved},
		{"dissolved and swept", dissolvedBySweep, knoten.ErrKnotenDissolved},
	}
	for _, c := range cases {
		code := c.want.(*fault.Error).Code
		before := writes(t, inst, c.knoten)
		_, err := svc.Spin(ctx, spinner, knoten.Spinning{KnotenID: c.knoten, Type: "gespraech"})
		if !fault.Is(err, code) || err.Error() != c.want.Error() {
			t.Errorf("%s: Spin: %v, want %v", c.name, err, c.want)
		}
		_, err = svc.Spin(ctx, spinner, knoten.Spinning{KnotenID: c.knoten, Type: "gespraech", Twisted: true})
		if !fault.Is(err, code) {
			t.Errorf("%s: Spin as Garn: %v, want %v", c.name, err, c.want)
		}
		if after := writes(t, inst, c.knoten); after != before {
			t.Errorf("%s: a refused Spin wrote: %+v, then %+v", c.name, before, after)
		}

		// In a caller's transaction: refused the same way, and the caller's own write after
		// the refusal commits (a vote counts although its Knoten takes no Faden).
		var callers uuid.UUID
		err = database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
			_, err := svc.SpinTx(ctx, tx, spinner, knoten.Spinning{KnotenID: c.knoten, Type: "abstimmung"})
			if !fault.Is(err, code) {
				t.Errorf("%s: SpinTx: %v, want %v", c.name, err, c.want)
			}
			callers = uuid.Must(uuid.NewV7())
			return eventstore.Append(tx, inst.Clock.Now(), knoten.FadenVerborgen.New(eventstore.Header{Subject: callers},
				knoten.FadenVerborgenV1{FadenID: callers, KnotenID: c.knoten}))
		})
		if err != nil {
			t.Errorf("%s: the caller's transaction after a refused SpinTx: %v", c.name, err)
		}
		if n := inst.Count(`SELECT count(*) FROM events WHERE subject_id = $1`, callers); n != 1 {
			t.Errorf("%s: the caller's event after a refused SpinTx: %d in the log", c.name, n)
		}
		if after := writes(t, inst, c.knoten); after != before {
			t.Errorf("%s: a refused SpinTx wrote: %+v, then %+v", c.name, before, after)
		}
	}
}

// what a spin writes about a Knoten: its Fäden, their events, its row.
type written struct {
	faeden, events int
	row            string
}

func writes(t *testing.T, inst *instancetest.Instance, id uuid.UUID) written {
	t.Helper()
	var w written
	w.faeden = inst.Count(`SELECT count(*) FROM faeden WHERE knoten_id = $1`, id)
	w.events = inst.Count(`SELECT count(*) FROM events WHERE type = 'FadenGesponnen' AND payload->>'knoten_id' = $1::text`, id)
	err := inst.Pool.QueryRow(context.Background(), `SELECT coalesce((SELECT row(k.*)::text FROM knoten k WHERE id = $1), '')`, id).Scan(&w.row)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A spin that the Knoten takes, one way and the other, writes the Faden, updates the Knoten
// (its activity; Garn makes it permanent, a Faden keeps it at least as long as itself) and
// appends FadenGesponnen v1 at the Knoten's cell with the payload the map, the timeline and
// federation read.
func TestSpinWritesFadenKnotenAndEvent(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	svc := inst.Knoten
	owner := uuid.MustParse(inst.Resident("Ute", home.Lat, home.Lon).ID)
	spinner := uuid.MustParse(inst.Resident("Sven", home.Lat, home.Lon).ID)
	k, _, err := svc.Place(ctx, owner, knoten.Placement{Type: "idee", Title: "K", Point: home})
	if err != nil {
		t.Fatal(err)
	}
	inst.DevClock.Advance(time.Hour)

	check := func(name string, f knoten.Faden, wantGarn int, wantDissolves *time.Time) {
		t.Helper()
		var got knoten.FadenGesponnenV1
		var typ string
		var version int
		var actor, subject uuid.UUID
		var cell int64
		var payload []byte
		err := inst.Pool.QueryRow(ctx, `SELECT type, version, actor_id, subject_id, h3_index, payload FROM events WHERE subject_id = $1`, f.ID).
			Scan(&typ, &version, &actor, &subject, &cell, &payload)
		if err != nil {
			t.Fatalf("%s: its event: %v", name, err)
		}
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatal(err)
		}
		want := knoten.FadenGesponnenV1{FadenID: f.ID, KnotenID: k.ID, AccountID: spinner, Type: f.Type, IsTwisted: f.Twisted, ExpiresAt: f.ExpiresAt}
		if typ != knoten.FadenGesponnen.Name() || version != 1 || actor != spinner || subject != f.ID || cell != k.Cell ||
			got.FadenID != want.FadenID || got.KnotenID != want.KnotenID || got.AccountID != want.AccountID || got.Type != want.Type ||
			got.IsTwisted != want.IsTwisted || !equalTimes(got.ExpiresAt, want.ExpiresAt) {
			t.Errorf("%s: event %s v%d actor %s subject %s cell %x %+v, want FadenGesponnen v1 by %s about %s at %x %+v",
				name, typ, version, actor, subject, cell, got, spinner, f.ID, k.Cell, want)
		}
		fs, err := svc.Faeden(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, g := range fs {
			if g.ID == f.ID {
				found = g.AccountID == spinner && g.Type == f.Type && g.Twisted == f.Twisted && g.CreatedAt.Equal(f.CreatedAt) && equalTimes(g.ExpiresAt, f.ExpiresAt)
			}
		}
		if !found {
			t.Errorf("%s: the Knoten's Fäden %+v lack %+v", name, fs, f)
		}
		got2, err := svc.Get(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got2.GarnCount != wantGarn || !equalTimes(got2.DissolvesAt, wantDissolves) || !got2.LastActivityAt.Equal(f.CreatedAt) {
			t.Errorf("%s: Knoten Garn %d, dissolves %v, last activity %v; want %d, %v, %v", name,
				got2.GarnCount, got2.DissolvesAt, got2.LastActivityAt, wantGarn, wantDissolves, f.CreatedAt)
		}
	}

	f, err := svc.Spin(ctx, spinner, knoten.Spinning{KnotenID: k.ID, Type: "gespraech"})
	if err != nil {
		t.Fatal(err)
	}
	check("a Faden", f, 0, f.ExpiresAt) // it outlives the creator's first Faden by an hour

	inst.DevClock.Advance(time.Hour)
	err = database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		f, err = svc.SpinTx(ctx, tx, spinner, knoten.Spinning{KnotenID: k.ID, Type: "abstimmung"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check("a Faden in a caller's transaction", f, 0, f.ExpiresAt)

	inst.DevClock.Advance(time.Hour)
	g, err := svc.Spin(ctx, spinner, knoten.Spinning{KnotenID: k.ID, Type: "gespraech", Twisted: true})
	if err != nil {
		t.Fatal(err)
	}
	check("Garn", g, 1, nil)

	// A reserved or unknown type is refused before the database is asked.
	if _, err := svc.Spin(ctx, spinner, knoten.Spinning{KnotenID: k.ID, Type: "gold"}); !fault.Is(err, "reserved_faden_type") {
		t.Errorf("a gold Faden: %v", err)
	}
	if _, err := svc.Spin(ctx, spinner, knoten.Spinning{KnotenID: k.ID, Type: "seide"}); !fault.Is(err, "unknown_faden_type") {
		t.Errorf("a seide Faden: %v", err)
	}
	err = database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		_, err := svc.SpinTx(ctx, tx, spinner, knoten.Spinning{KnotenID: k.ID, Type: "seide"})
		return err
	})
	if !fault.Is(err, "unknown_faden_type") {
		t.Errorf("a seide Faden in a caller's transaction: %v", err)
	}
}

func equalTimes(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
