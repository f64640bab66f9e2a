package nachbarn

import (
	"context"
	"fmt"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// CountStimme counts a neighbour resident's Stimme on their Ortsweberei's Antrag, its proof
// checked by the caller. It counts when the voter is a verified resident of the Antrag's
// Ortsweberei (ErrNotResident) and it was cast in the window the origin announced, from its
// opening and before its close (ErrOutsideWindow; no window known yet is outside too). Of a
// voter's Stimmen the one cast last counts, whatever order they arrive in: an older one, or
// the same one again, is ErrStale. An Antrag we do not keep is ErrUnknownAntrag. The Stimme
// and its FernstimmeEmpfangen commit together; a refusal stores nothing.
func (s *Service) CountStimme(ctx context.Context, st Stimme) error {
	if st.Choice != abstimmung.Yes && st.Choice != abstimmung.No && st.Choice != abstimmung.Abstain {
		return abstimmung.ErrInvalidChoice
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		a, err := find(ctx, tx, st.Antrag)
		if err != nil {
			return err
		}
		if !st.Voter.ResidentOf(a.Ortsweberei) {
			return ErrNotResident
		}
		if a.OpensAt == nil || a.ClosesAt == nil || st.CastAt.Before(*a.OpensAt) || !st.CastAt.Before(*a.ClosesAt) {
			return ErrOutsideWindow
		}
		tag, err := tx.Exec(ctx, `
INSERT INTO remote_stimmen (antrag, voter, voter_name, choice, cast_at, object) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (antrag, voter) DO UPDATE SET choice = excluded.choice, cast_at = excluded.cast_at, object = excluded.object,
    voter_name = excluded.voter_name
WHERE remote_stimmen.cast_at < excluded.cast_at`, a.IRI, st.Voter.IRI, st.Voter.Name, st.Choice, st.CastAt, st.Object)
		if err != nil {
			return fmt.Errorf("nachbarn: count Stimme: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrStale
		}
		return eventstore.Append(tx, s.clock.Now(), FernstimmeEmpfangen.New(eventstore.Header{},
			FernstimmeV1{Antrag: a.IRI, Voter: st.Voter.IRI, Choice: st.Choice, Object: st.Object}))
	})
}

// RemoveStimme takes a Stimme out of the count: its voter deleted it (object is the Stimme's
// own IRI). Only the voter's own row goes; a Stimme we do not have is no error.
func (s *Service) RemoveStimme(ctx context.Context, object, voter string) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.RemoveStimmeTx(ctx, tx, object, voter) })
}

// RemoveStimmeTx is RemoveStimme in the caller's transaction.
func (s *Service) RemoveStimmeTx(ctx context.Context, tx *database.Tx, object, voter string) error {
	tx.Defer(`DELETE FROM remote_stimmen WHERE object = $1 AND voter = $2`, object, voter)
	return nil
}
