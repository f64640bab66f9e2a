package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// MaxBytes is the largest activity the inbox takes.
const MaxBytes = 256 << 10

// keyRetryAfter is what a 503 asks a sender to wait when its own server did not hand out its
// key: a restart or a passing overload over there, which a minute usually sees through.
const keyRetryAfter = time.Minute

// Handle takes an activity: the signature is verified (digest, date, key, and that the key's
// owner is the activity's actor, on the same host), a replay of an activity already taken is
// acknowledged and dropped, and what is left is queued durably and processed in the background.
// A refused request stores nothing. Handle answers what it accepts (202) itself and returns
// what it refuses, or why it could not decide, for the caller to answer (respond.Error): a
// *fault.Error, or an error of ours (503 when it means "not now", else 500).
func (s *Service) Handle(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if strings.TrimSpace(strings.Join(r.Header.Values("Signature"), "")) == "" {
		// Not authenticated, whatever the body: 401, as Mastodon and GoToSocial answer, and the
		// body is not read.
		return SignatureRefusal(httpsig.ErrNoSignature)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &fault.Error{Kind: fault.TooLarge, Code: "too_large", Message: fmt.Sprintf("Activities are limited to %d bytes.", MaxBytes)}
		}
		return fault.Malformedf("unreadable_body", "The body could not be read.")
	}
	// Only what deciding on it needs is decoded here; the worker decodes the rest. Text that
	// is not text is refused here, anywhere in the body, rather than fail its job at every
	// retry.
	act, err := vocab.DecodeHead(body)
	if errors.Is(err, vocab.ErrNotText) {
		return fault.Malformedf("invalid_text", "The activity holds a string that is not text: invalid UTF-8, an unpaired surrogate or U+0000.")
	}
	if err != nil || act.ID == "" || act.Actor.ID == "" {
		return fault.Malformedf("not_an_activity", "The body is not an activity with an id and an actor.")
	}
	// Each IRI's host is parsed once: the checks below compare them several times.
	keyID := keyIDOf(r)
	actorHost, keyHost := iri.HostOf(act.Actor.ID), iri.HostOf(keyID)
	for _, host := range []string{actorHost, keyHost} {
		blocked, err := s.blocks.Lookup(ctx, host)
		if err != nil {
			return err // not a refusal: the list cannot be read just now
		}
		if blocked {
			return fault.Forbiddenf("domain_blocked", "This domain is blocked here.")
		}
	}
	res, err := s.actors.Verify(r, body)
	if err != nil {
		reason := err
		err = Unverified(ctx, err)
		var f *fault.Error
		switch {
		case !errors.As(err, &f):
			// Our database cannot be reached, the request ran out of time, or we failed at
			// the lookup: no reason to refuse the sender, who tries again later.
		case f.Kind == fault.Unavailable:
			s.log.Info("federation: inbox put off: the key could not be fetched just now", "actor", act.Actor.ID, "reason", reason)
		default:
			// The sender does not retry a 401 (GoToSocial never does): the activity is
			// lost, and this line is what there is to find out why.
			s.log.Warn("federation: inbox refused", "activity", act.ID, "actor", act.Actor.ID, "key_id", keyID, "reason", reason)
		}
		return err
	}
	if res.KeyID != keyID { // keyIDOf reads the header loosely; Verify's keyId is the one
		keyHost = iri.HostOf(res.KeyID)
	}
	if res.Owner != act.Actor.ID || keyHost != actorHost {
		s.log.Warn("federation: inbox refused: the key is not the actor's", "activity", act.ID, "actor", act.Actor.ID, "key_id", res.KeyID, "owner", res.Owner)
		return unauthenticated("key_not_actors", "The signing key does not belong to the activity's actor.")
	}
	if iri.HostOf(act.ID) != actorHost {
		return unauthenticated("id_not_on_actor_host", "The activity's id is not on its actor's host.")
	}
	// Counted by the verified key's host, so that no one spends another server's allowance.
	if s.limit != nil {
		if err := s.limit(keyHost); err != nil {
			return err
		}
	}
	if act.Type.Has("Flag") {
		if err := checkFlag(body); err != nil {
			return err
		}
	}
	if !handled(act.Type) {
		// Likes, reactions, moves …: verified, acknowledged, and not kept, since
		// nothing here would act on them.
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if _, err := s.takeActivity(ctx, inboxKey(act, body), body, act.Actor.ID); err != nil {
		return err
	}
	// Taken now, or before (a sender that missed our answer and retries, GoToSocial's same
	// vote again, a replay within the signature's hour): 202 either way, as Mastodon and
	// GoToSocial answer a valid, signed delivery of what they have. What was taken before is
	// neither stored nor processed again; a 4xx would only show up as a failed delivery in
	// the sender's logs.
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func keyIDOf(r *http.Request) string {
	sig := r.Header.Get("Signature")
	i := strings.Index(sig, `keyId="`)
	if i < 0 {
		return ""
	}
	rest := sig[i+len(`keyId="`):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// takeActivity records the activity's key (inboxKey) and queues its processing, durably, before the inbox
// answers: a replay finds the id and queues nothing; a crash after the answer loses nothing.
func (s *Service) takeActivity(ctx context.Context, id string, body []byte, actor string) (bool, error) {
	return s.intake.take(ctx, id, body, actor)
}

// Unverified says what a failed signature check (err from actors.Verify) means for the
// request: an outage or failure of ours stays the error it is (503 when it means "not now",
// else 500); the sender's server not handing out the key just now (no answer, a timeout, a 5xx,
// 408 or 429) is 503 key_fetch_failed with Retry-After, since a 401 would make the sender drop
// the activity for good (Weltgewebe's delivery does); anything else is a refusal (401).
func Unverified(ctx context.Context, err error) error {
	switch {
	case fetch.OurOutage(ctx, err), errors.Is(err, httpsig.ErrKeyResolution) && fetch.OurFailure(err):
		return err
	case errors.Is(err, httpsig.ErrKeyResolution) && fetch.Temporary(err):
		return &fault.Error{Kind: fault.Unavailable, Code: "key_fetch_failed",
			Message: "The signing key could not be fetched from its server just now; try again later.", RetryAfter: keyRetryAfter}
	}
	return SignatureRefusal(err)
}

// SignatureRefusal is the refusal (401) of a signature httpsig.Verify refused, with a code and
// a fixed message: the rule the sender broke, so that its admin can tell a clock from a key,
// and nothing more. Each call returns a new error, which the caller may add to.
func SignatureRefusal(err error) *fault.Error {
	switch {
	case errors.Is(err, httpsig.ErrKeyResolution), errors.Is(err, httpsig.ErrUnsupportedKey):
		return unauthenticated("key_unavailable", "The signing key could not be obtained from its actor.")
	case errors.Is(err, httpsig.ErrBadDate), errors.Is(err, httpsig.ErrDateSkew):
		return unauthenticated("date_outside_window", "The signed Date is missing or too far from our time.")
	case errors.Is(err, httpsig.ErrMissingDigest), errors.Is(err, httpsig.ErrDigestAlgorithm), errors.Is(err, httpsig.ErrDigestMismatch):
		return unauthenticated("digest_mismatch", "The body needs a signed SHA-256 Digest that matches it.")
	case errors.Is(err, httpsig.ErrHostMismatch):
		return unauthenticated("wrong_host", "The request was not signed for this host.")
	case errors.Is(err, httpsig.ErrNoSignature):
		return unauthenticated("signature_missing", "This request needs an HTTP signature.")
	}
	return unauthenticated("signature_invalid", "The HTTP signature does not verify.")
}

func unauthenticated(code, message string) *fault.Error {
	return &fault.Error{Kind: fault.Unauthenticated, Code: code, Message: message}
}
