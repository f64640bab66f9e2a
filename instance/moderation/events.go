package moderation

import (
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Events of the package. All private: the reporter's identity must never leave the
// instance, and the public log is the API's view of MassnahmeErgriffen (GET
// /api/moderation/log), not the federated outbox.

// InhaltGemeldetV1: a report was filed (by a resident, a Fediverse server, the word filter,
// or an appeal of the affected account). The reporter is the event's actor (a local one) or
// ReporterActor (a server); neither is ever shown publicly.
type InhaltGemeldetV1 struct {
	MeldungID     uuid.UUID `json:"meldung_id"`
	Target        Target    `json:"target"`
	Source        string    `json:"source"`
	Reason        string    `json:"reason"`
	ReporterActor string    `json:"reporter_actor,omitempty"`
}

// MeldungEntschiedenV1: a moderator closed a report (resolved: acted upon; dismissed).
type MeldungEntschiedenV1 struct {
	MeldungID uuid.UUID `json:"meldung_id"`
	State     string    `json:"state"`
	By        uuid.UUID `json:"by"`
	Reason    string    `json:"reason"`
}

// MeldungWeitergeleitetV1: a report about a remote target was sent to its server.
type MeldungWeitergeleitetV1 struct {
	MeldungID uuid.UUID `json:"meldung_id"`
	Targets   []string  `json:"targets"`
	Comment   string    `json:"comment"`
	By        uuid.UUID `json:"by"`
}

// MassnahmeErgriffenV1: an entry of the public moderation log (an action).
type MassnahmeErgriffenV1 struct {
	EintragID   uuid.UUID  `json:"eintrag_id"`
	Action      string     `json:"action"`
	Target      Target     `json:"target"`
	ModeratorID uuid.UUID  `json:"moderator_id"`
	Reason      string     `json:"reason"`
	Until       *time.Time `json:"until"`
	Undoes      *uuid.UUID `json:"undoes"` // the entry an upheld appeal undid
}

// WiderspruchEingelegtV1: the affected account appealed a log entry.
type WiderspruchEingelegtV1 struct {
	EintragID uuid.UUID `json:"eintrag_id"`
	MeldungID uuid.UUID `json:"meldung_id"` // the appeal in the queue
	Reason    string    `json:"reason"`
}

// WiderspruchEntschiedenV1: a second moderator decided an appeal.
type WiderspruchEntschiedenV1 struct {
	EintragID uuid.UUID `json:"eintrag_id"`
	MeldungID uuid.UUID `json:"meldung_id"`
	Decision  string    `json:"decision"` // upheld, rejected
	By        uuid.UUID `json:"by"`
	Reason    string    `json:"reason"`
}

// IPGesperrtV1 / IPEntsperrtV1: an address range was blocked, or the block lifted. Every
// replica follows them to refresh its list (IPBlocks).
type IPGesperrtV1 struct {
	SperreID uuid.UUID  `json:"sperre_id"`
	CIDR     string     `json:"cidr"`
	Until    *time.Time `json:"until"`
	By       uuid.UUID  `json:"by"`
	Reason   string     `json:"reason"`
}

type IPEntsperrtV1 struct {
	SperreID uuid.UUID `json:"sperre_id"`
	By       uuid.UUID `json:"by"`
	Reason   string    `json:"reason"`
}

var (
	InhaltGemeldet         = eventstore.Define[InhaltGemeldetV1]("InhaltGemeldet", 1, eventstore.Private, "Content or an account was reported (by a resident, a Fediverse server, the word filter or an appeal).")
	MeldungEntschieden     = eventstore.Define[MeldungEntschiedenV1]("MeldungEntschieden", 1, eventstore.Private, "A moderator closed a report: resolved or dismissed.")
	MeldungWeitergeleitet  = eventstore.Define[MeldungWeitergeleitetV1]("MeldungWeitergeleitet", 1, eventstore.Private, "A report about a remote target was forwarded to its server.")
	MassnahmeErgriffen     = eventstore.Define[MassnahmeErgriffenV1]("MassnahmeErgriffen", 1, eventstore.Private, "A moderation action: an entry of the public moderation log.")
	WiderspruchEingelegt   = eventstore.Define[WiderspruchEingelegtV1]("WiderspruchEingelegt", 1, eventstore.Private, "The affected account appealed a moderation action.")
	WiderspruchEntschieden = eventstore.Define[WiderspruchEntschiedenV1]("WiderspruchEntschieden", 1, eventstore.Private, "A second moderator decided an appeal (upheld or rejected).")
	IPGesperrt             = eventstore.Define[IPGesperrtV1]("IPGesperrt", 1, eventstore.Private, "An admin blocked an address range from writing and registering.")
	IPEntsperrt            = eventstore.Define[IPEntsperrtV1]("IPEntsperrt", 1, eventstore.Private, "An address block was lifted.")
)
