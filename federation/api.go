package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
)

// What the HTTP API shows of federation.

// RemoteAntrag is a neighbour's Antrag, read-only here.
type RemoteAntrag struct {
	ID               uuid.UUID
	IRI              string
	Origin           string // the neighbour's host
	Ortsweberei      string
	ApplicantIRI     string
	ApplicantName    string
	Title            string
	DetailsHTML      string
	AmountCents      *int64
	Status           string
	OpenedAt         time.Time
	DecisionDeadline time.Time
	Extended         bool
	OpensAt          *time.Time
	ClosesAt         *time.Time
	ClosedAt         *time.Time
	Outcome          string
	// The count the origin announced at the close, for comparison with ours.
	OriginYes, OriginNo, OriginAbstain *int
}

// RemoteStimme is a neighbour resident's verified Stimme.
type RemoteStimme struct {
	Voter, VoterName, Choice, Object string
	CastAt                           time.Time
}

// RemoteEinspruch is an objection on a neighbour's Antrag.
type RemoteEinspruch struct {
	Author, AuthorName, Reason string
	CreatedAt                  time.Time
}

// RemoteView is a neighbour's Antrag with what we verified of it and the count we made.
type RemoteView struct {
	RemoteAntrag
	Stimmen     []RemoteStimme
	Einsprueche []RemoteEinspruch
	// Count is recomputed here from the verified Stimmen and, once closed, the verified
	// delegations the origin counted with.
	Yes, No, Abstain int
}

const remoteColumns = `id, iri, origin, ortsweberei, applicant, applicant_name, title, details_html, amount_cents, status, opened_at,
       decision_deadline, extended, opens_at, closes_at, closed_at, coalesce(outcome, ''), origin_yes, origin_no, origin_abstain`

func scanRemote(row pgx.Row) (RemoteAntrag, error) {
	var a RemoteAntrag
	err := row.Scan(&a.ID, &a.IRI, &a.Origin, &a.Ortsweberei, &a.ApplicantIRI, &a.ApplicantName, &a.Title, &a.DetailsHTML,
		&a.AmountCents, &a.Status, &a.OpenedAt, &a.DecisionDeadline, &a.Extended, &a.OpensAt, &a.ClosesAt, &a.ClosedAt,
		&a.Outcome, &a.OriginYes, &a.OriginNo, &a.OriginAbstain)
	return a, err
}

// RemoteAntraege lists the neighbours' Anträge, newest first.
func (s *Service) RemoteAntraege(ctx context.Context, status string, limit int) ([]RemoteAntrag, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+remoteColumns+` FROM remote_antraege WHERE ($1 = '' OR status = $1)
ORDER BY opened_at DESC, id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("federation: remote Anträge: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RemoteAntrag, error) { return scanRemote(r) })
}

// ErrNoRemoteAntrag is returned for an id that names no neighbour's Antrag.
var ErrNoRemoteAntrag = errors.New("federation: no such remote Antrag")

// RemoteAntragView returns a neighbour's Antrag with its verified Stimmen and our count.
func (s *Service) RemoteAntragView(ctx context.Context, id uuid.UUID) (RemoteView, error) {
	a, err := scanRemote(s.pool.QueryRow(ctx, `SELECT `+remoteColumns+` FROM remote_antraege WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return RemoteView{}, ErrNoRemoteAntrag
	}
	if err != nil {
		return RemoteView{}, err
	}
	v := RemoteView{RemoteAntrag: a}
	rows, err := s.pool.Query(ctx, `SELECT voter, voter_name, choice, object, cast_at FROM remote_stimmen WHERE antrag = $1 ORDER BY cast_at, voter`, a.IRI)
	if err != nil {
		return RemoteView{}, err
	}
	if v.Stimmen, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (RemoteStimme, error) {
		var st RemoteStimme
		err := r.Scan(&st.Voter, &st.VoterName, &st.Choice, &st.Object, &st.CastAt)
		return st, err
	}); err != nil {
		return RemoteView{}, err
	}
	rows, err = s.pool.Query(ctx, `SELECT author, author_name, reason, created_at FROM remote_einsprueche WHERE antrag = $1 ORDER BY created_at`, a.IRI)
	if err != nil {
		return RemoteView{}, err
	}
	if v.Einsprueche, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (RemoteEinspruch, error) {
		var e RemoteEinspruch
		err := r.Scan(&e.Author, &e.AuthorName, &e.Reason, &e.CreatedAt)
		return e, err
	}); err != nil {
		return RemoteView{}, err
	}
	// Recount: the same rules as at home, over what we could verify.
	key := func(iri string) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceURL, []byte(iri)) }
	votes := map[uuid.UUID]string{}
	for _, st := range v.Stimmen {
		votes[key(st.Voter)] = st.Choice
	}
	graph := map[uuid.UUID]uuid.UUID{}
	rows, err = s.pool.Query(ctx, `SELECT delegator, delegate FROM remote_delegationen WHERE antrag = $1`, a.IRI)
	if err != nil {
		return RemoteView{}, err
	}
	var from, to string
	if _, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error { graph[key(from)] = key(to); return nil }); err != nil {
		return RemoteView{}, err
	}
	c := abstimmung.Tally(votes, graph)
	v.Yes, v.No, v.Abstain = c.Yes, c.No, c.Abstain
	return v, nil
}

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

// forgetDomain removes, in a block's transaction, what a blocked domain sent of the tables
// that are still kept here; the actors (actors.ForgetDomainTx) and the inbox (inbox.ForgetDomainTx) follow.
type forgetDomain struct{}

func (forgetDomain) ForgetDomainTx(_ context.Context, tx *database.Tx, domain string) error {
	for _, q := range []string{
		`DELETE FROM antrag_kommentare WHERE ` + blocks.OnDomain("author"),
		`DELETE FROM antrag_fremdstimmen WHERE ` + blocks.OnDomain("voter"),
		`DELETE FROM remote_antraege WHERE ` + blocks.OnDomain("iri"), // with their Stimmen, Einsprüche, delegations
		`DELETE FROM remote_stimmen WHERE ` + blocks.OnDomain("voter"),
		`DELETE FROM remote_einsprueche WHERE ` + blocks.OnDomain("author"),
		`DELETE FROM remote_delegationen WHERE ` + blocks.OnDomain("delegator"),
	} {
		tx.Defer(q, domain)
	}
	return nil
}

// Federate makes this Ortsweberei and a neighbouring one follow each other: ours follows theirs
// now, and theirs follows back when it accepts. target is the neighbour's base URL
// (https://nachbar.example), its handle (ortsweberei@nachbar.example) or its actor's URL.
func (s *Service) Federate(ctx context.Context, target string) (string, error) {
	return s.actors.Federate(ctx, target)
}
