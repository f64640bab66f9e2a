package instance

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
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

// hiddenNow keeps in memory which Knoten, Fäden and Anträge are hidden now, for the timeline:
// asking the owners on every answer cost three round trips per query (docs/BENCHMARKS.md,
// "Timeline"). Hidden content is rare, so the whole set is read from the owners at start and
// again whenever the log says something was hidden or shown, on whichever replica; until the
// first read, and whenever a read fails, the timeline asks the owners as before.
type hiddenNow struct {
	mu   sync.RWMutex
	sets map[string]map[string]bool // section → id; nil: not read
}

// hiddenTypes are the events after which the set is read again.
var hiddenTypes = []string{knoten.KnotenVerborgen.Name(), knoten.KnotenWiederhergestellt.Name(),
	knoten.FadenVerborgen.Name(), knoten.FadenWiederhergestellt.Name(),
	antrag.AntragVerborgen.Name(), antrag.AntragWiederhergestellt.Name()}

// hidden answers for the timeline from memory, or from the owners while the set is not read.
func (i *Instance) hidden(ctx context.Context, section string, ids []string) (map[string]bool, error) {
	i.hiddenNow.mu.RLock()
	sets := i.hiddenNow.sets
	i.hiddenNow.mu.RUnlock()
	if sets == nil {
		return i.hiddenInTimeline(ctx, section, ids)
	}
	set := sets[section]
	if len(set) == 0 {
		return nil, nil
	}
	var out map[string]bool
	for _, id := range ids {
		if set[id] {
			if out == nil {
				out = map[string]bool{}
			}
			out[id] = true
		}
	}
	return out, nil
}

func (i *Instance) readHidden(ctx context.Context) error {
	k, f, err := i.Knoten.HiddenAll(ctx)
	if err != nil {
		return err
	}
	a, err := i.Antraege.HiddenAll(ctx)
	if err != nil {
		return err
	}
	set := func(ids []uuid.UUID) map[string]bool {
		m := make(map[string]bool, len(ids))
		for _, id := range ids {
			m[id.String()] = true
		}
		return m
	}
	sets := map[string]map[string]bool{"knoten": set(k), "faeden": set(f), "antraege": set(a)}
	i.hiddenNow.mu.Lock()
	i.hiddenNow.sets = sets
	i.hiddenNow.mu.Unlock()
	return nil
}

func (i *Instance) forgetHidden() {
	i.hiddenNow.mu.Lock()
	i.hiddenNow.sets = nil
	i.hiddenNow.mu.Unlock()
}

// followHidden keeps hiddenNow current for as long as ctx lasts.
func (i *Instance) followHidden(ctx context.Context) error {
	head, err := i.Events.HeadWhenReadable(ctx, "timeline-hidden")
	if err != nil {
		return nil
	}
	// Read after the head was taken: a hide committed before is in the tables, one after in the log.
	for err := i.readHidden(ctx); err != nil; err = i.readHidden(ctx) {
		i.Log.Warn("timeline: cannot read what is hidden; asking on every query meanwhile", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	_ = i.Events.KeepFollowingTypes(ctx, "timeline-hidden", head, 100, hiddenTypes,
		func(ctx context.Context, _ []eventstore.Event) error {
			// Until it is read again, the timeline asks the owners: never an answer with what
			// was just hidden.
			i.forgetHidden()
			return i.readHidden(ctx)
		})
	return nil
}
