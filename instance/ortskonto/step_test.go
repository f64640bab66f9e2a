package ortskonto_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// A step by hand is sent with its event before the database has read the donation: the event
// of a visible donation still carries the Ortskonto's cell and an anonymous one's none (also
// right after a visible one's on the same connections), no step event names the donor, and the
// answer is the donation as it now stands.
func TestDonationStepByHandEvents(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	cell, err := ortskonto.KontoCell(ctx, r.pool)
	if err != nil || cell == 0 {
		t.Fatal(cell, err)
	}
	for i := range 6 {
		visible := i%2 == 0
		sp, _, err := r.konto.Donate(ctx, jana, ortskonto.Donation{AmountCents: 700, Visible: visible, Message: "Brunnen"}, uuid.NewString())
		if err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(time.Second)
		got, err := r.konto.Transition(ctx, r.admin, sp.ID, ortskonto.StatusPending, "gesehen")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := r.konto.Get(ctx, r.admin, sp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != stored || got.Status != ortskonto.StatusPending || got.Note != "gesehen" || got.Donor.Name != "Jana" ||
			got.Reference != sp.Reference || !got.UpdatedAt.After(got.CreatedAt) {
			t.Fatalf("the answer %+v, stored %+v", got, stored)
		}
		var h3 *int64
		var actor uuid.UUID
		var payload string
		if err := r.pool.QueryRow(ctx, `SELECT h3_index, actor_id, payload::text FROM events WHERE subject_id = $1 AND type = 'SpendeEingegangen'`, sp.ID).
			Scan(&h3, &actor, &payload); err != nil {
			t.Fatal(err)
		}
		if visible && (h3 == nil || *h3 != cell) || !visible && h3 != nil {
			t.Fatalf("visible %v: the step's event in cell %v, the Ortskonto's is %d", visible, h3, cell)
		}
		if want := `{"to": "pending", "from": "initiated", "note": "gesehen", "spende_id": "` + sp.ID.String() + `", "amount_cents": 700}`; actor != r.admin.ID || payload != want {
			t.Fatalf("the step's event: actor %s, payload %s", actor, payload)
		}
	}
	if _, err := r.konto.Transition(ctx, r.admin, uuid.New(), ortskonto.StatusPending, ""); !fault.Is(err, "spende_not_found") {
		t.Fatalf("an unknown donation: %v", err)
	}
}
