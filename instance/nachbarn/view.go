package nachbarn

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
)

// View is a neighbour's Antrag with what we verified of it and the count we made.
type View struct {
	Antrag
	Stimmen     []Stimme    // the latest of each voter, in the order they were cast
	Einsprueche []Einspruch // in the order they were raised
	// The count, recomputed here from the verified Stimmen and, once closed, the verified
	// delegations the origin counted with: the same rules as at home (abstimmung.Tally).
	Yes, No, Abstain int
}

// Get returns a neighbour's Antrag by our id, with its verified Stimmen and Einsprüche and our
// count, or ErrUnknownAntrag.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (View, error) {
	a, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM remote_antraege WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, ErrUnknownAntrag
	}
	if err != nil {
		return View{}, fmt.Errorf("nachbarn: Antrag %s: %w", id, err)
	}
	v := View{Antrag: a}
	rows, err := s.pool.Query(ctx, `SELECT voter, voter_name, choice, object, cast_at FROM remote_stimmen WHERE antrag = $1 ORDER BY cast_at, voter`, a.IRI)
	if err != nil {
		return View{}, fmt.Errorf("nachbarn: Stimmen: %w", err)
	}
	if v.Stimmen, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stimme, error) {
		st := Stimme{Antrag: a.IRI}
		err := r.Scan(&st.Voter.IRI, &st.Voter.Name, &st.Choice, &st.Object, &st.CastAt)
		st.CastAt = st.CastAt.UTC()
		return st, err
	}); err != nil {
		return View{}, fmt.Errorf("nachbarn: Stimmen: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT author, author_name, reason, created_at FROM remote_einsprueche WHERE antrag = $1 AND deleted_at IS NULL ORDER BY created_at`, a.IRI)
	if err != nil {
		return View{}, fmt.Errorf("nachbarn: Einsprüche: %w", err)
	}
	if v.Einsprueche, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Einspruch, error) {
		e := Einspruch{Antrag: a.IRI}
		err := r.Scan(&e.Author.IRI, &e.Author.Name, &e.Reason, &e.CreatedAt)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	}); err != nil {
		return View{}, fmt.Errorf("nachbarn: Einsprüche: %w", err)
	}
	// Tally counts accounts by uuid; a neighbour's residents are IRIs.
	key := func(iri string) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceURL, []byte(iri)) }
	votes := make(map[uuid.UUID]string, len(v.Stimmen))
	for _, st := range v.Stimmen {
		votes[key(st.Voter.IRI)] = st.Choice
	}
	graph := map[uuid.UUID]uuid.UUID{}
	rows, err = s.pool.Query(ctx, `SELECT delegator, delegate FROM remote_delegationen WHERE antrag = $1`, a.IRI)
	if err != nil {
		return View{}, fmt.Errorf("nachbarn: delegations: %w", err)
	}
	var from, to string
	if _, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error { graph[key(from)] = key(to); return nil }); err != nil {
		return View{}, fmt.Errorf("nachbarn: delegations: %w", err)
	}
	c := abstimmung.Tally(votes, graph)
	v.Yes, v.No, v.Abstain = c.Yes, c.No, c.Abstain
	return v, nil
}
