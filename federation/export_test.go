package federation

import (
	"context"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// SetKeyRefetchClock replaces the wall clock that paces remote key refetches, so a test can
// let a minute pass at once.
func SetKeyRefetchClock(s *Service, now func() time.Time) {
	s.pubkeys.mu.Lock()
	s.pubkeys.now = now
	s.pubkeys.mu.Unlock()
}

// EnqueueInTx queues a delivery from the Ortsweberei in tx, the way follow and onFollow do.
func EnqueueInTx(ctx context.Context, s *Service, tx *database.Tx, inbox string, activity any) error {
	return s.enqueueTx(ctx, riverTx{tx}, groupPath, inbox, activity)
}

// DeliveredTypes are the event types the delivery follower reads.
func DeliveredTypes() []string { return deliveredTypes() }

// AntragDocument is the Question delivery builds for a, an Antrag as read from the database
// (possibly before a change that committed since).
func AntragDocument(ctx context.Context, s *Service, a antrag.Antrag) (*vocab.Antrag, error) {
	return s.antragObject(ctx, a)
}
