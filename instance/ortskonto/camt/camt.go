// Package camt reads ISO 20022 CAMT.053 bank statements (BankToCustomerStatement, versions
// camt.053.001.02 to .08, the ones German banks deliver) as a stream: one entry (Ntry) at a
// time, from an encoding/xml token stream, never the whole document in memory.
//
// What it keeps of an entry is what the Ortskonto's import needs to match a transfer with a
// donation: the amount in cents (parsed as a decimal, never as a float), currency, credit or
// debit, status, booking and value date, the bank's references, and per transaction detail
// the remittance text, the debtor, the creditor and the end-to-end id.
//
// Everything in the file is hostile until read: a text run longer than MaxText, nesting
// deeper than maxDepth, a DTD (the door to entity expansion), a wrong root, an amount that is
// not a decimal with at most two places — each is an *Error naming the line and the element.
package camt

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// Namespaces are the camt.053 versions the reader accepts. Versions differ in details the
// reader handles all at once: .08 nests the status (Sts/Cd) and parties (Dbtr/Pty/Nm); .02
// has a transaction's amount only under AmtDtls/TxAmt.
var Namespaces = []string{
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.03",
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.04",
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.05",
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.06",
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.07",
	"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08",
}

// Statuses of an entry. Only a booked entry has moved money.
const (
	Booked  = "BOOK"
	Pending = "PDNG"
	Info    = "INFO"
)

const (
	// MaxText bounds every run of characters between two angle brackets: a text node, a tag
	// with its attributes, a comment. ISO 20022's longest text is 500 characters; a statement
	// with more is not one, and the reader stops before buffering it.
	MaxText = 64 << 10
	// maxDepth bounds nesting; a camt.053 is about 12 levels deep.
	maxDepth = 48
	// maxUstrd bounds the remittance lines of one transaction (ISO allows unbounded
	// repetition; banks send a handful of 140-character lines).
	maxUstrd = 32
)

// Statement is the account statement (Stmt) an entry belongs to.
type Statement struct {
	ID       string // Stmt/Id
	IBAN     string // Stmt/Acct/Id/IBAN, upper case without spaces
	Other    string // Stmt/Acct/Id/Othr/Id, when the account has no IBAN
	Currency string // Stmt/Acct/Ccy
}

// Account is the statement's account identifier: the IBAN, or the other id.
func (s Statement) Account() string {
	if s.IBAN != "" {
		return s.IBAN
	}
	return s.Other
}

// Entry is one booking line of a statement (Ntry).
type Entry struct {
	Statement   Statement
	Index       int // 1-based position of the entry in the file
	Line        int // line of the file where the entry starts
	AmountCents int64
	Currency    string
	Credit      bool // CdtDbtInd CRDT; false: DBIT
	Reversal    bool // RvslInd: the entry reverses an earlier one
	Status      string
	BookingDate time.Time // a date at midnight UTC; zero when the bank sent none
	ValueDate   time.Time
	AcctSvcrRef string // the bank's reference for the entry
	NtryRef     string
	AddtlInfo   string // AddtlNtryInf
	Details     []Detail
}

// Detail is one transaction of an entry (NtryDtls/TxDtls); a batch entry has several.
type Detail struct {
	// AmountCents is the transaction's own amount; HasAmount is false when the bank sent
	// none (then a single detail's amount is the entry's).
	AmountCents  int64
	Currency     string
	HasAmount    bool
	EndToEndID   string
	Remittance   string // the RmtInf/Ustrd lines, joined by a space
	CreditorRef  string // RmtInf/Strd/CdtrRefInf/Ref
	DebtorName   string
	DebtorIBAN   string
	CreditorName string
	CreditorIBAN string
	ReturnReason string // RtrInf/Rsn/Cd of a returned transfer
	AddtlInfo    string // AddtlTxInf
	lines        int
}

// Error is a statement the reader refuses, with where.
type Error struct {
	Line  int    // 1-based line in the file; 0 when unknown
	Path  string // the element, e.g. "Stmt/Ntry[3]/Amt"
	Msg   string
	cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("camt: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.cause }

// Reader reads the entries of one CAMT.053 document.
type Reader struct {
	dec     *xml.Decoder
	guard   *guard
	ns      string
	stack   []elem
	text    bytes.Buffer
	ccy     string // the Ccy attribute of the open Amt
	stmt    Statement
	stmts   int
	ntries  int
	entry   *Entry
	have    have
	kept    int // bytes of text read into the open entry
	started bool
	done    bool
	err     error
}

// elem is an open element: its local name ("" for one of another namespace, skipped with
// everything below it) and, for the repeated ones errors name, its position.
type elem struct {
	name string
	idx  int
	line int
}

// have records which of an entry's required elements were seen.
type have struct{ amt, cdt, sts bool }

// NewReader reads a statement from r.
func NewReader(r io.Reader) *Reader {
	g := &guard{r: r, line: 1}
	dec := xml.NewDecoder(g)
	dec.Strict = true
	dec.CharsetReader = charsetReader
	return &Reader{dec: dec, guard: g}
}

// charsetReader admits the single-byte encodings some banks still declare; UTF-8 needs none.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "latin1", "iso_8859-1":
		return charmap.ISO8859_1.NewDecoder().Reader(in), nil
	case "iso-8859-15", "latin9":
		return charmap.ISO8859_15.NewDecoder().Reader(in), nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder().Reader(in), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// Next returns the next entry, io.EOF after the last one, or an *Error. After an error every
// call returns it again: a statement is read whole or refused.
func (rd *Reader) Next() (Entry, error) {
	if rd.err != nil {
		return Entry{}, rd.err
	}
	e, err := rd.next()
	if err != nil {
		rd.err = err
	}
	return e, err
}

func (rd *Reader) next() (Entry, error) {
	if rd.done {
		return Entry{}, io.EOF
	}
	for {
		tok, err := rd.dec.Token()
		if err != nil {
			return Entry{}, rd.readError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := rd.start(t); err != nil {
				return Entry{}, err
			}
		case xml.EndElement:
			e, ok, err := rd.end()
			if err != nil {
				return Entry{}, err
			}
			if ok {
				return e, nil
			}
		case xml.CharData:
			if len(rd.stack) > 0 {
				if rd.text.Len()+len(t) > maxField {
					return Entry{}, rd.fail(rd.line(), rd.path(), "text longer than %d bytes", maxField)
				}
				rd.text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return Entry{}, rd.fail(rd.line(), "", "text outside the root element")
			}
		case xml.Directive:
			// A DTD is how entity expansion gets in. encoding/xml expands no entity of its
			// own, but a bank never sends one either.
			return Entry{}, rd.fail(rd.line(), rd.path(), "a DTD or other <!…> directive is not allowed")
		}
	}
}

func (rd *Reader) readError(err error) error {
	if err == io.EOF {
		switch {
		case !rd.started:
			return rd.fail(rd.line(), "", "empty document")
		case len(rd.stack) > 0:
			return rd.fail(rd.line(), rd.path(), "the document ends inside an element")
		}
		rd.done = true
		return io.EOF
	}
	var ge *guardError
	if errors.As(err, &ge) {
		return &Error{Line: ge.line, Path: rd.path(), Msg: ge.msg, cause: err}
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Line: se.Line, Path: rd.path(), Msg: "malformed XML: " + se.Msg, cause: err}
	}
	return &Error{Line: rd.line(), Path: rd.path(), Msg: err.Error(), cause: err}
}

func (rd *Reader) line() int {
	l, _ := rd.dec.InputPos()
	return l
}

func (rd *Reader) fail(line int, path, format string, args ...any) *Error {
	return &Error{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// path names the open element for errors: "Stmt[1]/Ntry[3]/NtryDtls/TxDtls[2]/Amt".
func (rd *Reader) path() string {
	var b strings.Builder
	for i, e := range rd.stack {
		if i < 2 && len(rd.stack) > 2 {
			continue // Document/BkToCstmrStmt say nothing
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(e.name)
		if e.idx > 0 {
			fmt.Fprintf(&b, "[%d]", e.idx)
		}
	}
	return b.String()
}

// under reports whether the open elements below the statement are exactly names.
func (rd *Reader) under(names ...string) bool {
	if len(rd.stack) != 3+len(names) || rd.stack[2].name != "Stmt" {
		return false
	}
	for i, n := range names {
		if rd.stack[3+i].name != n {
			return false
		}
	}
	return true
}

func (rd *Reader) start(t xml.StartElement) error {
	line := rd.line()
	if len(rd.stack) >= maxDepth {
		return rd.fail(line, rd.path(), "elements nested deeper than %d levels", maxDepth)
	}
	if !rd.started {
		rd.started = true
		if t.Name.Local != "Document" {
			return rd.fail(line, t.Name.Local, "not a camt.053 statement: the root element is <%s>, not <Document>", t.Name.Local)
		}
		for _, known := range Namespaces {
			if t.Name.Space == known {
				rd.ns = known
			}
		}
		if rd.ns == "" {
			if t.Name.Space == "" {
				return rd.fail(line, "Document", "not a camt.053 statement: <Document> has no namespace")
			}
			return rd.fail(line, "Document", "not a camt.053.001.02–08 statement: namespace %q", t.Name.Space)
		}
		rd.stack = append(rd.stack, elem{name: "Document", line: line})
		return nil
	}
	name := t.Name.Local
	if t.Name.Space != rd.ns || rd.stack[len(rd.stack)-1].name == "" {
		name = ""
	}
	depth := len(rd.stack)
	if depth == 1 && name != "BkToCstmrStmt" {
		return rd.fail(line, "Document/"+t.Name.Local, "not a camt.053 statement: <Document> holds <%s>, not <BkToCstmrStmt>", t.Name.Local)
	}
	e := elem{name: name, line: line}
	switch {
	case depth == 2 && name == "Stmt":
		rd.stmts++
		e.idx = rd.stmts
		rd.stmt = Statement{}
	case depth == 3 && name == "Ntry" && rd.stack[2].name == "Stmt":
		rd.ntries++
		e.idx = rd.ntries
		rd.entry = &Entry{Statement: rd.stmt, Index: rd.ntries, Line: line}
		rd.have, rd.kept = have{}, 0
	case name == "TxDtls" && rd.entry != nil && rd.under("Ntry", "NtryDtls"):
		rd.entry.Details = append(rd.entry.Details, Detail{})
		e.idx = len(rd.entry.Details)
		if e.idx > maxDetails {
			return rd.fail(line, rd.path()+"/TxDtls", "more than %d transactions in one entry", maxDetails)
		}
	case name == "Amt":
		rd.ccy = ""
		for _, a := range t.Attr {
			if a.Name.Local == "Ccy" {
				rd.ccy = a.Value
			}
		}
	}
	rd.stack = append(rd.stack, e)
	rd.text.Reset()
	return nil
}

const (
	// maxField bounds a kept text (a name, a remittance line, a reference): ISO's longest is
	// 500 characters.
	maxField = 4 << 10
	// maxDetails bounds the transactions of one batch entry, and maxEntryText the text read
	// into one entry, so that one entry — what the reader holds at a time — stays small.
	maxDetails   = 10000
	maxEntryText = 4 << 20
)

// end closes the open element; at the end of an entry it returns the entry.
func (rd *Reader) end() (Entry, bool, error) {
	top := rd.stack[len(rd.stack)-1]
	path := rd.path()
	var (
		out Entry
		ok  bool
		err error
	)
	if top.name != "" && len(rd.stack) > 3 && rd.stack[2].name == "Stmt" {
		if rd.entry == nil {
			rd.statementField()
		} else {
			out, ok, err = rd.entryField(top, path)
		}
	}
	rd.stack = rd.stack[:len(rd.stack)-1]
	rd.text.Reset()
	return out, ok, err
}

func (rd *Reader) value() string {
	return strings.TrimSpace(rd.text.String())
}

func (rd *Reader) statementField() {
	switch {
	case rd.under("Id"):
		rd.stmt.ID = rd.value()
	case rd.under("Acct", "Id", "IBAN"):
		rd.stmt.IBAN = NormalizeIBAN(rd.value())
	case rd.under("Acct", "Id", "Othr", "Id"):
		rd.stmt.Other = rd.value()
	case rd.under("Acct", "Ccy"):
		rd.stmt.Currency = rd.value()
	}
}

// entryField takes a value of the open entry, or finishes it.
func (rd *Reader) entryField(top elem, path string) (Entry, bool, error) {
	e := rd.entry
	v := rd.value()
	if rd.kept += len(v); rd.kept > maxEntryText {
		return Entry{}, false, rd.fail(top.line, path, "an entry with more than %d bytes of text", maxEntryText)
	}
	switch {
	case rd.under("Ntry"):
		return rd.finish(top)
	case rd.under("Ntry", "Amt"):
		c, err := parseCents(v)
		if err != nil {
			return Entry{}, false, rd.fail(top.line, path, "%v", err)
		}
		if err := checkCurrency(rd.ccy); err != nil {
			return Entry{}, false, rd.fail(top.line, path, "%v", err)
		}
		e.AmountCents, e.Currency, rd.have.amt = c, rd.ccy, true
	case rd.under("Ntry", "CdtDbtInd"):
		switch v {
		case "CRDT":
			e.Credit = true
		case "DBIT":
		default:
			return Entry{}, false, rd.fail(top.line, path, "credit/debit indicator %q is neither CRDT nor DBIT", clip(v))
		}
		rd.have.cdt = true
	case rd.under("Ntry", "RvslInd"):
		e.Reversal = v == "true" || v == "1"
	case rd.under("Ntry", "Sts"), rd.under("Ntry", "Sts", "Cd"), rd.under("Ntry", "Sts", "Prtry"):
		if v != "" { // <Sts><Cd>…</Cd></Sts> closes Sts with only white space in it
			e.Status, rd.have.sts = v, true
		}
	case rd.under("Ntry", "BookgDt", "Dt"), rd.under("Ntry", "BookgDt", "DtTm"):
		d, err := parseDate(v)
		if err != nil {
			return Entry{}, false, rd.fail(top.line, path, "%v", err)
		}
		e.BookingDate = d
	case rd.under("Ntry", "ValDt", "Dt"), rd.under("Ntry", "ValDt", "DtTm"):
		d, err := parseDate(v)
		if err != nil {
			return Entry{}, false, rd.fail(top.line, path, "%v", err)
		}
		e.ValueDate = d
	case rd.under("Ntry", "AcctSvcrRef"):
		e.AcctSvcrRef = v
	case rd.under("Ntry", "NtryRef"):
		e.NtryRef = v
	case rd.under("Ntry", "AddtlNtryInf"):
		e.AddtlInfo = v
	case len(rd.stack) > 6 && rd.stack[4].name == "NtryDtls" && rd.stack[5].name == "TxDtls" && len(e.Details) > 0:
		return Entry{}, false, rd.detailField(&e.Details[len(e.Details)-1], top, path, v)
	}
	return Entry{}, false, nil
}

func (rd *Reader) detailField(d *Detail, top elem, path, v string) error {
	switch below := rd.stack[6:]; {
	case is(below, "Amt"), is(below, "AmtDtls", "TxAmt", "Amt"):
		if d.HasAmount && len(below) > 1 {
			return nil // TxDtls/Amt came first and is the one
		}
		c, err := parseCents(v)
		if err != nil {
			return rd.fail(top.line, path, "%v", err)
		}
		if err := checkCurrency(rd.ccy); err != nil {
			return rd.fail(top.line, path, "%v", err)
		}
		d.AmountCents, d.Currency, d.HasAmount = c, rd.ccy, true
	case is(below, "Refs", "EndToEndId"):
		d.EndToEndID = v
	case is(below, "RmtInf", "Ustrd"):
		if v == "" {
			return nil
		}
		if d.lines++; d.lines > maxUstrd {
			return rd.fail(top.line, path, "more than %d remittance lines", maxUstrd)
		}
		if d.Remittance != "" {
			d.Remittance += " "
		}
		d.Remittance += v
	case is(below, "RmtInf", "Strd", "CdtrRefInf", "Ref"):
		d.CreditorRef = v
	case is(below, "RltdPties", "Dbtr", "Nm"), is(below, "RltdPties", "Dbtr", "Pty", "Nm"):
		d.DebtorName = v
	case is(below, "RltdPties", "DbtrAcct", "Id", "IBAN"):
		d.DebtorIBAN = NormalizeIBAN(v)
	case is(below, "RltdPties", "Cdtr", "Nm"), is(below, "RltdPties", "Cdtr", "Pty", "Nm"):
		d.CreditorName = v
	case is(below, "RltdPties", "CdtrAcct", "Id", "IBAN"):
		d.CreditorIBAN = NormalizeIBAN(v)
	case is(below, "RtrInf", "Rsn", "Cd"):
		d.ReturnReason = v
	case is(below, "AddtlTxInf"):
		d.AddtlInfo = v
	}
	return nil
}

func is(stack []elem, names ...string) bool {
	if len(stack) != len(names) {
		return false
	}
	for i, n := range names {
		if stack[i].name != n {
			return false
		}
	}
	return true
}

// finish checks a complete entry and hands it out.
func (rd *Reader) finish(top elem) (Entry, bool, error) {
	e := rd.entry
	rd.entry = nil
	path := rd.path()
	switch {
	case !rd.have.amt:
		return Entry{}, false, rd.fail(top.line, path, "entry without an amount (Amt)")
	case !rd.have.cdt:
		return Entry{}, false, rd.fail(top.line, path, "entry without a credit/debit indicator (CdtDbtInd)")
	case !rd.have.sts:
		return Entry{}, false, rd.fail(top.line, path, "entry without a status (Sts)")
	}
	return *e, true, nil
}

// parseCents reads an ISO 20022 amount ("1234.5", "0.01") as cents, exactly: digits, an
// optional point and at most two decimals; no sign (the direction is CdtDbtInd), no exponent,
// no thousands separator.
func parseCents(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty amount")
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || dot && frac == "" || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("amount %q is not a decimal number", clip(s))
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("amount %q has more than two decimals", clip(s))
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 15 {
		return 0, fmt.Errorf("amount %q is too large", clip(s))
	}
	n := int64(0)
	if whole != "" {
		n, _ = strconv.ParseInt(whole, 10, 64) // ≤ 15 digits: cannot overflow
	}
	c := int64(0)
	if frac != "" {
		c, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			c *= 10
		}
	}
	return n*100 + c, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkCurrency(c string) error {
	if len(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c[2] < 'A' || c[2] > 'Z' {
		return fmt.Errorf("currency %q is not an ISO 4217 code", clip(c))
	}
	return nil
}

// parseDate reads an ISODate ("2026-11-02") or the date of an ISODateTime
// ("2026-11-02T10:15:00+01:00"): the bank's calendar day, as midnight UTC.
func parseDate(s string) (time.Time, error) {
	if len(s) < 10 || len(s) > 10 && s[10] != 'T' && s[10] != '+' && s[10] != '-' && s[10] != 'Z' {
		return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", clip(s))
	}
	d, err := time.Parse("2006-01-02", s[:10])
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", clip(s))
	}
	return d, nil
}

// NormalizeIBAN writes an IBAN the way it is compared: upper case, no spaces.
func NormalizeIBAN(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// clip shortens a hostile value for an error message.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// guard passes the document to the decoder and stops it at a run of more than MaxText bytes
// between two angle brackets — before encoding/xml would buffer a giant text node or tag.
type guard struct {
	r    io.Reader
	run  int
	line int
}

type guardError struct {
	line int
	msg  string
}

func (e *guardError) Error() string { return e.msg }

func (g *guard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	for i, c := range p[:n] {
		switch c {
		case '<', '>':
			g.run = 0
		case '\n':
			g.line++
			g.run++
		default:
			g.run++
		}
		if g.run > MaxText {
			return i, &guardError{line: g.line, msg: fmt.Sprintf("more than %d bytes of text without markup", MaxText)}
		}
	}
	return n, err
}
