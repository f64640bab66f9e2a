package snapshot

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// DefaultRetention is how long the raw event log keeps an event that a verified snapshot
// holds (docs/SNAPSHOTS.md, "Retention").
const DefaultRetention = 30 * 24 * time.Hour

// Options configure the snapshot service.
type Options struct {
	// Dir is where the files are written and served from (created if missing). Replicas of
	// one instance must share it.
	Dir string
	// Instance is the Ortsweberei actor's id: the documents' "instance", whose assertionMethod
	// publishes the key (KeyID).
	Instance string
	// Sections are every public section, in restore order.
	Sections []Section
	Schedule Schedule
	// Retention is how old an event must be before it is deleted once a verified snapshot
	// holds it (0: DefaultRetention; negative: never deleted).
	Retention time.Duration
	// Recorded, when set, is called in the transaction that records a verified snapshot, so
	// that what it queues (federation's announcement to the neighbours) commits with the row
	// or not at all. An error rolls the recording back. It is a callback, so that this package
	// needs no federation: instance.go wires it.
	Recorded func(ctx context.Context, tx pgx.Tx, r Record) error
	// Saved, when set, is called with the paths of a snapshot's files (.json.gz, .sig) once it
	// is recorded: the backup repository keeps a copy of each (instance/backup.go). Its error
	// is logged; the snapshot stands.
	Saved func(paths ...string) error
	Log   *slog.Logger
}

// Service takes the scheduled snapshots, stores and verifies them, answers which exist, and
// deletes the events they cover once the retention has passed.
type Service struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	keys  *Keys
	opts  Options
	log   *slog.Logger

	mu sync.Mutex
	// retainedUpTo is the snapshot whose coverage this process last applied the retention
	// to, and when: the retention runs again when a newer one is recorded or a day has passed.
	retainedUpTo string
	retainedAt   time.Time
}

// NewService returns the snapshot service.
func NewService(pool *pgxpool.Pool, c clock.Clock, keys *Keys, opts Options) *Service {
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	opts.Schedule = opts.Schedule.withDefaults()
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, clock: c, keys: keys, opts: opts, log: log}
}

// Dir is the directory the files are in.
func (s *Service) Dir() string { return s.opts.Dir }

// Instance is the Ortsweberei actor's id the documents name.
func (s *Service) Instance() string { return s.opts.Instance }

// Schedule is when the service takes snapshots.
func (s *Service) Schedule() Schedule { return s.opts.Schedule }

// Sweep does what is due: the full snapshot of the last full slot if it has not been taken,
// then the incremental of the last incremental slot if it has not and comes after the last
// snapshot; then the retention. It reads the time from the instance clock, so a missed slot
// (the instance was down at 02:00, or the dev clock jumped) is taken at the next run, once;
// slots further back are not (their state is gone). Several runs at once, in one process or
// in several replicas, take each slot once: they wait for each other, and the second finds it
// taken.
func (s *Service) Sweep(ctx context.Context) error {
	if _, err := s.TakeDue(ctx); err != nil {
		return err
	}
	_, err := s.Retain(ctx)
	return err
}

// takeLock serialises the snapshot takers of every process on the database.
var takeLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("snapshot:take"))
	return int64(h.Sum64())
}()

// TakeDue takes the snapshots due now (see Sweep) and returns those it recorded.
func (s *Service) TakeDue(ctx context.Context) ([]Record, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, takeLock); err != nil {
		return nil, fmt.Errorf("snapshot: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, takeLock); err != nil {
			_ = conn.Conn().Close(context.Background()) // never back into the pool holding the lock
		}
	}()

	var took []Record
	now := s.clock.Now()
	slot := s.opts.Schedule.LastFull(now)
	taken, err := slotTaken(ctx, s.pool, KindFull, slot)
	if err != nil {
		return nil, err
	}
	if !taken {
		r, err := s.take(ctx, KindFull, slot)
		if err != nil {
			return took, err
		}
		took = append(took, r)
	}
	slot, ok := s.opts.Schedule.LastIncremental(now)
	if !ok {
		return took, nil
	}
	last, err := latest(ctx, s.pool, "")
	if errors.Is(err, ErrNoSnapshot) || (err == nil && !slot.After(last.AsOf)) {
		return took, nil // an incremental needs a full one before it, and a slot since the last
	}
	if err != nil {
		return took, err
	}
	if taken, err = slotTaken(ctx, s.pool, KindIncremental, slot); err != nil || taken {
		return took, err
	}
	r, err := s.take(ctx, KindIncremental, slot)
	if err != nil {
		return took, err
	}
	return append(took, r), nil
}

// take writes, verifies and records one snapshot for the slot. The caller holds the lock.
func (s *Service) take(ctx context.Context, kind string, slot time.Time) (Record, error) {
	start := time.Now() // for the log only
	prev, err := latest(ctx, s.pool, "")
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return Record{}, err
	}
	key, err := s.keys.Private(ctx)
	if err != nil {
		return Record{}, err
	}
	spec := Spec{Instance: s.opts.Instance, Previous: prev.Hash, Sections: s.opts.Sections, Key: key}
	if kind == KindIncremental {
		base, err := latest(ctx, s.pool, KindFull)
		if err != nil {
			return Record{}, fmt.Errorf("snapshot: incremental without a full one: %w", err)
		}
		spec.Base = base.Hash
		spec.Changed = s.changedSince(prev.Position)
	}
	if err := os.MkdirAll(s.opts.Dir, 0o755); err != nil {
		return Record{}, fmt.Errorf("snapshot: directory: %w", err)
	}
	s.removeStale()

	// Written under a temporary name that is never a snapshot's, renamed once whole and on
	// disk: a crash leaves a stray temporary file, never a half-written snapshot.
	hdr, written, tmpName, err := s.writeTemp(ctx, spec)
	if err != nil {
		return Record{}, err
	}
	name := written.Hash + ".json.gz"
	final := filepath.Join(s.opts.Dir, name)
	if err := os.Rename(tmpName, final); err != nil {
		os.Remove(tmpName)
		return Record{}, fmt.Errorf("snapshot: store: %w", err)
	}
	sigText := EncodeSignature(written.Signature)
	if err := writeFileAtomic(s.opts.Dir, written.Hash+".sig", sigText); err != nil {
		return Record{}, err
	}
	if err := syncDir(s.opts.Dir); err != nil {
		return Record{}, err
	}

	// What is recorded (listed, served, trusted by the retention) is what was read back from
	// the disk and checked as any reader would check it.
	size, err := s.verifyStored(ctx, written.Hash)
	if err != nil {
		s.removeUnrecorded(ctx, written.Hash)
		return Record{}, err
	}
	now := s.clock.Now()
	r := Record{Hash: written.Hash, Kind: kind, AsOf: hdr.AsOf, Position: hdr.Position, Previous: hdr.Previous, Base: hdr.Base,
		Slot: slot, Bytes: size, File: name, Signature: string(sigText), VerifiedAt: now, CreatedAt: now}
	var ok bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if ok, err = record(ctx, tx, r); err != nil || !ok || s.opts.Recorded == nil {
			return err
		}
		return s.opts.Recorded(ctx, tx, r)
	})
	if err != nil {
		s.removeUnrecorded(ctx, written.Hash)
		return Record{}, err
	}
	if !ok { // cannot happen under the lock; never leave files the index does not list
		s.removeUnrecorded(ctx, written.Hash)
		return Record{}, fmt.Errorf("snapshot: the %s slot %s was taken meanwhile", kind, slot)
	}
	if s.opts.Saved != nil {
		if err := s.opts.Saved(final, filepath.Join(s.opts.Dir, written.Hash+".sig")); err != nil {
			s.log.Error("snapshot taken, but not copied into the backup repository", "hash", r.Hash, "err", err)
		}
	}
	s.log.Info("snapshot taken", "kind", kind, "hash", r.Hash, "slot", slot, "as_of", r.AsOf, "bytes", r.Bytes,
		"objects", written.Objects, "took", time.Since(start).Round(time.Millisecond))
	return r, nil
}

// removeUnrecorded deletes a snapshot's files unless a recorded snapshot has the same hash
// (identical bytes: then the files are that one's).
func (s *Service) removeUnrecorded(ctx context.Context, hash string) {
	if _, err := s.Get(ctx, hash); err == nil || !errors.Is(err, ErrNoSnapshot) {
		return
	}
	os.Remove(filepath.Join(s.opts.Dir, hash+".json.gz"))
	os.Remove(filepath.Join(s.opts.Dir, hash+".sig"))
}

// tmpPrefix starts every temporary file's name: never a snapshot's (a hash), never served.
const tmpPrefix = ".tmp-"

func (s *Service) writeTemp(ctx context.Context, spec Spec) (Header, Written, string, error) {
	f, err := os.CreateTemp(s.opts.Dir, tmpPrefix+"*.json.gz")
	if err != nil {
		return Header{}, Written{}, "", fmt.Errorf("snapshot: store: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	gz := gzip.NewWriter(bw)
	hdr, written, err := Take(ctx, s.pool, s.clock, spec, gz)
	if err != nil {
		return Header{}, Written{}, "", err
	}
	if err := errors.Join(gz.Close(), bw.Flush(), f.Sync(), f.Close()); err != nil {
		return Header{}, Written{}, "", fmt.Errorf("snapshot: store: %w", err)
	}
	ok = true
	return hdr, written, f.Name(), nil
}

// verifyStored reads the stored files back and checks them as a reader would: the document
// (form, hash, proof) and the detached signature. It returns the file's size.
func (s *Service) verifyStored(ctx context.Context, hash string) (int64, error) {
	pub, err := s.keys.Public(ctx)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(filepath.Join(s.opts.Dir, hash+".json.gz"))
	if err != nil {
		return 0, fmt.Errorf("snapshot: verify: %w", err)
	}
	defer f.Close()
	doc, err := Read(f, nil)
	if err != nil {
		return 0, fmt.Errorf("snapshot: verify %s: %w", hash, err)
	}
	if doc.Hash != hash {
		return 0, fmt.Errorf("snapshot: verify: the stored file's hash is %s, written %s", doc.Hash, hash)
	}
	if err := VerifyDocument(doc, pub); err != nil {
		return 0, fmt.Errorf("snapshot: verify %s: %w", hash, err)
	}
	sigText, err := os.ReadFile(filepath.Join(s.opts.Dir, hash+".sig"))
	if err != nil {
		return 0, fmt.Errorf("snapshot: verify: %w", err)
	}
	sig, err := DecodeSignature(sigText)
	if err == nil {
		err = VerifyDetached(hash, sig, pub)
	}
	if err != nil {
		return 0, fmt.Errorf("snapshot: verify %s.sig: %w", hash, err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("snapshot: verify: %w", err)
	}
	return st.Size(), nil
}

// changedSince is what an incremental snapshot dumps again: per section, the ids that the
// events after from (up to the new snapshot's own position, read in its transaction) touched.
// Every event is asked, private ones too; each section decides what it reveals.
func (s *Service) changedSince(from eventstore.Snapshot) func(context.Context, database.Querier, eventstore.Snapshot) (map[string][]string, error) {
	return func(ctx context.Context, q database.Querier, to eventstore.Snapshot) (map[string][]string, error) {
		touched := map[string]map[string]struct{}{}
		for _, sec := range s.opts.Sections {
			touched[sec.Name()] = map[string]struct{}{}
		}
		err := eventstore.Between(ctx, q, from, to, 1000, func(_ context.Context, evs []eventstore.Event) error {
			for _, e := range evs {
				for _, sec := range s.opts.Sections {
					for _, id := range sec.Touched(e) {
						touched[sec.Name()][id] = struct{}{}
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		ids := make(map[string][]string, len(touched))
		for name, set := range touched {
			list := make([]string, 0, len(set))
			for id := range set {
				list = append(list, id)
			}
			slices.Sort(list)
			ids[name] = list
		}
		return ids, nil
	}
}

// removeStale deletes temporary files a crashed take left behind (older than any take may
// run), so that they do not pile up.
func (s *Service) removeStale() {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(s.opts.Dir, e.Name()))
		}
	}
}

// writeFileAtomic writes b to dir/name through a temporary file: fsync, then rename.
func writeFileAtomic(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("snapshot: store: %w", err)
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Sync(), f.Close()); err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("snapshot: store: %w", err)
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: store: %w", err)
	}
	return nil
}

// Open returns the stored file (<hash>.json.gz, gzip-compressed) of a recorded snapshot, for
// serving or merging; ErrNoSnapshot when no snapshot with the hash is recorded. A file that is
// recorded but missing (a replica whose directory is not shared) is an error of its own.
func (s *Service) Open(ctx context.Context, hash string) (*os.File, Record, error) {
	return s.openFile(ctx, hash, ".json.gz")
}

// OpenSignature returns the stored detached signature (<hash>.sig) of a recorded snapshot.
func (s *Service) OpenSignature(ctx context.Context, hash string) (*os.File, Record, error) {
	return s.openFile(ctx, hash, ".sig")
}

func (s *Service) openFile(ctx context.Context, hash, suffix string) (*os.File, Record, error) {
	r, err := s.Get(ctx, hash)
	if err != nil {
		return nil, Record{}, err
	}
	f, err := os.Open(filepath.Join(s.opts.Dir, hash+suffix))
	if err != nil {
		return nil, Record{}, fmt.Errorf("snapshot: %s%s is recorded but cannot be opened: %w", hash, suffix, err)
	}
	return f, r, nil
}

// Opener returns an Opener of a recorded snapshot's file, for Merge and MergeSection.
func (s *Service) Opener(r Record) Opener {
	return func() (io.ReadCloser, error) {
		return os.Open(filepath.Join(s.opts.Dir, r.File))
	}
}

// Store writes a snapshot's two files into dir under their names (<hash>.json.gz from doc, the
// compressed document as served; <hash>.sig holding sig, the .sig file's text) the way the
// service writes its own: through temporary files, synced, renamed. For a restore that brings
// the files of the chain it restored from; the caller has verified them.
func Store(dir, hash string, doc io.Reader, sig []byte) error {
	if !validHash(hash) {
		return fmt.Errorf("snapshot: store: %q is not a hash", hash)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: store: %w", err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*.json.gz")
	if err != nil {
		return fmt.Errorf("snapshot: store: %w", err)
	}
	_, err = io.Copy(f, doc)
	if err = errors.Join(err, f.Sync(), f.Close()); err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, hash+".json.gz"))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("snapshot: store: %w", err)
	}
	if err := writeFileAtomic(dir, hash+".sig", sig); err != nil {
		return err
	}
	return syncDir(dir)
}
