package account

import (
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Event payloads. None of them ever carries an address, a home point, an email or a password:
// the log is shared with followers and federation, the private data stays in the accounts table.

// GarnrolleAngelegtV1: a resident registered.
type GarnrolleAngelegtV1 struct {
	AccountID uuid.UUID  `json:"account_id"`
	Handle    string     `json:"handle"`
	Name      string     `json:"name"`
	Position  *geo.Point `json:"position"` // public map position; null when not on the map
}

// GarnrolleVerifiziertV1: an admin verified a resident.
type GarnrolleVerifiziertV1 struct {
	AccountID  uuid.UUID `json:"account_id"`
	VerifiedBy uuid.UUID `json:"verified_by"`
}

// GarnrolleUmgezogenV1: the resident's home changed. What it changed to is private.
type GarnrolleUmgezogenV1 struct {
	AccountID uuid.UUID `json:"account_id"`
}

// GarnrollePositioniertV1: the public map position changed (a new draw, or shown/hidden).
type GarnrollePositioniertV1 struct {
	AccountID uuid.UUID  `json:"account_id"`
	Position  *geo.Point `json:"position"` // null: not on the map
}

// GarnrolleUmbenanntV1: the account's public name changed.
type GarnrolleUmbenanntV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	Name      string    `json:"name"`
}

// AdminAngelegtV2: an instance admin was created (from the command line), with the handle
// the account got: its Garnrolle (not on the map until it sets a home) is public from then on,
// and the timeline replays it from this event.
type AdminAngelegtV2 struct {
	AccountID uuid.UUID `json:"account_id"`
	Handle    string    `json:"handle"`
	Name      string    `json:"name"`
}

// AdminAngelegtV1: an admin's creation written before v2, without the handle.
type AdminAngelegtV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	Name      string    `json:"name"`
}

var (
	GarnrolleAngelegt     = eventstore.Define[GarnrolleAngelegtV1]("GarnrolleAngelegt", 1, eventstore.Public, "A resident registered (name and public map position).")
	GarnrolleVerifiziert  = eventstore.Define[GarnrolleVerifiziertV1]("GarnrolleVerifiziert", 1, eventstore.Public, "An admin verified a resident.")
	GarnrolleUmgezogen    = eventstore.Define[GarnrolleUmgezogenV1]("GarnrolleUmgezogen", 1, eventstore.Private, "A resident's home changed; the new address stays private.")
	GarnrollePositioniert = eventstore.Define[GarnrollePositioniertV1]("GarnrollePositioniert", 1, eventstore.Public, "A resident's public map position was drawn anew, hidden or shown.")
	GarnrolleUmbenannt    = eventstore.Define[GarnrolleUmbenanntV1]("GarnrolleUmbenannt", 1, eventstore.Public, "A resident changed their public name.")
	AdminAngelegt         = eventstore.Define[AdminAngelegtV2]("AdminAngelegt", 2, eventstore.Private, "An instance admin was created.")
	_                     = eventstore.Define[AdminAngelegtV1]("AdminAngelegt", 1, eventstore.Private, "An instance admin was created (without the handle; no longer written).")
)
