package snapshot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Spec is what a snapshot is to be taken of.
type Spec struct {
	Instance string    // the Ortsweberei actor's id
	Sections []Section // every section of the instance, any order (the file sorts them)
	Key      ed25519.PrivateKey
	Previous string // the hash of the snapshot before it; "" for the first
	// IDs nil: a full snapshot. Otherwise an incremental one, with per section the ids to
	// dump again (what Touched said of the events since the previous snapshot; a section
	// without an entry has no changes). Base must then name the full snapshot it builds on.
	IDs  map[string][]string
	Base string
	// Gone adds ids the caller believes gone. They are treated as IDs: Take asks the section
	// for them too, and lists as gone every id of IDs and Gone that its section did not emit
	// (it no longer exists, or is no longer public). An id the section emits is written as
	// an object: what the state holds decides, not what the caller believed.
	Gone map[string][]string
	// Changed, when set, makes the snapshot incremental and supplies its IDs instead of
	// spec.IDs: Take calls it inside its transaction, right after reading the position, so
	// that the ids come from exactly the events between the previous snapshot's position and
	// this one's (an event committed between a caller's reading and Take's transaction would
	// otherwise fall between two snapshots). Its result is used as IDs (nil counts as none).
	Changed func(ctx context.Context, q database.Querier, pos eventstore.Snapshot) (map[string][]string, error)
}

// Take writes a snapshot of the public state to w: the full state (spec.IDs nil) or an
// incremental one. It reads in one REPEATABLE READ, READ ONLY transaction, so every section
// dumps the same instant; the position is that transaction's snapshot of the log, and as_of
// the clock's time right after it was taken (so every event the state contains was stamped
// before as_of). It returns the header as written and what Close said; on error, what was
// written to w is no snapshot.
//
// For an incremental, each section's Dump runs twice in the transaction: once to learn which
// of the ids still exist (the rest are gone, and "gone" precedes "objects" in the file),
// then to write them. An incremental is small, so the second pass costs little, and nothing
// is held in memory beyond the ids.
func Take(ctx context.Context, pool *pgxpool.Pool, clk clock.Clock, spec Spec, w io.Writer) (Header, Written, error) {
	if clk == nil {
		return Header{}, Written{}, errors.New("snapshot: Take without a clock")
	}
	byName := map[string]Section{}
	for _, s := range spec.Sections {
		name := s.Name()
		if !validName(name) {
			return Header{}, Written{}, fmt.Errorf("snapshot: bad section name %q", name)
		}
		if _, dup := byName[name]; dup {
			return Header{}, Written{}, fmt.Errorf("snapshot: two sections named %q", name)
		}
		byName[name] = s
	}
	for _, m := range []map[string][]string{spec.IDs, spec.Gone} {
		for name := range m {
			if _, ok := byName[name]; !ok {
				return Header{}, Written{}, fmt.Errorf("snapshot: no section %q", name)
			}
		}
	}
	h := Header{Instance: spec.Instance, Previous: spec.Previous, Kind: KindFull}
	if spec.IDs != nil || spec.Changed != nil {
		h.Kind, h.Base = KindIncremental, spec.Base
	} else if len(spec.Gone) > 0 || spec.Base != "" {
		return Header{}, Written{}, errors.New("snapshot: a full snapshot has neither gone ids nor a base")
	}
	names := slices.Sorted(maps.Keys(byName))

	var res Written
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		pos, err := eventstore.CurrentSnapshot(ctx, tx)
		if err != nil {
			return err
		}
		h.Position, h.AsOf = pos, clk.Now()
		idsOf := spec.IDs
		if spec.Changed != nil {
			if idsOf, err = spec.Changed(ctx, tx, pos); err != nil {
				return fmt.Errorf("snapshot: changed ids: %w", err)
			}
			for name := range idsOf {
				if _, ok := byName[name]; !ok {
					return fmt.Errorf("snapshot: changed ids name no section %q", name)
				}
			}
		}

		ids := map[string][]string{}
		gone := map[string][]string{}
		if h.Kind == KindIncremental {
			for _, name := range names {
				want := slices.Concat(idsOf[name], spec.Gone[name])
				slices.Sort(want)
				want = slices.Compact(want)
				ids[name] = want
				emitted := map[string]bool{}
				if len(want) > 0 {
					err := byName[name].Dump(ctx, tx, want, func(o Object) error {
						if _, ok := slices.BinarySearch(want, o.ID); !ok {
							return fmt.Errorf("snapshot: section %q emitted %q, which it was not asked for", name, o.ID)
						}
						emitted[o.ID] = true
						return nil
					})
					if err != nil {
						return fmt.Errorf("snapshot: section %q: %w", name, err)
					}
				}
				for _, id := range want {
					if !emitted[id] {
						gone[name] = append(gone[name], id)
					}
				}
			}
		}

		sw, err := NewWriter(w, h, gone, spec.Key)
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := sw.Section(name); err != nil {
				return err
			}
			if h.Kind == KindIncremental && len(ids[name]) == 0 {
				continue
			}
			var want []string // nil: every object
			if h.Kind == KindIncremental {
				want = ids[name]
			}
			if err := byName[name].Dump(ctx, tx, want, sw.Object); err != nil {
				return fmt.Errorf("snapshot: section %q: %w", name, err)
			}
		}
		res, err = sw.Close()
		return err
	})
	if err != nil {
		return Header{}, Written{}, err
	}
	h, _ = checkHeader(h) // as written: UTC, running sorted
	return h, res, nil
}
