package textcheck_test

import (
	"errors"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/textcheck"
)

// JSON names where a string that is not text lies, member names and nested values included,
// and lets through what is text, duplicates and what is not JSON (for the decoder to word).
func TestJSON(t *testing.T) {
	for _, tc := range []struct {
		doc     string
		bad     bool
		pointer string
	}{
		{`{"a":"ok","b":"\ud83e\uddf5","c":"\ufffd","d":[1,{"e":null}]}`, false, ""},
		{`{"a":1,"a":2}`, false, ""},
		{`{"a":`, false, ""},
		{``, false, ""},
		{`"\u0000"`, true, ""},
		{`{"a":"x\u0000"}`, true, "/a"},
		{`{"a":{"b":[{"c":"\udfff"}]}}`, true, "/a/b/0/c"},
		{"{\"a\":[\"ok\",\"\xc3\"]}", true, "/a/1"},
		{"{\"\xff\":1}", true, ""},
		{`{"a":{"\ud800":1}}`, true, "/a"},
	} {
		err := textcheck.JSON([]byte(tc.doc))
		var e *textcheck.Error
		switch {
		case !tc.bad && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.bad && (!errors.As(err, &e) || string(e.Pointer) != tc.pointer):
			t.Errorf("%s: %v, want not text at %q", tc.doc, err, tc.pointer)
		}
	}
	for s, want := range map[string]bool{"Grüße": true, "": true, "a\x00b": false, "\xc3": false, "\ufffd": true} {
		if textcheck.String(s) != want {
			t.Errorf("String(%q) = %v", s, !want)
		}
	}
}
