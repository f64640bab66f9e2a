package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// decode reads a JSON request body into v strictly: the right media type, within the size
// limit, one JSON value, no fields v does not have.
func decode(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &fault.Error{Kind: fault.Unsupported, Code: "unsupported_media_type", Message: "Send the body as application/json."}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err)
		}
		return fault.Malformedf("malformed_json", "The body must hold exactly one JSON object.")
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
		return &fault.Error{Kind: fault.TooLarge, Code: "body_too_large", Message: fmt.Sprintf("The body exceeds %d bytes.", MaxBodyBytes)}
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

var statusOf = map[fault.Kind]int{
	fault.Invalid:         http.StatusUnprocessableEntity,
	fault.Malformed:       http.StatusBadRequest,
	fault.TooLarge:        http.StatusRequestEntityTooLarge,
	fault.Unauthenticated: http.StatusUnauthorized,
	fault.Forbidden:       http.StatusForbidden,
	fault.NotFound:        http.StatusNotFound,
	fault.Gone:            http.StatusGone,
	fault.Conflict:        http.StatusConflict,
	fault.Unsupported:     http.StatusUnsupportedMediaType,
}

// writeError answers with the client-facing part of err, or a bare 500 for anything else.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if f, ok := fault.As(err); ok {
		status := statusOf[f.Kind]
		if status == 0 {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, errorBody{errorDetail{Code: f.Code, Message: f.Message, Field: f.Field}})
		return
	}
	if unavailable(w, r, err) {
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{errorDetail{Code: "internal", Message: "Something went wrong on our side; it has been logged."}})
}
