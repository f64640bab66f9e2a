package federation

import (
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

// DomainSperreV1: an admin blocked (or unblocked) a domain.
type DomainSperreV1 struct {
	Domain string `json:"domain"`
}

var (
	FolgerHinzugefuegt = eventstore.Define[FolgerV1]("FolgerHinzugefuegt", 1, eventstore.Private, "A Fediverse actor followed a local actor.")
	FolgerEntfernt     = eventstore.Define[FolgerV1]("FolgerEntfernt", 1, eventstore.Private, "A Fediverse actor stopped following a local actor.")
	NachbarAngefragt   = eventstore.Define[NachbarV1]("NachbarAngefragt", 1, eventstore.Private, "The Ortsweberei asked to follow a neighbouring Ortsweberei.")
	DomainGesperrt     = eventstore.Define[DomainSperreV1]("DomainGesperrt", 1, eventstore.Private, "An admin blocked a domain.")
	DomainEntsperrt    = eventstore.Define[DomainSperreV1]("DomainEntsperrt", 1, eventstore.Private, "An admin unblocked a domain.")
)
