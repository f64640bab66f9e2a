package export

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
)

// CSVHeader is the first line of the treasurer's journal.
var CSVHeader = []string{"Belegnummer", "Datum", "Art", "Betrag", "Währung", "Referenz", "Spender", "Spender intern", "Antrag"}

// WriteCSV writes the month's booking journal for the treasurer: UTF-8 with a byte order
// mark, ";" between fields, CRLF line ends, amounts with a decimal comma, dates DD.MM.YYYY in
// the month's time zone.
//
// Why the byte order mark: Excel opens a double-clicked .csv in the Windows code page unless
// the file starts with one; "Jürgen" would read "JÃ¼rgen". With it, Excel (and LibreOffice)
// read UTF-8, and ";" is the list separator of a German Excel, so the columns split at once.
//
// "Spender" is what the public journal shows (a name, or "anonym"); "Spender intern" names
// every donor, the anonymous ones too — what the treasurer needs for the tax office
// (Zuwendungsbestätigungen) and nobody else gets.
func WriteCSV(w io.Writer, m Month, src Source) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(bw)
	cw.Comma = ';'
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	rec := make([]string, len(CSVHeader))
	err := src(func(b Booking) error {
		intern := ""
		if b.Kind != KindAuszahlung {
			intern = cell(b.Donor)
		}
		rec[0] = strconv.FormatInt(b.Seq, 10)
		rec[1] = b.BookedAt.In(m.Loc).Format("02.01.2006")
		rec[2] = kindLabel(b.Kind)
		rec[3] = euro(b.AmountCents)
		rec[4] = "EUR"
		rec[5] = cell(b.Reference)
		rec[6] = cell(publicDonor(b))
		rec[7] = intern
		rec[8] = cell(b.Antrag)
		if err := cw.Write(rec); err != nil {
			return err
		}
		// encoding/csv buffers into bw; bw flushes to w every 32 KiB.
		return cw.Error()
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// cell defuses a text from outside for a spreadsheet: a name like "=HYPERLINK(…)" or
// "+49…" would otherwise be run as a formula when the treasurer opens the file (CSV
// injection). A leading apostrophe makes Excel and LibreOffice show it as text.
func cell(s string) string {
	s = oneLine(s)
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@':
			return "'" + s
		}
	}
	return s
}
