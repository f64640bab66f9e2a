package wire

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// The appenders below write the same bytes as encoding/json (with SetEscapeHTML(false), as
// respond.JSON encodes) would for the same value, without its reflection: a listing of a
// thousand Knoten is the API's largest common answer, and encoding/json spent more time on it
// than the database spent finding them (docs/BENCHMARKS.md, "Knoten in a box"). The tests
// compare them with encoding/json over random values.

// AppendKnoten appends the JSON of k's client form (Knoten, KnotenOf) to b.
func AppendKnoten(b []byte, k knoten.Knoten) []byte {
	b = append(b, `{"id":`...)
	b = appendUUID(b, k.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, k.Type)
	b = append(b, `,"title":`...)
	b = appendString(b, k.Title)
	b = append(b, `,"description":`...)
	b = appendString(b, k.Description)
	b = append(b, `,"lat":`...)
	b = appendFloat(b, k.Point.Lat)
	b = append(b, `,"lon":`...)
	b = appendFloat(b, k.Point.Lon)
	b = append(b, `,"h3":"`...)
	b = strconv.AppendUint(b, uint64(k.Cell), 16) // as geo.CellHex
	b = append(b, `","created_by":`...)
	b = appendUUID(b, k.CreatedBy)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, k.CreatedAt)
	b = append(b, `,"last_activity_at":`...)
	b = appendTime(b, k.LastActivityAt)
	b = append(b, `,"permanent":`...)
	b = strconv.AppendBool(b, k.Permanent())
	b = append(b, `,"garn_count":`...)
	b = strconv.AppendInt(b, int64(k.GarnCount), 10)
	b = append(b, `,"dissolves_at":`...)
	if k.DissolvesAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, *k.DissolvesAt)
	}
	if k.Hidden {
		b = append(b, `,"hidden":true`...)
	}
	return append(b, '}')
}

// Pin is the lean form of a Knoten in a listing (GET /api/knoten?fields=pin): what the map
// needs to draw its pin — where, which picture, its label, whether Garn holds it. The rest is
// one GET /api/knoten/{id} away when the pin is opened. Each field means what the same field
// of Knoten means, so a client may treat a Pin as a Knoten with fields left out.
type Pin struct {
	ID        uuid.UUID `json:"id"`
	Type      string    `json:"type"`
	Title     string    `json:"title"`
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	Permanent bool      `json:"permanent"`
	GarnCount int       `json:"garn_count"`
}

// PinOf returns the lean form of a listed Knoten.
func PinOf(p knoten.Pin) Pin {
	return Pin{ID: p.ID, Type: p.Type, Title: p.Title, Lat: p.Point.Lat, Lon: p.Point.Lon, Permanent: p.Permanent(), GarnCount: p.GarnCount}
}

// AppendPin appends the JSON of p's lean form (Pin, PinOf) to b.
func AppendPin(b []byte, p knoten.Pin) []byte {
	b = append(b, `{"id":`...)
	b = appendUUID(b, p.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, p.Type)
	b = append(b, `,"title":`...)
	b = appendString(b, p.Title)
	b = append(b, `,"lat":`...)
	b = appendFloat(b, p.Point.Lat)
	b = append(b, `,"lon":`...)
	b = appendFloat(b, p.Point.Lon)
	b = append(b, `,"permanent":`...)
	b = strconv.AppendBool(b, p.Permanent())
	b = append(b, `,"garn_count":`...)
	b = strconv.AppendInt(b, int64(p.GarnCount), 10)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendUUID writes id as uuid.UUID's MarshalText does, quoted.
func appendUUID(b []byte, id uuid.UUID) []byte {
	b = append(b, '"')
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(b, '"')
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with as many fractional digits
// as needed). MarshalJSON refuses years outside 0–9999, which no Knoten has (the instance's
// clock made them).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFloat writes f as encoding/json writes a float64: the shortest representation, in
// exponent form only below 1e-6 or from 1e21. A coordinate is never NaN or infinite (the
// database holds only valid points), which encoding/json would refuse.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json cleans it up
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s as a JSON string, escaping as encoding/json does without HTML
// escaping: quote, backslash and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, U+2028 and U+2029 escaped (JSONP-safe). Most titles need none of it and are copied
// at once.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
