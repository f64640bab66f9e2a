package camt_test

import (
	"fmt"
	"html"
	"strings"
)

// The tests build their statements in code, the way each version lays them out, so that a
// reader of a test sees the whole input.

type txd struct {
	amt   string // "" leaves the transaction's own amount out
	ustrd []string
	name  string
	iban  string
	e2e   string
	ref   string // RmtInf/Strd/CdtrRefInf/Ref
}

type ntry struct {
	amt     string // "" leaves Amt out
	ccy     string
	cd      string // CRDT/DBIT
	sts     string // "" leaves Sts out
	book    string
	val     string
	svcrRef string
	ntryRef string
	txs     []txd
}

func credit(amt, ref string, ustrd ...string) ntry {
	return ntry{amt: amt, cd: "CRDT", sts: "BOOK", book: "2026-11-03", val: "2026-11-03", svcrRef: ref,
		txs: []txd{{ustrd: ustrd, name: "Erika Mustermann", iban: "DE89 3704 0044 0532 0130 00", e2e: "E2E-" + ref}}}
}

// statement writes a camt.053.001.<version> document for account iban.
func statement(version, iban string, entries ...ntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.%s\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n", version)
	b.WriteString("<BkToCstmrStmt>\n<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-11-04T06:00:00+01:00</CreDtTm></GrpHdr>\n")
	fmt.Fprintf(&b, "<Stmt>\n<Id>STMT-2026-11-03</Id>\n<ElctrncSeqNb>212</ElctrncSeqNb>\n<CreDtTm>2026-11-04T06:00:00+01:00</CreDtTm>\n")
	fmt.Fprintf(&b, "<Acct><Id><IBAN>%s</IBAN></Id><Ccy>EUR</Ccy></Acct>\n", iban)
	b.WriteString("<Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-02</Dt></Dt></Bal>\n")
	for _, e := range entries {
		b.WriteString(entry(version, e))
	}
	b.WriteString("</Stmt>\n</BkToCstmrStmt>\n</Document>\n")
	return b.String()
}

func entry(version string, e ntry) string {
	var b strings.Builder
	ccy := e.ccy
	if ccy == "" {
		ccy = "EUR"
	}
	b.WriteString("<Ntry>\n")
	if e.ntryRef != "" {
		fmt.Fprintf(&b, "  <NtryRef>%s</NtryRef>\n", e.ntryRef)
	}
	if e.amt != "" {
		fmt.Fprintf(&b, "  <Amt Ccy=\"%s\">%s</Amt>\n", ccy, e.amt)
	}
	fmt.Fprintf(&b, "  <CdtDbtInd>%s</CdtDbtInd>\n", e.cd)
	if e.sts != "" {
		if version >= "08" {
			fmt.Fprintf(&b, "  <Sts><Cd>%s</Cd></Sts>\n", e.sts)
		} else {
			fmt.Fprintf(&b, "  <Sts>%s</Sts>\n", e.sts)
		}
	}
	if e.book != "" {
		fmt.Fprintf(&b, "  <BookgDt><Dt>%s</Dt></BookgDt>\n", e.book)
	}
	if e.val != "" {
		fmt.Fprintf(&b, "  <ValDt><Dt>%s</Dt></ValDt>\n", e.val)
	}
	if e.svcrRef != "" {
		fmt.Fprintf(&b, "  <AcctSvcrRef>%s</AcctSvcrRef>\n", e.svcrRef)
	}
	b.WriteString("  <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\n")
	if len(e.txs) > 0 {
		b.WriteString("  <NtryDtls>\n")
		if len(e.txs) > 1 {
			fmt.Fprintf(&b, "   <Btch><NbOfTxs>%d</NbOfTxs></Btch>\n", len(e.txs))
		}
		for _, t := range e.txs {
			b.WriteString("   <TxDtls>\n")
			if t.e2e != "" {
				fmt.Fprintf(&b, "    <Refs><EndToEndId>%s</EndToEndId></Refs>\n", t.e2e)
			}
			if t.amt != "" {
				if version == "02" {
					fmt.Fprintf(&b, "    <AmtDtls><TxAmt><Amt Ccy=\"%s\">%s</Amt></TxAmt></AmtDtls>\n", ccy, t.amt)
				} else {
					fmt.Fprintf(&b, "    <Amt Ccy=\"%s\">%s</Amt>\n", ccy, t.amt)
				}
			}
			if t.name != "" || t.iban != "" {
				b.WriteString("    <RltdPties>")
				if version >= "08" {
					fmt.Fprintf(&b, "<Dbtr><Pty><Nm>%s</Nm></Pty></Dbtr>", html.EscapeString(t.name))
				} else {
					fmt.Fprintf(&b, "<Dbtr><Nm>%s</Nm></Dbtr>", html.EscapeString(t.name))
				}
				fmt.Fprintf(&b, "<DbtrAcct><Id><IBAN>%s</IBAN></Id></DbtrAcct>", t.iban)
				b.WriteString("<Cdtr><Nm>Ortsweberei Monaco e.V.</Nm></Cdtr></RltdPties>\n")
			}
			if len(t.ustrd) > 0 || t.ref != "" {
				b.WriteString("    <RmtInf>")
				for _, u := range t.ustrd {
					fmt.Fprintf(&b, "<Ustrd>%s</Ustrd>", html.EscapeString(u))
				}
				if t.ref != "" {
					fmt.Fprintf(&b, "<Strd><CdtrRefInf><Ref>%s</Ref></CdtrRefInf></Strd>", t.ref)
				}
				b.WriteString("</RmtInf>\n")
			}
			b.WriteString("   </TxDtls>\n")
		}
		b.WriteString("  </NtryDtls>\n")
	}
	b.WriteString("</Ntry>\n")
	return b.String()
}
