// Package textcheck is the one rule for text that comes from outside, whether through the HTTP
// API or from another server: it is kept only if it can be kept exactly as it was sent. That is
// valid UTF-8 without U+0000. encoding/json turns invalid UTF-8 and unpaired surrogate escapes
// (\ud800) into U+FFFD without a word, so what would be stored is not what was sent; and
// PostgreSQL refuses U+0000 in text (22021), so a write that carries it fails with a 500 — or,
// for an activity from another server, fails again at every retry of its job.
package textcheck

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// String reports whether s is text that can be kept as it is.
func String(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// Error says where a JSON document holds a string that is not text.
type Error struct {
	// Pointer is the member whose value is not text, or, when a member's name is not text,
	// the object that holds the member.
	Pointer jsontext.Pointer
}

func (e *Error) Error() string {
	return "a string that is not text (invalid UTF-8, an unpaired surrogate or U+0000) at " + string(e.Pointer)
}

var (
	decoders    = sync.Pool{New: func() any { return jsontext.NewDecoder(emptyReader) }}
	emptyReader = bytes.NewReader(nil)
)

// JSON checks every string of a JSON document, member names included, escapes decoded, and
// returns an *Error for the first one that is not text. Whatever else may be wrong with the
// document (its syntax, a member named twice) it leaves to the decoder that reads it next.
func JSON(doc []byte) error {
	// A Buffer is parsed in place. Invalid UTF-8 is let through the parser so that it is
	// found here, where the member it is in can be named.
	// Decoders are reused: this runs on every request with a JSON body and every activity the
	// inbox takes, and a new one is some kilobytes of state.
	d := decoders.Get().(*jsontext.Decoder)
	defer func() {
		d.Reset(emptyReader) // not to hold on to doc
		decoders.Put(d)
	}()
	d.Reset(bytes.NewBuffer(doc), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	var s []byte
	for {
		if d.PeekKind() != '"' {
			if _, err := d.ReadToken(); err != nil {
				return nil // the end, or a syntax error for the decoder to word
			}
			continue
		}
		kind, n := d.StackIndex(d.StackDepth())
		name := kind == '{' && n%2 == 0
		raw, err := d.ReadValue()
		if err != nil {
			return nil
		}
		s, err = jsontext.AppendUnquote(s[:0], raw)
		if err != nil || bytes.IndexByte(s, 0) >= 0 {
			p := d.StackPointer()
			if name {
				p = p.Parent()
			}
			return &Error{Pointer: p}
		}
	}
}
