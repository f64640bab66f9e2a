package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
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
// A refused request stores nothing.
func (s *Service) Handle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if len(r.Header.Values("Signature")) == 0 {
		// Not authenticated, whatever the body: 401, as Mastodon and GoToSocial answer, and the
		// body is not read.
		code, message := SignatureRefusal(httpsig.ErrNoSignature)
		WriteError(w, http.StatusUnauthorized, code, message)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("Activities are limited to %d bytes.", MaxBytes))
			return
		}
		WriteError(w, http.StatusBadRequest, "unreadable_body", "The body could not be read.")
		return
	}
	// Only what deciding on it needs is decoded here; the worker decodes the rest. Text that
	// is not text is refused here, anywhere in the body, rather than fail its job at every
	// retry.
	act, err := vocab.DecodeHead(body)
	if errors.Is(err, vocab.ErrNotText) {
		WriteError(w, http.StatusBadRequest, "invalid_text", "The activity holds a string that is not text: invalid UTF-8, an unpaired surrogate or U+0000.")
		return
	}
	if err != nil || act.ID == "" || act.Actor.ID == "" {
		WriteError(w, http.StatusBadRequest, "not_an_activity", "The body is not an activity with an id and an actor.")
		return
	}
	// Each IRI's host is parsed once: the checks below compare them several times.
	keyID := keyIDOf(r)
	actorHost, keyHost := iri.HostOf(act.Actor.ID), iri.HostOf(keyID)
	for _, host := range []string{actorHost, keyHost} {
		blocked, err := s.blocks.Lookup(ctx, host)
		if err != nil {
			ServerError(s.log, w, r, err) // not a refusal: the list cannot be read just now
			return
		}
		if blocked {
			WriteError(w, http.StatusForbidden, "domain_blocked", "This domain is blocked here.")
			return
		}
	}
	res, err := s.actors.Verify(r, body)
	if fetch.OurOutage(ctx, err) || (errors.Is(err, httpsig.ErrKeyResolution) && fetch.OurFailure(err)) {
		// The key could not be looked up because our database cannot be reached (or the
		// request ran out of time), or failed at it: no reason to refuse the sender, who
		// tries again later (503, or 500 for a failure that is logged as our bug).
		ServerError(s.log, w, r, err)
		return
	}
	if errors.Is(err, httpsig.ErrKeyResolution) && fetch.Temporary(err) {
		// The sender's server did not hand out the key just now (no answer, a timeout, a 5xx,
		// 408 or 429): not a refusal either. A 401 would make the sender drop the activity for
		// good (Weltgewebe does: delivery); a 503 makes it try again later.
		s.log.Info("federation: inbox put off: the key could not be fetched just now", "actor", act.Actor.ID, "reason", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(keyRetryAfter/time.Second)))
		WriteError(w, http.StatusServiceUnavailable, "key_fetch_failed", "The signing key could not be fetched from its server just now; try again later.")
		return
	}
	if err != nil {
		// The sender does not retry a 401 (GoToSocial never does): the activity is lost, and
		// this line is what there is to find out why.
		s.log.Warn("federation: inbox refused", "activity", act.ID, "actor", act.Actor.ID, "key_id", keyID, "reason", err)
		code, message := SignatureRefusal(err)
		WriteError(w, http.StatusUnauthorized, code, message)
		return
	}
	if res.KeyID != keyID { // keyIDOf reads the header loosely; Verify's keyId is the one
		keyHost = iri.HostOf(res.KeyID)
	}
	if res.Owner != act.Actor.ID || keyHost != actorHost {
		s.log.Warn("federation: inbox refused: the key is not the actor's", "activity", act.ID, "actor", act.Actor.ID, "key_id", res.KeyID, "owner", res.Owner)
		WriteError(w, http.StatusUnauthorized, "key_not_actors", "The signing key does not belong to the activity's actor.")
		return
	}
	if iri.HostOf(act.ID) != actorHost {
		WriteError(w, http.StatusUnauthorized, "id_not_on_actor_host", "The activity's id is not on its actor's host.")
		return
	}
	if !handled(act.Type) {
		// Likes, reactions, moves, reports …: verified, acknowledged, and not kept, since
		// nothing here would act on them.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	key, vote := inboxKey(act, body)
	taken, err := s.takeActivity(ctx, key, body, act.Actor.ID)
	if err != nil {
		ServerError(s.log, w, r, err)
		return
	}
	if !taken && vote {
		// The same vote again: GoToSocial's retry, or the same choice in a poll it rebuilt.
		// We have it; 202, as GoToSocial answers an activity it has.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if !taken {
		// A replay (or a retry of something we already took): refused, and nothing stored. A
		// sender that only missed our answer stops retrying on a 4xx, which is right: we have it.
		WriteError(w, http.StatusConflict, "already_received", "This activity was received before.")
		return
	}
	w.WriteHeader(http.StatusAccepted)
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
