package instance

import (
	"context"
	"io"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
)

// The timeline's wiring: its snapshots come from the snapshot service, its replay from the
// sections that implement snapshot.Replayer.

// snapshotSource is the timeline's view of the snapshot service: its verified snapshots.
type snapshotSource struct{ s *snapshot.Service }

func (a snapshotSource) List(ctx context.Context) ([]timeline.Record, error) {
	recs, err := a.s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]timeline.Record, len(recs))
	for i, r := range recs {
		out[i] = timeline.Record{Hash: r.Hash, Kind: r.Kind, AsOf: r.AsOf, Position: r.Position}
	}
	return out, nil
}

func (a snapshotSource) Open(ctx context.Context, hash string) (io.ReadCloser, error) {
	f, _, err := a.s.Open(ctx, hash)
	if err != nil {
		return nil, err
	}
	return f, nil
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
