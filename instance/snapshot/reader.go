package snapshot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Document is what reading a whole snapshot establishes: its header, its gone ids, its
// proof, and its hash computed from the bytes read. Reading checks the form only;
// VerifyDocument and VerifyDetached check the signatures.
type Document struct {
	Header
	// Gone lists, per section, the ids an incremental snapshot says no longer exist (sorted).
	Gone map[string][]string
	// Sections are the names under "objects", in file order (ascending).
	Sections []string
	Objects  int64
	// Proof is the document's "proof" member, canonical.
	Proof json.RawMessage
	// Hash is the lowercase hex SHA-256 of the uncompressed bytes: what the file should be
	// named, and what the detached signature signs.
	Hash string
	// DocDigest is the SHA-256 of the canonical document without "proof": what the proof
	// signs.
	DocDigest [sha256.Size]byte
	Bytes     int64 // uncompressed
}

// Read reads one snapshot document from r, gzip-compressed or plain (told apart by their
// first bytes), calls visit (if not nil) for every object in file order, and returns the
// document once it has been read to its end. It refuses anything that is not exactly the
// canonical form of a weltgewebe-snapshot/1 document, with an error (wrapping ErrFormat)
// that says what is wrong and at which byte; an error from visit ends the reading and is
// returned as it is. Memory stays bounded whatever r holds (see the Max constants).
func Read(r io.Reader, visit func(section string, o Object) error) (*Document, error) {
	d, err := NewDecoder(r)
	if err != nil {
		return nil, err
	}
	for {
		section, o, err := d.Next()
		if err == io.EOF {
			return d.Finish()
		}
		if err != nil {
			return nil, err
		}
		if visit != nil {
			if err := visit(section, o); err != nil {
				return nil, err
			}
		}
	}
}

// Decoder reads a snapshot document object by object, for callers that pull (Merge) rather
// than being called back (Read).
type Decoder struct {
	src      *source
	gz       *gzip.Reader
	doc      Document
	state    int
	section  string
	lastID   string
	pending  []string // the current section's gone ids, to refuse an id that is both
	err      error
	finished bool
}

const (
	stateSections = iota // before a section name or the end of "objects"
	stateObjects         // inside a section's array
	stateEnd             // "objects" ended
)

// NewDecoder reads the document's beginning, up to its first object: Head is known after it.
func NewDecoder(r io.Reader) (*Decoder, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	d := &Decoder{}
	var in io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
		d.gz, in = gz, gz
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, fmt.Errorf("%w: zstd-compressed; decompress it first (zstd -d) or fetch the .json.gz", ErrFormat)
	case len(magic) >= 1 && magic[0] != '{':
		return nil, fmt.Errorf("%w: neither gzip nor a JSON object (first byte 0x%02x)", ErrFormat, magic[0])
	}
	d.src = newSource(in)
	if err := d.head(); err != nil {
		return nil, d.fail(err)
	}
	return d, nil
}

// Head is the header as far as the beginning of the file tells it: AsOf, Base, Instance and
// Kind, and Gone. Position and Previous follow the objects; Finish returns them.
func (d *Decoder) Head() (Header, map[string][]string) { return d.doc.Header, d.doc.Gone }

func (d *Decoder) fail(err error) error {
	if d.err == nil {
		d.err = err
	}
	return d.err
}

func (d *Decoder) head() error {
	s := d.src
	if err := s.expect(`{"@context":`, `the document's first member, "@context"`); err != nil {
		return err
	}
	if err := s.expect(contextLiteral, `"@context" `+contextLiteral); err != nil {
		return err
	}
	if err := s.member("as_of"); err != nil {
		return err
	}
	asOf, err := s.str(len(asOfLayout), "as_of")
	if err != nil {
		return err
	}
	t, err := time.Parse(asOfLayout, asOf)
	if err != nil || formatAsOf(t) != asOf {
		return s.errorf("as_of %q is not a UTC time written %s", asOf, asOfLayout)
	}
	d.doc.AsOf = t
	if err := s.member("base"); err != nil {
		return err
	}
	if d.doc.Base, err = s.nullableHash("base"); err != nil {
		return err
	}
	if err := s.member("format"); err != nil {
		return err
	}
	if err := s.expect(formatLiteral, "format "+formatLiteral); err != nil {
		return err
	}
	if err := s.member("gone"); err != nil {
		return err
	}
	if d.doc.Gone, err = d.readGone(); err != nil {
		return err
	}
	if err := s.member("instance"); err != nil {
		return err
	}
	if d.doc.Instance, err = s.str(MaxInstance, "instance"); err != nil {
		return err
	}
	if err := checkInstance(d.doc.Instance); err != nil {
		return s.errorf("%v", err)
	}
	if err := s.member("kind"); err != nil {
		return err
	}
	if d.doc.Kind, err = s.str(len(KindIncremental), "kind"); err != nil {
		return err
	}
	switch d.doc.Kind {
	case KindFull:
		if d.doc.Base != "" {
			return s.errorf("a full snapshot with a base")
		}
		if len(d.doc.Gone) > 0 {
			return s.errorf("a full snapshot with gone ids")
		}
	case KindIncremental:
		if d.doc.Base == "" {
			return s.errorf("an incremental snapshot without a base")
		}
	default:
		return s.errorf("kind %q is neither %q nor %q", d.doc.Kind, KindFull, KindIncremental)
	}
	if err := s.member("objects"); err != nil {
		return err
	}
	return s.expect("{", `"objects" as an object`)
}

func (d *Decoder) readGone() (map[string][]string, error) {
	s := d.src
	gone := map[string][]string{}
	if err := s.expect("{", `"gone" as an object`); err != nil {
		return nil, err
	}
	total, last := 0, ""
	for i := 0; ; i++ {
		c, err := s.peek()
		if err != nil {
			return nil, err
		}
		if c == '}' {
			s.skip()
			return gone, nil
		}
		if i > 0 {
			if err := s.expect(",", `"," or "}" in "gone"`); err != nil {
				return nil, err
			}
		}
		if i >= MaxSections {
			return nil, s.errorf(`"gone" names more than %d sections`, MaxSections)
		}
		name, err := s.name(last, "gone")
		if err != nil {
			return nil, err
		}
		last = name
		if err := s.expect(":[", `an array of ids`); err != nil {
			return nil, err
		}
		var ids []string
		for j := 0; ; j++ {
			c, err := s.peek()
			if err != nil {
				return nil, err
			}
			if c == ']' {
				s.skip()
				break
			}
			if j > 0 {
				if err := s.expect(",", `"," or "]" in "gone"`); err != nil {
					return nil, err
				}
			}
			id, err := s.str(MaxIDBytes, "gone id")
			if err != nil {
				return nil, err
			}
			if err := checkID(id); err != nil {
				return nil, s.errorf("gone %q: %v", name, err)
			}
			if j > 0 && id <= ids[j-1] {
				return nil, s.errorf("gone %q: id %q after %q: ids must be strictly ascending (byte order)", name, id, ids[j-1])
			}
			if total += len(id); total > MaxGoneBytes {
				return nil, s.errorf(`"gone" holds more than %d bytes of ids`, MaxGoneBytes)
			}
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return nil, s.errorf("gone %q is empty (a section without gone ids is left out)", name)
		}
		gone[name] = ids
	}
}

// Next returns the next object and its section's name, in file order; io.EOF after the last
// object (then call Finish). The object's JSON is its own copy.
func (d *Decoder) Next() (string, Object, error) {
	if d.err != nil {
		return "", Object{}, d.err
	}
	s := d.src
	for {
		switch d.state {
		case stateEnd:
			return "", Object{}, io.EOF
		case stateSections:
			c, err := s.peek()
			if err != nil {
				return "", Object{}, d.fail(err)
			}
			if c == '}' {
				s.skip()
				d.state = stateEnd
				continue
			}
			if len(d.doc.Sections) > 0 {
				if err := s.expect(",", `"," or "}" in "objects"`); err != nil {
					return "", Object{}, d.fail(err)
				}
			}
			if len(d.doc.Sections) >= MaxSections {
				return "", Object{}, d.fail(s.errorf(`"objects" has more than %d sections`, MaxSections))
			}
			name, err := s.name(d.section, "objects")
			if err != nil {
				return "", Object{}, d.fail(err)
			}
			if err := s.expect(":[", "an array of objects"); err != nil {
				return "", Object{}, d.fail(err)
			}
			d.doc.Sections = append(d.doc.Sections, name)
			d.section, d.lastID, d.pending = name, "", d.doc.Gone[name]
			d.state = stateObjects
		case stateObjects:
			c, err := s.peek()
			if err != nil {
				return "", Object{}, d.fail(err)
			}
			if c == ']' {
				s.skip()
				d.state = stateSections
				continue
			}
			first := d.lastID == ""
			if !first {
				if err := s.expect(",", `"," or "]" in section `+strconv.Quote(d.section)); err != nil {
					return "", Object{}, d.fail(err)
				}
			}
			o, err := d.object(first)
			if err != nil {
				return "", Object{}, d.fail(err)
			}
			return d.section, o, nil
		}
	}
}

func (d *Decoder) object(first bool) (Object, error) {
	s := d.src
	at := s.offset()
	raw, err := s.value(MaxObjectBytes, "object")
	if err != nil {
		return Object{}, err
	}
	canon, id, err := canonicalObject(raw)
	if err != nil {
		return Object{}, fmt.Errorf("%w: byte %d: section %q, object %d: %v", ErrFormat, at, d.section, d.doc.Objects+1, err)
	}
	if !bytes.Equal(canon, raw) {
		return Object{}, fmt.Errorf("%w: byte %d: section %q, object %q is not in canonical form (RFC 8785)", ErrFormat, at, d.section, id)
	}
	if !first && id <= d.lastID {
		return Object{}, fmt.Errorf("%w: byte %d: section %q: id %q after %q: ids must be strictly ascending (byte order) and unique", ErrFormat, at, d.section, id, d.lastID)
	}
	for len(d.pending) > 0 && d.pending[0] < id {
		d.pending = d.pending[1:]
	}
	if len(d.pending) > 0 && d.pending[0] == id {
		return Object{}, fmt.Errorf("%w: byte %d: section %q: id %q is both an object and gone", ErrFormat, at, d.section, id)
	}
	d.lastID = id
	d.doc.Objects++
	return Object{ID: id, JSON: json.RawMessage(raw)}, nil
}

// Finish reads the rest of the document after the objects (position, previous, proof), makes
// sure nothing follows it, and returns the whole document. Objects not yet read are read
// and checked (and dropped).
func (d *Decoder) Finish() (*Document, error) {
	for {
		_, _, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if d.finished {
		return &d.doc, nil
	}
	if err := d.tail(); err != nil {
		return nil, d.fail(err)
	}
	d.finished = true
	return &d.doc, nil
}

func (d *Decoder) tail() error {
	s := d.src
	if err := s.member("position"); err != nil {
		return err
	}
	p, err := d.position()
	if err != nil {
		return err
	}
	d.doc.Position = p
	if err := s.member("previous"); err != nil {
		return err
	}
	if d.doc.Previous, err = s.nullableHash("previous"); err != nil {
		return err
	}
	// The proof signs the document without "proof": everything so far and "}".
	dh := s.cloneHash()
	dh.Write([]byte{'}'})
	dh.Sum(d.doc.DocDigest[:0])
	if err := s.member("proof"); err != nil {
		return err
	}
	at := s.offset()
	raw, err := s.value(MaxProofBytes, "proof")
	if err != nil {
		return err
	}
	if _, err := objectShape(raw); err != nil || !utf8.Valid(raw) {
		return fmt.Errorf("%w: byte %d: proof is not a JSON object", ErrFormat, at)
	}
	if c, err := jcs.Transform(raw); err != nil || !bytes.Equal(c, raw) {
		return fmt.Errorf("%w: byte %d: proof is not in canonical form", ErrFormat, at)
	}
	d.doc.Proof = json.RawMessage(raw)
	if err := s.expect("}", "the end of the document after proof"); err != nil {
		return err
	}
	if _, err := s.peek(); err == nil {
		return s.errorf("bytes after the document")
	} else if !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if d.gz != nil {
		// The gzip reader checks the CRC at the end of the stream; we just read to there.
		if err := d.gz.Close(); err != nil {
			return fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
	}
	sum := s.sum()
	d.doc.Hash = hex.EncodeToString(sum[:])
	d.doc.Bytes = s.offset()
	return nil
}

func (d *Decoder) position() (eventstore.Snapshot, error) {
	s := d.src
	var p eventstore.Snapshot
	if err := s.expect(`{"running":[`, `position {"running":[…],"xmax":…,"xmin":…}`); err != nil {
		return p, err
	}
	p.Running = []uint64{}
	for i := 0; ; i++ {
		c, err := s.peek()
		if err != nil {
			return p, err
		}
		if c == ']' {
			s.skip()
			break
		}
		if i > 0 {
			if err := s.expect(",", `"," or "]" in running`); err != nil {
				return p, err
			}
		}
		if i >= MaxRunning {
			return p, s.errorf("more than %d running transactions", MaxRunning)
		}
		n, err := s.uint("running")
		if err != nil {
			return p, err
		}
		if i > 0 && n <= p.Running[i-1] {
			return p, s.errorf("running must be strictly ascending")
		}
		p.Running = append(p.Running, n)
	}
	var err error
	if err = s.expect(`,"xmax":`, `position member "xmax"`); err != nil {
		return p, err
	}
	if p.Xmax, err = s.uint("xmax"); err != nil {
		return p, err
	}
	if err = s.expect(`,"xmin":`, `position member "xmin"`); err != nil {
		return p, err
	}
	if p.Xmin, err = s.uint("xmin"); err != nil {
		return p, err
	}
	if err := s.expect("}", "the end of position"); err != nil {
		return p, err
	}
	if p.Xmin > p.Xmax {
		return p, s.errorf("position xmin %d > xmax %d", p.Xmin, p.Xmax)
	}
	for _, r := range p.Running {
		if r < p.Xmin || r >= p.Xmax {
			return p, s.errorf("running transaction %d outside [xmin, xmax)", r)
		}
	}
	return p, nil
}

// source reads bytes, counts them, and hashes what has been consumed.
type source struct {
	r        io.Reader
	buf      []byte
	pos, end int
	hashed   int // buf[hashed:pos] is consumed but not yet hashed
	base     int64
	h        hash.Hash
	err      error
	scratch  []byte
}

func newSource(r io.Reader) *source {
	return &source{r: r, buf: make([]byte, 64<<10), h: sha256.New()}
}

func (s *source) offset() int64 { return s.base + int64(s.pos) }

func (s *source) flushHash() {
	s.h.Write(s.buf[s.hashed:s.pos])
	s.hashed = s.pos
}

func (s *source) cloneHash() hash.Hash {
	s.flushHash()
	c, err := s.h.(hash.Cloner).Clone()
	if err != nil {
		panic(err) // crypto/sha256 always clones
	}
	return c
}

func (s *source) sum() [sha256.Size]byte {
	s.flushHash()
	var out [sha256.Size]byte
	s.h.Sum(out[:0])
	return out
}

// fill makes at least one unread byte available, or returns io.ErrUnexpectedEOF.
func (s *source) fill() error {
	if s.pos < s.end {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	s.flushHash()
	s.base += int64(s.pos)
	s.pos, s.end, s.hashed = 0, 0, 0
	for s.end == 0 {
		n, err := s.r.Read(s.buf)
		s.end = n
		if err == io.EOF {
			if n == 0 {
				s.err = fmt.Errorf("%w: the document ends early, at byte %d: %w", ErrFormat, s.base, io.ErrUnexpectedEOF)
				return s.err
			}
		} else if err != nil {
			s.err = fmt.Errorf("%w: reading at byte %d: %v", ErrFormat, s.base, err)
			return s.err
		}
	}
	return nil
}

func (s *source) peek() (byte, error) {
	if err := s.fill(); err != nil {
		return 0, err
	}
	return s.buf[s.pos], nil
}

func (s *source) skip() { s.pos++ }

func (s *source) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: byte %d: %s", ErrFormat, s.offset(), fmt.Sprintf(format, args...))
}

func (s *source) eof(what string) error {
	return fmt.Errorf("%w: the document ends at byte %d, where %s belongs: %w", ErrFormat, s.offset(), what, io.ErrUnexpectedEOF)
}

// expect consumes lit or says that what belongs here.
func (s *source) expect(lit, what string) error {
	for i := 0; i < len(lit); i++ {
		c, err := s.peek()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return s.eof(what)
		}
		if err != nil {
			return err
		}
		if c != lit[i] {
			return s.errorf("want %s (%q), found %q", what, lit, s.around())
		}
		s.pos++
	}
	return nil
}

// around shows a few bytes from the current position for an error message.
func (s *source) around() string {
	end := min(s.pos+24, s.end)
	return string(s.buf[s.pos:end])
}

// member consumes `,"name":`, saying what was found instead.
func (s *source) member(name string) error {
	at := s.offset()
	lit := `,"` + name + `":`
	if err := s.expect(lit, `member "`+name+`"`); err != nil {
		if errors.Is(err, ErrFormat) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf(`%w: byte %d: want member %q here (a snapshot has exactly "@context", "as_of", "base", "format", "gone", "instance", "kind", "objects", "position", "previous", "proof", in this order)`, ErrFormat, at, name)
		}
		return err
	}
	return nil
}

// name reads a section name greater than last.
func (s *source) name(last, where string) (string, error) {
	name, err := s.str(MaxNameBytes, "section name")
	if err != nil {
		return "", err
	}
	if !validName(name) {
		return "", s.errorf("%s: bad section name %q (lowercase ASCII letters, digits, _)", where, name)
	}
	if last != "" && name <= last {
		return "", s.errorf("%s: section %q after %q: names must be strictly ascending", where, name, last)
	}
	return name, nil
}

// str reads a JSON string in its canonical spelling (see appendString) of at most max bytes
// decoded.
func (s *source) str(max int, what string) (string, error) {
	if err := s.expect(`"`, what+" as a string"); err != nil {
		return "", err
	}
	b := s.scratch[:0]
	for {
		c, err := s.peek()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return "", s.eof("the end of " + what)
		}
		if err != nil {
			return "", err
		}
		s.pos++
		switch {
		case c == '"':
			s.scratch = b
			if !utf8.Valid(b) {
				return "", s.errorf("%s is not valid UTF-8", what)
			}
			return string(b), nil
		case c < 0x20:
			return "", s.errorf("%s: a raw control character in a string", what)
		case c == '\\':
			e, err := s.peek()
			if err != nil {
				return "", s.eof("the end of " + what)
			}
			s.pos++
			switch e {
			case '"', '\\':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				var hx [4]byte
				for i := range hx {
					if hx[i], err = s.peek(); err != nil {
						return "", s.eof("the end of " + what)
					}
					s.pos++
				}
				v, perr := strconv.ParseUint(string(hx[:]), 16, 8)
				if perr != nil || v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t' ||
					string(hx[:]) != fmt.Sprintf("%04x", v) {
					return "", s.errorf(`%s: \u%s is not how the canonical form escapes`, what, hx[:])
				}
				b = append(b, byte(v))
			default:
				return "", s.errorf(`%s: \%c is not how the canonical form escapes`, what, e)
			}
		default:
			b = append(b, c)
		}
		if len(b) > max {
			return "", s.errorf("%s longer than %d bytes", what, max)
		}
	}
}

func (s *source) nullableHash(what string) (string, error) {
	c, err := s.peek()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "", s.eof(what)
	}
	if err != nil {
		return "", err
	}
	if c == 'n' {
		return "", s.expect("null", what+" null or a hash")
	}
	h, err := s.str(hashHexLen, what)
	if err != nil {
		return "", err
	}
	if !validHash(h) {
		return "", s.errorf("%s %q is not a lowercase hex SHA-256", what, h)
	}
	return h, nil
}

// uint reads a non-negative integer as JCS writes it: no sign, no leading zero, no fraction
// or exponent, and small enough to be exact as a double.
func (s *source) uint(what string) (uint64, error) {
	var digits []byte
	for {
		c, err := s.peek()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, s.eof(what)
		}
		if err != nil {
			return 0, err
		}
		if c < '0' || c > '9' {
			break
		}
		if len(digits) > 16 {
			return 0, s.errorf("%s: more than 16 digits", what)
		}
		digits = append(digits, c)
		s.pos++
	}
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, s.errorf("%s: want an integer in canonical form, found %q", what, s.around())
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || n > maxSafeInteger {
		return 0, s.errorf("%s %s is beyond 2^53-1", what, digits)
	}
	return n, nil
}

// value reads one JSON object (up to its closing brace) of at most max bytes, tracking only
// strings and brackets; the caller checks it.
func (s *source) value(max int, what string) ([]byte, error) {
	c, err := s.peek()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, s.eof(what)
	}
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, s.errorf("%s: want a JSON object, found %q", what, s.around())
	}
	var out []byte
	depth := 0
	inString, escaped := false, false
	for {
		if err := s.fill(); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, s.eof("the end of " + what)
			}
			return nil, err
		}
		// Scan the buffered bytes for the end of the value, then copy them at once.
		start, i := s.pos, s.pos
		done := false
		for ; i < s.end && !done; i++ {
			c := s.buf[i]
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
				if depth > MaxDepth+1 {
					s.pos = i
					return nil, s.errorf("%s nested deeper than %d", what, MaxDepth)
				}
			case '}', ']':
				depth--
				done = depth == 0
			}
		}
		if len(out)+(i-start) > max {
			s.pos = i
			return nil, s.errorf("%s longer than %d bytes", what, max)
		}
		out = append(out, s.buf[start:i]...)
		s.pos = i
		if done {
			return out, nil
		}
	}
}
