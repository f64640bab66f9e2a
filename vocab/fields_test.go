package vocab

import (
	"bytes"
	"encoding/json"
	"testing"
)

// objectFields reads members in one pass of its own; it must split every object as
// encoding/json would, and refuse what encoding/json refuses.
func TestObjectFieldsAsEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{}`,
		` {"id":"a"} `,
		"{\n\t\"id\" : \"a\" ,\"type\":[\"Create\", \"Note\"]\n}\n",
		`{"id":"first","id":"last"}`,
		`{"\u0069d":"escaped name","type":"Note"}`,
		`{"object":{"id":"x","tag":[{"a":1},{"b":[null,true,false,-1.5e3]}]},"n":null}`,
		`{"content":"\u003cp\u003e\"quoted\"\u003c/p\u003e"}`,
		string(benchCreate),
		// Refused:
		`{"id":"a"} x`,
		`{"id":"a"}{"id":"b"}`,
		`{"id":"a",}`,
		`{"id":}`,
		`{"id" "a"}`,
		`{"id":"a"`,
		`{id:"a"}`,
		`{"id":01}`,
		`{"id":"\x"}`,
	} {
		var want fields
		wantErr := json.Unmarshal([]byte(doc), &want)
		got, err := objectFields([]byte(doc))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json: %v", doc, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d members, encoding/json: %d", doc, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Errorf("%s: %q is %s, encoding/json: %s", doc, k, got[k], v)
			}
		}
	}
}

// decodeString takes plain strings as they stand; it must read every string as encoding/json
// does and refuse what encoding/json refuses.
func TestDecodeStringAsEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`""`, `"Create"`, `"https://a.example/users/x#main-key"`, `"dafür"`, `"\u00fcber"`,
		`"a\"b"`, `"a\\b"`, `"\ud83d\ude00"`, "\"\xff\"", "\"tab\there\"", ` "x" `,
		`"x`, `x"`, `"`, `1`, `null`, `["x"]`, `{"id":"x"}`,
	} {
		var want, got string
		wantErr := json.Unmarshal([]byte(raw), &want)
		err := decodeString([]byte(raw), &got)
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("%s: %q, %v; encoding/json: %q, %v", raw, got, err, want, wantErr)
		}
	}
}
