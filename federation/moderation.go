package federation

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/inbox"
	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Moderation is what federation asks of the instance's moderation (instance/moderation's
// Service): it files the reports of incoming Flags (FlagTx: one report per local target among
// objects, source "fediverse", reporter the actor, in the inbox's transaction; how many).
// federation hands it our own IRIs only, as references its Contents resolve: an account's
// actor IRI, an Antrag's id (for its Question or its actor), "<antrag>/<account>" for an
// Einspruch, a Knoten's or Faden's id.
type Moderation interface {
	FlagTx(ctx context.Context, tx *database.Tx, actor string, objects []string, comment string, at time.Time) (int, error)
}

// ModerationLog writes entries of the public moderation log in another package's
// transaction (instance/moderation's LogActionTx): federation's domain blocks.
type ModerationLog = blocks.Log

// SetModeration wires moderation in, once, at assembly: incoming Flags become reports (until
// then they are acknowledged and dropped), and domain blocks become entries of the public
// moderation log when m is also a ModerationLog.
func (s *Service) SetModeration(m Moderation) {
	s.inbox.SetReports(m)
	if l, ok := m.(ModerationLog); ok {
		s.blocks.SetLog(l)
	}
}

// ForwardTx sends a report about remote targets to their server as a Flag from the instance
// actor (moderation.Forwarder): queued in the forward action's transaction, delivered by a
// job. The targets are remote IRIs: an account, or objects of one account.
func (s *Service) ForwardTx(ctx context.Context, tx *database.Tx, reportID uuid.UUID, targets []string, comment string) error {
	return s.forward.ForwardTx(ctx, tx, reportID, targets, comment)
}

// Bounds of incoming Flags (docs/FEDERATION.md, "Reports").
const (
	MaxFlagObjects = inbox.MaxFlagObjects
	MaxFlagComment = inbox.MaxFlagComment
)
