package nachbarn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
)

// StoreAntrag keeps a neighbour's Antrag as its origin sent it (the caller made sure of that,
// and that its Ortsweberei, actor and applicant are all of the Antrag's own server). Once
// stored, only the same actor changes it, and only with a state at least as new (Updated):
// anything else is ErrStale, and nothing changes. Each state counts in full: a later state
// that leaves out the window or the origin's count clears them. A state sent no later than
// the origin's latest Delete of the Antrag (DeleteAntragTx) is ErrStale too, whether we had
// the Antrag or not: a late Create or Update never brings back what its moderators hid.
func (s *Service) StoreAntrag(ctx context.Context, a Antrag) error {
	sent := a.Sent
	if sent.IsZero() {
		sent = a.Updated
	}
	tag, err := s.pool.Exec(ctx, `
INSERT INTO remote_antraege (id, iri, origin, ortsweberei, actor, applicant, applicant_name, title, details_html, amount_cents,
    status, opened_at, decision_deadline, extended, opens_at, closes_at, closed_at, outcome, origin_yes, origin_no, origin_abstain,
    source_updated, updated_at, sent_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, nullif($18::text, ''), $19, $20, $21, $22, $23, $24::timestamptz
WHERE NOT EXISTS (SELECT FROM remote_antrag_deletes d WHERE d.iri = $2 AND d.actor = $5 AND d.deleted_at >= $24::timestamptz)
ON CONFLICT (iri) DO UPDATE SET title = excluded.title, details_html = excluded.details_html, amount_cents = excluded.amount_cents,
    status = excluded.status, decision_deadline = excluded.decision_deadline, extended = excluded.extended,
    opens_at = excluded.opens_at, closes_at = excluded.closes_at, closed_at = excluded.closed_at, outcome = excluded.outcome,
    origin_yes = excluded.origin_yes, origin_no = excluded.origin_no, origin_abstain = excluded.origin_abstain,
    applicant_name = excluded.applicant_name, source_updated = excluded.source_updated, updated_at = excluded.updated_at,
    sent_at = GREATEST(remote_antraege.sent_at, excluded.sent_at)
WHERE remote_antraege.actor = excluded.actor AND remote_antraege.source_updated <= excluded.source_updated`,
		uuid.New(), a.IRI, hostOf(a.IRI), a.Ortsweberei, a.Actor, a.ApplicantIRI, a.ApplicantName, a.Title,
		sanitizer.Sanitize(a.DetailsHTML), a.AmountCents, a.Status, a.OpenedAt, a.DecisionDeadline, a.Extended, a.OpensAt, a.ClosesAt,
		a.ClosedAt, a.Outcome, a.OriginYes, a.OriginNo, a.OriginAbstain, a.Updated, s.clock.Now(), sent)
	if err != nil {
		return fmt.Errorf("nachbarn: store Antrag %s: %w", a.IRI, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrStale
	}
	return nil
}

// Withdraw marks a neighbour's Antrag withdrawn: its actor deleted it (how earlier versions
// sent a withdrawal; a moderator's hiding is DeleteAntragTx). Its title and text are
// dropped, as its origin no longer shows them; its origin's next Update brings them back.
// Only rows of that actor change; an Antrag it does not have is no error.
func (s *Service) Withdraw(ctx context.Context, iri, actor string) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.WithdrawTx(ctx, tx, iri, actor) })
}

// WithdrawTx is Withdraw in the caller's transaction (a Delete removes whatever its object
// was, in every owner's tables at once).
func (s *Service) WithdrawTx(ctx context.Context, tx *database.Tx, iri, actor string) error {
	tx.Defer(`UPDATE remote_antraege SET status = 'zurueckgezogen', title = '', details_html = '', updated_at = $3
WHERE iri = $1 AND actor = $2`,
		iri, actor, s.clock.Now())
	return nil
}

// DeleteAntragTx takes, in the caller's transaction, the Delete of a neighbour's Antrag by its
// own actor, sent at the time at (a moderator there hid it; the caller made sure the Delete
// is of an Antrag, from its actor, on a neighbour's server). It is kept as a tombstone
// (remote_antrag_deletes), also for an Antrag we never had, since delivery jobs keep no order
// and its Create may come later: StoreAntrag then refuses every state sent no later than at,
// and takes the origin's first one sent after it (its next Update once shown again).
// A kept Antrag whose state was sent no later than at is withdrawn without its words, and its
// Einsprüche lose their reasons for good: the origin sends no Delete for each, and shown
// again it sends no Einspruch again, so nothing brings them back (their authors stay shown).
// A Delete older than the state we keep (a retry that came after the re-show) changes nothing
// but the tombstone, which that state already outdates.
func (s *Service) DeleteAntragTx(ctx context.Context, tx *database.Tx, iri, actor string, at time.Time) error {
	tx.Defer(`INSERT INTO remote_antrag_deletes (iri, actor, deleted_at) VALUES ($1, $2, $3)
ON CONFLICT (iri, actor) DO UPDATE SET deleted_at = GREATEST(remote_antrag_deletes.deleted_at, excluded.deleted_at)`, iri, actor, at)
	tx.Defer(`UPDATE remote_einsprueche e SET reason = '' FROM remote_antraege r
WHERE e.antrag = r.iri AND r.iri = $1 AND r.actor = $2 AND (r.sent_at IS NULL OR r.sent_at <= $3) AND e.reason <> ''`, iri, actor, at)
	tx.Defer(`UPDATE remote_antraege SET status = 'zurueckgezogen', title = '', details_html = '', updated_at = $4
WHERE iri = $1 AND actor = $2 AND (sent_at IS NULL OR sent_at <= $3)`, iri, actor, at, s.clock.Now())
	return nil
}

const columns = `id, iri, origin, ortsweberei, actor, applicant, applicant_name, title, details_html, amount_cents, status, opened_at,
       decision_deadline, extended, opens_at, closes_at, closed_at, coalesce(outcome, ''), origin_yes, origin_no, origin_abstain,
       source_updated`

func scan(row pgx.Row) (Antrag, error) {
	var a Antrag
	err := row.Scan(&a.ID, &a.IRI, &a.Origin, &a.Ortsweberei, &a.Actor, &a.ApplicantIRI, &a.ApplicantName, &a.Title, &a.DetailsHTML,
		&a.AmountCents, &a.Status, &a.OpenedAt, &a.DecisionDeadline, &a.Extended, &a.OpensAt, &a.ClosesAt, &a.ClosedAt,
		&a.Outcome, &a.OriginYes, &a.OriginNo, &a.OriginAbstain, &a.Updated)
	a.OpenedAt, a.DecisionDeadline, a.Updated = a.OpenedAt.UTC(), a.DecisionDeadline.UTC(), a.Updated.UTC()
	a.OpensAt, a.ClosesAt, a.ClosedAt = utc(a.OpensAt), utc(a.ClosesAt), utc(a.ClosedAt)
	return a, err
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Find returns the neighbour's Antrag with the IRI, or ErrUnknownAntrag.
func (s *Service) Find(ctx context.Context, iri string) (Antrag, error) {
	return find(ctx, s.pool, iri)
}

func find(ctx context.Context, q database.Querier, iri string) (Antrag, error) {
	a, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM remote_antraege WHERE iri = $1`, iri))
	if errors.Is(err, pgx.ErrNoRows) {
		return Antrag{}, ErrUnknownAntrag
	}
	if err != nil {
		return Antrag{}, fmt.Errorf("nachbarn: Antrag %s: %w", iri, err)
	}
	return a, nil
}

// List returns the neighbours' Anträge, newest first, optionally only those in one status
// (the statuses are ours: a neighbour runs the same rules). A limit of 0 is antrag's default.
func (s *Service) List(ctx context.Context, status string, limit int) ([]Antrag, error) {
	if limit <= 0 {
		limit = antrag.DefaultLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM remote_antraege WHERE ($1 = '' OR status = $1)
ORDER BY opened_at DESC, id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("nachbarn: list: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Antrag, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("nachbarn: list: %w", err)
	}
	return as, nil
}

// Entry is one Antrag of the listing: ours (Ours) or a neighbour's (Theirs).
type Entry struct {
	Ours   *antrag.Antrag
	Theirs *Antrag
}

// OpenedAt is when the Antrag was filed, where it was filed.
func (e Entry) OpenedAt() time.Time {
	if e.Ours != nil {
		return e.Ours.OpenedAt
	}
	return e.Theirs.OpenedAt
}

// Listing returns our Anträge and our neighbours' together, newest first (ours first among
// those filed at the same time), at most limit of them, optionally only those in one status.
// Status and limit are checked as antrag.List checks them.
func (s *Service) Listing(ctx context.Context, status string, limit int) ([]Entry, error) {
	ours, err := s.antraege.List(ctx, status, limit)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = antrag.DefaultLimit
	}
	theirs, err := s.List(ctx, status, limit)
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(ours)+len(theirs))
	for i := range ours {
		entries = append(entries, Entry{Ours: &ours[i]})
	}
	for i := range theirs {
		entries = append(entries, Entry{Theirs: &theirs[i]})
	}
	slices.SortStableFunc(entries, func(a, b Entry) int { return b.OpenedAt().Compare(a.OpenedAt()) })
	return entries[:min(len(entries), limit)], nil
}
