package mirror

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// Record is a mirrored snapshot: a row of snapshot_mirrors.
type Record struct {
	Origin, Hash, Instance, Kind string
	AsOf                         time.Time
	Previous, Base               string
	Bytes                        int64
	Signature, SourceURL         string
	PublicKey                    string // the Multikey it was verified with
	VerifiedAt                   time.Time
}

const columns = `origin, hash, instance, kind, as_of, coalesce(previous, ''), coalesce(base, ''), bytes, signature, source_url,
       verified_at, public_key`

func scan(row pgx.CollectableRow) (Record, error) {
	var r Record
	err := row.Scan(&r.Origin, &r.Hash, &r.Instance, &r.Kind, &r.AsOf, &r.Previous, &r.Base, &r.Bytes, &r.Signature, &r.SourceURL, &r.VerifiedAt, &r.PublicKey)
	r.AsOf, r.VerifiedAt = r.AsOf.UTC(), r.VerifiedAt.UTC()
	return r, err
}

// List returns the mirrored snapshots of the origin host, oldest first.
func (s *Service) List(ctx context.Context, host string) ([]Record, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+columns+` FROM snapshot_mirrors WHERE origin = $1 ORDER BY as_of, hash`, host)
	if err != nil {
		return nil, fmt.Errorf("federation: mirrors: %w", err)
	}
	return pgx.CollectRows(rows, scan)
}

// Get returns one mirrored snapshot, or snapshot.ErrNoSnapshot.
func (s *Service) Get(ctx context.Context, host, hash string) (Record, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+columns+` FROM snapshot_mirrors WHERE origin = $1 AND hash = $2`, host, hash)
	if err != nil {
		return Record{}, fmt.Errorf("federation: mirrors: %w", err)
	}
	rs, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return Record{}, fmt.Errorf("federation: mirrors: %w", err)
	}
	if len(rs) == 0 {
		return Record{}, snapshot.ErrNoSnapshot
	}
	return rs[0], nil
}

// Open returns a mirrored file (suffix ".json.gz" or ".sig") of a recorded snapshot; the name
// is built from the recorded origin and hash only, so no request can reach outside the mirror
// directory.
func (s *Service) Open(ctx context.Context, host, hash, suffix string) (*os.File, Record, error) {
	if suffix != ".json.gz" && suffix != ".sig" {
		return nil, Record{}, snapshot.ErrNoSnapshot
	}
	r, err := s.Get(ctx, host, hash)
	if err != nil {
		return nil, Record{}, err
	}
	f, err := os.Open(filepath.Join(s.cfg.Dir, r.Origin, r.Hash+suffix))
	if err != nil {
		return nil, Record{}, fmt.Errorf("federation: mirror %s/%s%s is recorded but cannot be opened: %w", host, hash, suffix, err)
	}
	return f, r, nil
}
