package abstimmung

import (
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Event payloads. Abstimmungen are public and by name: every Stimme is a public event.

// AbstimmungEroeffnetV1: an Abstimmung opened on a subject (an Antrag).
type AbstimmungEroeffnetV1 struct {
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
	SubjectID    uuid.UUID `json:"subject_id"`
	OpensAt      time.Time `json:"opens_at"`
	ClosesAt     time.Time `json:"closes_at"`
}

// StimmeAbgegebenV1: a resident cast their Stimme.
type StimmeAbgegebenV1 struct {
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
	AccountID    uuid.UUID `json:"account_id"`
	Choice       string    `json:"choice"`
}

// StimmeGeaendertV1: a resident changed their Stimme before the close.
type StimmeGeaendertV1 struct {
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
	AccountID    uuid.UUID `json:"account_id"`
	Choice       string    `json:"choice"`
	Previous     string    `json:"previous"`
}

// AbstimmungGeschlossenV1: the Abstimmung closed; the weighted count is final.
type AbstimmungGeschlossenV1 struct {
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
	SubjectID    uuid.UUID `json:"subject_id"`
	Result       string    `json:"result"` // angenommen or abgelehnt
	Yes          int       `json:"yes"`
	No           int       `json:"no"`
	Abstain      int       `json:"abstain"`
}

var (
	AbstimmungEroeffnet   = eventstore.Define[AbstimmungEroeffnetV1]("AbstimmungEroeffnet", 1, eventstore.Public, "An Abstimmung opened.")
	StimmeAbgegeben       = eventstore.Define[StimmeAbgegebenV1]("StimmeAbgegeben", 1, eventstore.Public, "A resident cast a Stimme.")
	StimmeGeaendert       = eventstore.Define[StimmeGeaendertV1]("StimmeGeaendert", 1, eventstore.Public, "A resident changed their Stimme.")
	AbstimmungGeschlossen = eventstore.Define[AbstimmungGeschlossenV1]("AbstimmungGeschlossen", 1, eventstore.Public, "An Abstimmung closed with its final count.")
)
