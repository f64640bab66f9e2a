package vocab

// Decoding what other servers send. The Fediverse writes compacted JSON-LD by hand, and every
// implementation compacts differently: a property is a string here and a one-element array
// there, an object is referenced by IRI or embedded, "type" is a string or a list. The types
// below accept all of that and hand the rest of the code plain values. They do not process
// JSON-LD (no @context is needed or looked at): the key names are the ones every
// ActivityPub server agrees on, and running a JSON-LD expansion on every delivery would cost
// more than it tells us.
//
// Members are matched by their exact name. encoding/json would also fill a field from
// "Actor" or "ACTOR", which every JSON-LD processor ignores; a signed document could then
// say one thing to a signature check and another to us.
//
// Every document is held to the one rule for text first (ErrNotText): lenient about shapes,
// strict about what would be stored.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/weltgewebe/weltgewebe/instance/textcheck"
)

// errNotObject is returned when a document or an embedded object is not a JSON object.
var errNotObject = errors.New("not a JSON object")

// ErrNotText is wrapped in the error for a document that holds a string that is not text:
// invalid UTF-8, an unpaired surrogate escape (\ud800) or U+0000 (the rule of package
// textcheck, which the HTTP API applies too), in any member or member name, however deep.
// Such a document is refused whole. What would be kept of it is not what was sent (encoding/json
// reads the first two as U+FFFD), or cannot be kept at all: PostgreSQL refuses U+0000 in text,
// and a job storing a neighbour's Antrag, a comment or an actor's name would fail at every retry.
var ErrNotText = errors.New("a string that is not text")

// checkText applies the rule to a whole document, as every Decode function does first.
func checkText(b []byte) error {
	if err := textcheck.JSON(b); err != nil {
		return fmt.Errorf("%w (%w)", ErrNotText, err)
	}
	return nil
}

// fields is a JSON object with its members not yet decoded.
type fields map[string]json.RawMessage

// objectFields splits a JSON object into its members. Anything but an object is an error:
// encoding/json would turn null into an empty struct and call that a success.
//
// It reads b once, in place, and the members' values are slices of b, not copies: this runs
// for every activity the inbox takes (DecodeHead), where unmarshalling into a map (a syntax
// pass, a decoding pass and a copy of every value) was the costliest part of the decoding. As
// with encoding/json, a member named twice is taken from its last occurrence, and only
// whitespace may follow the object.
func objectFields(b []byte) (fields, error) {
	if !isObject(b) {
		return nil, errNotObject
	}
	d := decoders.Get().(*jsontext.Decoder)
	defer func() {
		d.Reset(emptyReader) // not to hold on to b
		decoders.Put(d)
	}()
	// A Buffer is parsed in place. Text is checked by checkText, on the whole document,
	// before anything is decoded.
	d.Reset(bytes.NewBuffer(b), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if _, err := d.ReadToken(); err != nil { // '{'
		return nil, err
	}
	f := make(fields, 12)
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String() // before the next read, which invalidates tok
		v, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(d.InputOffset())
		f[name] = json.RawMessage(b[end-len(v) : end : end])
	}
	if _, err := d.ReadToken(); err != nil { // '}'
		return nil, err
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return nil, errors.New("invalid data after the top-level object")
	}
	return f, nil
}

var (
	decoders    = sync.Pool{New: func() any { return jsontext.NewDecoder(emptyReader) }}
	emptyReader = bytes.NewReader(nil)
)

// decodeString decodes a JSON string. Most are plain (no escape, nothing to replace) and are
// taken as they stand, without encoding/json's second pass over them; the rest go to
// encoding/json, which also refuses anything that is not a string.
func decodeString(raw []byte, dst *string) error {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		plain := true
		for _, c := range raw[1 : n-1] {
			if c == '"' || c == '\\' || c < 0x20 {
				plain = false
				break
			}
		}
		if plain && utf8.Valid(raw) {
			*dst = string(raw[1 : n-1])
			return nil
		}
	}
	return json.Unmarshal(raw, dst)
}

// jsonKind is the first byte of a JSON value after whitespace, or 0 for none.
func jsonKind(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func isObject(b []byte) bool { return jsonKind(b) == '{' }

// get returns a member's value; absent and null members are both "not there".
func (f fields) get(key string) (json.RawMessage, bool) {
	raw, ok := f[key]
	if !ok || jsonKind(raw) == 'n' {
		return nil, false
	}
	return raw, true
}

// member names one member to decode and where to put it.
type member struct {
	key string
	dst any // a pointer that json.Unmarshal fills
}

// decode fills each member's destination from f and stops at the first error.
func (f fields) decode(members ...member) error {
	for _, m := range members {
		raw, ok := f.get(m.key)
		if !ok {
			continue
		}
		var err error
		switch dst := m.dst.(type) {
		case *string:
			err = decodeString(raw, dst)
		case json.Unmarshaler: // raw is valid JSON already (objectFields checked it)
			err = dst.UnmarshalJSON(raw)
		default:
			err = json.Unmarshal(raw, dst)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m.key, err)
		}
	}
	return nil
}

// text returns a natural-language property: the plain member, or else one entry of its
// language map (contentMap, nameMap), so that a server that sends only the map is read too.
// "und" (undetermined) wins, then the smallest language tag, so the choice is stable.
func (f fields) text(key string) (string, error) {
	var s string
	if err := f.decode(member{key, &s}); err != nil || s != "" {
		return s, err
	}
	raw, ok := f.get(key + "Map")
	if !ok {
		return "", nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("%sMap: %w", key, err)
	}
	if v, ok := m["und"]; ok {
		return v, nil
	}
	langs := make([]string, 0, len(m))
	for l := range m {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	if len(langs) == 0 {
		return "", nil
	}
	return m[langs[0]], nil
}

// elements returns the values of a property that may hold one value or an array of them.
func elements(raw json.RawMessage) ([]json.RawMessage, error) {
	switch jsonKind(raw) {
	case 0, 'n':
		return nil, nil
	case '[':
		var all []json.RawMessage
		if err := json.Unmarshal(raw, &all); err != nil {
			return nil, err
		}
		out := all[:0]
		for _, e := range all {
			if jsonKind(e) != 'n' {
				out = append(out, e)
			}
		}
		return out, nil
	default:
		return []json.RawMessage{raw}, nil
	}
}

// Ref is a reference to an object, as the Fediverse writes one: an IRI, or the object
// embedded with its "id", or either of these wrapped in a one-element array. An embedded
// object is kept as sent, so that a Create's Note can be read without fetching it; whether
// to trust an embedded copy is the caller's decision, not the decoder's.
type Ref struct {
	// ID is the IRI: the string, the embedded object's "id", or for a Link without an id,
	// its "href".
	ID string
	// Object is the embedded object as sent; nil when only the IRI was.
	Object json.RawMessage
}

// Embedded reports whether the sender embedded the object.
func (r Ref) Embedded() bool { return len(r.Object) > 0 }

// IsZero reports whether the property was absent (or null, or an empty array).
func (r Ref) IsZero() bool { return r.ID == "" && len(r.Object) == 0 }

// UnmarshalJSON implements json.Unmarshaler.
func (r *Ref) UnmarshalJSON(b []byte) error {
	ref, err := decodeRef(b, true)
	if err != nil {
		return err
	}
	*r = ref
	return nil
}

// MarshalJSON writes the embedded object if there is one, else the IRI, so that decoding
// the result gives the same Ref.
func (r Ref) MarshalJSON() ([]byte, error) {
	if len(r.Object) > 0 {
		return r.Object, nil
	}
	if r.ID == "" {
		return []byte("null"), nil
	}
	return json.Marshal(r.ID)
}

// decodeRef reads one reference. arrayOK says whether a one-element array may wrap it;
// inside Refs it may not (an array of arrays is no AS2 shape).
func decodeRef(b []byte, arrayOK bool) (Ref, error) {
	switch jsonKind(b) {
	case 'n':
		return Ref{}, nil
	case '"':
		var s string
		if err := decodeString(b, &s); err != nil {
			return Ref{}, err
		}
		return Ref{ID: s}, nil
	case '{':
		f, err := objectFields(b)
		if err != nil {
			return Ref{}, err
		}
		var id, href string
		if err := f.decode(member{"id", &id}, member{"href", &href}); err != nil {
			return Ref{}, err
		}
		if id == "" {
			id = href
		}
		raw := make(json.RawMessage, len(b))
		copy(raw, b)
		return Ref{ID: id, Object: raw}, nil
	case '[':
		if !arrayOK {
			return Ref{}, errors.New("an array inside an array where a reference was expected")
		}
		all, err := elements(b)
		if err != nil {
			return Ref{}, err
		}
		switch len(all) {
		case 0:
			return Ref{}, nil
		case 1:
			return decodeRef(all[0], false)
		}
		return Ref{}, fmt.Errorf("%d values where one reference was expected", len(all))
	}
	return Ref{}, errors.New("a reference must be an IRI or an object")
}

// Refs is a property that may name several objects (to, cc, attributedTo, url): one Ref or
// an array of them. Nulls in the array are dropped.
type Refs []Ref

// UnmarshalJSON implements json.Unmarshaler.
func (rs *Refs) UnmarshalJSON(b []byte) error {
	all, err := elements(b)
	if err != nil {
		return err
	}
	out := make(Refs, 0, len(all))
	for _, e := range all {
		r, err := decodeRef(e, false)
		if err != nil {
			return err
		}
		if !r.IsZero() {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	*rs = out
	return nil
}

// IDs returns the IRIs, leaving out embedded objects without one.
func (rs Refs) IDs() []string {
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.ID != "" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Contains reports whether iri is among the references.
func (rs Refs) Contains(iri string) bool {
	for _, r := range rs {
		if r.ID == iri {
			return true
		}
	}
	return false
}

// First returns the first reference, or the zero Ref.
func (rs Refs) First() Ref {
	if len(rs) == 0 {
		return Ref{}
	}
	return rs[0]
}

// HasPublic reports whether the public collection is addressed, in any of the three
// spellings in use: the IRI, the compact "as:Public" and the bare term "Public".
func (rs Refs) HasPublic() bool {
	for _, r := range rs {
		switch r.ID {
		case Public, "as:Public", "Public":
			return true
		}
	}
	return false
}

// Types is an object's "type": a string or an array of strings.
type Types []string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Types) UnmarshalJSON(b []byte) error {
	all, err := elements(b)
	if err != nil {
		return err
	}
	out := make(Types, 0, len(all))
	for _, e := range all {
		var s string
		if err := decodeString(e, &s); err != nil {
			return errors.New("a type must be a string")
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		out = nil
	}
	*t = out
	return nil
}

// Has reports whether one of the types is name. Both sides may be written as a bare term
// ("Note", "Antrag"), a compact IRI ("as:Note", "wg:Antrag") or a full IRI, because senders
// that run a JSON-LD compaction with a context other than ours leave full IRIs behind.
func (t Types) Has(name string) bool {
	want := typeIRI(name)
	for _, s := range t {
		if s == name || typeIRI(s) == want {
			return true
		}
	}
	return false
}

// typeTerms maps the type terms of the contexts we know to their IRIs.
var typeTerms = sync.OnceValue(func() map[string]string {
	m := map[string]string{
		// Mastodon defines these two in the inline context of every post.
		"Hashtag": asNS + "Hashtag",
		"Emoji":   tootNS + "Emoji",
		// Security terms we meet as types.
		"DataIntegrityProof": secNS + "DataIntegrityProof",
		"Multikey":           secNS + "Multikey",
		"CryptographicKey":   secNS + "Key",
	}
	for _, t := range as2Types {
		m[t] = asNS + t
	}
	// Our own types come from weltgewebe.jsonld, so that a type added there is known here.
	var doc struct {
		Context map[string]any `json:"@context"`
	}
	if json.Unmarshal(contextDocument, &doc) == nil {
		for term, def := range doc.Context {
			iri, ok := def.(string)
			if !ok || term == "" || term[0] < 'A' || term[0] > 'Z' {
				continue
			}
			m[term] = expandCompactIRI(iri)
		}
	}
	return m
})

// typeIRI returns the full IRI of a type written any of the ways Has accepts. Unknown bare
// names stay as they are, so they only match themselves.
func typeIRI(s string) string {
	if strings.Contains(s, "://") {
		// Some old software writes the ActivityStreams namespace with http.
		if rest, ok := strings.CutPrefix(s, "http://www.w3.org/ns/activitystreams#"); ok {
			return asNS + rest
		}
		return s
	}
	if strings.Contains(s, ":") {
		return expandCompactIRI(s)
	}
	if iri, ok := typeTerms()[s]; ok {
		return iri
	}
	return s
}

// expandCompactIRI expands the prefixes the contexts we know define.
func expandCompactIRI(s string) string {
	prefix, local, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	switch prefix {
	case "as":
		return asNS + local
	case "wg":
		return Namespace + local
	case "sec":
		return secNS + local
	case "toot":
		return tootNS + local
	}
	return s
}

// Closed is a Question's "closed". Mastodon sends the time the poll closed, other software
// true or false; AS2 also allows the object or link that closed it. Anything present that is
// not false, null or an empty string means closed.
type Closed struct {
	// At is when the question closed, if the sender said (nil otherwise).
	At *time.Time
	// closed is set for a closed question whose sender gave no time.
	closed bool
}

// Is reports whether the question is closed.
func (c Closed) Is() bool { return c.closed || c.At != nil }

// IsZero reports whether the question is not said to be closed.
func (c Closed) IsZero() bool { return !c.Is() }

// UnmarshalJSON implements json.Unmarshaler.
func (c *Closed) UnmarshalJSON(b []byte) error {
	*c = Closed{}
	switch jsonKind(b) {
	case 'n', 'f':
		var v *bool
		return json.Unmarshal(b, &v)
	case 't':
		c.closed = true
		var v bool
		return json.Unmarshal(b, &v)
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		c.closed = true
		if t, err := parseTime(s); err == nil {
			c.At = &t
		}
		return nil
	case '{', '[':
		if !json.Valid(b) {
			return errors.New("invalid JSON")
		}
		c.closed = true
		return nil
	}
	return errors.New("closed must be a time, a boolean or an object")
}

// MarshalJSON writes the time if known, else true or false.
func (c Closed) MarshalJSON() ([]byte, error) {
	switch {
	case c.At != nil:
		return json.Marshal(c.At.Format(time.RFC3339Nano))
	case c.closed:
		return []byte("true"), nil
	}
	return []byte("false"), nil
}

// timeLayouts are the xsd:dateTime spellings we accept: RFC 3339 (with or without fractional
// seconds, which time.Parse takes either way) and the same without a zone, read as UTC.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05"}

func parseTime(s string) (time.Time, error) {
	var err error
	for _, layout := range timeLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// timeField decodes an xsd:dateTime into a *time.Time field: nil when absent, null or "",
// an error when it is not a date and time.
type timeField struct{ p **time.Time }

func (t timeField) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("a time must be a string")
	}
	if s == "" {
		*t.p = nil
		return nil
	}
	v, err := parseTime(s)
	if err != nil {
		return fmt.Errorf("not a date and time: %q", s)
	}
	*t.p = &v
	return nil
}

// count decodes a non-negative count into an *int field. A JSON number with a zero fraction
// (3.0) counts too: JavaScript senders cannot tell the two apart.
type count struct{ p **int }

func (c count) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("a count must be a number")
	}
	if f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return fmt.Errorf("not a count: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	n := int(f)
	*c.p = &n
	return nil
}

// optionList decodes oneOf/anyOf.
type optionList []IncomingOption

func (l *optionList) UnmarshalJSON(b []byte) error {
	all, err := elements(b)
	if err != nil {
		return err
	}
	out := make(optionList, 0, len(all))
	for _, e := range all {
		var o IncomingOption
		if err := o.UnmarshalJSON(e); err != nil {
			return err
		}
		out = append(out, o)
	}
	*l = out
	return nil
}

// rawList decodes a property that holds one or many values we keep undecoded.
type rawList []json.RawMessage

func (l *rawList) UnmarshalJSON(b []byte) error {
	all, err := elements(b)
	if err != nil {
		return err
	}
	out := make(rawList, len(all))
	for i, e := range all {
		out[i] = append(json.RawMessage(nil), e...)
	}
	*l = out
	return nil
}

// Incoming is an activity as received: Create, Update, Delete, Announce, Follow, Accept,
// Reject, Undo, Like … Only the members every activity has are decoded; the object stays a
// Ref, to be decoded with DecodeObject or DecodeActor once the type says which.
type Incoming struct {
	ID        string     `json:"id,omitempty"`
	Type      Types      `json:"type,omitempty"`
	Actor     Ref        `json:"actor,omitzero"`
	Object    Ref        `json:"object,omitzero"`
	Target    Ref        `json:"target,omitzero"`
	To        Refs       `json:"to,omitempty"`
	Cc        Refs       `json:"cc,omitempty"`
	Published *time.Time `json:"published,omitempty"`
	// Raw is the activity exactly as received, for answering it (an Accept embeds the
	// Follow it accepts) and for checking signatures over it. It is not re-encoded.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON implements json.Unmarshaler, matching member names exactly.
func (a *Incoming) UnmarshalJSON(b []byte) error {
	f, err := objectFields(b)
	if err != nil {
		return err
	}
	var x Incoming
	if err := f.decode(
		member{"id", &x.ID},
		member{"type", &x.Type},
		member{"actor", &x.Actor},
		member{"object", &x.Object},
		member{"target", &x.Target},
		member{"to", &x.To},
		member{"cc", &x.Cc},
		member{"published", &timeField{&x.Published}},
	); err != nil {
		return err
	}
	x.Raw = append(json.RawMessage(nil), b...)
	*a = x
	return nil
}

// Head is what an inbox needs of an activity before it verifies the sender and stores it: its
// id, type and actor. The members are matched exactly, as DecodeActivity does.
type Head struct {
	ID    string
	Type  Types
	Actor Ref
}

// DecodeHead decodes an activity's id, type and actor only, leaving its object for later: the
// inbox's fast path (about a third of DecodeActivity's cost for a typical Create).
func DecodeHead(b []byte) (Head, error) {
	if err := checkText(b); err != nil {
		return Head{}, fmt.Errorf("vocab: decode activity: %w", err)
	}
	f, err := objectFields(b)
	if err != nil {
		return Head{}, fmt.Errorf("vocab: decode activity: %w", err)
	}
	var h Head
	if err := f.decode(member{"id", &h.ID}, member{"type", &h.Type}, member{"actor", &h.Actor}); err != nil {
		return Head{}, fmt.Errorf("vocab: decode activity: %w", err)
	}
	// The object is left undecoded, but an activity about several objects at once is refused
	// here as DecodeActivity refuses it: which one would it be about? A Flag is the exception:
	// a report names the account and the posts it is about together (DecodeFlag).
	if obj, ok := f.get("object"); ok && jsonKind(obj) == '[' && !h.Type.Has("Flag") {
		if all, err := elements(obj); err != nil || len(all) > 1 {
			return Head{}, errors.New("vocab: decode activity: an activity with several objects")
		}
	}
	return h, nil
}

// DecodeID decodes a document's "id" only (matched exactly, as everywhere here): what a
// fetched or embedded copy must be checked against before anything else in it is read.
func DecodeID(b []byte) (string, error) {
	if err := checkText(b); err != nil {
		return "", fmt.Errorf("vocab: decode id: %w", err)
	}
	f, err := objectFields(b)
	if err != nil {
		return "", fmt.Errorf("vocab: decode id: %w", err)
	}
	var id string
	if err := f.decode(member{"id", &id}); err != nil {
		return "", fmt.Errorf("vocab: decode id: %w", err)
	}
	return id, nil
}

// DecodeActivity decodes an activity. It fails only for input that is not a JSON object, that
// holds a string that is not text (ErrNotText), or whose members have impossible shapes (a
// number for an actor, two actors); missing members are left zero for the caller to judge.
func DecodeActivity(b []byte) (Incoming, error) {
	if err := checkText(b); err != nil {
		return Incoming{}, fmt.Errorf("vocab: decode activity: %w", err)
	}
	var a Incoming
	if err := a.UnmarshalJSON(b); err != nil {
		return Incoming{}, fmt.Errorf("vocab: decode activity: %w", err)
	}
	return a, nil
}

// IncomingOption is one answer of a Question: its name and, if the sender counts them, its
// votes (replies.totalItems).
type IncomingOption struct {
	Name       string
	TotalItems int
}

// UnmarshalJSON implements json.Unmarshaler. An option given only by IRI has no name.
func (o *IncomingOption) UnmarshalJSON(b []byte) error {
	*o = IncomingOption{}
	switch jsonKind(b) {
	case '"':
		var s string
		return json.Unmarshal(b, &s)
	case '{':
	default:
		return errors.New("an answer must be an object")
	}
	f, err := objectFields(b)
	if err != nil {
		return err
	}
	if o.Name, err = f.text("name"); err != nil {
		return err
	}
	raw, ok := f.get("replies")
	if !ok || !isObject(raw) {
		return nil // no count, or only a link to the replies
	}
	replies, err := objectFields(raw)
	if err != nil {
		return err
	}
	var n *int
	if err := replies.decode(member{"totalItems", &count{&n}}); err != nil {
		return fmt.Errorf("replies: %w", err)
	}
	if n != nil {
		o.TotalItems = *n
	}
	return nil
}

// MarshalJSON writes the option in the shape Mastodon sends.
func (o IncomingOption) MarshalJSON() ([]byte, error) {
	return json.Marshal(PollOption{
		Type:    "Note",
		Name:    o.Name,
		Replies: OptionReplies{Type: "Collection", TotalItems: o.TotalItems},
	})
}

// IncomingObject is an object as received: a Note, a Question, or one of ours (Antrag,
// Einspruch, Stimme, Delegation) from another Ortsweberei. It has the members of all of
// them; which are meaningful depends on Type. Times are nil when the sender left them out.
//
// attributedTo, inReplyTo and our references are single Refs: an object attributed to two
// actors (PeerTube's videos are, to a person and a channel) fails to decode, because we could
// not say on whose behalf it speaks.
type IncomingObject struct {
	ID           string     `json:"id,omitempty"`
	Type         Types      `json:"type,omitempty"`
	AttributedTo Ref        `json:"attributedTo,omitzero"`
	InReplyTo    Ref        `json:"inReplyTo,omitzero"`
	Name         string     `json:"name,omitempty"`
	Content      string     `json:"content,omitempty"`
	Published    *time.Time `json:"published,omitempty"`
	Updated      *time.Time `json:"updated,omitempty"`
	URL          Refs       `json:"url,omitempty"`
	To           Refs       `json:"to,omitempty"`
	Cc           Refs       `json:"cc,omitempty"`

	// Antrag.
	Title            string            `json:"title,omitempty"`
	Applicant        Ref               `json:"applicant,omitzero"`
	Ortsweberei      string            `json:"ortsweberei,omitempty"`
	Status           string            `json:"status,omitempty"`
	DecisionDeadline *time.Time        `json:"decisionDeadline,omitempty"`
	Extended         bool              `json:"extended,omitempty"`
	AmountCents      *int64            `json:"amountCents,omitempty"`
	Knoten           Ref               `json:"knoten,omitzero"`
	Abstimmung       Ref               `json:"abstimmung,omitzero"`
	OpensAt          *time.Time        `json:"opensAt,omitempty"`
	ClosesAt         *time.Time        `json:"closesAt,omitempty"`
	Outcome          string            `json:"outcome,omitempty"`
	YesWeight        *int              `json:"yesWeight,omitempty"`
	NoWeight         *int              `json:"noWeight,omitempty"`
	AbstainWeight    *int              `json:"abstainWeight,omitempty"`
	Delegations      []json.RawMessage `json:"delegations,omitempty"` // each as sent, to check its proof

	// Einspruch and Stimme.
	Antrag Ref    `json:"antrag,omitzero"`
	Reason string `json:"reason,omitempty"`
	Choice string `json:"choice,omitempty"`

	// Delegation.
	Delegator   Ref        `json:"delegator,omitzero"`
	Delegate    Ref        `json:"delegate,omitzero"`
	EffectiveAt *time.Time `json:"effectiveAt,omitempty"`
	EndedAt     *time.Time `json:"endedAt,omitempty"`

	// Proof is the integrity proof as sent: checking it needs the exact members.
	Proof json.RawMessage `json:"proof,omitempty"`

	// Question, as Mastodon sends it.
	OneOf       []IncomingOption `json:"oneOf,omitempty"`
	AnyOf       []IncomingOption `json:"anyOf,omitempty"`
	VotersCount *int             `json:"votersCount,omitempty"`
	EndTime     *time.Time       `json:"endTime,omitempty"`
	Closed      Closed           `json:"closed,omitzero"`
}

// UnmarshalJSON implements json.Unmarshaler, matching member names exactly.
func (o *IncomingObject) UnmarshalJSON(b []byte) error {
	f, err := objectFields(b)
	if err != nil {
		return err
	}
	var x IncomingObject
	var ortsweberei refID
	var oneOf, anyOf optionList
	var delegations rawList
	if err := f.decode(
		member{"id", &x.ID},
		member{"type", &x.Type},
		member{"attributedTo", &x.AttributedTo},
		member{"inReplyTo", &x.InReplyTo},
		member{"published", &timeField{&x.Published}},
		member{"updated", &timeField{&x.Updated}},
		member{"url", &x.URL},
		member{"to", &x.To},
		member{"cc", &x.Cc},

		member{"title", &x.Title},
		member{"applicant", &x.Applicant},
		member{"ortsweberei", &ortsweberei},
		member{"status", &x.Status},
		member{"decisionDeadline", &timeField{&x.DecisionDeadline}},
		member{"extended", &x.Extended},
		member{"amountCents", &x.AmountCents},
		member{"knoten", &x.Knoten},
		member{"abstimmung", &x.Abstimmung},
		member{"opensAt", &timeField{&x.OpensAt}},
		member{"closesAt", &timeField{&x.ClosesAt}},
		member{"outcome", &x.Outcome},
		member{"yesWeight", &count{&x.YesWeight}},
		member{"noWeight", &count{&x.NoWeight}},
		member{"abstainWeight", &count{&x.AbstainWeight}},
		member{"delegations", &delegations},

		member{"antrag", &x.Antrag},
		member{"reason", &x.Reason},
		member{"choice", &x.Choice},

		member{"delegator", &x.Delegator},
		member{"delegate", &x.Delegate},
		member{"effectiveAt", &timeField{&x.EffectiveAt}},
		member{"endedAt", &timeField{&x.EndedAt}},

		member{"oneOf", &oneOf},
		member{"anyOf", &anyOf},
		member{"votersCount", &count{&x.VotersCount}},
		member{"endTime", &timeField{&x.EndTime}},
		member{"closed", &x.Closed},
	); err != nil {
		return err
	}
	if x.Name, err = f.text("name"); err != nil {
		return err
	}
	if x.Content, err = f.text("content"); err != nil {
		return err
	}
	if raw, ok := f.get("proof"); ok {
		x.Proof = append(json.RawMessage(nil), raw...)
	}
	x.Ortsweberei = string(ortsweberei)
	x.OneOf, x.AnyOf, x.Delegations = oneOf, anyOf, delegations
	*o = x
	return nil
}

// DecodeObject decodes an object, on the same terms as DecodeActivity.
func DecodeObject(b []byte) (IncomingObject, error) {
	if err := checkText(b); err != nil {
		return IncomingObject{}, fmt.Errorf("vocab: decode object: %w", err)
	}
	var o IncomingObject
	if err := o.UnmarshalJSON(b); err != nil {
		return IncomingObject{}, fmt.Errorf("vocab: decode object: %w", err)
	}
	return o, nil
}

// refID decodes a reference into a string field that only needs the IRI.
type refID string

func (r *refID) UnmarshalJSON(b []byte) error {
	ref, err := decodeRef(b, true)
	if err != nil {
		return err
	}
	*r = refID(ref.ID)
	return nil
}

// IncomingActor is an actor as received: what we need to deliver to it (inboxes), to check
// its signatures (publicKey for HTTP signatures, assertionMethod for integrity proofs) and,
// for residents of another Ortsweberei, our own members.
type IncomingActor struct {
	ID                string `json:"id,omitempty"`
	Type              Types  `json:"type,omitempty"`
	PreferredUsername string `json:"preferredUsername,omitempty"`
	Name              string `json:"name,omitempty"`
	Inbox             string `json:"inbox,omitempty"`
	Outbox            string `json:"outbox,omitempty"`
	Followers         string `json:"followers,omitempty"`
	// Endpoints holds the shared inbox; it stays empty when the actor links its endpoints
	// instead of embedding them.
	Endpoints Endpoints `json:"endpoints,omitzero"`
	// PublicKeys are the actor's HTTP-signature keys. Most actors have one; some software
	// sends several, and a key given only by IRI has just its ID set.
	PublicKeys []PublicKey `json:"publicKey,omitempty"`
	// AssertionMethod are the keys for integrity proofs (FEP-521a). Entries are kept whatever
	// their type; only Type "Multikey" ones carry a usable PublicKeyMultibase.
	AssertionMethod []Multikey `json:"assertionMethod,omitempty"`
	Ortsweberei     string     `json:"ortsweberei,omitempty"`
	Verified        *bool      `json:"verified,omitempty"`
}

// SharedInbox returns the actor's shared inbox, or "".
func (a IncomingActor) SharedInbox() string { return a.Endpoints.SharedInbox }

// Key returns the actor's HTTP-signature key: the first one that has a PEM. Use KeyByID
// when the signature names its key.
func (a IncomingActor) Key() (PublicKey, bool) {
	for _, k := range a.PublicKeys {
		if k.PublicKeyPem != "" {
			return k, true
		}
	}
	return PublicKey{}, false
}

// KeyByID returns the key with that id, if the actor publishes it with a PEM.
func (a IncomingActor) KeyByID(id string) (PublicKey, bool) {
	for _, k := range a.PublicKeys {
		if k.ID == id && k.PublicKeyPem != "" {
			return k, true
		}
	}
	return PublicKey{}, false
}

// UnmarshalJSON implements json.Unmarshaler, matching member names exactly.
func (a *IncomingActor) UnmarshalJSON(b []byte) error {
	f, err := objectFields(b)
	if err != nil {
		return err
	}
	var x IncomingActor
	var inbox, outbox, followers, ortsweberei refID
	var endpoints, publicKeys, assertionMethod rawList
	if err := f.decode(
		member{"id", &x.ID},
		member{"type", &x.Type},
		member{"preferredUsername", &x.PreferredUsername},
		member{"inbox", &inbox},
		member{"outbox", &outbox},
		member{"followers", &followers},
		member{"endpoints", &endpoints},
		member{"publicKey", &publicKeys},
		member{"assertionMethod", &assertionMethod},
		member{"ortsweberei", &ortsweberei},
		member{"verified", &x.Verified},
	); err != nil {
		return err
	}
	if x.Name, err = f.text("name"); err != nil {
		return err
	}
	x.Inbox, x.Outbox, x.Followers, x.Ortsweberei = string(inbox), string(outbox), string(followers), string(ortsweberei)
	for _, e := range endpoints {
		if !isObject(e) {
			continue // a link to the endpoints, which we do not follow
		}
		ef, err := objectFields(e)
		if err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
		var shared refID
		if err := ef.decode(member{"sharedInbox", &shared}); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
		if x.Endpoints.SharedInbox == "" {
			x.Endpoints.SharedInbox = string(shared)
		}
	}
	for _, e := range publicKeys {
		k, err := decodePublicKey(e)
		if err != nil {
			return fmt.Errorf("publicKey: %w", err)
		}
		x.PublicKeys = append(x.PublicKeys, k)
	}
	for _, e := range assertionMethod {
		k, err := decodeMultikey(e)
		if err != nil {
			return fmt.Errorf("assertionMethod: %w", err)
		}
		x.AssertionMethod = append(x.AssertionMethod, k)
	}
	*a = x
	return nil
}

func decodePublicKey(b json.RawMessage) (PublicKey, error) {
	var k PublicKey
	if jsonKind(b) == '"' {
		return k, json.Unmarshal(b, &k.ID)
	}
	f, err := objectFields(b)
	if err != nil {
		return k, err
	}
	var owner refID
	err = f.decode(member{"id", &k.ID}, member{"owner", &owner}, member{"publicKeyPem", &k.PublicKeyPem})
	k.Owner = string(owner)
	return k, err
}

func decodeMultikey(b json.RawMessage) (Multikey, error) {
	var k Multikey
	if jsonKind(b) == '"' {
		return k, json.Unmarshal(b, &k.ID)
	}
	f, err := objectFields(b)
	if err != nil {
		return k, err
	}
	var types Types
	var controller refID
	if err := f.decode(
		member{"id", &k.ID},
		member{"type", &types},
		member{"controller", &controller},
		member{"publicKeyMultibase", &k.PublicKeyMultibase},
	); err != nil {
		return k, err
	}
	k.Controller = string(controller)
	switch {
	case types.Has("Multikey"):
		k.Type = "Multikey"
	case len(types) > 0:
		k.Type = types[0]
	}
	return k, nil
}

// DecodeActor decodes an actor, on the same terms as DecodeActivity.
func DecodeActor(b []byte) (IncomingActor, error) {
	if err := checkText(b); err != nil {
		return IncomingActor{}, fmt.Errorf("vocab: decode actor: %w", err)
	}
	var a IncomingActor
	if err := a.UnmarshalJSON(b); err != nil {
		return IncomingActor{}, fmt.Errorf("vocab: decode actor: %w", err)
	}
	return a, nil
}
