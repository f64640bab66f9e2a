package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Helpers for the sections' Dump and Restore, so that each owning package writes only its SQL
// and its object shape.

// IDs returns a section's filter for Dump: all is true for ids nil (every object); otherwise
// the ids that are uuids (an id that is not cannot be one of the section's objects).
func IDs(ids []string) (all bool, uuids []uuid.UUID) {
	if ids == nil {
		return true, nil
	}
	uuids = make([]uuid.UUID, 0, len(ids))
	for _, s := range ids {
		if id, err := uuid.Parse(s); err == nil {
			uuids = append(uuids, id)
		}
	}
	return false, uuids
}

// PairID is the id of an object that two uuids name together (an Einspruch: its Antrag and
// its author), "<a>/<b>". Every uuid's text has the same length, so ORDER BY a, b sorts as
// the ids do.
func PairID(a, b uuid.UUID) string { return a.String() + "/" + b.String() }

// PairIDs is IDs for sections whose ids are PairIDs: the pairs among ids, as two columns.
func PairIDs(ids []string) (all bool, as, bs []uuid.UUID) {
	if ids == nil {
		return true, nil, nil
	}
	for _, id := range ids {
		a, b, ok := strings.Cut(id, "/")
		ua, err1 := uuid.Parse(a)
		ub, err2 := uuid.Parse(b)
		if ok && err1 == nil && err2 == nil {
			as, bs = append(as, ua), append(bs, ub)
		}
	}
	return false, as, bs
}

// UTC is t in UTC, nil for nil: the times a Dump scans, as every object writes them.
func UTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Emit marshals v and emits it as the object id.
func Emit(emit func(Object) error, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("snapshot: object %s: %w", id, err)
	}
	return emit(Object{ID: id, JSON: b})
}

// CopyFrom decodes each object into a T, turns it into a row and copies the rows into table
// (COPY: a million Knoten in seconds, not in a million statements). Objects come in id order,
// as Dump emitted them. It returns the number of rows copied.
func CopyFrom[T any](ctx context.Context, tx pgx.Tx, objects func(yield func(Object, error) bool), table string, columns []string, row func(T) ([]any, error)) (int64, error) {
	next, stop := iter.Pull2(iter.Seq2[Object, error](objects))
	defer stop()
	return tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromFunc(func() ([]any, error) {
		o, err, ok := next()
		if !ok {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(o.JSON, &v); err != nil {
			return nil, fmt.Errorf("snapshot: %s object %s: %w", table, o.ID, err)
		}
		return row(v)
	}))
}
