package federation

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/account"
)

// What the HTTP API shows of federation.

// Comment is a Fediverse reply to one of our Anträge.
type Comment struct {
	IRI, Author, AuthorName, ContentHTML string
	Published                            time.Time
}

// Comments returns the Fediverse replies to an Antrag, oldest first.
func (s *Service) Comments(ctx context.Context, antragID uuid.UUID) ([]Comment, error) {
	rows, err := s.pool.Query(ctx, `SELECT iri, author, author_name, content_html, published FROM antrag_kommentare WHERE antrag_id = $1 ORDER BY published, iri`, antragID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Comment, error) {
		var c Comment
		err := r.Scan(&c.IRI, &c.Author, &c.AuthorName, &c.ContentHTML, &c.Published)
		return c, err
	})
}

// ForeignVotes counts the Fediverse poll votes on one of our Anträge, by choice: votes of
// people who are not residents here, shown beside the Antrag and never counted in it.
// Mastodon and GoToSocial polls are anonymous to everyone but the poll's author, so who voted
// is never shown; the voter is kept only so that each account has one vote, which it can
// change or delete, and which goes when its domain is blocked.
type ForeignVotes struct {
	Yes, No, Abstain int
}

// Total is the number of poll votes.
func (v ForeignVotes) Total() int { return v.Yes + v.No + v.Abstain }

// CountForeignVotes counts them.
func (s *Service) CountForeignVotes(ctx context.Context, antragID uuid.UUID) (ForeignVotes, error) {
	var v ForeignVotes
	err := s.pool.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE choice = 'yes'), count(*) FILTER (WHERE choice = 'no'), count(*) FILTER (WHERE choice = 'abstain')
FROM antrag_fremdstimmen WHERE antrag_id = $1`, antragID).Scan(&v.Yes, &v.No, &v.Abstain)
	if err != nil {
		return ForeignVotes{}, fmt.Errorf("federation: foreign votes: %w", err)
	}
	return v, nil
}

// Block defederates a domain (and its subdomains): nothing from it is stored afterwards, and
// what it already sent is removed.
func (s *Service) Block(ctx context.Context, by account.Account, domain string) error {
	return s.blocks.Block(ctx, by, domain)
}

// Unblock lifts a block.
func (s *Service) Unblock(ctx context.Context, by account.Account, domain string) error {
	return s.blocks.Unblock(ctx, by, domain)
}

// Blocks lists the blocked domains.
func (s *Service) Blocks(ctx context.Context) ([]string, error) { return s.blocks.List(ctx) }

// Federate makes this Ortsweberei and a neighbouring one follow each other: ours follows theirs
// now, and theirs follows back when it accepts. target is the neighbour's base URL
// (https://nachbar.example), its handle (ortsweberei@nachbar.example) or its actor's URL.
func (s *Service) Federate(ctx context.Context, target string) (string, error) {
	return s.actors.Federate(ctx, target)
}
