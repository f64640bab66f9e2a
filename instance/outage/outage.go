// Package outage tells the errors that mean "not now" from those that mean "something is
// wrong": the database cannot be reached, or the request ran past its deadline. Every HTTP
// handler of the instance, the API's and ActivityPub's, answers them alike: 503 with
// Retry-After. A person's client then tries again in a few seconds, and a server delivering to
// our inbox keeps the activity for a later attempt, where a 500 would say we have a bug and a
// 4xx (a key we could not look up, say) that the activity is refused for good.
package outage

import (
	"context"
	"errors"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// RetryAfter is what a 503 asks the client to wait: long enough for a database restart or
// failover to finish, short enough that a person retrying by hand is not held up.
const RetryAfter = 5 * time.Second

var errRequestTimeout = errors.New("outage: the request ran past its deadline")

// WithDeadline bounds a request's work by d. When the deadline ends it, Fault answers the
// request's error as "not now".
func WithDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errRequestTimeout)
}

// PastDeadline reports whether the request's context (ctx) was ended by its deadline
// (WithDeadline). Whatever failed then, a remote fetch included, failed for want of time on our
// side, and the request is answered as "not now".
func PastDeadline(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errRequestTimeout)
}

// Fault returns the client-facing error for err when err means the request cannot be served
// now: the request's context (ctx) ran past its deadline (WithDeadline), or the database
// cannot be reached (database.Unreachable). For any other error it returns false.
func Fault(ctx context.Context, err error) (*fault.Error, bool) {
	switch {
	case err == nil:
		return nil, false
	case PastDeadline(ctx):
		return &fault.Error{Kind: fault.Unavailable, Code: "request_timeout", RetryAfter: RetryAfter,
			Message: "The request took too long and was stopped; try again later."}, true
	case database.Unreachable(err):
		return &fault.Error{Kind: fault.Unavailable, Code: "database_unavailable", RetryAfter: RetryAfter,
			Message: "The database cannot be reached just now; try again in a few seconds."}, true
	}
	return nil, false
}
