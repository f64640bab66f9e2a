package antrag

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Fremdstimme is a Fediverse poll vote on one of our Anträge, by someone who is not a resident
// here: shown beside the Antrag, counted by choice, never in it. Mastodon and GoToSocial polls
// are anonymous to everyone but the poll's author, so who voted is never shown; the voter is
// kept only so that each account has one vote, which it can change or delete, and which goes
// when its domain is blocked.
type Fremdstimme struct {
	AntragID uuid.UUID
	Voter    string    // the voter's actor IRI
	Choice   string    // yes, no or abstain
	CastAt   time.Time // as the caller believes it: no later than it arrived
	Object   string    // the vote's own IRI, by which its voter deletes it
}

// ForeignVotes counts the Fediverse poll votes on one of our Anträge, by choice.
type ForeignVotes struct {
	Yes, No, Abstain int
}

// Total is the number of poll votes.
func (v ForeignVotes) Total() int { return v.Yes + v.No + v.Abstain }

// ErrPollClosed refuses a poll vote cast after the Antrag's poll ended.
var ErrPollClosed = fault.Conflictf("poll_closed", "The poll of this Antrag had ended when the vote was cast.")

// RecordForeignVote records a poll vote on the Antrag (ErrNotFound for one we do not have). A
// vote counts when cast while the poll took votes (ErrPollClosed otherwise): before the end
// its Question announces (the Abstimmung's close, or without one the decision deadline), and
// before the Antrag was decided or withdrawn. GoToSocial lets its users vote on a remote poll
// after its end until it sees it closed; such a vote is refused. Of a voter's votes the one
// cast last counts, whatever order they arrive in (a retry can bring an older one after a
// newer); of two cast at the same time, the one recorded later.
func (s *Service) RecordForeignVote(ctx context.Context, v Fremdstimme) error {
	if v.Choice != abstimmung.Yes && v.Choice != abstimmung.No && v.Choice != abstimmung.Abstain {
		return abstimmung.ErrInvalidChoice
	}
	a, err := get(ctx, s.pool, v.AntragID, false)
	if err != nil {
		return err
	}
	end := a.DecisionDeadline
	if a.AbstimmungID != nil {
		ab, err := s.abstimmungen.Find(ctx, *a.AbstimmungID)
		if err != nil {
			return err
		}
		end = ab.ClosesAt
		if ab.ClosedAt != nil && ab.ClosedAt.Before(end) {
			end = *ab.ClosedAt
		}
	}
	if a.DecidedAt != nil && a.DecidedAt.Before(end) {
		end = *a.DecidedAt
	}
	if !v.CastAt.Before(end) {
		return ErrPollClosed
	}
	// The vote and its event in one transaction (every write is an event); a vote older than
	// the one kept changes nothing and records nothing.
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tag, err := tx.Exec(ctx, `
INSERT INTO antrag_fremdstimmen (antrag_id, voter, choice, at, object) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (antrag_id, voter) DO UPDATE SET choice = excluded.choice, at = excluded.at, object = excluded.object
WHERE antrag_fremdstimmen.at <= excluded.at`, v.AntragID, v.Voter, v.Choice, v.CastAt, v.Object)
		if err != nil || tag.RowsAffected() == 0 {
			return notFoundOnForeignKey(err)
		}
		return eventstore.Append(tx, s.clock.Now(), FremdstimmeEmpfangen.New(eventstore.Header{Subject: v.AntragID},
			FremdstimmeV1{AntragID: v.AntragID, Voter: v.Voter, Choice: v.Choice, Object: v.Object}))
	})
}

// DeleteForeignVote takes a poll vote away: its voter deleted it (object is the vote's own
// IRI). Only the voter's own vote goes; one we do not have is no error.
func (s *Service) DeleteForeignVote(ctx context.Context, object, voter string) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.DeleteForeignVoteTx(ctx, tx, object, voter) })
}

// DeleteForeignVoteTx is DeleteForeignVote in the caller's transaction.
func (s *Service) DeleteForeignVoteTx(ctx context.Context, tx *database.Tx, object, voter string) error {
	tx.Defer(`DELETE FROM antrag_fremdstimmen WHERE object = $1 AND voter = $2`, object, voter)
	return nil
}

// ForeignVotes counts the poll votes on the Antrag by choice.
func (s *Service) ForeignVotes(ctx context.Context, antragID uuid.UUID) (ForeignVotes, error) {
	var v ForeignVotes
	err := s.pool.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE choice = 'yes'), count(*) FILTER (WHERE choice = 'no'), count(*) FILTER (WHERE choice = 'abstain')
FROM antrag_fremdstimmen WHERE antrag_id = $1`, antragID).Scan(&v.Yes, &v.No, &v.Abstain)
	if err != nil {
		return ForeignVotes{}, fmt.Errorf("antrag: foreign votes: %w", err)
	}
	return v, nil
}
