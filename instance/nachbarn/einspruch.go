package nachbarn

import (
	"context"
	"fmt"
	"strings"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// AddEinspruch keeps an objection to a neighbour's Antrag by one of that Ortsweberei's verified
// residents (ErrNotResident otherwise; the same rule as for Stimmen). An Einspruch carries no
// proof: the caller took it from its author's own server. Each author objects once; a second
// Einspruch of the same author changes nothing. An Antrag we do not keep is ErrUnknownAntrag.
func (s *Service) AddEinspruch(ctx context.Context, e Einspruch) error {
	a, err := s.Find(ctx, e.Antrag)
	if err != nil {
		return err
	}
	if !e.Author.ResidentOf(a.Ortsweberei) {
		return ErrNotResident
	}
	// An Einspruch raised before its origin's Delete of the Antrag (DeleteAntragTx) and
	// arriving after it keeps no words, as the Einsprüche we had lost theirs. One raised
	// after it was raised once the Antrag was shown again (a hidden Antrag sends none).
	_, err = s.pool.Exec(ctx, `
INSERT INTO remote_einsprueche (antrag, author, author_name, reason, created_at)
SELECT r.iri, $2, $3, CASE WHEN d.iri IS NULL THEN $4::text ELSE '' END, $5::timestamptz
FROM remote_antraege r LEFT JOIN remote_antrag_deletes d ON d.iri = r.iri AND d.actor = r.actor AND d.deleted_at >= $5::timestamptz
WHERE r.iri = $1
ON CONFLICT DO NOTHING`, a.IRI, e.Author.IRI, e.Author.Name, e.Reason, e.CreatedAt)
	if err != nil {
		return fmt.Errorf("nachbarn: Einspruch: %w", err)
	}
	return nil
}

// DeleteEinspruchTx drops, in the caller's transaction, an Einspruch its author's server
// deleted (object its id, <Antrag IRI>/einsprueche/<account>, actor its author; a moderator
// there hid it): it leaves the Antrag's view, as it leaves the origin's public list, and its
// words are gone for good. A wordless row stays as a tombstone (author, when, deleted_at), so
// that a late or repeated delivery of its Create changes nothing (an author objects once).
// A Delete that comes before the Create (delivery jobs keep no order between them) leaves
// that tombstone too, on an Antrag we keep. Only the author's own row on that Antrag is
// touched; anything else is no Einspruch of ours and nothing happens.
func (s *Service) DeleteEinspruchTx(ctx context.Context, tx *database.Tx, object, actor string) error {
	antrag, _, ok := strings.Cut(object, "/einsprueche/")
	if !ok {
		return nil
	}
	tx.Defer(`INSERT INTO remote_einsprueche (antrag, author, reason, created_at, deleted_at)
SELECT iri, $2, '', $3, $3 FROM remote_antraege WHERE iri = $1
ON CONFLICT (antrag, author) DO UPDATE SET reason = '', deleted_at = $3 WHERE remote_einsprueche.deleted_at IS NULL`,
		antrag, actor, s.clock.Now())
	return nil
}

// StoreDelegation keeps a delegation a neighbour's close counted with, its delegator's proof
// checked by the caller: by a verified resident of the Antrag's Ortsweberei (ErrNotResident
// otherwise), as for Stimmen. The delegator's latest delegation on the Antrag counts. An
// Antrag we do not keep is ErrUnknownAntrag.
func (s *Service) StoreDelegation(ctx context.Context, d Delegation) error {
	a, err := s.Find(ctx, d.Antrag)
	if err != nil {
		return err
	}
	if !d.Delegator.ResidentOf(a.Ortsweberei) {
		return ErrNotResident
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO remote_delegationen (antrag, delegator, delegate, object) VALUES ($1, $2, $3, $4)
ON CONFLICT (antrag, delegator) DO UPDATE SET delegate = excluded.delegate, object = excluded.object`,
		a.IRI, d.Delegator.IRI, d.Delegate, d.Object)
	if err != nil {
		return fmt.Errorf("nachbarn: delegation: %w", err)
	}
	return nil
}

// ForgetDomainTx removes, in the caller's transaction, everything a blocked domain (and its
// subdomains) sent: its Anträge with their Stimmen, Einsprüche and delegations, and the
// Stimmen, Einsprüche and delegations of its actors on other Anträge. Rows are matched by the
// host in the IRI itself (database.OnDomain). The tombstones of its deleted Anträge
// (remote_antrag_deletes) stay: they hold no words, and keep a late Create out after an unblock.
func (s *Service) ForgetDomainTx(ctx context.Context, tx *database.Tx, domain string) error {
	for _, q := range []string{
		`DELETE FROM remote_antraege WHERE ` + database.OnDomain("iri"), // with their Stimmen, Einsprüche, delegations
		`DELETE FROM remote_stimmen WHERE ` + database.OnDomain("voter"),
		`DELETE FROM remote_einsprueche WHERE ` + database.OnDomain("author"),
		`DELETE FROM remote_delegationen WHERE ` + database.OnDomain("delegator"),
	} {
		tx.Defer(q, domain)
	}
	return nil
}
