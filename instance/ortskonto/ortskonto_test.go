package ortskonto_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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

// The journal streams a time range in seq order and pages newest first; listings page by the
// last id; the Goldfäden leave out failed and anonymous donations.
func TestJournalAndListings(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	jana, max := r.resident(t, "Jana"), r.resident(t, "Max")
	var ids []uuid.UUID
	for i := range 6 {
		by := jana
		if i%2 == 1 {
			by = max
		}
		sp, _, err := r.konto.Donate(ctx, by, ortskonto.Donation{AmountCents: int64(100 * (i + 1)), Visible: i != 3}, uuid.NewString())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sp.ID)
		r.clock.Advance(time.Hour)
	}
	start := r.clock.Now()
	for i, id := range ids {
		steps := []string{ortskonto.StatusPending, ortskonto.StatusSettled}
		if i == 5 {
			steps = []string{ortskonto.StatusFailed}
		}
		if i == 4 {
			steps = append(steps, ortskonto.StatusReversed)
		}
		for _, to := range steps {
			if _, err := r.konto.Transition(ctx, r.admin, id, to, ""); err != nil {
				t.Fatal(err)
			}
		}
		r.clock.Advance(time.Hour)
	}
	var got []ortskonto.Buchung
	if err := r.konto.Journal(ctx, start, start.Add(3*time.Hour), func(b ortskonto.Buchung) error {
		got = append(got, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].AmountCents != 100 || got[2].AmountCents != 300 || got[0].Seq >= got[1].Seq {
		t.Fatalf("journal of the first three hours: %+v", got)
	}
	if got[0].Donor == nil || got[0].Donor.ID != jana.ID || got[0].PublicDonor() == nil {
		t.Fatalf("a visible donor: %+v", got[0])
	}
	// Newest first, in pages of two: storno 500, spende 500, 400, 300, 200, 100.
	var amounts []int64
	var before int64
	for page := 0; ; page++ {
		bs, next, err := r.konto.JournalPage(ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			amounts = append(amounts, b.AmountCents)
			if b.AmountCents == 400 && (b.PublicDonor() != nil || !b.Anonymous() || b.Donor == nil) {
				t.Fatalf("the anonymous booking: %+v", b)
			}
		}
		if next == 0 {
			break
		}
		before = next
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(amounts) != "[-500 500 400 300 200 100]" {
		t.Fatalf("journal pages: %v", amounts)
	}

	gold, err := r.konto.Goldfaeden(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	var goldIDs []uuid.UUID
	for _, g := range gold {
		goldIDs = append(goldIDs, g.ID)
	}
	if want := []uuid.UUID{ids[4], ids[2], ids[1], ids[0]}; fmt.Sprint(goldIDs) != fmt.Sprint(want) {
		t.Fatalf("Goldfäden %v, want %v (newest first, no failed, no anonymous)", goldIDs, want)
	}
	settled, err := r.konto.List(ctx, r.admin, ortskonto.StatusSettled, ortskonto.Page{Limit: 2})
	if err != nil || len(settled) != 2 || settled[0].ID != ids[3] || settled[1].ID != ids[2] {
		t.Fatalf("settled, first page: %v", err)
	}
	rest, err := r.konto.List(ctx, r.admin, ortskonto.StatusSettled, ortskonto.Page{Before: settled[1].ID, Limit: 2})
	if err != nil || len(rest) != 2 || rest[0].ID != ids[1] || rest[1].ID != ids[0] {
		t.Fatalf("settled, second page: %v", err)
	}
	if _, err := r.konto.List(ctx, jana, "", ortskonto.Page{}); !fault.Is(err, "treasurer_required") {
		t.Fatalf("a resident lists every donation: %v", err)
	}
	mine, err := r.konto.Mine(ctx, max, ortskonto.Page{})
	if err != nil || len(mine) != 3 {
		t.Fatalf("Max's donations: %d %v", len(mine), err)
	}
}

func TestIBANAndReferences(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	for iban, ok := range map[string]bool{
		"DE02120300000000202051": true, "de02 1203 0000 0000 2020 51": true, "GB82WEST12345698765432": true,
		"DE02120300000000202052": false, "DE0212030000000020205": false, "D002120300000000202051": false, "": false,
	} {
		_, err := r.konto.Configure(ctx, r.admin, ortskonto.Settings{Empfaenger: "e.V.", IBAN: iban, Position: home})
		if (err == nil) != ok || (!ok && !fault.Is(err, "invalid_iban")) {
			t.Errorf("IBAN %q: %v", iban, err)
		}
	}
	jana := r.resident(t, "Jana")
	sp, _, err := r.konto.Donate(ctx, jana, ortskonto.Donation{AmountCents: 5, Visible: true}, "x")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^WG-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$`).MatchString(sp.Reference) {
		t.Fatalf("reference %q", sp.Reference)
	}
	// Retyped from paper: lower case, spaces instead of hyphens, O for 0 and l for 1.
	typed := strings.ToLower(strings.ReplaceAll(sp.Reference, "-", " "))
	typed = strings.NewReplacer("0", "o", "1", "l").Replace(typed)
	if got, err := r.konto.FindByReference(ctx, r.pool, typed); err != nil || got.ID != sp.ID {
		t.Fatalf("FindByReference(%q): %v", typed, err)
	}
	// The code is the first candidate (a "WG" inside the code may add an overlapping one).
	if refs := ortskonto.FindReferences("Spende " + typed + " danke"); len(refs) == 0 || refs[0] != strings.ReplaceAll(sp.Reference, "-", "") {
		t.Fatalf("FindReferences: %v", refs)
	}
	if _, err := r.konto.FindByReference(ctx, r.pool, "WG-00000-00000"); !fault.Is(err, "spende_not_found") {
		t.Fatalf("an unknown reference: %v", err)
	}
}
