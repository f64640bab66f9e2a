package nachbarn

import "github.com/weltgewebe/weltgewebe/instance/eventstore"

// FernstimmeV1: a neighbour resident's verified Stimme on their Ortsweberei's Antrag arrived
// and counts here. Private: it records what arrived from elsewhere, which never goes back out.
type FernstimmeV1 struct {
	Antrag string `json:"antrag"`
	Voter  string `json:"voter"`
	Choice string `json:"choice"`
	Object string `json:"object"`
}

var FernstimmeEmpfangen = eventstore.Define[FernstimmeV1]("FernstimmeEmpfangen", 1, eventstore.Private, "A verified Stimme on a neighbour's Antrag arrived.")
