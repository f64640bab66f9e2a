package ortskonto_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var home = geo.Point{Lat: 51.3362, Lon: 12.3363}

// rig is a database with the services a donation needs, a configured Ortskonto, an admin as
// treasurer and residents to donate.
type rig struct {
	pool     *pgxpool.Pool
	clock    *clock.Dev
	accounts *account.Service
	konto    *ortskonto.Service
	admin    account.Account
}

func newRig(t testing.TB) *rig {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	c := clock.NewDev()
	ow := ortsweberei.NewService(pool, c)
	r := &rig{pool: pool, clock: c, accounts: account.NewService(pool, c, ow, account.Options{Hashers: 1}),
		konto: ortskonto.NewService(pool, c, ow)}
	var err error
	r.admin, err = r.accounts.CreateAdmin(ctx, "Admin", uuid.NewString()+"@example.org", "ein langes Passwort")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.konto.Configure(ctx, r.admin, ortskonto.Settings{Empfaenger: "Ortsweberei e.V.",
		IBAN: "DE02 1203 0000 0000 2020 51", Position: home}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) resident(t testing.TB, name string) account.Account {
	t.Helper()
	a, err := r.accounts.Register(context.Background(), account.Registration{Name: name, Address: "Hauptstraße 1",
		Home: home, Email: uuid.NewString() + "@example.org", Password: "ein langes Passwort"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDonationSettlesAndReverses(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana := r.resident(t, "Jana")
	sp, replayed, err := r.konto.Donate(ctx, jana, ortskonto.Donation{AmountCents: 1250, Visible: true, Message: "Für die Bank"}, "k1")
	if err != nil || replayed {
		t.Fatal(err, replayed)
	}
	if sp.Ueberweisung == nil || sp.Ueberweisung.IBAN != "DE02120300000000202051" || sp.Ueberweisung.Verwendungszweck != sp.Reference {
		t.Fatalf("transfer instructions %+v", sp.Ueberweisung)
	}
	if _, err := r.konto.Transition(ctx, r.admin, sp.ID, ortskonto.StatusSettled, ""); !fault.Is(err, "illegal_transition") {
		t.Fatalf("initiated → settled by hand: %v", err)
	}
	for _, to := range []string{ortskonto.StatusPending, ortskonto.StatusSettled} {
		if _, err := r.konto.Transition(ctx, r.admin, sp.ID, to, ""); err != nil {
			t.Fatal(to, err)
		}
	}
	k, err := r.konto.Konto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k.BalanceCents() != 1250 || k.PendingCents != 0 || k.Counts.Settled != 1 {
		t.Fatalf("after settling: %+v", k)
	}
	if _, err := r.konto.Transition(ctx, r.admin, sp.ID, ortskonto.StatusReversed, "Rückbuchung"); err != nil {
		t.Fatal(err)
	}
	k, _ = r.konto.Konto(ctx)
	if k.BalanceCents() != 0 || k.Counts.Reversed != 1 || k.Counts.Settled != 0 {
		t.Fatalf("after reversing: %+v", k)
	}
	got, err := r.konto.FindByReference(ctx, r.pool, " "+sp.Reference[:6]+" "+sp.Reference[6:])
	if err != nil || got.ID != sp.ID {
		t.Fatalf("by reference: %v %v", got.ID, err)
	}
}
