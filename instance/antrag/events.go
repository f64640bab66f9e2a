package antrag

import (
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Event payloads. Everything about an Antrag is public: who filed it, who objected and why.

// AntragGestelltV1: a verified resident filed an Antrag.
type AntragGestelltV1 struct {
	AntragID         uuid.UUID  `json:"antrag_id"`
	ApplicantID      uuid.UUID  `json:"applicant_id"`
	Title            string     `json:"title"`
	DetailsMD        string     `json:"details_md"`
	AmountCents      *int64     `json:"amount_cents"`
	KnotenID         *uuid.UUID `json:"knoten_id"`
	DecisionDeadline time.Time  `json:"decision_deadline"`
}

// EinspruchErhobenV1: a verified resident objected.
type EinspruchErhobenV1 struct {
	AntragID  uuid.UUID `json:"antrag_id"`
	AccountID uuid.UUID `json:"account_id"`
	Reason    string    `json:"reason"`
}

// AntragFristVerlaengertV1: the first Einspruch moved the decision deadline by exactly 7 days.
type AntragFristVerlaengertV1 struct {
	AntragID         uuid.UUID `json:"antrag_id"`
	PreviousDeadline time.Time `json:"previous_deadline"`
	DecisionDeadline time.Time `json:"decision_deadline"`
}

// AntragZurAbstimmungV1: the deadline passed with Einsprüche; an Abstimmung opened.
type AntragZurAbstimmungV1 struct {
	AntragID     uuid.UUID `json:"antrag_id"`
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
}

// AntragAngenommenV1: the Antrag was accepted: its deadline passed without Einspruch
// (abstimmung_id null), or its Abstimmung passed.
type AntragAngenommenV1 struct {
	AntragID     uuid.UUID  `json:"antrag_id"`
	AbstimmungID *uuid.UUID `json:"abstimmung_id"`
}

// AntragAbgelehntV1: the Antrag's Abstimmung did not pass.
type AntragAbgelehntV1 struct {
	AntragID     uuid.UUID `json:"antrag_id"`
	AbstimmungID uuid.UUID `json:"abstimmung_id"`
}

// AntragZurueckgezogenV1: the applicant withdrew the Antrag before its deadline.
type AntragZurueckgezogenV1 struct {
	AntragID uuid.UUID `json:"antrag_id"`
}

// KommentarV1: a Fediverse reply to one of our Anträge arrived and is shown as a comment.
// Private: it records what arrived from elsewhere, which never goes back out.
type KommentarV1 struct {
	AntragID uuid.UUID `json:"antrag_id"`
	IRI      string    `json:"iri"`
	Author   string    `json:"author"`
}

// FremdstimmeV1: a Fediverse poll vote on one of our Anträge arrived, or its voter changed it.
// Private: who voted in a Fediverse poll is shown to no one (the polls are anonymous there).
type FremdstimmeV1 struct {
	AntragID uuid.UUID `json:"antrag_id"`
	Voter    string    `json:"voter"`
	Choice   string    `json:"choice"`
	Object   string    `json:"object"`
}

// Moderation (docs/MODERATION.md). Hiding an Antrag or an Einspruch is public like the
// Antrag's other events, so that the timeline, the snapshots and the neighbours drop its text;
// the words themselves are never in these events, except when shown again (they are public
// then). Held content (the word filter's hold) was never public: its filing is a private event,
// and its public AntragGestellt or EinspruchErhoben is written when a moderator releases it.

// AntragVerborgenV1: a moderator hid an Antrag: its title and text are no longer public.
type AntragVerborgenV1 struct {
	AntragID uuid.UUID `json:"antrag_id"`
}

// AntragWiederhergestelltV1: a moderator showed a hidden Antrag again. An open Antrag's clock
// stood still while it was hidden: its deadline moved by the time it was hidden.
type AntragWiederhergestelltV1 struct {
	AntragID         uuid.UUID `json:"antrag_id"`
	Title            string    `json:"title"`
	DetailsMD        string    `json:"details_md"`
	DecisionDeadline time.Time `json:"decision_deadline"`
}

// EinspruchVerborgenV1: a moderator hid an Einspruch's reason. The Einspruch still counts.
type EinspruchVerborgenV1 struct {
	AntragID  uuid.UUID `json:"antrag_id"`
	AccountID uuid.UUID `json:"account_id"`
}

// EinspruchWiederhergestelltV1: a moderator showed a hidden Einspruch again.
type EinspruchWiederhergestelltV1 struct {
	AntragID  uuid.UUID `json:"antrag_id"`
	AccountID uuid.UUID `json:"account_id"`
	Reason    string    `json:"reason"`
}

// KommentarModeriertV1: a moderator hid a Fediverse reply, or showed it again; or the word
// filter held it when it arrived (private, as KommentarEmpfangen).
type KommentarModeriertV1 struct {
	AntragID uuid.UUID `json:"antrag_id"`
	IRI      string    `json:"iri"`
}

var (
	AntragGestellt         = eventstore.Define[AntragGestelltV1]("AntragGestellt", 1, eventstore.Public, "A verified resident filed an Antrag.")
	EinspruchErhoben       = eventstore.Define[EinspruchErhobenV1]("EinspruchErhoben", 1, eventstore.Public, "A verified resident objected to an Antrag.")
	AntragFristVerlaengert = eventstore.Define[AntragFristVerlaengertV1]("AntragFristVerlaengert", 1, eventstore.Public, "The first Einspruch extended the decision deadline by 7 days.")
	AntragZurAbstimmung    = eventstore.Define[AntragZurAbstimmungV1]("AntragZurAbstimmung", 1, eventstore.Public, "The deadline passed with Einsprüche; the Antrag went to a vote.")
	AntragAngenommen       = eventstore.Define[AntragAngenommenV1]("AntragAngenommen", 1, eventstore.Public, "The Antrag was accepted.")
	AntragAbgelehnt        = eventstore.Define[AntragAbgelehntV1]("AntragAbgelehnt", 1, eventstore.Public, "The Antrag's Abstimmung did not pass.")
	AntragZurueckgezogen   = eventstore.Define[AntragZurueckgezogenV1]("AntragZurueckgezogen", 1, eventstore.Public, "The applicant withdrew the Antrag.")
	KommentarEmpfangen     = eventstore.Define[KommentarV1]("KommentarEmpfangen", 1, eventstore.Private, "A Fediverse reply to an Antrag arrived.")
	FremdstimmeEmpfangen   = eventstore.Define[FremdstimmeV1]("FremdstimmeEmpfangen", 1, eventstore.Private, "A Fediverse poll vote on an Antrag arrived or changed.")

	AntragZurueckgehalten      = eventstore.Define[AntragGestelltV1]("AntragZurueckgehalten", 1, eventstore.Private, "The word filter held a new Antrag for review; it is filed publicly when a moderator releases it.")
	AntragVerborgen            = eventstore.Define[AntragVerborgenV1]("AntragVerborgen", 1, eventstore.Public, "A moderator hid an Antrag.")
	AntragWiederhergestellt    = eventstore.Define[AntragWiederhergestelltV1]("AntragWiederhergestellt", 1, eventstore.Public, "A moderator showed a hidden Antrag again.")
	EinspruchZurueckgehalten   = eventstore.Define[EinspruchErhobenV1]("EinspruchZurueckgehalten", 1, eventstore.Private, "The word filter held a new Einspruch for review; it counts from when a moderator releases it.")
	EinspruchVerborgen         = eventstore.Define[EinspruchVerborgenV1]("EinspruchVerborgen", 1, eventstore.Public, "A moderator hid an Einspruch's reason.")
	EinspruchWiederhergestellt = eventstore.Define[EinspruchWiederhergestelltV1]("EinspruchWiederhergestellt", 1, eventstore.Public, "A moderator showed a hidden Einspruch again.")
	KommentarVerborgen         = eventstore.Define[KommentarModeriertV1]("KommentarVerborgen", 1, eventstore.Private, "A Fediverse reply to an Antrag was hidden (by a moderator or the word filter).")
	KommentarWiederhergestellt = eventstore.Define[KommentarModeriertV1]("KommentarWiederhergestellt", 1, eventstore.Private, "A moderator showed a hidden Fediverse reply again.")
)
