package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Record is a snapshot the instance wrote, read back and verified: a row of the snapshots
// table, the index of the files in the snapshot directory.
type Record struct {
	Hash     string
	Kind     string
	AsOf     time.Time
	Position eventstore.Snapshot
	Previous string // "" for the first
	Base     string // "" for a full one
	// Slot is the scheduled slot it fills (Schedule); one snapshot per kind and slot.
	Slot time.Time
	// Bytes is the size of the stored file (<hash>.json.gz), compressed.
	Bytes int64
	File  string // <hash>.json.gz, in the snapshot directory
	// Signature is the detached signature as the .sig file holds it (base64).
	Signature  string
	VerifiedAt time.Time
	CreatedAt  time.Time
}

// ErrNoSnapshot is returned when no recorded snapshot answers the question (an unknown hash;
// nothing at or before a moment).
var ErrNoSnapshot = errors.New("snapshot: no such snapshot")

const recordColumns = `hash, kind, as_of, pos_xmin, pos_xmax, pos_running, coalesce(previous, ''), coalesce(base, ''),
       slot, bytes, file, signature, verified_at, created_at`

func scanRecord(row pgx.CollectableRow) (Record, error) {
	var r Record
	err := row.Scan(&r.Hash, &r.Kind, &r.AsOf, &r.Position.Xmin, &r.Position.Xmax, &r.Position.Running,
		&r.Previous, &r.Base, &r.Slot, &r.Bytes, &r.File, &r.Signature, &r.VerifiedAt, &r.CreatedAt)
	r.AsOf, r.Slot, r.VerifiedAt, r.CreatedAt = r.AsOf.UTC(), r.Slot.UTC(), r.VerifiedAt.UTC(), r.CreatedAt.UTC()
	return r, err
}

func queryRecords(ctx context.Context, q database.Querier, sql string, args ...any) ([]Record, error) {
	rows, err := q.Query(ctx, `SELECT `+recordColumns+` FROM snapshots `+sql, args...)
	if err != nil {
		return nil, fmt.Errorf("snapshot: records: %w", err)
	}
	rs, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return nil, fmt.Errorf("snapshot: records: %w", err)
	}
	return rs, nil
}

func queryRecord(ctx context.Context, q database.Querier, sql string, args ...any) (Record, error) {
	rs, err := queryRecords(ctx, q, sql, args...)
	if err != nil {
		return Record{}, err
	}
	if len(rs) == 0 {
		return Record{}, ErrNoSnapshot
	}
	return rs[0], nil
}

// latest is the newest recorded snapshot of the kind ("": of either kind). The chain's order is
// the log's: a later snapshot's position contains an earlier one's, and so is its as_of.
func latest(ctx context.Context, q database.Querier, kind string) (Record, error) {
	return queryRecord(ctx, q, `WHERE kind = $1 OR $1 = '' ORDER BY as_of DESC, created_at DESC LIMIT 1`, kind)
}

func slotTaken(ctx context.Context, q database.Querier, kind string, slot time.Time) (bool, error) {
	var taken bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM snapshots WHERE kind = $1 AND slot = $2)`, kind, slot).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("snapshot: slot: %w", err)
	}
	return taken, nil
}

// record inserts a verified snapshot's row; false when its slot was taken meanwhile.
func record(ctx context.Context, q database.Querier, r Record) (bool, error) {
	running := r.Position.Running
	if running == nil {
		running = []uint64{}
	}
	tag, err := q.Exec(ctx, `
INSERT INTO snapshots (hash, kind, as_of, pos_xmin, pos_xmax, pos_running, previous, base, slot, bytes, file, signature,
                       verified_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), nullif($8, ''), $9, $10, $11, $12, $13, $14)
ON CONFLICT (kind, slot) DO NOTHING`,
		r.Hash, r.Kind, r.AsOf, r.Position.Xmin, r.Position.Xmax, running, r.Previous, r.Base, r.Slot, r.Bytes, r.File,
		r.Signature, r.VerifiedAt, r.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("snapshot: record %s: %w", r.Hash, err)
	}
	return tag.RowsAffected() == 1, nil
}

// List returns every recorded (written and verified) snapshot, oldest first: the index that
// GET /snapshots/ serves.
func (s *Service) List(ctx context.Context) ([]Record, error) {
	return queryRecords(ctx, s.pool, `ORDER BY as_of, created_at`)
}

// Get returns the recorded snapshot with the hash, or ErrNoSnapshot.
func (s *Service) Get(ctx context.Context, hash string) (Record, error) {
	if !validHash(hash) {
		return Record{}, ErrNoSnapshot
	}
	return queryRecord(ctx, s.pool, `WHERE hash = $1`, hash)
}

// Latest returns the newest recorded snapshot of the kind ("" for either), or ErrNoSnapshot.
func (s *Service) Latest(ctx context.Context, kind string) (Record, error) {
	return latest(ctx, s.pool, kind)
}

// Chain returns what holds the public state as of the moment at: the newest full snapshot
// whose as_of is at or before it, then the incrementals built on it (base) whose as_of is at
// or before it, oldest first — the files to merge (Merge) for the state as of the last of
// them; the events after its position bring it further while the log holds them. It returns
// ErrNoSnapshot when no full snapshot is that old.
func (s *Service) Chain(ctx context.Context, at time.Time) ([]Record, error) {
	full, err := queryRecord(ctx, s.pool, `WHERE kind = 'full' AND as_of <= $1 ORDER BY as_of DESC LIMIT 1`, at)
	if err != nil {
		return nil, err
	}
	incs, err := queryRecords(ctx, s.pool, `WHERE base = $1 AND as_of <= $2 ORDER BY as_of`, full.Hash, at)
	if err != nil {
		return nil, err
	}
	return append([]Record{full}, incs...), nil
}

// RecordRestored records, in q (the restore's transaction), the chain a database was restored
// from, so that the restored instance's next snapshot continues it (its previous is the last
// of them, its base the last full one) and the retention and the timeline know them. The
// caller has verified each snapshot and stored its files in the snapshot directory (Store).
// Records are inserted in the order given; their Slot is kept (the slots they filled), so a
// slot is not taken twice.
func RecordRestored(ctx context.Context, q database.Querier, recs []Record) error {
	for _, r := range recs {
		if r.File == "" {
			r.File = r.Hash + ".json.gz"
		}
		ok, err := record(ctx, q, r)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("snapshot: restored %s fills the %s slot %s, already taken", r.Hash, r.Kind, r.Slot)
		}
	}
	return nil
}
