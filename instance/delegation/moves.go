package delegation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// InEffectAt returns the delegation from one account to another that was in effect at the
// time at (the latest to take effect by then, not ended by then), or ErrNotFound. A closed
// Abstimmung's count names only delegator and carrier; this is the delegation behind such a
// link, which a neighbour is sent, signed, to recount the close on its own.
func (s *Service) InEffectAt(ctx context.Context, from, to uuid.UUID, at time.Time) (Delegation, error) {
	d, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+`
FROM delegationen d JOIN accounts fa ON fa.id = d.from_id JOIN accounts ta ON ta.id = d.to_id
WHERE d.from_id = $1 AND d.to_id = $2 AND d.effective_at <= $3 AND d.state <> 'pending'
  AND (d.ended_at IS NULL OR d.ended_at > $3)
ORDER BY d.effective_at DESC LIMIT 1`, from, to, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delegation{}, ErrNotFound
	}
	if err != nil {
		return Delegation{}, fmt.Errorf("delegation: in effect at %s: %w", at, err)
	}
	return d, nil
}

// Move is a change of the delegation graph in effect, as one event recorded it: From's weight
// went elsewhere, and before the event it went to Was (uuid.Nil: From delegated to nobody).
// A delegation that takes effect or ends while an Abstimmung is open moves weight and so the
// count shown (abstimmung.Service.CountsMovedBy).
type Move struct {
	Event int64 // the event's id in the log
	From  uuid.UUID
	Was   uuid.UUID
}

// MoveOf says whether an event changed the graph in effect, and how. A request, a refusal and a
// revocation do not: a revoked delegation stays in effect until the next batch, whose
// DelegationBeendet is the change.
func (s *Service) MoveOf(ctx context.Context, e eventstore.Event) (Move, bool, error) {
	switch {
	case DelegationWirksam.Is(e):
		p, err := DelegationWirksam.Decode(e)
		if err != nil {
			return Move{}, false, err
		}
		m := Move{Event: e.Position.ID, From: p.FromID}
		if p.Replaces != nil {
			old, err := s.Get(ctx, *p.Replaces)
			if err != nil {
				return Move{}, false, err
			}
			m.Was = old.ToID
		}
		return m, true, nil
	case DelegationBeendet.Is(e):
		p, err := DelegationBeendet.Decode(e)
		if err != nil {
			return Move{}, false, err
		}
		// Only a delegation that was in effect ends with a change: a request taken back
		// ("withdrawn") or replaced by a newer request ("superseded") never counted.
		if p.Reason != "revoked" && p.Reason != "replaced" {
			return Move{}, false, nil
		}
		return Move{Event: e.Position.ID, From: p.FromID, Was: p.ToID}, true, nil
	case DelegationAbgelaufen.Is(e):
		p, err := DelegationAbgelaufen.Decode(e)
		if err != nil {
			return Move{}, false, err
		}
		return Move{Event: e.Position.ID, From: p.FromID, Was: p.ToID}, true, nil
	}
	return Move{}, false, nil
}
