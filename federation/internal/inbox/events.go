package inbox

import (
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Events of what arrived from elsewhere and was kept. They are private: not something this
// Ortsweberei publishes (so they never go back out).

// KommentarV1: a Fediverse reply to one of our Anträge arrived and is shown as a comment.
type KommentarV1 struct {
	AntragID uuid.UUID `json:"antrag_id"`
	IRI      string    `json:"iri"`
	Author   string    `json:"author"`
}

// FernstimmeV1: a neighbour resident's verified Stimme on their Ortsweberei's Antrag arrived.
type FernstimmeV1 struct {
	Antrag string `json:"antrag"`
	Voter  string `json:"voter"`
	Choice string `json:"choice"`
	Object string `json:"object"`
}

var (
	KommentarEmpfangen  = eventstore.Define[KommentarV1]("KommentarEmpfangen", 1, eventstore.Private, "A Fediverse reply to an Antrag arrived.")
	FernstimmeEmpfangen = eventstore.Define[FernstimmeV1]("FernstimmeEmpfangen", 1, eventstore.Private, "A verified Stimme on a neighbour's Antrag arrived.")
)
