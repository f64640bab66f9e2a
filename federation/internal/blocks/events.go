package blocks

import "github.com/weltgewebe/weltgewebe/instance/eventstore"

// DomainSperreV1: an admin blocked (or unblocked) a domain.
type DomainSperreV1 struct {
	Domain string `json:"domain"`
}

var (
	DomainGesperrt  = eventstore.Define[DomainSperreV1]("DomainGesperrt", 1, eventstore.Private, "An admin blocked a domain.")
	DomainEntsperrt = eventstore.Define[DomainSperreV1]("DomainEntsperrt", 1, eventstore.Private, "An admin unblocked a domain.")
)
