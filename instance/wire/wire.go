// Package wire holds the JSON shapes of the map's objects that more than one interface sends:
// the HTTP API and the live map feed show a Knoten or a Faden the same way.
package wire

import (
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// Point is a WGS84 coordinate.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// PointOf returns the JSON form of p, nil for nil.
func PointOf(p *geo.Point) *Point {
	if p == nil {
		return nil
	}
	return &Point{Lat: p.Lat, Lon: p.Lon}
}

// Knoten is a Knoten as clients see it.
type Knoten struct {
	ID             uuid.UUID  `json:"id"`
	Type           string     `json:"type"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Lat            float64    `json:"lat"`
	Lon            float64    `json:"lon"`
	H3             string     `json:"h3"`
	CreatedBy      uuid.UUID  `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	Permanent      bool       `json:"permanent"`
	GarnCount      int        `json:"garn_count"`
	DissolvesAt    *time.Time `json:"dissolves_at"` // null while permanent
	// Hidden by the moderators (or held by the word filter): only its creator is shown it,
	// marked so; left out for everyone else (docs/MODERATION.md).
	Hidden bool `json:"hidden,omitempty"`
}

// KnotenOf returns the JSON form of a Knoten.
func KnotenOf(k knoten.Knoten) Knoten {
	return Knoten{
		ID: k.ID, Type: k.Type, Title: k.Title, Description: k.Description, Lat: k.Point.Lat, Lon: k.Point.Lon,
		H3: geo.CellHex(k.Cell), CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt, LastActivityAt: k.LastActivityAt,
		Permanent: k.Permanent(), GarnCount: k.GarnCount, DissolvesAt: k.DissolvesAt, Hidden: k.Hidden,
	}
}

// Faden is a Faden (or Garn) as clients see it. AccountPosition is set by the map feed only,
// which draws the thread from the spinner's public position to the Knoten.
type Faden struct {
	ID              uuid.UUID  `json:"id"`
	KnotenID        uuid.UUID  `json:"knoten_id"`
	AccountID       uuid.UUID  `json:"account_id"`
	AccountName     string     `json:"account_name,omitempty"`
	AccountPosition *Point     `json:"account_position,omitempty"`
	Type            string     `json:"type"`
	IsTwisted       bool       `json:"is_twisted"`
	CreatedAt       time.Time  `json:"created_at"`
	ExpiresAt       *time.Time `json:"expires_at"`       // null while twisted
	Hidden          bool       `json:"hidden,omitempty"` // hidden by the moderators: shown to its spinner only
}

// FadenOf returns the JSON form of a Faden.
func FadenOf(f knoten.Faden) Faden {
	return Faden{ID: f.ID, KnotenID: f.KnotenID, AccountID: f.AccountID, AccountName: f.AccountName,
		Type: f.Type, IsTwisted: f.Twisted, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, Hidden: f.Hidden}
}

// ServerRestart is the close code (with ServerRestartReason) of every WebSocket a replica ends
// because it shuts down (SIGTERM, docs/OPERATIONS.md "Deployment"): the app reconnects at once,
// with a little jitter, and resumes by its cursor, most likely on another replica. 4000–4999
// are the codes an application may define for itself (RFC 6455, 7.4.2).
const (
	ServerRestart       = 4012
	ServerRestartReason = "server restart"
)
