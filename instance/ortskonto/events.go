package ortskonto

import (
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// Event payloads. All private: money and who gives it never federate. An anonymous donation's
// payloads carry no donor (account_id is null); the donor stays in the spenden table, which
// only the donor and the treasurer see through the API. A visible donation's events carry the
// Ortskonto position's H3 cell in their header, so that the map feed routes its Goldfaden like
// a Faden to its Knoten; an anonymous one's carry no cell.

// SpendeInitiiertV1: a resident announced a donation; it waits for the transfer.
type SpendeInitiiertV1 struct {
	SpendeID    uuid.UUID  `json:"spende_id"`
	AccountID   *uuid.UUID `json:"account_id"` // null when anonymous
	Reference   string     `json:"reference"`
	AmountCents int64      `json:"amount_cents"`
	Currency    string     `json:"currency"`
	Visible     bool       `json:"visible"`
	Message     string     `json:"message"`
}

// SpendeTransitionV2 is the payload of every later step of a donation: the step (from, to,
// the treasurer's note) and the donation's amount, so that the balance's change can be read
// from the event alone (the timeline replays it). A step by hand is sent with its event before
// the database has read the donation (docs/ORTSKONTO.md, "A step's mechanics"): its from and
// amount_cents are filled in by ortskonto_step in the same round trip
// (eventstore.Header.PayloadFromTx). The donor and whether it is visible stay the
// SpendeInitiiert's.
type SpendeTransitionV2 struct {
	SpendeID    uuid.UUID `json:"spende_id"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	AmountCents int64     `json:"amount_cents"`
	Note        string    `json:"note"`
}

// SpendeTransitionV1 is the payload of a step written before v2: the step only, without the
// state before and the amount. Still read (the log holds them until the retention).
type SpendeTransitionV1 struct {
	SpendeID uuid.UUID `json:"spende_id"`
	To       string    `json:"to"`
	Note     string    `json:"note"`
}

// OrtskontoEingerichtetV1: an admin set the bank account and the Ortskonto's place.
type OrtskontoEingerichtetV1 struct {
	Empfaenger string    `json:"empfaenger"`
	IBAN       string    `json:"iban"`
	BIC        string    `json:"bic"`
	Position   geo.Point `json:"position"`
}

var (
	SpendeInitiiert      = eventstore.Define[SpendeInitiiertV1]("SpendeInitiiert", 1, eventstore.Private, "A resident announced a donation to the Ortskonto.")
	SpendeEingegangen    = eventstore.Define[SpendeTransitionV2]("SpendeEingegangen", 2, eventstore.Private, "A donation's transfer was seen, not yet booked (pending).")
	SpendeGebucht        = eventstore.Define[SpendeTransitionV2]("SpendeGebucht", 2, eventstore.Private, "A donation was booked on the Ortskonto (settled).")
	SpendeFehlgeschlagen = eventstore.Define[SpendeTransitionV2]("SpendeFehlgeschlagen", 2, eventstore.Private, "A donation did not arrive (failed).")
	SpendeStorniert      = eventstore.Define[SpendeTransitionV2]("SpendeStorniert", 2, eventstore.Private, "A booked donation was returned or charged back (reversed).")

	// The steps' first version, no longer written.
	_ = eventstore.Define[SpendeTransitionV1]("SpendeEingegangen", 1, eventstore.Private, "A donation's transfer was seen, not yet booked (pending); without the state before and the amount.")
	_ = eventstore.Define[SpendeTransitionV1]("SpendeGebucht", 1, eventstore.Private, "A donation was booked on the Ortskonto (settled); without the state before and the amount.")
	_ = eventstore.Define[SpendeTransitionV1]("SpendeFehlgeschlagen", 1, eventstore.Private, "A donation did not arrive (failed); without the state before and the amount.")
	_ = eventstore.Define[SpendeTransitionV1]("SpendeStorniert", 1, eventstore.Private, "A booked donation was returned or charged back (reversed); without the state before and the amount.")

	OrtskontoEingerichtet = eventstore.Define[OrtskontoEingerichtetV1]("OrtskontoEingerichtet", 1, eventstore.Private, "An admin set the Ortskonto's bank account and place.")
)

// eventFor is the kind that records a step into status to.
func eventFor(to string) eventstore.Kind[SpendeTransitionV2] {
	switch to {
	case StatusPending:
		return SpendeEingegangen
	case StatusSettled:
		return SpendeGebucht
	case StatusFailed:
		return SpendeFehlgeschlagen
	}
	return SpendeStorniert
}
