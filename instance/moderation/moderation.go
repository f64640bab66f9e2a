// Package moderation is the community's moderation (docs/MODERATION.md): reports
// (Meldungen) from residents, from Fediverse servers (an incoming Flag) and from the word
// filter; the moderators' queue; the actions they take (hide content, warn, suspend, ban,
// block an address range); the public moderation log; and appeals, which a second moderator
// decides.
//
// The package owns the reports, the log and the address blocks. It never touches the
// content it moderates: each package that owns reportable content (Knoten and Fäden,
// Anträge with their Einsprüche and Kommentare, the chat's Nachrichten, accounts) implements
// Content, and an action calls it inside the action's transaction, so that the owner's event
// and projection change, the log entry and the report's decision commit together or not at
// all. Account sanctions are the account package's (account.Sanction, event RolleGesperrt).
//
// This file is the contract the parts of issue 16 are built against: change it only with a
// line on the status board.
package moderation

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Kinds of targets. Local targets are named by their uuid; remote ones by their IRI.
const (
	KindKnoten    = "knoten"
	KindFaden     = "faden"
	KindAntrag    = "antrag"
	KindEinspruch = "einspruch" // ID: "<antrag uuid>/<account uuid>", as the snapshot names it
	KindKommentar = "kommentar" // ID: the reply's IRI (a Fediverse reply to an Antrag)
	KindNachricht = "nachricht" // a chat message
	KindAccount   = "account"   // a local account (its Garnrolle)
	KindRemote    = "remote"    // a remote actor or object, by IRI: reported, forwarded, never hidden here
)

// Target is what a report or an action is about.
type Target struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Summary is what a moderator sees of a target in the queue: enough to decide without
// opening it, nothing the public page would not show except the hidden state.
type Summary struct {
	Target
	AuthorID   *uuid.UUID `json:"author_id"`   // the local account that wrote it; nil for remote or none
	AuthorName string     `json:"author_name"` // the public name (or the remote handle)
	Text       string     `json:"text"`        // the public text, cut to 500 characters
	URL        string     `json:"url"`         // where the public sees it ("" when nowhere)
	Hidden     bool       `json:"hidden"`
}

// ErrUnknownTarget: no such content (or not of a kind this instance moderates).
var ErrUnknownTarget = fault.NotFoundf("meldung_target_unknown", "There is no such content or account on this instance.")

// Content is implemented by each package that owns reportable content, for the kinds it
// owns. Resolving a report's target ("target": an id or a URL) asks each Content in turn.
type Content interface {
	// Kinds are the target kinds the package owns.
	Kinds() []string
	// Resolve reads a client's target reference (a bare id, or one of this instance's public
	// URLs of the content) as a Target of one of Kinds, or ok=false when it is not this
	// package's.
	Resolve(ctx context.Context, q database.Querier, ref string) (t Target, ok bool, err error)
	// Describe returns the target's Summary, or ErrUnknownTarget.
	Describe(ctx context.Context, q database.Querier, t Target) (Summary, error)
	// HideTx hides (hide=true) or shows again the content in the owner's projection, inside
	// the action's transaction, and appends the owner's own event for it (e.g. KnotenVerborgen,
	// NachrichtEntfernt), so that its followers — the live map feed, the chat room, the
	// snapshots and the timeline's replay, federation — learn of it from the log. Hidden
	// content is left out of every public read from then on; its author still sees it, marked
	// hidden. Hiding hidden content (or showing shown content) changes nothing and appends
	// nothing. KindAccount is not hidden: accounts are sanctioned (account.Sanction).
	HideTx(ctx context.Context, tx *database.Tx, t Target, hide bool, by uuid.UUID, reason string, at time.Time) error
}

// Verdict is what the word filter says about a text.
type Verdict struct {
	Action string `json:"action"` // "" (let it through), ActionHold or ActionBlock
	Word   string `json:"word"`   // the list entry that matched ("" when none)
}

const (
	ActionHold  = "hold"  // stored hidden, and a report from the word filter queued for review
	ActionBlock = "block" // refused: 422 wortfilter_blocked, nothing stored
)

// TextFilter is the word filter (instance/wortfilter), as content packages use it on what
// residents write: titles, descriptions, texts, reasons, messages. Safe for concurrent use;
// a Check costs microseconds (docs/BENCHMARKS.md).
type TextFilter interface {
	Check(texts ...string) Verdict
}

// ErrBlocked is the error for a text the word filter blocks.
func ErrBlocked(field string) *fault.Error {
	return fault.Invalidf(field, "wortfilter_blocked", "This text contains a word this Ortsweberei does not allow.")
}

// Holder queues held content for review: the content package stores it hidden (its own
// projection and event) and calls HoldTx in the same transaction, which records a report from
// the word filter (source "wortfilter") with the matched word as its reason.
type Holder interface {
	HoldTx(ctx context.Context, tx *database.Tx, t Target, v Verdict, at time.Time) error
}

// Report sources.
const (
	SourceResident  = "resident"  // a verified resident (POST /api/meldungen)
	SourceFediverse = "fediverse" // an incoming ActivityPub Flag
	SourceFilter    = "wortfilter"
	SourceAppeal    = "appeal" // the affected account contests a log entry
)

// Report states.
const (
	StateOpen      = "open"
	StateResolved  = "resolved"
	StateDismissed = "dismissed"
)

// Actions, as the log names them.
const (
	DoHide          = "hide"
	DoUnhide        = "unhide"
	DoWarn          = "warn"
	DoSuspend       = "suspend"
	DoBan           = "ban"
	DoLift          = "lift" // a suspension or ban lifted
	DoBlockIP       = "block_ip"
	DoUnblockIP     = "unblock_ip"
	DoBlockHost     = "block_domain"
	DoUnblockHost   = "unblock_domain"
	DoForward       = "forward" // a report about a remote account sent to its server
	DoDismiss       = "dismiss" // a report dismissed (logged without the reporter)
	DoAppealDecided = "appeal_decided"
)

// IPBlocks answers whether a client address is blocked (the edge asks it for every write and
// registration). Safe for concurrent use; answers from memory, refreshed from the log so
// that a block made through one replica holds on all.
type IPBlocks interface {
	Blocked(addr string) bool
}

// Forwarder sends a report about a remote account or object to its server as an ActivityPub
// Flag from the instance actor (federation implements it; nil: forwarding is off). It is
// called after the forward action committed, from a job, and may retry.
type Forwarder interface {
	ForwardTx(ctx context.Context, tx *database.Tx, reportID uuid.UUID, targets []string, comment string) error
}
