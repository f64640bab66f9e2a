package instance

import (
	"context"
	"errors"
	"io"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
)

// The timeline's wiring: its snapshots come from the snapshot service, its replay from the
// sections that implement snapshot.Replayer.

// noSnapshots is the timeline's source while the instance takes no snapshots.
type noSnapshots struct{}

func (noSnapshots) List(context.Context) ([]timeline.Record, error) { return nil, nil }
func (noSnapshots) Open(string) (io.ReadCloser, error) {
	return nil, errors.New("timeline: no snapshots")
}

// replayers are the sections the timeline can bring forward with events.
func replayers() []snapshot.Replayer {
	var out []snapshot.Replayer
	for _, sec := range SnapshotSections() {
		if r, ok := sec.(snapshot.Replayer); ok {
			out = append(out, r)
		}
	}
	return out
}
