package inbox

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/outage"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
)

// Until the one error path (layout step D1), the facade writes its errors with these too.

// WriteError answers a federation request with an error in the shape of the API's
// ({"error": {"code", "message"}}). The message is fixed text for the code: what went wrong
// inside (a fetch's network error, where a redirect led) goes to the log, never to the
// requester, who could otherwise probe our network through us.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apErrorBody{apErrorDetail{Code: code, Message: message}})
}

// ServerError answers a request whose handling failed on our side. An error that means "not
// now" (the database cannot be reached, the request ran out of time) is answered as the API
// answers it, 503 with Retry-After (outage.Fault): a server delivering to us keeps the activity
// and tries again later, where a 500 would say we have a bug. Anything else is a 500, logged.
func ServerError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	if f, ok := outage.Fault(r.Context(), err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		WriteError(w, http.StatusServiceUnavailable, f.Code, f.Message)
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	log.Error("federation: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	WriteError(w, http.StatusInternalServerError, "internal", "Something went wrong on our side; it has been logged.")
}

type apErrorBody struct {
	Error apErrorDetail `json:"error"`
}

type apErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SignatureRefusal is the code and fixed message for a signature httpsig.Verify refused: the
// rule the sender broke, so that its admin can tell a clock from a key, and nothing more.
func SignatureRefusal(err error) (code, message string) {
	switch {
	case errors.Is(err, httpsig.ErrKeyResolution), errors.Is(err, httpsig.ErrUnsupportedKey):
		return "key_unavailable", "The signing key could not be obtained from its actor."
	case errors.Is(err, httpsig.ErrBadDate), errors.Is(err, httpsig.ErrDateSkew):
		return "date_outside_window", "The signed Date is missing or too far from our time."
	case errors.Is(err, httpsig.ErrMissingDigest), errors.Is(err, httpsig.ErrDigestAlgorithm), errors.Is(err, httpsig.ErrDigestMismatch):
		return "digest_mismatch", "The body needs a signed SHA-256 Digest that matches it."
	case errors.Is(err, httpsig.ErrHostMismatch):
		return "wrong_host", "The request was not signed for this host."
	case errors.Is(err, httpsig.ErrNoSignature):
		return "signature_missing", "This request needs an HTTP signature."
	}
	return "signature_invalid", "The HTTP signature does not verify."
}
