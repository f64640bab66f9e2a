package instance

import (
	"context"

	"github.com/google/uuid"
)

// hiddenInTimeline says which of a timeline section's objects the moderators hide now
// (timeline.Service.Hidden): a moment before the hiding is read from snapshots and events
// that still hold them, and those are never rewritten (they are signed and mirrored). One
// line per section whose content can be hidden.
func (i *Instance) hiddenInTimeline(ctx context.Context, section string, ids []string) (map[string]bool, error) {
	switch section {
	case "knoten", "faeden": // a Faden is hidden on its own or with its Knoten
		return hiddenByUUID(ids, func(us []uuid.UUID) (map[uuid.UUID]bool, error) { return i.Knoten.Hidden(ctx, us) })
	case "antraege":
		return hiddenByUUID(ids, func(us []uuid.UUID) (map[uuid.UUID]bool, error) { return i.Antraege.Hidden(ctx, us) })
	}
	return nil, nil
}

// hiddenByUUID asks hidden about the ids that are uuids (the others cannot be hidden).
func hiddenByUUID(ids []string, hidden func([]uuid.UUID) (map[uuid.UUID]bool, error)) (map[string]bool, error) {
	us := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if u, err := uuid.Parse(id); err == nil {
			us = append(us, u)
		}
	}
	h, err := hidden(us)
	if err != nil || len(h) == 0 {
		return nil, err
	}
	out := make(map[string]bool, len(h))
	for u := range h {
		out[u.String()] = true
	}
	return out, nil
}
