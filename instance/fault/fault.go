// Package fault is the one error type that may reach a client.
//
// Domain packages decide what went wrong and say it with a Kind, a machine-readable code and a
// human message; the HTTP layer maps the Kind to a status and writes
// {"error":{"code":…,"message":…}}. Any other error is internal: logged, and answered with a
// generic 500 that reveals nothing.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error the way a client needs to react to it.
type Kind int

const (
	Invalid         Kind = iota + 1 // the request is well-formed but its content breaks a rule (422)
	Malformed                       // the request cannot be read (400)
	TooLarge                        // the body exceeds the limit (413)
	Unauthenticated                 // no valid session (401)
	Forbidden                       // a session, but not allowed to do this (403)
	NotFound                        // no such thing (404)
	Gone                            // it existed and has ended (410)
	Conflict                        // the state does not allow it now (409)
	Unsupported                     // wrong media type (415)
	RateLimited                     // too many requests from this client or for this account (429)
	Unavailable                     // the instance cannot take it now, whoever asks (503)
)

// Error is an error a client may see.
type Error struct {
	Kind    Kind
	Code    string // stable, machine-readable, snake_case
	Message string // for people; says what to do differently where possible
	Field   string // the request field at fault, if one is
	// RetryAfter, when set, is how long the client should wait before asking again (the
	// Retry-After header of a 429 or 503).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// As returns the client-facing error in err's chain, if there is one.
func As(err error) (*Error, bool) {
	var f *Error
	ok := errors.As(err, &f)
	return f, ok
}

// Is reports whether err carries the given code.
func Is(err error, code string) bool {
	f, ok := As(err)
	return ok && f.Code == code
}

func newf(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf reports content that breaks a rule, naming the field.
func Invalidf(field, code, format string, args ...any) *Error {
	e := newf(Invalid, code, format, args...)
	e.Field = field
	return e
}

// Malformedf reports a request that cannot be read.
func Malformedf(code, format string, args ...any) *Error {
	return newf(Malformed, code, format, args...)
}

// NotFoundf reports an unknown id.
func NotFoundf(code, format string, args ...any) *Error { return newf(NotFound, code, format, args...) }

// Gonef reports something that has ended (an expired Faden, a dissolved Knoten).
func Gonef(code, format string, args ...any) *Error { return newf(Gone, code, format, args...) }

// Forbiddenf reports an action the account may not take.
func Forbiddenf(code, format string, args ...any) *Error {
	return newf(Forbidden, code, format, args...)
}

// Conflictf reports an action the current state does not allow.
func Conflictf(code, format string, args ...any) *Error { return newf(Conflict, code, format, args...) }

// Unauthenticated is the error for a missing or expired session.
var ErrUnauthenticated = &Error{Kind: Unauthenticated, Code: "unauthenticated", Message: "Log in first: this needs a session."}
