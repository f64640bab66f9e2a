package federation

import (
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Event payloads of federation. They are private: they record what arrived from elsewhere and
// who follows us, not something this Ortsweberei publishes (so they never go back out).

// FolgerV1: a Fediverse actor followed (or stopped following) a local actor.
type FolgerV1 struct {
	Local    string `json:"local"`
	Follower string `json:"follower"`
}

// NachbarV1: this Ortsweberei asked to follow a neighbouring one.
type NachbarV1 struct {
	Neighbour string `json:"neighbour"`
	FollowID  string `json:"follow_id"`
}

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
	FolgerHinzugefuegt  = eventstore.Define[FolgerV1]("FolgerHinzugefuegt", 1, eventstore.Private, "A Fediverse actor followed a local actor.")
	FolgerEntfernt      = eventstore.Define[FolgerV1]("FolgerEntfernt", 1, eventstore.Private, "A Fediverse actor stopped following a local actor.")
	NachbarAngefragt    = eventstore.Define[NachbarV1]("NachbarAngefragt", 1, eventstore.Private, "The Ortsweberei asked to follow a neighbouring Ortsweberei.")
	KommentarEmpfangen  = eventstore.Define[KommentarV1]("KommentarEmpfangen", 1, eventstore.Private, "A Fediverse reply to an Antrag arrived.")
	FernstimmeEmpfangen = eventstore.Define[FernstimmeV1]("FernstimmeEmpfangen", 1, eventstore.Private, "A verified Stimme on a neighbour's Antrag arrived.")
)
