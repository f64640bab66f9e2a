package antrag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/microcosm-cc/bluemonday"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// Moderation is the Anträge' share of moderation (moderation.Content): Anträge, Einsprüche
// and the Fediverse's Kommentare. What hiding means for an Antrag's process is in
// docs/MODERATION.md ("Anträge"): while an open Antrag is hidden its clock stands still; an
// Abstimmung that runs goes on.
type Moderation struct {
	svc  *Service
	base string // this instance's public URL, without a trailing slash
}

// Moderation returns the moderation.Content of the Anträge; publicURL is where residents
// reach this instance (its links to an Antrag are resolved as the Antrag).
func (s *Service) Moderation(publicURL string) *Moderation {
	return &Moderation{svc: s, base: strings.TrimRight(publicURL, "/")}
}

var _ moderation.Content = (*Moderation)(nil)

// Kinds implements moderation.Content.
func (m *Moderation) Kinds() []string {
	return []string{moderation.KindAntrag, moderation.KindEinspruch, moderation.KindKommentar}
}

// Resolve implements moderation.Content: an Antrag's id, its page (/antraege/{id}), its API
// or ActivityPub address; an Einspruch's "<antrag id>/<account id>"; a Kommentar's IRI.
func (m *Moderation) Resolve(ctx context.Context, q database.Querier, ref string) (moderation.Target, bool, error) {
	ref = strings.TrimSpace(ref)
	rest := ref
	if m.base != "" && strings.HasPrefix(ref, m.base+"/") {
		rest = strings.TrimPrefix(ref, m.base)
		for _, p := range []string{"/antraege/", "/api/antraege/", "/ap/antraege/"} {
			if strings.HasPrefix(rest, p) {
				rest = strings.TrimPrefix(rest, p)
				break
			}
		}
	}
	exists := func(sql string, args ...any) (bool, error) {
		var ok bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (`+sql+`)`, args...).Scan(&ok); err != nil {
			return false, fmt.Errorf("antrag: resolve: %w", err)
		}
		return ok, nil
	}
	if a, b, ok := strings.Cut(rest, "/"); ok {
		antragID, err1 := uuid.Parse(a)
		accountID, err2 := uuid.Parse(b)
		if err1 == nil && err2 == nil {
			ok, err := exists(`SELECT FROM einsprueche WHERE antrag_id = $1 AND account_id = $2`, antragID, accountID)
			if err != nil || ok {
				return moderation.Target{Kind: moderation.KindEinspruch, ID: einspruchID(antragID, accountID)}, ok, err
			}
		}
	} else if id, err := uuid.Parse(rest); err == nil {
		ok, err := exists(`SELECT FROM antraege WHERE id = $1`, id)
		if err != nil || ok {
			return moderation.Target{Kind: moderation.KindAntrag, ID: id.String()}, ok, err
		}
	}
	ok, err := exists(`SELECT FROM antrag_kommentare WHERE iri = $1`, ref)
	if err != nil || !ok {
		return moderation.Target{}, false, err
	}
	return moderation.Target{Kind: moderation.KindKommentar, ID: ref}, true, nil
}

// Describe implements moderation.Content.
func (m *Moderation) Describe(ctx context.Context, q database.Querier, t moderation.Target) (moderation.Summary, error) {
	sum := moderation.Summary{Target: t}
	var err error
	switch t.Kind {
	case moderation.KindAntrag:
		id, perr := uuid.Parse(t.ID)
		if perr != nil {
			return sum, moderation.ErrUnknownTarget
		}
		var author uuid.UUID
		var title, details string
		err = q.QueryRow(ctx, `SELECT a.applicant_id, ac.name, a.title, a.details_md, a.hidden_at IS NOT NULL
FROM antraege a JOIN accounts ac ON ac.id = a.applicant_id WHERE a.id = $1`, id).
			Scan(&author, &sum.AuthorName, &title, &details, &sum.Hidden)
		sum.AuthorID, sum.Text, sum.URL = &author, cut(title+"\n\n"+details), m.base+"/antraege/"+id.String()
	case moderation.KindEinspruch:
		antragID, accountID, ok := parseEinspruch(t.ID)
		if !ok {
			return sum, moderation.ErrUnknownTarget
		}
		var reason string
		err = q.QueryRow(ctx, `SELECT ac.name, e.reason, e.hidden_at IS NOT NULL
FROM einsprueche e JOIN accounts ac ON ac.id = e.account_id WHERE e.antrag_id = $1 AND e.account_id = $2`, antragID, accountID).
			Scan(&sum.AuthorName, &reason, &sum.Hidden)
		sum.AuthorID, sum.Text, sum.URL = &accountID, cut(reason), m.base+"/antraege/"+antragID.String()
	case moderation.KindKommentar:
		var author, name, html string
		err = q.QueryRow(ctx, `SELECT author, author_name, content_html, hidden_at IS NOT NULL FROM antrag_kommentare WHERE iri = $1`, t.ID).
			Scan(&author, &name, &html, &sum.Hidden)
		sum.AuthorName, sum.Text, sum.URL = cmp(name, author), cut(plain.Sanitize(html)), t.ID
	default:
		return sum, moderation.ErrUnknownTarget
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.Summary{}, moderation.ErrUnknownTarget
	}
	if err != nil {
		return moderation.Summary{}, fmt.Errorf("antrag: describe: %w", err)
	}
	return sum, nil
}

// plain turns a Kommentar's HTML into its text, for the moderators' queue.
var plain = bluemonday.StrictPolicy()

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// cut keeps the first 500 characters of a text.
func cut(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= 500 {
		return s
	}
	return string([]rune(s)[:500])
}

func parseEinspruch(id string) (antragID, accountID uuid.UUID, ok bool) {
	a, b, found := strings.Cut(id, "/")
	var err1, err2 error
	antragID, err1 = uuid.Parse(a)
	accountID, err2 = uuid.Parse(b)
	return antragID, accountID, found && err1 == nil && err2 == nil
}

// HideTx implements moderation.Content.
func (m *Moderation) HideTx(ctx context.Context, tx *database.Tx, t moderation.Target, hide bool, by uuid.UUID, _ string, at time.Time) error {
	switch t.Kind {
	case moderation.KindAntrag:
		id, err := uuid.Parse(t.ID)
		if err != nil {
			return moderation.ErrUnknownTarget
		}
		return m.svc.hideAntragTx(ctx, tx, id, hide, by, at)
	case moderation.KindEinspruch:
		antragID, accountID, ok := parseEinspruch(t.ID)
		if !ok {
			return moderation.ErrUnknownTarget
		}
		return m.svc.hideEinspruchTx(ctx, tx, antragID, accountID, hide, by, at)
	case moderation.KindKommentar:
		return m.svc.hideKommentarTx(ctx, tx, t.ID, hide, by, at)
	}
	return moderation.ErrUnknownTarget
}

// hideAntragTx hides an Antrag or shows it again. An open Antrag's clock stands still while
// it is hidden (ApplyDeadlines passes it by): shown again, its deadline has moved by the time
// it was hidden, so the residents have the whole of the time to read it and object that they
// had left. A held Antrag, never public, is filed publicly on its release: its AntragGestellt
// is written then, and its seven days start then.
func (s *Service) hideAntragTx(ctx context.Context, tx *database.Tx, id uuid.UUID, hide bool, by uuid.UUID, at time.Time) error {
	a, err := get(ctx, tx, id, true)
	if errors.Is(err, ErrNotFound) {
		return moderation.ErrUnknownTarget
	}
	if err != nil {
		return err
	}
	hdr := eventstore.Header{Actor: by, Subject: id}
	switch {
	case hide == (a.HiddenAt != nil):
		return nil
	case hide:
		tx.Defer(`UPDATE antraege SET hidden_at = $2 WHERE id = $1`, id, at)
		if err := s.retitled(ctx, tx, id, ""); err != nil {
			return err
		}
		return eventstore.Append(tx, at, AntragVerborgen.New(hdr, AntragVerborgenV1{AntragID: id}))
	}
	if err := s.retitled(ctx, tx, id, a.Title); err != nil {
		return err
	}
	deadline := a.DecisionDeadline
	if a.Status == Offen && at.After(*a.HiddenAt) {
		deadline = deadline.Add(at.Sub(*a.HiddenAt))
	}
	if a.Held {
		// Withdrawing a held Antrag is refused (ErrHeld): it is open here.
		tx.Defer(`UPDATE antraege SET hidden_at = NULL, held = false, opened_at = $2, decision_deadline = $3 WHERE id = $1`, id, at, deadline)
		return eventstore.Append(tx, at, AntragGestellt.New(eventstore.Header{Actor: a.ApplicantID, Subject: id}, AntragGestelltV1{
			AntragID: id, ApplicantID: a.ApplicantID, Title: a.Title, DetailsMD: a.DetailsMD,
			AmountCents: a.AmountCents, KnotenID: a.KnotenID, DecisionDeadline: deadline,
		}))
	}
	tx.Defer(`UPDATE antraege SET hidden_at = NULL, decision_deadline = $2 WHERE id = $1`, id, deadline)
	return eventstore.Append(tx, at, AntragWiederhergestellt.New(hdr, AntragWiederhergestelltV1{
		AntragID: id, Title: a.Title, DetailsMD: a.DetailsMD, DecisionDeadline: deadline}))
}

// hideEinspruchTx hides an Einspruch's reason or shows it again. A hidden Einspruch still
// counts: the objection was made, only its words are kept from the public. A held one,
// released, counts from then: it extends the deadline if it is the first and the Antrag is
// still open.
func (s *Service) hideEinspruchTx(ctx context.Context, tx *database.Tx, antragID, accountID uuid.UUID, hide bool, by uuid.UUID, at time.Time) error {
	var reason string
	var hiddenAt *time.Time
	var held bool
	err := tx.QueryRow(ctx, `SELECT reason, hidden_at, held FROM einsprueche WHERE antrag_id = $1 AND account_id = $2 FOR UPDATE`,
		antragID, accountID).Scan(&reason, &hiddenAt, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.ErrUnknownTarget
	}
	if err != nil {
		return fmt.Errorf("antrag: hide einspruch: %w", err)
	}
	hdr := eventstore.Header{Actor: by, Subject: antragID}
	switch {
	case hide == (hiddenAt != nil):
		return nil
	case hide:
		tx.Defer(`UPDATE einsprueche SET hidden_at = $3 WHERE antrag_id = $1 AND account_id = $2`, antragID, accountID, at)
		return eventstore.Append(tx, at, EinspruchVerborgen.New(hdr, EinspruchVerborgenV1{AntragID: antragID, AccountID: accountID}))
	case held:
		a, err := get(ctx, tx, antragID, true)
		if err != nil {
			return err
		}
		tx.Defer(`UPDATE einsprueche SET hidden_at = NULL, held = false, created_at = $3 WHERE antrag_id = $1 AND account_id = $2`,
			antragID, accountID, at)
		return eventstore.Append(tx, at, objectionDrafts(&a, accountID, reason, at, tx)...)
	}
	tx.Defer(`UPDATE einsprueche SET hidden_at = NULL WHERE antrag_id = $1 AND account_id = $2`, antragID, accountID)
	return eventstore.Append(tx, at, EinspruchWiederhergestellt.New(hdr,
		EinspruchWiederhergestelltV1{AntragID: antragID, AccountID: accountID, Reason: reason}))
}

func (s *Service) hideKommentarTx(ctx context.Context, tx *database.Tx, iri string, hide bool, by uuid.UUID, at time.Time) error {
	var antragID uuid.UUID
	var hiddenAt *time.Time
	err := tx.QueryRow(ctx, `SELECT antrag_id, hidden_at FROM antrag_kommentare WHERE iri = $1 FOR UPDATE`, iri).Scan(&antragID, &hiddenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.ErrUnknownTarget
	}
	if err != nil {
		return fmt.Errorf("antrag: hide kommentar: %w", err)
	}
	if hide == (hiddenAt != nil) {
		return nil
	}
	hdr := eventstore.Header{Actor: by, Subject: antragID}
	if hide {
		tx.Defer(`UPDATE antrag_kommentare SET hidden_at = $2 WHERE iri = $1`, iri, at)
		return eventstore.Append(tx, at, KommentarVerborgen.New(hdr, KommentarModeriertV1{AntragID: antragID, IRI: iri}))
	}
	tx.Defer(`UPDATE antrag_kommentare SET hidden_at = NULL WHERE iri = $1`, iri)
	return eventstore.Append(tx, at, KommentarWiederhergestellt.New(hdr, KommentarModeriertV1{AntragID: antragID, IRI: iri}))
}

// Hidden says which of the Anträge are hidden now (a moderator hid them, or the word filter
// holds them): for the timeline, whose past moments are read from snapshots and events that
// still hold the words (they are never rewritten), so that it leaves them out at every moment.
func (s *Service) Hidden(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM antraege WHERE id = ANY($1) AND hidden_at IS NOT NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("antrag: hidden: %w", err)
	}
	hidden, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("antrag: hidden: %w", err)
	}
	out := make(map[uuid.UUID]bool, len(hidden))
	for _, id := range hidden {
		out[id] = true
	}
	return out, nil
}

// HiddenAll lists every Antrag hidden now (hidden by a moderator or held by the word filter):
// few, so that the timeline can keep them in memory rather than ask on every query.
func (s *Service) HiddenAll(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM antraege WHERE hidden_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("antrag: hidden: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("antrag: hidden: %w", err)
	}
	return ids, nil
}

// EinspruchRef names an Einspruch: the Antrag and the objecting account.
type EinspruchRef struct {
	Antrag  uuid.UUID
	Account uuid.UUID
}

// HiddenEinsprueche lists the Einsprüche a moderator hid that were public before (held ones,
// never public, are not among them), of the given Anträge, or of all when antraege is nil:
// few, so that federation can leave their Creates out of the outboxes' counts and answer their
// ids as deleted (410), while antrag's Get leaves them out.
func (s *Service) HiddenEinsprueche(ctx context.Context, antraege []uuid.UUID) ([]EinspruchRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT antrag_id, account_id FROM einsprueche
WHERE hidden_at IS NOT NULL AND NOT held AND ($1::uuid[] IS NULL OR antrag_id = ANY($1)) ORDER BY antrag_id, account_id`, antraege)
	if err != nil {
		return nil, fmt.Errorf("antrag: hidden Einsprüche: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EinspruchRef])
	if err != nil {
		return nil, fmt.Errorf("antrag: hidden Einsprüche: %w", err)
	}
	return refs, nil
}
