package abstimmung

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/delegation"
)

// CountsMovedBy returns, for every open Abstimmung whose count one of the moves changed, its
// subject (the Antrag) and the event of the last such move. A move changed a count when the
// count with the graph in effect now differs from the count with that one delegation as it was
// before the move. Federation sends the changed totals to the Fediverse the way it does after
// a Stimme.
func (s *Service) CountsMovedBy(ctx context.Context, moves []delegation.Move) (map[uuid.UUID]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM abstimmungen WHERE closed_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("abstimmung: open Abstimmungen: %w", err)
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
		a, err := get(ctx, s.pool, id, "")
		if err != nil {
			return nil, err
		}
		if a.Closed() {
			continue // closed meanwhile: its close sends the final count
		}
		stimmen, err := s.stimmen(ctx, id)
		if err != nil {
			return nil, err
		}
		votes := make(map[uuid.UUID]string, len(stimmen))
		for _, st := range stimmen {
			votes[st.AccountID] = st.Choice
		}
		now := Tally(votes, graph)
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
			was := Tally(votes, before)
			if was.Yes != now.Yes || was.No != now.No || was.Abstain != now.Abstain {
				moved[a.SubjectID] = max(moved[a.SubjectID], m.Event)
			}
		}
	}
	return moved, nil
}
