package publish

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
)

// A delegation that takes effect or ends while an Abstimmung is open moves weight from one
// voter to another (or into or out of the count), and so the option totals Mastodon shows.
// Delivery sends an Update(Question) for every open Abstimmung whose count such a change
// moved (deliverEvents), the way it does after a Stimme.

// countsMovedBy returns, for every open Abstimmung whose count one of the moves changed, its
// Antrag and the last such move. A move changed a count when the count with the graph in
// effect now differs from the count with that one delegation as it was before the move.
func (s *Service) countsMovedBy(ctx context.Context, moves []convert.Move) (map[uuid.UUID]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM abstimmungen WHERE closed_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("federation: open Abstimmungen: %w", err)
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(open) == 0 {
		return nil, err
	}
	graph, err := delegation.Graph(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	moved := map[uuid.UUID]int64{}
	for _, id := range open {
		v, err := s.svc.Abstimmungen.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if v.Closed() {
			continue // closed meanwhile: its close sends the final count
		}
		votes := make(map[uuid.UUID]string, len(v.Stimmen))
		for _, st := range v.Stimmen {
			votes[st.AccountID] = st.Choice
		}
		now := abstimmung.Tally(votes, graph)
		for _, m := range moves {
			if _, voted := votes[m.From]; voted {
				continue // a direct vote stops the chain: the delegation carried nothing here
			}
			before := graph
			if graph[m.From] != m.Was {
				before = make(map[uuid.UUID]uuid.UUID, len(graph)+1)
				for k, to := range graph {
					before[k] = to
				}
				delete(before, m.From)
				if m.Was != uuid.Nil {
					before[m.From] = m.Was
				}
			}
			was := abstimmung.Tally(votes, before)
			if was.Yes != now.Yes || was.No != now.No || was.Abstain != now.Abstain {
				moved[v.SubjectID] = max(moved[v.SubjectID], m.Event)
			}
		}
	}
	return moved, nil
}
