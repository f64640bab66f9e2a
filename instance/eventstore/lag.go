package eventstore

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// How far behind the log its followers are, for the operators' metrics (instance/metrics
// reads it when scraped). A follower notes its position as it goes; nothing here touches the
// database, so a scrape costs no query and a follower no more than a mutex per batch.

// FollowerLag is one named follower of this process, as it stands.
type FollowerLag struct {
	Name string
	// Position is where the follower has read up to (for a follower of a few types, the
	// head it last caught up with counts: the events between were not its to read).
	Position Position
	// Events is about how many events of the log it has not read: the difference of event
	// ids between the head and its position (ids come from one sequence; a rolled-back
	// append leaves a gap, so this may overstate by a little). 0 when it is at the head.
	Events int64
	// Behind is how long it has not been at the head (0 when it is).
	Behind time.Duration
}

// tracker holds the followers' positions and the head's recent moves; the zero value is
// ready.
type tracker struct {
	mu        sync.Mutex
	followers map[string]Position
	// moves are the last heads Run saw and when (a ring, oldest first once full): how long a
	// follower is behind is how long ago the head first moved past its position.
	moves [64]headMove
	next  int
	full  bool
}

type headMove struct {
	head Position
	at   time.Time
}

// note records a follower's position.
func (t *tracker) note(name string, p Position) {
	if name == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.followers == nil {
		t.followers = map[string]Position{}
	}
	if old, ok := t.followers[name]; !ok || p.After(old) {
		t.followers[name] = p
	}
}

// forget drops a follower that stopped.
func (t *tracker) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.followers, name)
}

// moved records a new head.
func (t *tracker) moved(h Position, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.moves[t.next] = headMove{head: h, at: at}
	t.next = (t.next + 1) % len(t.moves)
	t.full = t.full || t.next == 0
}

// passed is when the head first moved past p, as far as the ring remembers (its oldest entry
// when p is older than that: a lower bound). Called with mu held.
func (t *tracker) passed(p Position) (time.Time, bool) {
	n, start := t.next, 0
	if t.full {
		n, start = len(t.moves), t.next
	}
	for i := range n {
		m := t.moves[(start+i)%len(t.moves)]
		if m.head.After(p) {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// LastHead is the newest readable position the store has seen (Run polls it); no query.
func (s *Store) LastHead() Position {
	h, _ := s.signal()
	return h
}

// Followers lists this process's named followers (KeepFollowingTypes, FollowTypesAs) and how
// far behind the head they are, sorted by name. A follower counts as at the head when its
// position is not before the head Run last saw.
func (s *Store) Followers() []FollowerLag {
	head := s.LastHead()
	now := time.Now()
	t := &s.followers
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]FollowerLag, 0, len(t.followers))
	for name, p := range t.followers {
		l := FollowerLag{Name: name, Position: p}
		if head.After(p) {
			l.Events = max(head.ID-p.ID, 1)
			if at, ok := t.passed(p); ok {
				l.Behind = max(now.Sub(at), 0)
			}
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b FollowerLag) int { return strings.Compare(a.Name, b.Name) })
	return out
}
