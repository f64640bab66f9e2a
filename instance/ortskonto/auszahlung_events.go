package ortskonto

import (
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Payout event payloads. Private like every Ortskonto event: the Antrag's own events federate,
// the money of this Ortskonto does not (GET /api/konto and the journal show it to everyone
// here). Their subject is the payout.

// AuszahlungBeantragtV1: an Antrag asked the Ortskonto for an amount (with the Antrag's filing).
type AuszahlungBeantragtV1 struct {
	AuszahlungID uuid.UUID `json:"auszahlung_id"`
	AntragID     uuid.UUID `json:"antrag_id"`
	BetragCents  int64     `json:"betrag_cents"`
}

// AuszahlungBewilligtV1: the Antrag was accepted and the amount reserved; gedeckt is whether
// available_cents (the available balance just before) covered it.
type AuszahlungBewilligtV1 struct {
	AuszahlungID   uuid.UUID `json:"auszahlung_id"`
	AntragID       uuid.UUID `json:"antrag_id"`
	BetragCents    int64     `json:"betrag_cents"`
	Gedeckt        bool      `json:"gedeckt"`
	AvailableCents int64     `json:"available_cents"`
}

// AuszahlungGeleistetV1: the treasurer paid it; seq is its booking in the journal.
type AuszahlungGeleistetV1 struct {
	AuszahlungID uuid.UUID `json:"auszahlung_id"`
	AntragID     uuid.UUID `json:"antrag_id"`
	BetragCents  int64     `json:"betrag_cents"`
	Seq          int64     `json:"seq"`
	Note         string    `json:"note"`
}

// AuszahlungAbgebrochenV1: the treasurer cancelled an approved payout; the reservation is released.
type AuszahlungAbgebrochenV1 struct {
	AuszahlungID uuid.UUID `json:"auszahlung_id"`
	AntragID     uuid.UUID `json:"antrag_id"`
	BetragCents  int64     `json:"betrag_cents"`
	Note         string    `json:"note"`
}

// AuszahlungEntfallenV1: the Antrag was rejected or withdrawn (grund: its status), so nothing
// is paid.
type AuszahlungEntfallenV1 struct {
	AuszahlungID uuid.UUID `json:"auszahlung_id"`
	AntragID     uuid.UUID `json:"antrag_id"`
	BetragCents  int64     `json:"betrag_cents"`
	Grund        string    `json:"grund"`
}

var (
	AuszahlungBeantragt   = eventstore.Define[AuszahlungBeantragtV1]("AuszahlungBeantragt", 1, eventstore.Private, "An Antrag asked the Ortskonto for a payout.")
	AuszahlungBewilligt   = eventstore.Define[AuszahlungBewilligtV1]("AuszahlungBewilligt", 1, eventstore.Private, "The Antrag was accepted; its payout is reserved, covered or not.")
	AuszahlungGeleistet   = eventstore.Define[AuszahlungGeleistetV1]("AuszahlungGeleistet", 1, eventstore.Private, "The treasurer paid an approved payout; it is booked.")
	AuszahlungAbgebrochen = eventstore.Define[AuszahlungAbgebrochenV1]("AuszahlungAbgebrochen", 1, eventstore.Private, "The treasurer cancelled an approved payout; the reservation is released.")
	AuszahlungEntfallen   = eventstore.Define[AuszahlungEntfallenV1]("AuszahlungEntfallen", 1, eventstore.Private, "The Antrag was rejected or withdrawn; its payout lapsed.")
)
