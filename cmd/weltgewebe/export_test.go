package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/encoding/charmap"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// weltgewebe export konto writes a month's journal to standard output: the treasurer's CSV
// names the anonymous donor internally, the DATEV file for the accountant does not.
func TestExportKonto(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := clock.System{}
	ow := ortsweberei.NewService(pool, c)
	accounts := account.NewService(pool, c, ow, account.Options{Hashers: 1})
	konto := ortskonto.NewService(pool, c, ow)
	admin, err := accounts.CreateAdmin(ctx, "Admin", "admin@example.org", "ein langes Passwort")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := konto.Configure(ctx, admin, ortskonto.Settings{Empfaenger: "Ortsweberei e.V.", IBAN: "DE02120300000000202051",
		Position: geo.Point{Lat: 51.34, Lon: 12.37}}); err != nil {
		t.Fatal(err)
	}
	for i, who := range []struct {
		name    string
		visible bool
	}{{"Jana Sichtbar", true}, {"Otto Verborgen", false}} {
		a, err := accounts.Register(ctx, account.Registration{Name: who.name, Address: "Hauptstraße 1", Home: geo.Point{Lat: 51.34, Lon: 12.37},
			Email: uuid.NewString() + "@example.org", Password: "ein langes Passwort"})
		if err != nil {
			t.Fatal(err)
		}
		sp, _, err := konto.Donate(ctx, a, ortskonto.Donation{AmountCents: int64(1000 + i), Visible: who.visible}, uuid.NewString())
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range []string{ortskonto.StatusPending, ortskonto.StatusSettled} {
			if _, err := konto.Transition(ctx, admin, sp.ID, to, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	month := c.Now().In(berlin).Format("2006-01")
	export := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"export", "konto", "--database-url", url, "--month", month}, args...), &out, &errOut)
		return out.String(), errOut.String(), err
	}

	out, _, err := export("--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "\uFEFFBelegnummer;Datum;Art;Betrag;") || !strings.Contains(out, ";10,00;EUR;") ||
		!strings.Contains(out, ";10,01;EUR;") || !strings.Contains(out, ";anonym;Otto Verborgen;") || !strings.Contains(out, ";Jana Sichtbar;Jana Sichtbar;") {
		t.Errorf("csv:\n%s", out)
	}

	if _, _, err := export("--format", "datev"); err == nil || !strings.Contains(err.Error(), "Berater") {
		t.Errorf("datev without Berater and Mandant: %v", err)
	}
	out, _, err = export("--format", "datev", "--datev-berater", "1001", "--datev-mandant", "42", "--datev-skr", "04", "--datev-konto-spenden", "4400")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := charmap.Windows1252.NewDecoder().String(out)
	if !strings.HasPrefix(text, `"EXTF";700;21;"Buchungsstapel";13;`) || !strings.Contains(text, ";1001;42;") ||
		!strings.Contains(text, `10,00;"S";"EUR";;;;1800;4400;`) || !strings.Contains(text, `"Spende anonym"`) || strings.Contains(text, "Verborgen") {
		t.Errorf("datev:\n%s", text)
	}

	for _, bad := range [][]string{{"--format", "pdf"}, {"--format", "csv", "--month", "2026-13"}, {"--format", "datev", "--datev-berater", "12", "--datev-mandant", "1"}} {
		if _, _, err := export(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var help bytes.Buffer
	if err := run(ctx, []string{"export", "konto", "--help"}, &help, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "Spender intern") {
		t.Errorf("--help: %v\n%s", err, help.String())
	}
}
