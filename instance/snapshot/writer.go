package snapshot

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// Written is what a finished document is known by.
type Written struct {
	// Hash is the lowercase hex SHA-256 of the bytes written: the document's name.
	Hash string
	// Signature is the detached signature: Ed25519 over the 32 bytes of the digest
	// (EncodeSignature makes the .sig file of it).
	Signature []byte
	Bytes     int64 // uncompressed
	Objects   int64
}

// Writer streams one snapshot document in canonical form. Its memory does not grow with the
// document: each object is canonicalised on its own, the envelope is written in the order
// JCS sorts its members, and the proof is made from the running hash at the end.
//
// The calls are NewWriter, then for each section in ascending name order Section and its
// Objects in ascending id order, then Close. Any out-of-order, duplicate or malformed input
// is an error, and every later call returns the same error: a bug in a section must not
// produce a file that claims canonical form. After an error the bytes already written are
// no snapshot; write to a temporary file and keep it only when Close succeeded.
type Writer struct {
	bw      *bufio.Writer
	h       hash.Hash
	n       int64
	header  Header
	gone    map[string][]string
	key     ed25519.PrivateKey
	err     error
	closed  bool
	section string // the current section, "" before the first
	lastID  string
	first   bool     // no object written yet in the current section
	pending []string // the current section's gone ids not yet passed
	objects int64
	buf     []byte
}

// NewWriter checks h and gone and writes the document up to its objects. gone lists, per
// section, the ids an incremental snapshot says no longer exist; the writer sorts them and
// drops duplicates and empty lists. A full snapshot has none. key signs the proof
// (verificationMethod KeyID(h.Instance), created h.AsOf) and the detached signature.
func NewWriter(w io.Writer, h Header, gone map[string][]string, key ed25519.PrivateKey) (*Writer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("snapshot: bad Ed25519 private key length %d", len(key))
	}
	h, err := checkHeader(h)
	if err != nil {
		return nil, err
	}
	sorted := map[string][]string{}
	total := 0
	for name, ids := range gone {
		if !validName(name) {
			return nil, fmt.Errorf("snapshot: gone: bad section name %q", name)
		}
		ids = slices.Clone(ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for _, id := range ids {
			if err := checkID(id); err != nil {
				return nil, fmt.Errorf("snapshot: gone %q: %v", name, err)
			}
			total += len(id)
		}
		if len(ids) > 0 {
			sorted[name] = ids
		}
	}
	if h.Kind == KindFull && len(sorted) > 0 {
		return nil, errors.New("snapshot: a full snapshot has no gone ids")
	}
	if len(sorted) > MaxSections {
		return nil, fmt.Errorf("snapshot: gone names %d sections (at most %d)", len(sorted), MaxSections)
	}
	if total > MaxGoneBytes {
		return nil, fmt.Errorf("snapshot: gone ids of %d bytes together (at most %d)", total, MaxGoneBytes)
	}

	sw := &Writer{h: sha256.New(), header: h, gone: sorted, key: key}
	sw.bw = bufio.NewWriterSize(io.MultiWriter(w, sw.h), 64<<10)

	b := append([]byte(nil), `{"@context":`+contextLiteral+`,"as_of":`...)
	b = appendString(b, formatAsOf(h.AsOf))
	b = append(b, `,"base":`...)
	b = appendNullable(b, h.Base)
	b = append(b, `,"format":`+formatLiteral+`,"gone":{`...)
	for i, name := range slices.Sorted(maps.Keys(sorted)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':', '[')
		for j, id := range sorted[name] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, id)
		}
		b = append(b, ']')
	}
	b = append(b, `},"instance":`...)
	b = appendString(b, h.Instance)
	b = append(b, `,"kind":`...)
	b = appendString(b, h.Kind)
	b = append(b, `,"objects":{`...)
	if err := sw.write(b); err != nil {
		return nil, err
	}
	return sw, nil
}

// checkHeader refuses a header the format cannot express and returns it normalised (UTC,
// running sorted).
func checkHeader(h Header) (Header, error) {
	if err := checkInstance(h.Instance); err != nil {
		return h, fmt.Errorf("snapshot: %v", err)
	}
	if h.AsOf.IsZero() || h.AsOf.UTC().Year() < 1 || h.AsOf.UTC().Year() > 9999 {
		return h, fmt.Errorf("snapshot: as_of %v out of range", h.AsOf)
	}
	if !h.AsOf.Equal(h.AsOf.Truncate(1000)) {
		return h, fmt.Errorf("snapshot: as_of %v has more than microsecond precision", h.AsOf)
	}
	h.AsOf = h.AsOf.UTC()
	switch h.Kind {
	case KindFull:
		if h.Base != "" {
			return h, errors.New("snapshot: a full snapshot has no base")
		}
	case KindIncremental:
		if !validHash(h.Base) {
			return h, fmt.Errorf("snapshot: an incremental snapshot needs the hash of its base, not %q", h.Base)
		}
	default:
		return h, fmt.Errorf("snapshot: kind %q is neither %q nor %q", h.Kind, KindFull, KindIncremental)
	}
	if h.Previous != "" && !validHash(h.Previous) {
		return h, fmt.Errorf("snapshot: previous %q is not a lowercase hex SHA-256", h.Previous)
	}
	p := h.Position
	if p.Xmin > p.Xmax || p.Xmax > maxSafeInteger {
		return h, fmt.Errorf("snapshot: position xmin %d, xmax %d: want xmin ≤ xmax ≤ 2^53-1", p.Xmin, p.Xmax)
	}
	running := slices.Clone(p.Running)
	slices.Sort(running)
	running = slices.Compact(running)
	if len(running) > MaxRunning {
		return h, fmt.Errorf("snapshot: %d running transactions (at most %d)", len(running), MaxRunning)
	}
	for _, r := range running {
		if r < p.Xmin || r >= p.Xmax {
			return h, fmt.Errorf("snapshot: running transaction %d outside [xmin %d, xmax %d)", r, p.Xmin, p.Xmax)
		}
	}
	if running == nil {
		running = []uint64{}
	}
	h.Position.Running = running
	return h, nil
}

// Section starts the named section; names must come in strictly ascending order.
func (w *Writer) Section(name string) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return w.fail(errors.New("snapshot: Section after Close"))
	}
	if !validName(name) {
		return w.fail(fmt.Errorf("snapshot: bad section name %q (lowercase ASCII letters, digits, _)", name))
	}
	if w.section != "" && name <= w.section {
		return w.fail(fmt.Errorf("snapshot: section %q after %q: names must be strictly ascending", name, w.section))
	}
	b := w.buf[:0]
	if w.section != "" {
		b = append(b, ']', ',')
	}
	b = appendString(b, name)
	b = append(b, ':', '[')
	w.section, w.lastID, w.first, w.pending = name, "", true, w.gone[name]
	return w.write(b)
}

// Object writes the next object of the current section, canonicalised. Its id must be
// greater than the previous one's, equal to its JSON's "id" member, and not among the
// section's gone ids.
func (w *Writer) Object(o Object) error {
	if w.err != nil {
		return w.err
	}
	if w.section == "" || w.closed {
		return w.fail(errors.New("snapshot: Object outside a section"))
	}
	if !w.first && o.ID <= w.lastID {
		return w.fail(fmt.Errorf("snapshot: section %q: id %q after %q: ids must be strictly ascending (byte order) and unique", w.section, o.ID, w.lastID))
	}
	canon, id, err := canonicalObject(o.JSON)
	if err != nil {
		return w.fail(fmt.Errorf("snapshot: section %q, object %q: %v", w.section, o.ID, err))
	}
	if id != o.ID {
		return w.fail(fmt.Errorf("snapshot: section %q: object %q has \"id\" %q in its JSON", w.section, o.ID, id))
	}
	for len(w.pending) > 0 && w.pending[0] < id {
		w.pending = w.pending[1:]
	}
	if len(w.pending) > 0 && w.pending[0] == id {
		return w.fail(fmt.Errorf("snapshot: section %q: id %q is both an object and gone", w.section, id))
	}
	if !w.first {
		if err := w.write([]byte{','}); err != nil {
			return err
		}
	}
	w.first, w.lastID = false, id
	w.objects++
	return w.write(canon)
}

// Close ends the objects, writes position and previous, signs, appends the proof and flushes.
// It does not close the underlying writer.
func (w *Writer) Close() (Written, error) {
	if w.err != nil {
		return Written{}, w.err
	}
	if w.closed {
		return Written{}, w.fail(errors.New("snapshot: Close twice"))
	}
	w.closed = true
	b := w.buf[:0]
	if w.section != "" {
		b = append(b, ']')
	}
	b = append(b, `},"position":{"running":[`...)
	for i, r := range w.header.Position.Running {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, r, 10)
	}
	b = append(b, `],"xmax":`...)
	b = strconv.AppendUint(b, w.header.Position.Xmax, 10)
	b = append(b, `,"xmin":`...)
	b = strconv.AppendUint(b, w.header.Position.Xmin, 10)
	b = append(b, `},"previous":`...)
	b = appendNullable(b, w.header.Previous)
	if err := w.write(b); err != nil {
		return Written{}, err
	}
	if err := w.bw.Flush(); err != nil {
		return Written{}, w.fail(fmt.Errorf("snapshot: write: %w", err))
	}

	// What the proof covers is the document without "proof": the bytes so far and "}".
	doc := w.h.(hash.Cloner)
	dh, err := doc.Clone()
	if err != nil {
		return Written{}, w.fail(err)
	}
	dh.Write([]byte{'}'})
	var digest [sha256.Size]byte
	dh.Sum(digest[:0])
	p, err := proof.SignHash(digest, json.RawMessage(contextLiteral), w.key, KeyID(w.header.Instance), w.header.AsOf)
	if err != nil {
		return Written{}, w.fail(fmt.Errorf("snapshot: proof: %w", err))
	}
	b = append(append(append(b[:0], `,"proof":`...), p...), '}')
	if err := w.write(b); err != nil {
		return Written{}, err
	}
	if err := w.bw.Flush(); err != nil {
		return Written{}, w.fail(fmt.Errorf("snapshot: write: %w", err))
	}
	sum := w.h.Sum(nil)
	return Written{
		Hash:      hex.EncodeToString(sum),
		Signature: ed25519.Sign(w.key, sum),
		Bytes:     w.n,
		Objects:   w.objects,
	}, nil
}

func (w *Writer) write(b []byte) error {
	n, err := w.bw.Write(b)
	w.n += int64(n)
	if err != nil {
		return w.fail(fmt.Errorf("snapshot: write: %w", err))
	}
	w.buf = b[:0]
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}
