package instance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// SnapshotSections are every public projection's section (docs/SNAPSHOTS.md, "Sections"), in
// the order a restore writes them: what a row refers to is written before it (accounts first;
// Abstimmungen before the Anträge that name them). A snapshot file lists them by name instead.
func SnapshotSections() []snapshot.Section {
	return slices.Concat(
		ortsweberei.SnapshotSections(), // ortsweberei
		account.SnapshotSections(),     // garnrollen
		knoten.SnapshotSections(),      // knoten, faeden
		abstimmung.SnapshotSections(),  // abstimmungen (with stimmen, stimmen_verlauf)
		antrag.SnapshotSections(),      // antraege, einsprueche
		delegation.SnapshotSections(),  // delegationen
		ortskonto.SnapshotSections(),   // ortskonto, goldfaeden
	)
}

// ErrNotEmpty is RestoreSnapshot's answer for a database that already holds an Ortsweberei.
var ErrNotEmpty = errors.New("restore: the database is not empty (it has events or accounts); restore only into a new one")

// RestoreSnapshot writes a public state into a migrated, empty database in one transaction:
// every section in the order of sections, its objects from objects(section name) in id order
// (a merged chain: a full snapshot and its incrementals). Nothing is committed unless every
// section was written and check (verifying the chain the objects came from: a streamed
// signature is known good only at the file's end) returned nil; check may be nil.
func RestoreSnapshot(ctx context.Context, pool *pgxpool.Pool, sections []snapshot.Section,
	objects func(section string) iter.Seq2[snapshot.Object, error], check func() error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		head, err := eventstore.NewStore(pool, 0, nil).Head(ctx)
		if err != nil {
			return err
		}
		accounts, err := account.HasAccounts(ctx, tx)
		if err != nil {
			return err
		}
		if head != (eventstore.Position{}) || accounts {
			return ErrNotEmpty
		}
		for _, s := range sections {
			if err := s.Restore(ctx, tx, objects(s.Name())); err != nil {
				return fmt.Errorf("restore %s: %w", s.Name(), err)
			}
		}
		if check != nil {
			return check()
		}
		return nil
	})
}
