package mirror

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The hourly catch-up queues what the origin's index lists and we do not hold yet, so also
// what an earlier catch-up or an announcement queued and is still fetching or retrying: the
// same snapshot is queued once, not once more every hour (each job fetches the whole file).
func TestEnqueueTheSameSnapshotOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Pool: pool, Dir: t.TempDir()})
	s.SetRiver(rc)
	n := convert.SnapshotNote{Instance: "https://a.example/ap/ortsweberei", Hash: strings.Repeat("a", 64), Kind: "full",
		AsOf: time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC), URL: "https://a.example/snapshots/" + strings.Repeat("a", 64) + ".json.gz",
		Signature: "c2ln"}
	for range 3 {
		if err := s.Enqueue(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var jobs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'federation_mirror_snapshot'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 {
		t.Errorf("%d jobs for one snapshot, want 1", jobs)
	}
}
