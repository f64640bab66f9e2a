package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto/export"
)

// benchBank: the treasurer's two heavy operations. The CAMT.053 import of a statement with
// cfg.camtCredits booked credits, each settling its donation (two steps, two events, one
// booking each), then the same statement again (every entry already stored); and the
// month's exports with cfg.exportBookings bookings in the journal. Time, and the heap's peak
// above what it held before, sampled every 2 ms from runtime/metrics (the instance runs in
// this process, so the figure is an upper bound of what the operation itself needs).
func benchBank(ctx context.Context, e *env, cfg config) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	check(err)
	admin, err := e.inst.Accounts.CreateAdmin(ctx, "Bench Kassenwart", "kasse-"+uuid.NewString()[:8]+"@example.org", "bench password")
	check(err)
	_, err = e.inst.Konto.Configure(ctx, admin, ortskonto.Settings{Empfaenger: "Bench e.V.", IBAN: "DE02120300000000202051", Position: leipzig})
	check(err)

	fmt.Printf("## Ortskonto: bank import and exports\n\n")
	fmt.Printf("| Operation | Size | Time | Peak heap above baseline | Allocated |\n|---|---|---|---|---|\n")

	// The donations the statement pays, written in bulk (the machine's own path is measured by
	// the transition benchmark; here it runs inside the import).
	n := cfg.camtCredits
	refs := seedDonations(ctx, e, n, ortskonto.StatusInitiated, time.Now().Add(-time.Hour))
	var doc bytes.Buffer
	day := time.Now().In(berlin).Format(time.DateOnly)
	fmt.Fprintf(&doc, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>BENCH</MsgId></GrpHdr>
<Stmt><Id>BENCH-%s</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>
`, day)
	for i, ref := range refs {
		fmt.Fprintf(&doc, `<Ntry><Amt Ccy="EUR">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><ValDt><Dt>%s</Dt></ValDt><AcctSvcrRef>BENCH-%d</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>E2E-%d</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>Spenderin %d</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>Spende fuer das Gewebe %s</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
`, euroText(amountOf(i)), day, day, i, i, i, strings.ToLower(ref))
	}
	doc.WriteString("</Stmt></BkToCstmrStmt></Document>\n")
	size := fmt.Sprintf("%d credits, %.1f MiB", n, float64(doc.Len())/(1<<20))

	var res ortskonto.ImportResult
	took, peak, alloc := measureHeap(func() {
		res, err = e.inst.Konto.ImportCAMT(ctx, admin, bytes.NewReader(doc.Bytes()), berlin)
		check(err)
	})
	if res.Settled != n {
		log.Fatalf("bank: the import settled %d of %d", res.Settled, n)
	}
	row("CAMT.053 import, every credit settles its donation", size, took, peak, alloc)
	took, peak, alloc = measureHeap(func() {
		res, err = e.inst.Konto.ImportCAMT(ctx, admin, bytes.NewReader(doc.Bytes()), berlin)
		check(err)
	})
	if res.AlreadyImported != n {
		log.Fatalf("bank: the second import found %d of %d stored", res.AlreadyImported, n)
	}
	row("the same statement again (nothing changes)", size, took, peak, alloc)

	// The exports: a month with cfg.exportBookings bookings.
	month, err := export.ParseMonth("2026-11", berlin)
	check(err)
	from, _ := month.Range()
	m := cfg.exportBookings
	seedDonations(ctx, e, m, ortskonto.StatusSettled, from)
	datev, err := export.DefaultDATEV("03")
	check(err)
	datev.Berater, datev.Mandant = 1001, 1
	for _, format := range []string{ortskonto.FormatDATEV, ortskonto.FormatCSV} {
		var w countingWriter
		took, peak, alloc = measureHeap(func() {
			check(e.inst.Konto.ExportJournal(ctx, &w, format, month, datev))
		})
		row(fmt.Sprintf("export %s (streamed from the journal)", format), fmt.Sprintf("%d bookings, %.1f MiB", m, float64(w)/(1<<20)), took, peak, alloc)
	}
	fmt.Println()
}

func row(name, size string, took time.Duration, peak, alloc uint64) {
	fmt.Printf("| %s | %s | %s | %.1f MiB | %.0f MiB |\n", name, size, took.Round(time.Millisecond), float64(peak)/(1<<20), float64(alloc)/(1<<20))
}

func amountOf(i int) int64 { return int64(100 + i%9900) }

func euroText(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// seedDonations writes n donations of the bench resident in status, with their references,
// straight into the tables (and the balance row, and for settled ones a booking each at
// at + i·20 s): the set-up, not the measurement.
func seedDonations(ctx context.Context, e *env, n int, status string, at time.Time) []string {
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	refs := make([]string, n)
	rows := make([][]any, n)
	var sum int64
	for i := range n {
		var code [10]byte
		x := uint64(i)*2654435761 + uint64(time.Now().UnixNano())
		for j := range code {
			code[j] = crockford[x%32]
			x /= 32
		}
		refs[i] = "WG-" + string(code[:5]) + "-" + string(code[5:])
		sum += amountOf(i)
		rows[i] = []any{uuid.New(), e.resident, refs[i], amountOf(i), i%3 != 0, status, at, at}
	}
	_, err := e.inst.Pool.CopyFrom(ctx, pgx.Identifier{"spenden"},
		[]string{"id", "account_id", "reference", "amount_cents", "visible", "status", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	check(err)
	if status == ortskonto.StatusSettled {
		e.exec(ctx, `
INSERT INTO buchungen (booked_at, kind, amount_cents, spende_id, reference)
SELECT $1::timestamptz + (row_number() OVER (ORDER BY id)) * interval '20 seconds', 'spende', amount_cents, id, reference
FROM spenden WHERE status = 'settled' AND created_at = $1`, at)
		e.exec(ctx, `UPDATE ortskonto SET settled_cents = settled_cents + $1, settled_count = settled_count + $2`, sum, n)
	} else {
		e.exec(ctx, `UPDATE ortskonto SET pending_cents = pending_cents + $1, initiated_count = initiated_count + $2`, sum, n)
	}
	e.exec(ctx, `VACUUM ANALYZE spenden`)
	e.exec(ctx, `VACUUM ANALYZE buchungen`)
	return refs
}

// measureHeap runs f and returns how long it took, the peak of the heap's object bytes above
// what they were before, and the bytes f (and whatever ran meanwhile) allocated.
func measureHeap(f func()) (time.Duration, uint64, uint64) {
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	base, allocBase := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	var (
		mu   sync.Mutex
		peak uint64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	f()
	took := time.Since(start)
	close(stop)
	<-done
	metrics.Read(samples)
	alloc := samples[1].Value.Uint64() - allocBase
	if peak < base {
		return took, 0, alloc
	}
	return took, peak - base, alloc
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
