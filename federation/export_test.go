package federation

import (
	"context"
	"io"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/federation/internal/publish"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// SetKeyRefetchClock replaces the wall clock that paces remote key refetches, so a test can
// let a minute pass at once.
func SetKeyRefetchClock(s *Service, now func() time.Time) {
	s.actors.SetKeyRefetchClock(now)
}

// EnqueueInTx queues a delivery from the Ortsweberei in tx, the way follow and onFollow do.
func EnqueueInTx(ctx context.Context, s *Service, tx *database.Tx, inbox string, activity any) error {
	return s.delivery.EnqueueTx(ctx, tx, iri.GroupPath, inbox, activity)
}

// DeliveredTypes are the event types the delivery follower reads.
func DeliveredTypes() []string { return publish.Types() }

// AntragDocument is the Question delivery builds for a, an Antrag as read from the database
// (possibly before a change that committed since).
func AntragDocument(ctx context.Context, s *Service, a antrag.Antrag) (*vocab.Antrag, error) {
	return s.convert.AntragObject(ctx, a)
}

// SetMirrorReadHook makes each GET /mirrors/{host}/timeline read its file through wrap, so a
// test can hold one read in progress.
func SetMirrorReadHook(s *Service, wrap func(io.Reader) io.Reader) { s.mirror.SetReadHook(wrap) }
