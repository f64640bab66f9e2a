package timeline

import (
	"bytes"
	"encoding/json"
	"testing"
)

// compactJSONB makes PostgreSQL's jsonb text (and any valid JSON) what json.Compact makes it:
// whitespace outside strings dropped, strings (with escaped quotes and backslashes) untouched.
func TestCompactJSONBAsJSONCompact(t *testing.T) {
	for _, in := range []string{
		`{"id": "k1", "lat": 51.3, "title": "Bänke, Tische: \"alle\" \\ hier", "dissolved_at": null, "tags": [1, 2, {"a": [ ]}]}`,
		"{\n\t\"id\" : \"f1\" ,\r\n \"x\": \"a\\\"b\\\\\"\n}",
		`{"a": "\\", "b": "\"", "c": " : , "}`,
		`[]`,
		`{"a\\": "\\\"", "b": ["\\\\", "x \"y\" z"], "c": "ü – ☂"}`,
		` [ 1 , "" , { } ] `,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if got := compactJSONB([]byte(in)); string(got) != want.String() {
			t.Errorf("%s: got %s, want %s", in, got, want.String())
		}
	}
}
