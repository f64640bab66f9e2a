package delegation

import (
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Event payloads. Delegations are public by design: who delegates to whom is part of the
// public record of every vote.

// DelegationAngefragtV1: a resident asked to delegate; it takes effect at EffectiveAt (the next
// daily batch) unless the batch refuses it.
type DelegationAngefragtV1 struct {
	DelegationID uuid.UUID `json:"delegation_id"`
	FromID       uuid.UUID `json:"from_id"`
	ToID         uuid.UUID `json:"to_id"`
	EffectiveAt  time.Time `json:"effective_at"`
}

// DelegationWirksamV1: the batch made a delegation effective. Replaces is the delegator's
// previous delegation, which ended with it.
type DelegationWirksamV1 struct {
	DelegationID uuid.UUID  `json:"delegation_id"`
	FromID       uuid.UUID  `json:"from_id"`
	ToID         uuid.UUID  `json:"to_id"`
	Replaces     *uuid.UUID `json:"replaces"`
}

// DelegationAbgelehntV1: the batch refused a requested delegation. Reason: "cycle" (it would
// have closed a circle of delegations) or "not_eligible" (one side is no longer a verified
// resident).
type DelegationAbgelehntV1 struct {
	DelegationID uuid.UUID `json:"delegation_id"`
	FromID       uuid.UUID `json:"from_id"`
	ToID         uuid.UUID `json:"to_id"`
	Reason       string    `json:"reason"`
}

// DelegationWiderrufenV1: the delegator revoked an effective delegation; it ends at EndsAt
// (the next daily batch).
type DelegationWiderrufenV1 struct {
	DelegationID uuid.UUID `json:"delegation_id"`
	FromID       uuid.UUID `json:"from_id"`
	EndsAt       time.Time `json:"ends_at"`
}

// DelegationBeendetV1: a delegation ended. Reason: "revoked" (at the batch after a
// revocation), "replaced" (by a newer delegation), "withdrawn" (a request taken back before it
// took effect) or "superseded" (a request replaced by a newer request).
type DelegationBeendetV1 struct {
	DelegationID uuid.UUID `json:"delegation_id"`
	FromID       uuid.UUID `json:"from_id"`
	ToID         uuid.UUID `json:"to_id"`
	Reason       string    `json:"reason"`
}

// DelegationAbgelaufenV1: a delegation ended by itself, 28 days after the delegator's last write.
type DelegationAbgelaufenV1 struct {
	DelegationID uuid.UUID `json:"delegation_id"`
	FromID       uuid.UUID `json:"from_id"`
	ToID         uuid.UUID `json:"to_id"`
	LastWriteAt  time.Time `json:"last_write_at"`
}

var (
	DelegationAngefragt  = eventstore.Define[DelegationAngefragtV1]("DelegationAngefragt", 1, eventstore.Public, "A resident asked to delegate their vote.")
	DelegationWirksam    = eventstore.Define[DelegationWirksamV1]("DelegationWirksam", 1, eventstore.Public, "The daily batch made a delegation effective.")
	DelegationAbgelehnt  = eventstore.Define[DelegationAbgelehntV1]("DelegationAbgelehnt", 1, eventstore.Public, "The daily batch refused a requested delegation.")
	DelegationWiderrufen = eventstore.Define[DelegationWiderrufenV1]("DelegationWiderrufen", 1, eventstore.Public, "A delegator revoked a delegation; it ends at the next batch.")
	DelegationBeendet    = eventstore.Define[DelegationBeendetV1]("DelegationBeendet", 1, eventstore.Public, "A delegation or a request for one ended.")
	DelegationAbgelaufen = eventstore.Define[DelegationAbgelaufenV1]("DelegationAbgelaufen", 1, eventstore.Public, "A delegation expired after 28 days without a write by the delegator.")
)
