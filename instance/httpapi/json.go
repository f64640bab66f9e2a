package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/textcheck"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// decode reads a JSON request body into v strictly: the right media type, within the size
// limit, one JSON object, no fields v does not have, none twice, and every string text that can
// be stored as it was sent.
func decode(r *http.Request, v any) error { return decodeLimit(r, v, MaxBodyBytes) }

// decodeLimit is decode with a limit of its own, for the few bodies that carry a whole list
// (the word filter's).
func decodeLimit(r *http.Request, v any, limit int64) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &fault.Error{Kind: fault.Unsupported, Code: "unsupported_media_type", Message: "Send the body as application/json."}
	}
	// Refused before a byte is read: a client that sent "Expect: 100-continue" is told at once,
	// instead of being asked for the body and cut off in the middle of it.
	if r.ContentLength > limit {
		return bodyTooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			return bodyTooLarge(limit)
		}
		return decodeError(err)
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return fault.Malformedf("malformed_json", "The body must hold exactly one JSON object.")
	}
	return nil
}

var errBodyTooLarge = bodyTooLarge(MaxBodyBytes)

func bodyTooLarge(limit int64) *fault.Error {
	return &fault.Error{Kind: fault.TooLarge, Code: "body_too_large", Message: fmt.Sprintf("The body exceeds %d bytes.", limit)}
}

// checkJSON refuses what encoding/json would let through: a body that is not an object (null
// would decode into nothing and change nothing), a string that is not text (textcheck: invalid
// UTF-8 and unpaired surrogate escapes, which encoding/json turns into U+FFFD without a word,
// and U+0000, which PostgreSQL cannot store), and a member named twice in one object at any
// depth (which of the two counts differs between parsers; encoding/json also takes "NAME" for
// "name"). Syntax errors are left to the decoder after it, which words them.
func checkJSON(body []byte) error {
	d := jsontext.NewDecoder(bytes.NewBuffer(body), jsontext.AllowInvalidUTF8(true)) // a Buffer is parsed in place
	switch d.PeekKind() {
	case '{':
	case 0:
		return nil // empty or not JSON
	default:
		return fault.Malformedf("invalid_field_type", "The body must be a JSON object.")
	}
	var notText *textcheck.Error
	if errors.As(textcheck.JSON(body), &notText) {
		return invalidText(topField(notText.Pointer))
	}
	var names []map[string]bool // each open object's names so far, case folded
	for {
		kind, n := d.StackIndex(d.StackDepth())
		name := kind == '{' && n%2 == 0
		tok, err := d.ReadToken()
		if err != nil {
			return duplicate(err)
		}
		switch {
		case tok.Kind() == '{':
			names = append(names, map[string]bool{})
		case tok.Kind() == '}':
			names = names[:len(names)-1]
		case name && tok.Kind() == '"':
			folded := strings.ToLower(strings.ToUpper(tok.String()))
			if seen := names[len(names)-1]; seen[folded] {
				return duplicateField(topField(d.StackPointer()))
			} else {
				seen[folded] = true
			}
		}
	}
}

// duplicate words a member named twice; any other error (the end of the body included) is for
// the decoder to word.
func duplicate(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName) {
		return duplicateField(topField(se.JSONPointer))
	}
	return nil
}

func duplicateField(field string) error {
	e := fault.Malformedf("duplicate_field", "Field %q appears twice.", field)
	e.Field = field
	return e
}

// topField is the request field a JSON pointer lies in.
func topField(p jsontext.Pointer) string {
	for tok := range p.Tokens() {
		return tok
	}
	return ""
}

// invalidText is the error for a field whose value is not text we can keep as sent.
func invalidText(field string) error {
	msg := "The body holds a name that is not valid text."
	if field != "" {
		msg = fmt.Sprintf("Field %q is not valid text: it holds invalid UTF-8, an unpaired surrogate or U+0000.", field)
	}
	return &fault.Error{Kind: fault.Malformed, Code: "invalid_text", Message: msg, Field: field}
}

// checkURL applies the same rule to the path and the query: both reach handlers, and through
// them the database, as text.
func checkURL(u *url.URL) error {
	if !textcheck.String(u.Path) {
		return invalidText("path")
	}
	q, _ := url.ParseQuery(u.RawQuery) // what a handler's r.URL.Query() sees
	for k, vs := range q {
		if !textcheck.String(k) {
			return invalidText("query")
		}
		for _, v := range vs {
			if !textcheck.String(v) {
				return invalidText(k)
			}
		}
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge
	case errors.As(err, &syntax):
		return fault.Malformedf("malformed_json", "The body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fault.Malformedf("malformed_json", "The body is empty or cut short; send a JSON object.")
	case errors.As(err, &typeErr):
		e := fault.Malformedf("invalid_field_type", "Field %q must be a JSON %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
		e.Field = typeErr.Field
		return e
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := fault.Malformedf("unknown_field", "Unknown field %q.", name)
		e.Field = name
		return e
	}
	return fault.Malformedf("malformed_json", "The body cannot be read as JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "float64", "float32", "int", "int64", "int32":
		return "number"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "ptr":
		return "value of another type"
	}
	return "value of another type"
}

// missing is the error for an absent required field.
func missing(field string) error {
	return fault.Invalidf(field, "missing_field", "Field %q is required.", field)
}

// bodyRoute is a route that decodes, calls, encodes: the path's {id} (when notFound is not
// nil, the error for one that is no uuid), a JSON body of type In (a struct) whose pointer
// fields tagged `required:"true"` are 422 missing_field while nil, checked in their order,
// and one call, whose answer is body with status (no body when nil). The call's error, if
// any, is the answer instead.
func bodyRoute[In any](notFound error, call func(r *http.Request, me account.Account, id uuid.UUID, in In) (status int, body any, err error)) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, me account.Account) error {
		var id uuid.UUID
		if notFound != nil {
			var err error
			if id, err = pathID(r, notFound); err != nil {
				return err
			}
		}
		var in In
		if err := decode(r, &in); err != nil {
			return err
		}
		if err := requireFields(&in); err != nil {
			return err
		}
		status, body, err := call(r, me, id, in)
		if err != nil {
			return err
		}
		if body == nil {
			w.WriteHeader(status)
			return nil
		}
		respond.JSON(w, status, body)
		return nil
	}
}

// requireFields is missing_field for the first nil pointer field of *in tagged
// `required:"true"`, by its JSON name.
func requireFields(in any) error {
	v := reflect.ValueOf(in).Elem()
	for _, f := range reflect.VisibleFields(v.Type()) {
		if f.Tag.Get("required") == "true" && v.FieldByIndex(f.Index).IsNil() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			return missing(name)
		}
	}
	return nil
}

// jsonCents reads an amount of cents as the API takes it: a JSON integer of digits only — not
// 12.5, 1e3, -5, "100", true or null (ok false for those, and for more than 12 digits). The
// range is the domain's to check.
func jsonCents(raw json.RawMessage) (n int64, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || len(raw) > 12 {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}
