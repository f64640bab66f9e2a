package knoten

import (
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Event payloads (documented with examples in docs/EVENTS.md). All of them are public: the map
// is public, and these events are what the live feed, the timeline and federation replay.

// KnotenGeknuepftV1: a Knoten was placed. Its creator's first Faden follows as FadenGesponnen.
type KnotenGeknuepftV1 struct {
	KnotenID    uuid.UUID `json:"knoten_id"`
	Type        string    `json:"type"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	H3          string    `json:"h3"`
	CreatedBy   uuid.UUID `json:"created_by"`
}

// FadenGesponnenV1: an account spun a Faden to a Knoten.
type FadenGesponnenV1 struct {
	FadenID   uuid.UUID  `json:"faden_id"`
	KnotenID  uuid.UUID  `json:"knoten_id"`
	AccountID uuid.UUID  `json:"account_id"`
	Type      string     `json:"type"`
	IsTwisted bool       `json:"is_twisted"`
	ExpiresAt *time.Time `json:"expires_at"` // null when spun as Garn
}

// FadenVerzwirntV1: a Faden was twisted into Garn; its Knoten is now permanent.
type FadenVerzwirntV1 struct {
	FadenID  uuid.UUID `json:"faden_id"`
	KnotenID uuid.UUID `json:"knoten_id"`
}

// FadenEntzwirntV1: Garn was untwisted back into a Faden, which now expires at ExpiresAt.
type FadenEntzwirntV1 struct {
	FadenID   uuid.UUID `json:"faden_id"`
	KnotenID  uuid.UUID `json:"knoten_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// FadenAbgelaufenV1: a Faden reached its expiry. ExpiredAt is the rule's instant (spun + 7
// days); the event's own time is when the sweep recorded it.
type FadenAbgelaufenV1 struct {
	FadenID   uuid.UUID `json:"faden_id"`
	KnotenID  uuid.UUID `json:"knoten_id"`
	ExpiredAt time.Time `json:"expired_at"`
}

// KnotenAufgeloestV1: a Knoten without Garn lost its last active Faden and dissolved.
type KnotenAufgeloestV1 struct {
	KnotenID    uuid.UUID `json:"knoten_id"`
	DissolvedAt time.Time `json:"dissolved_at"`
}

// KnotenVerborgenV1: a moderator hid a Knoten, or the word filter held a new one for review
// (docs/MODERATION.md). It leaves every public read, the live map and the snapshots, and with
// it its active Fäden, named here so that the map and the snapshots drop them too. The reason
// is in the moderation log, not here. Actor: the moderator (none for the word filter).
type KnotenVerborgenV1 struct {
	KnotenID uuid.UUID   `json:"knoten_id"`
	FadenIDs []uuid.UUID `json:"faden_ids"`
}

// KnotenWiederhergestelltV1: a hidden Knoten is shown again. It carries the Knoten and the
// Fäden that come back with it as a snapshot holds them, so that the timeline's replay can put
// them back without the database (snapshot.Replayer).
type KnotenWiederhergestelltV1 struct {
	KnotenID uuid.UUID       `json:"knoten_id"`
	Knoten   SnapshotKnoten  `json:"knoten"`
	Faeden   []SnapshotFaden `json:"faeden"`
}

// FadenVerborgenV1: a moderator hid one Faden (its Knoten stays).
type FadenVerborgenV1 struct {
	FadenID  uuid.UUID `json:"faden_id"`
	KnotenID uuid.UUID `json:"knoten_id"`
}

// FadenWiederhergestelltV1: a hidden Faden is shown again. Faden is what a snapshot now holds
// of it: null when it is still not public (its Knoten is hidden, or it has expired).
type FadenWiederhergestelltV1 struct {
	FadenID  uuid.UUID      `json:"faden_id"`
	KnotenID uuid.UUID      `json:"knoten_id"`
	Faden    *SnapshotFaden `json:"faden"`
}

var (
	KnotenGeknuepft         = eventstore.Define[KnotenGeknuepftV1]("KnotenGeknuepft", 1, eventstore.Public, "A Knoten was placed on the map.")
	FadenGesponnen          = eventstore.Define[FadenGesponnenV1]("FadenGesponnen", 1, eventstore.Public, "A Faden was spun to a Knoten.")
	FadenVerzwirnt          = eventstore.Define[FadenVerzwirntV1]("FadenVerzwirnt", 1, eventstore.Public, "A Faden was twisted into Garn.")
	FadenEntzwirnt          = eventstore.Define[FadenEntzwirntV1]("FadenEntzwirnt", 1, eventstore.Public, "Garn was untwisted back into an expiring Faden.")
	FadenAbgelaufen         = eventstore.Define[FadenAbgelaufenV1]("FadenAbgelaufen", 1, eventstore.Public, "A Faden expired, 7 days after it was spun or untwisted.")
	KnotenAufgeloest        = eventstore.Define[KnotenAufgeloestV1]("KnotenAufgeloest", 1, eventstore.Public, "A Knoten without Garn and without active Fäden dissolved.")
	KnotenVerborgen         = eventstore.Define[KnotenVerborgenV1]("KnotenVerborgen", 1, eventstore.Public, "A Knoten was hidden by a moderator or held by the word filter.")
	KnotenWiederhergestellt = eventstore.Define[KnotenWiederhergestelltV1]("KnotenWiederhergestellt", 1, eventstore.Public, "A hidden Knoten was shown again.")
	FadenVerborgen          = eventstore.Define[FadenVerborgenV1]("FadenVerborgen", 1, eventstore.Public, "A Faden was hidden by a moderator.")
	FadenWiederhergestellt  = eventstore.Define[FadenWiederhergestelltV1]("FadenWiederhergestellt", 1, eventstore.Public, "A hidden Faden was shown again.")
)
