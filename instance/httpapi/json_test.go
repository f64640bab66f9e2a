package httpapi

import (
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// checkJSON names the top-level field a string that is not text lies in, wherever it is nested,
// and lets through what is text (and what is not JSON, for the decoder to word).
func TestCheckJSON(t *testing.T) {
	for _, tc := range []struct{ body, code, field string }{
		{`{"a":"ok","b":"\ud83e\uddf5","c":"\ufffd","d":[1,{"e":null}]}`, "", ""},
		{`{"a":`, "", ""},
		{``, "", ""},
		{`{"a":"x\u0000"}`, "invalid_text", "a"},
		{`{"a":{"b":[{"c":"\udfff"}]}}`, "invalid_text", "a"},
		{"{\"a\":[\"ok\",\"\xc3\"]}", "invalid_text", "a"},
		{"{\"\xff\":1}", "invalid_text", ""},
		{`{"a":{"\ud800":1}}`, "invalid_text", "a"},
		{`{"a":{"b":1,"b":2}}`, "duplicate_field", "a"},
		{`{"ſtatus":1,"STATUS":2}`, "duplicate_field", "STATUS"},
		{`{"bounds":{"Type":"x","type":"y"}}`, "duplicate_field", "bounds"},
		{`{"a":[{"t":1},{"T":2}],"b":{"t":1},"c":{"T":1}}`, "", ""},
		{`[]`, "invalid_field_type", ""},
	} {
		err := checkJSON([]byte(tc.body))
		f, _ := fault.As(err)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.code != "" && (f == nil || f.Code != tc.code || f.Field != tc.field):
			t.Errorf("%s: %v, want %s %q", tc.body, err, tc.code, tc.field)
		}
	}
}

func BenchmarkCheckJSON(b *testing.B) {
	for _, size := range []struct {
		name string
		body string
	}{
		{"knoten", `{"type":"idee","title":"Trinkbrunnen am Markt","description":"Ein Brunnen für alle, die vorbeikommen.","lat":51.336,"lon":12.334}`},
		{"64KiB", `{"details_md":"` + strings.Repeat("Wir wollen Bänke am Markt. ", 2400) + `","title":"Bänke"}`},
	} {
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(size.body)))
			for b.Loop() {
				if err := checkJSON([]byte(size.body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
