package antrag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/microcosm-cc/bluemonday"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// Kommentar is a public Fediverse reply to one of our Anträge, shown with it.
type Kommentar struct {
	AntragID    uuid.UUID
	IRI         string // the reply's own id, by which its author changes or deletes it
	Author      string // the author's actor IRI
	AuthorName  string
	ContentHTML string // sanitized again when stored: it is shown as HTML
	Published   time.Time
}

// sanitizer keeps the formatting Fediverse posts use and drops everything active. Federation
// sanitizes what it converts already; sanitizing is idempotent, and the owner of what is shown
// as HTML makes sure of it itself.
var sanitizer = bluemonday.UGCPolicy()

// AddComment shows a Fediverse reply with the Antrag (ErrNotFound for an Antrag we do not
// have): stored with its KommentarEmpfangen in one transaction. The same reply again, or
// changed, replaces its content if it comes from the same author; a reply without content is
// not stored.
func (s *Service) AddComment(ctx context.Context, k Kommentar) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.AddCommentTx(ctx, tx, k) })
}

// AddCommentTx is AddComment in the caller's transaction.
//
// The word filter never refuses a reply (it comes from another server, which has sent it
// already): one it would block or hold is stored hidden and queued for review. A reply a
// moderator hid stays hidden when its author changes it.
func (s *Service) AddCommentTx(ctx context.Context, tx *database.Tx, k Kommentar) error {
	content := sanitizer.Sanitize(k.ContentHTML)
	if strings.TrimSpace(content) == "" {
		return nil
	}
	now := s.clock.Now()
	var verdict moderation.Verdict
	var hiddenAt *time.Time
	if filter := s.screening.Filter(); filter != nil {
		if verdict = filter.Check(plain.Sanitize(content)); verdict.Action != "" {
			verdict.Action, hiddenAt = moderation.ActionHold, &now
		}
	}
	tag, err := tx.Exec(ctx, `
INSERT INTO antrag_kommentare (iri, antrag_id, author, author_name, content_html, published, hidden_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (iri) DO UPDATE SET content_html = excluded.content_html,
    hidden_at = COALESCE(antrag_kommentare.hidden_at, excluded.hidden_at)
WHERE antrag_kommentare.author = excluded.author`, k.IRI, k.AntragID, k.Author, k.AuthorName, content, k.Published, hiddenAt)
	if err := notFoundOnForeignKey(err); err != nil {
		return err
	}
	drafts := []eventstore.Draft{KommentarEmpfangen.New(eventstore.Header{Subject: k.AntragID},
		KommentarV1{AntragID: k.AntragID, IRI: k.IRI, Author: k.Author})}
	if hiddenAt != nil && tag.RowsAffected() > 0 {
		drafts = append(drafts, KommentarVerborgen.New(eventstore.Header{Subject: k.AntragID}, KommentarModeriertV1{AntragID: k.AntragID, IRI: k.IRI}))
		if err := s.hold(ctx, tx, moderation.Target{Kind: moderation.KindKommentar, ID: k.IRI}, verdict, now); err != nil {
			return err
		}
	}
	return eventstore.Append(tx, now, drafts...)
}

// RemoveComment takes a reply away: its author deleted it, or made it non-public. Only the
// author's own reply goes; one we do not have is no error.
func (s *Service) RemoveComment(ctx context.Context, iri, author string) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.RemoveCommentTx(ctx, tx, iri, author) })
}

// RemoveCommentTx is RemoveComment in the caller's transaction.
func (s *Service) RemoveCommentTx(ctx context.Context, tx *database.Tx, iri, author string) error {
	tx.Defer(`DELETE FROM antrag_kommentare WHERE iri = $1 AND author = $2`, iri, author)
	return nil
}

// Comments returns the Fediverse replies to an Antrag that are not hidden, oldest first.
func (s *Service) Comments(ctx context.Context, antragID uuid.UUID) ([]Kommentar, error) {
	rows, err := s.pool.Query(ctx, `SELECT iri, author, author_name, content_html, published FROM antrag_kommentare WHERE antrag_id = $1 AND hidden_at IS NULL ORDER BY published, iri`, antragID)
	if err != nil {
		return nil, fmt.Errorf("antrag: comments: %w", err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Kommentar, error) {
		k := Kommentar{AntragID: antragID}
		err := r.Scan(&k.IRI, &k.Author, &k.AuthorName, &k.ContentHTML, &k.Published)
		k.Published = k.Published.UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("antrag: comments: %w", err)
	}
	return ks, nil
}

// ForgetDomainTx removes, in the caller's transaction, the replies and poll votes of a blocked
// domain's actors (and its subdomains'), matched by the host in the author's or voter's IRI.
func (s *Service) ForgetDomainTx(ctx context.Context, tx *database.Tx, domain string) error {
	tx.Defer(`DELETE FROM antrag_kommentare WHERE `+database.OnDomain("author"), domain)
	tx.Defer(`DELETE FROM antrag_fremdstimmen WHERE `+database.OnDomain("voter"), domain)
	return nil
}

// notFoundOnForeignKey turns a write that names an Antrag we do not have into ErrNotFound.
func notFoundOnForeignKey(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" && strings.HasSuffix(pe.ConstraintName, "antrag_id_fkey") {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("antrag: %w", err)
	}
	return nil
}
