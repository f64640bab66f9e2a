package wire_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/wire"
)

// encodingJSON is what respond.JSON writes for v, without its newline.
func encodingJSON(t *rapid.T, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// text draws strings with what JSON must escape or replace: quotes, backslashes, control
// characters, invalid UTF-8, U+2028/U+2029, HTML characters (not escaped), umlauts, emoji.
func text() *rapid.Generator[string] {
	pieces := []string{"a", "Ä", "ß", "🧵", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"<", ">", "&", "\u2028", "\u2029", "\xff", "\xe2\x80", "\xed\xa0\x80", " ", "/"}
	return rapid.Custom(func(t *rapid.T) string {
		var b []byte
		for _, p := range rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 12).Draw(t, "pieces") {
			b = append(b, p...)
		}
		if rapid.Bool().Draw(t, "raw") {
			b = append(b, rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "bytes")...)
		}
		return string(b)
	})
}

func coordinate() *rapid.Generator[float64] {
	return rapid.OneOf(
		rapid.Float64Range(-180, 180),
		rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 1e-7, -3.5e-9, 1e-6, 51.3397, 12.3731, 179.99999999999997, 1e21, 1.5e300}),
	)
}

func instant() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		sec := rapid.Int64Range(0, 253402300799).Draw(t, "sec") // years 1970–9999
		nsec := rapid.OneOf(rapid.Int64Range(0, 999_999_999), rapid.SampledFrom([]int64{0, 100_000, 123_456_000, 500_000_000})).Draw(t, "nsec")
		return time.Unix(sec, nsec).UTC()
	})
}

func anyUUID() *rapid.Generator[uuid.UUID] {
	return rapid.Custom(func(t *rapid.T) uuid.UUID {
		return uuid.UUID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "bytes"))
	})
}

func TestAppendKnotenIsEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := knoten.Knoten{
			ID: anyUUID().Draw(t, "id"), Type: text().Draw(t, "type"),
			Title: text().Draw(t, "title"), Description: text().Draw(t, "description"),
			Point:     geo.Point{Lat: coordinate().Draw(t, "lat"), Lon: coordinate().Draw(t, "lon")},
			Cell:      rapid.Int64().Draw(t, "cell"),
			CreatedBy: anyUUID().Draw(t, "by"), CreatedAt: instant().Draw(t, "created"),
			LastActivityAt: instant().Draw(t, "active"), GarnCount: rapid.IntRange(0, 1000).Draw(t, "garn"),
			Hidden: rapid.Bool().Draw(t, "hidden"),
		}
		if rapid.Bool().Draw(t, "dissolves") {
			at := instant().Draw(t, "dissolves_at")
			k.DissolvesAt = &at
		}
		want := encodingJSON(t, wire.KnotenOf(k))
		if got := wire.AppendKnoten([]byte("x"), k); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("AppendKnoten\n got %q\nwant %q", got[1:], want)
		}
		p := knoten.Pin{ID: k.ID, Type: k.Type, Title: k.Title, Point: k.Point, GarnCount: k.GarnCount}
		want = encodingJSON(t, wire.PinOf(p))
		if got := wire.AppendPin(nil, p); !bytes.Equal(got, want) {
			t.Fatalf("AppendPin\n got %q\nwant %q", got, want)
		}
	})
}

// The lean form is the full form with fields left out: each of its fields has the full
// form's value.
func TestPinIsPartOfKnoten(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 123456000, time.UTC)
	k := knoten.Knoten{ID: uuid.New(), Type: "idee", Title: "Trinkbrunnen am Markt", Description: "lang",
		Point: geo.Point{Lat: 51.336, Lon: 12.334}, Cell: 644733000000000000, CreatedBy: uuid.New(),
		CreatedAt: at, LastActivityAt: at, GarnCount: 2}
	var full, pin map[string]any
	if err := json.Unmarshal(wire.AppendKnoten(nil, k), &full); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wire.AppendPin(nil, knoten.Pin{ID: k.ID, Type: k.Type, Title: k.Title, Point: k.Point, GarnCount: k.GarnCount}), &pin); err != nil {
		t.Fatal(err)
	}
	if len(pin) != 7 {
		t.Errorf("pin has %d fields: %v", len(pin), pin)
	}
	for name, v := range pin {
		if full[name] != v {
			t.Errorf("pin %s = %v, the Knoten's is %v", name, v, full[name])
		}
	}
}
