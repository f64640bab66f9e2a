package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
)

// datevFlags registers the DATEV settings (serve and export konto take the same) and returns
// what reads them after parsing. Berater and Mandant have no default: a Buchungsstapel for
// the wrong Mandant is worse than none.
func datevFlags(fs *flag.FlagSet) func() (export.DATEV, error) {
	skr := fs.String("datev-skr", envOr("WG_DATEV_SKR", "03"), "DATEV Sachkontenrahmen: 03 (SKR03) or 04 (SKR04); sets the default accounts (env WG_DATEV_SKR)")
	berater := fs.String("datev-berater", envOr("WG_DATEV_BERATER", ""), "the accountant's DATEV Beraternummer (env WG_DATEV_BERATER)")
	mandant := fs.String("datev-mandant", envOr("WG_DATEV_MANDANT", ""), "the Ortsweberei's DATEV Mandantennummer (env WG_DATEV_MANDANT)")
	laenge := fs.String("datev-sachkontenlaenge", envOr("WG_DATEV_SACHKONTENLAENGE", "4"), "digits of a Sachkonto, 4–8 (env WG_DATEV_SACHKONTENLAENGE)")
	wj := fs.String("datev-wj-beginn", envOr("WG_DATEV_WJ_BEGINN", "1"), "month the fiscal year begins, 1–12 (env WG_DATEV_WJ_BEGINN)")
	bank := fs.String("datev-konto-bank", envOr("WG_DATEV_KONTO_BANK", ""), "the Ortskonto's bank account (default SKR03 1200, SKR04 1800; env WG_DATEV_KONTO_BANK)")
	spenden := fs.String("datev-konto-spenden", envOr("WG_DATEV_KONTO_SPENDEN", ""), "Gegenkonto of donations and their reversals (default SKR03 2700, SKR04 4830; env WG_DATEV_KONTO_SPENDEN)")
	auszahlungen := fs.String("datev-konto-auszahlungen", envOr("WG_DATEV_KONTO_AUSZAHLUNGEN", ""), "Gegenkonto of payouts (default SKR03 4900, SKR04 6300; env WG_DATEV_KONTO_AUSZAHLUNGEN)")
	return func() (export.DATEV, error) {
		c, err := export.DefaultDATEV(*skr)
		if err != nil {
			return c, fmt.Errorf("--datev-skr: %w", err)
		}
		for _, f := range []struct {
			name, value string
			into        *int
		}{{"--datev-berater", *berater, &c.Berater}, {"--datev-mandant", *mandant, &c.Mandant}, {"--datev-sachkontenlaenge", *laenge, &c.Sachkontenlaenge}} {
			if f.value == "" {
				continue
			}
			n, err := strconv.Atoi(f.value)
			if err != nil {
				return c, fmt.Errorf("%s: %q is not a number", f.name, f.value)
			}
			*f.into = n
		}
		n, err := strconv.Atoi(*wj)
		if err != nil || n < 1 || n > 12 {
			return c, fmt.Errorf("--datev-wj-beginn: %q is not a month 1–12", *wj)
		}
		c.WJBeginn = time.Month(n)
		for _, k := range []struct {
			into  *string
			value string
		}{{&c.Bank, *bank}, {&c.Spenden, *spenden}, {&c.Auszahlungen, *auszahlungen}} {
			if k.value != "" {
				*k.into = k.value
			}
		}
		if c.Berater != 0 || c.Mandant != 0 {
			if err := c.Check(); err != nil {
				return c, err
			}
		}
		return c, nil
	}
}

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "database" {
		return exportDatabase(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "konto" {
		fmt.Fprint(stderr, "usage: weltgewebe export konto --month YYYY-MM --format csv|datev [flags]\n       weltgewebe export database [database flags] FILE\n")
		return flag.ErrHelp
	}
	fs, db := command("export konto", stderr)
	month := fs.String("month", "", "the month to export, YYYY-MM (in --timezone)")
	format := fs.String("format", "csv", "csv (the treasurer's journal) or datev (the accountant's Buchungsstapel)")
	timezone := fs.String("timezone", envOr("WG_TIMEZONE", "Europe/Berlin"), "the Ortsweberei's time zone: where a month begins and ends (env WG_TIMEZONE)")
	datev := datevFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: weltgewebe export konto --month YYYY-MM --format csv|datev [flags] > FILE

Writes the Ortskonto's booking journal of one month to standard output, read from the database
as a stream (a month of 100,000 bookings needs no more memory than one):

  csv    the treasurer's journal: UTF-8 with a byte order mark (Excel opens it as it is), ";"
         between fields, amounts with a decimal comma, dates DD.MM.YYYY. The column
         "Spender intern" names every donor, the anonymous ones too: keep the file where the
         treasurer's papers are kept.
  datev  a DATEV Buchungsstapel (EXTF, Windows-1252) for the accountant; anonymous donors
         appear as "anonym". Needs --datev-berater and --datev-mandant. Save it as
         EXTF_Buchungsstapel_<month>.csv.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("export konto takes no arguments, got %q", fs.Args())
	}
	loc, err := time.LoadLocation(*timezone)
	if err != nil {
		return fmt.Errorf("--timezone: %w", err)
	}
	m, err := export.ParseMonth(*month, loc)
	if err != nil {
		return fmt.Errorf("--month: %w", err)
	}
	d, err := datev()
	if err != nil {
		return err
	}
	if err := ortskonto.CheckExport(nil, *format, d); err != nil {
		return err
	}
	inst, err := instance.OpenDatabase(ctx, db.config(), quietLogger(stderr))
	if err != nil {
		return err
	}
	c := clock.System{}
	konto := ortskonto.NewService(inst.Pool, c, ortsweberei.NewService(inst.Pool, c))
	out := bufio.NewWriter(stdout)
	err = konto.ExportJournal(ctx, out, *format, m, d)
	if err == nil {
		err = out.Flush()
	}
	return errors.Join(err, inst.Close())
}
