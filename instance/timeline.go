package instance

import (
	"context"
	"errors"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
)

// The timeline's wiring: its snapshots come from the snapshot service, its replay from the
// map sections.

// noSnapshots is the timeline's source while the instance takes no snapshots.
type noSnapshots struct{}

func (noSnapshots) List(context.Context) ([]timeline.Record, error) { return nil, nil }
func (noSnapshots) Open(string) (io.ReadCloser, error) {
	return nil, errors.New("timeline: no snapshots")
}

// mapReplayer is a map section's Replay, for the timeline.
// TODO(issue 15): the sections' own types carry Replay once they exist (instance/knoten).
type mapReplayer struct {
	name string
	fn   func(eventstore.Event, func(string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error)
}

func (r mapReplayer) Name() string                      { return r.name }
func (r mapReplayer) Touched(eventstore.Event) []string { return nil }
func (r mapReplayer) Tables() []snapshot.Table          { return nil }
func (r mapReplayer) Restore(context.Context, pgx.Tx, func(func(snapshot.Object, error) bool)) error {
	return errors.New("timeline: replay only")
}
func (r mapReplayer) Dump(context.Context, database.Querier, []string, func(snapshot.Object) error) error {
	return errors.New("timeline: replay only")
}
func (r mapReplayer) Replay(e eventstore.Event, current func(string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	return r.fn(e, current)
}

func mapReplayers() []snapshot.Replayer {
	return []snapshot.Replayer{mapReplayer{"knoten", knoten.ReplayKnoten}, mapReplayer{"faeden", knoten.ReplayFaeden}}
}
