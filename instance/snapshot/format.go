package snapshot

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"github.com/tidwall/gjson"
)

// The bounds of the format. A reader refuses a document beyond them and the writer refuses
// to write one, so that every file we write is one every reader accepts. They are there
// because `weltgewebe snapshot verify` reads files from anywhere: a hostile file must fail
// with a reason, not exhaust memory or the stack.
const (
	MaxObjectBytes  = 8 << 20  // one object, canonical (an Abstimmung carries its votes: ~300 bytes a voter)
	MaxDepth        = 32       // nesting of arrays and objects inside one object
	MaxMembers      = 256      // members of one JSON object inside an object (JCS sorts quadratically)
	MaxIDBytes      = 512      // an object's id
	MaxNameBytes    = 64       // a section's name
	MaxSections     = 256      // sections under "objects", and under "gone"
	MaxGoneBytes    = 64 << 20 // all ids under "gone" together: a reader holds them in memory
	MaxInstance     = 2048     // the instance's URL
	MaxRunning      = 1 << 16  // transactions in position.running
	MaxProofBytes   = 4096     // the proof object
	maxSafeInteger  = 1<<53 - 1
	asOfLayout      = "2006-01-02T15:04:05.000000Z"
	keyFragment     = "#snapshot-key"
	hashHexLen      = 64
	contextLiteral  = `"` + Context + `"`
	formatLiteral   = `"` + Format + `"`
	signatureLength = 64
)

// KeyID is the id of the snapshot key in the instance actor's assertionMethod, and the
// proof's verificationMethod: "<instance>#snapshot-key".
func KeyID(instance string) string { return instance + keyFragment }

// ErrFormat is wrapped by every refusal of a document's form (not canonical, not this
// format, beyond the bounds); the message says what and where.
var ErrFormat = errors.New("snapshot: not a canonical " + Format + " document")

// ErrVerify is wrapped by every failed check of a document's signature, proof or chain.
var ErrVerify = errors.New("snapshot: verification failed")

// EncodeSignature is the content of a `<hash>.sig` file: the standard, padded base64 of the
// 64-byte Ed25519 signature, without a line break.
func EncodeSignature(sig []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(sig))
}

// DecodeSignature reads a `<hash>.sig` file; surrounding whitespace (a trailing newline
// added by an editor or by `base64`) is tolerated.
func DecodeSignature(b []byte) ([]byte, error) {
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: signature file is not base64: %v", ErrVerify, err)
	}
	if len(sig) != signatureLength {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrVerify, len(sig), signatureLength)
	}
	return sig, nil
}

// validName: a section's name is lowercase ASCII letters, digits and "_", starting with a
// letter; in that alphabet byte order is JCS's order.
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameBytes || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty id")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("id of %d bytes (at most %d)", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return errors.New("id is not valid UTF-8")
	}
	return nil
}

func validHash(s string) bool {
	if len(s) != hashHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func checkInstance(s string) error {
	if s == "" || len(s) > MaxInstance || !utf8.ValidString(s) {
		return fmt.Errorf("instance %q: want an http(s) URL of at most %d bytes", s, MaxInstance)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("instance %q: want an absolute http(s) URL without query or fragment", s)
	}
	return nil
}

func formatAsOf(t time.Time) string { return t.UTC().Format(asOfLayout) }

// appendString appends s as JCS writes a string (RFC 8785 §3.2.2.2): only '"', '\\' and the
// control characters escaped, these as \b \f \n \r \t or \u00xx (lowercase), everything else
// as its UTF-8 bytes. s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// objectShape walks one JSON value and checks the bounds: nesting depth, members per
// object, and that it is an object at all. It tracks only strings and brackets, so it is
// safe on any input; the grammar is checked by json.Valid and by the canonical comparison.
// It reports where the value ends (the index after its closing brace), or -1 if b ends
// first.
func objectShape(b []byte) (end int, err error) {
	var members [MaxDepth + 1]int
	var object [MaxDepth + 1]bool
	depth := 0
	inString, escaped := false, false
	for i, c := range b {
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
			if depth == 0 && c != '{' {
				return 0, errors.New("not a JSON object")
			}
			if depth == MaxDepth {
				return 0, fmt.Errorf("nested deeper than %d", MaxDepth)
			}
			depth++
			members[depth], object[depth] = 0, c == '{'
		case '}', ']':
			if depth == 0 {
				return 0, errors.New("unbalanced brackets")
			}
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case ':':
			if depth > 0 && object[depth] {
				members[depth]++
				if members[depth] > MaxMembers {
					return 0, fmt.Errorf("a JSON object with more than %d members", MaxMembers)
				}
			}
		default:
			if depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				return 0, errors.New("not a JSON object")
			}
		}
	}
	return -1, nil
}

// canonicalObject returns the canonical form of one section object and its id, checking the
// bounds and that the object has a string "id". It is what the writer does to every object
// a section emits, and what the reader redoes to check that an object is canonical.
func canonicalObject(raw []byte) (canon []byte, id string, err error) {
	if len(raw) > MaxObjectBytes {
		return nil, "", fmt.Errorf("object of %d bytes (at most %d)", len(raw), MaxObjectBytes)
	}
	// Bounds first: the JCS library recurses and sorts quadratically.
	end, err := objectShape(raw)
	if err != nil {
		return nil, "", err
	}
	if end < 0 || len(bytes.TrimSpace(raw[end:])) != 0 {
		return nil, "", errors.New("not one JSON object")
	}
	if !utf8.Valid(raw) || !json.Valid(raw) {
		return nil, "", errors.New("not valid JSON in UTF-8")
	}
	canon, err = jcs.Transform(raw)
	if err != nil {
		return nil, "", fmt.Errorf("canonicalization: %v", err)
	}
	if len(canon) > MaxObjectBytes {
		return nil, "", fmt.Errorf("canonical object of %d bytes (at most %d)", len(canon), MaxObjectBytes)
	}
	v := gjson.GetBytes(canon, "id")
	if v.Type != gjson.String {
		return nil, "", errors.New(`object has no string member "id"`)
	}
	if err := checkID(v.Str); err != nil {
		return nil, "", err
	}
	return canon, v.Str, nil
}

// hexDigest decodes a hash.
func hexDigest(hash string) ([32]byte, error) {
	var d [32]byte
	if !validHash(hash) {
		return d, fmt.Errorf("%w: %q is not a lowercase hex SHA-256", ErrVerify, hash)
	}
	_, err := hex.Decode(d[:], []byte(hash))
	return d, err
}
