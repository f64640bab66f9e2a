package camt_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/ortskonto/camt"
)

// Whatever the bytes, the reader ends — with entries and io.EOF, or with a *camt.Error that
// names a line — and never panics; what it hands out is what it promised.
func FuzzReader(f *testing.F) {
	f.Add(statement("02", ownIBAN, credit("12.50", "R1", "Spende WG-7K3QD-M9XPA"), ntry{amt: "3", cd: "DBIT", sts: "PDNG"}))
	f.Add(statement("08", ownIBAN, ntry{amt: "60.00", cd: "CRDT", sts: "BOOK", txs: []txd{{amt: "10.00", ustrd: []string{"a"}}, {amt: "50", name: "B"}}}))
	f.Add(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt><Stmt><Ntry></Ntry></Stmt></BkToCstmrStmt></Document>`)
	f.Add(`<?xml version="1.0" encoding="ISO-8859-1"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>`)
	f.Fuzz(func(t *testing.T, doc string) {
		rd := camt.NewReader(strings.NewReader(doc))
		for i := 0; ; i++ {
			e, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var ce *camt.Error
				if !errors.As(err, &ce) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				if _, again := rd.Next(); again != err {
					t.Fatalf("after an error, Next said %v", again)
				}
				return
			}
			if e.AmountCents < 0 || e.Status == "" || len(e.Currency) != 3 || e.Index != i+1 {
				t.Fatalf("entry %+v", e)
			}
			for _, d := range e.Details {
				if d.AmountCents < 0 || d.HasAmount && len(d.Currency) != 3 {
					t.Fatalf("detail %+v", d)
				}
			}
		}
	})
}
