// Package mirror keeps copies of neighbouring Ortswebereien's signed snapshots, so that an
// Ortsweberei's public history survives the loss of its own server (docs/FEDERATION.md,
// "Snapshots"). The inbox hands it an announcement (Enqueue); a River job of its own (kind
// federation_mirror_snapshot) fetches the file, bounded, into a temporary file, verifies it
// against the origin's snapshot key, and only then stores it under <dir>/<host>/ and records it
// in snapshot_mirrors, which this package owns. What it holds is served read-only (List, Open).
package mirror

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/weltgewebe/weltgewebe/federation/internal/blocks"
	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/fetch"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/transport"
)

// DefaultMaxBytes bounds a mirrored snapshot's compressed file when no other bound is set.
const DefaultMaxBytes int64 = 512 << 20

// Queue is the River queue mirroring runs in: few workers, since each may stream a large file.
const Queue = "federation_mirror"

// Keys gives the origin's snapshot key (actors.SnapshotKey).
type Keys interface {
	SnapshotKey(ctx context.Context, group string, fresh bool) (ed25519.PublicKey, error)
}

// Config is what the mirror needs.
type Config struct {
	Pool   *pgxpool.Pool
	Clock  clock.Clock // the instance clock: verified_at
	Client *transport.Client
	Blocks *blocks.Blocks
	Keys   Keys
	// Dir holds the mirrors, one directory per origin host ("" : no mirroring).
	Dir string
	// MaxBytes bounds one compressed file (0: DefaultMaxBytes).
	MaxBytes int64
	// TimelineReads is how many mirrored timelines (At) are read at once; a request beyond
	// is answered ErrBusy (0: DefaultTimelineReads).
	TimelineReads int
	// TimelineBytes bounds the JSON one mirrored timeline holds in memory (0:
	// DefaultTimelineBytes).
	TimelineBytes int64
	Log           *slog.Logger
}

// Service mirrors neighbours' snapshots.
type Service struct {
	cfg   Config
	river *river.Client[pgx.Tx]
	reads chan struct{} // a slot per mirrored timeline being read
	// readHook, when set (tests), wraps the file a mirrored timeline reads.
	readHook atomic.Pointer[func(io.Reader) io.Reader]
}

// SetReadHook makes each mirrored timeline read its file through wrap (nil: directly): a
// test holds a read in progress with it.
func (s *Service) SetReadHook(wrap func(io.Reader) io.Reader) {
	if wrap == nil {
		s.readHook.Store(nil)
		return
	}
	s.readHook.Store(&wrap)
}

// New returns the mirror.
func New(c Config) *Service {
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.TimelineReads <= 0 {
		c.TimelineReads = DefaultTimelineReads
	}
	if c.TimelineBytes <= 0 {
		c.TimelineBytes = DefaultTimelineBytes
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: c, reads: make(chan struct{}, c.TimelineReads)}
}

// SetRiver gives the mirror its job queue.
func (s *Service) SetRiver(c *river.Client[pgx.Tx]) { s.river = c }

// AddWorker registers the mirror's worker.
func (s *Service) AddWorker(workers *river.Workers) { river.AddWorker(workers, &worker{s: s}) }

// Enabled reports whether this instance keeps mirrors.
func (s *Service) Enabled() bool { return s.cfg.Dir != "" }

// Args are one announced snapshot to mirror.
type Args struct {
	Note convert.SnapshotNote `json:"note"`
}

func (Args) Kind() string { return "federation_mirror_snapshot" }

// Enqueue queues the mirroring of an announced snapshot; the inbox has checked that the
// announcement came from the snapshot's own Ortsweberei, a neighbour we follow.
func (s *Service) Enqueue(ctx context.Context, n convert.SnapshotNote) error {
	// Once while it is queued, running or waiting for a retry: the hourly catch-up lists again
	// what an earlier one or an announcement queued, and each job fetches the whole file.
	_, err := s.river.Insert(ctx, Args{Note: n}, &river.InsertOpts{Queue: Queue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled, rivertype.JobStateRetryable},
	}})
	return err
}

type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

// Timeout leaves a large file time to come over a slow link.
func (w *worker) Timeout(*river.Job[Args]) time.Duration { return time.Hour }

// Work mirrors one snapshot. A refusal (the file is not what was announced, not signed by the
// origin's key, does not follow what we hold of its chain, is too large) ends the job for good
// (cancelled, with the reason, and logged), with nothing stored; a failure that may pass (the
// origin does not answer now, our database) is retried.
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	n := job.Args.Note
	err := w.s.mirror(ctx, n)
	var r *refusal
	if errors.As(err, &r) {
		w.s.cfg.Log.Warn("federation: snapshot not mirrored", "origin", n.Instance, "hash", n.Hash, "url", n.URL, "reason", r.Error())
		if r.fetched {
			if rerr := w.s.recordRefusal(ctx, iri.HostOf(n.Instance), n.Hash, r.Error()); rerr != nil {
				return rerr // retried: the refusal is found again, and then recorded
			}
		}
		return river.JobCancel(err)
	}
	if err == nil {
		w.s.cfg.Log.Info("federation: snapshot mirrored", "origin", n.Instance, "hash", n.Hash, "as_of", n.AsOf)
	}
	return err
}

// refusal is why an announced snapshot is not mirrored, for good.
type refusal struct {
	err error
	// fetched: the refusal is about the file (its size, its content), so it is recorded in
	// snapshot_mirror_refusals and the hash is not fetched again. A refusal before the
	// download (mirroring off, a blocked host, the origin's key) is not: it says nothing
	// about the file, and may change.
	fetched bool
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(format string, a ...any) error { return &refusal{err: fmt.Errorf(format, a...)} }

// classify turns a failed exchange with the origin into a refusal unless it may pass.
func classify(err error) error {
	if err == nil || fetch.MayPass(err) {
		return err
	}
	var re *refusal
	if errors.As(err, &re) {
		return err
	}
	return &refusal{err: err}
}

func (s *Service) mirror(ctx context.Context, n convert.SnapshotNote) error {
	if !s.Enabled() {
		return refuse("this instance keeps no mirrors")
	}
	host := iri.HostOf(n.Instance)
	if host == "" || strings.ContainsAny(host, `/\`) || host == "." || host == ".." {
		return refuse("origin host %q", host)
	}
	if err := s.cfg.Blocks.Check(ctx, host); err != nil {
		return classify(err)
	}
	var have bool
	if err := s.cfg.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM snapshot_mirrors WHERE origin = $1 AND hash = $2)`,
		host, n.Hash).Scan(&have); err != nil {
		return fmt.Errorf("federation: mirror: %w", err)
	}
	if have {
		return nil // announced again, or a retry after the row was written
	}
	var refused string
	switch err := s.cfg.Pool.QueryRow(ctx, `SELECT reason FROM snapshot_mirror_refusals WHERE origin = $1 AND hash = $2`,
		host, n.Hash).Scan(&refused); {
	case err == nil:
		// Refused after a download already: the same hash names the same bytes, so it would
		// be refused again, after fetching the whole file again.
		return refuse("refused before: %s", refused)
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("federation: mirror: %w", err)
	}

	// The key first, and the detached signature over the announced hash: a forged
	// announcement costs no download.
	sig, err := snapshot.DecodeSignature([]byte(n.Signature))
	if err != nil {
		return refuse("detached signature: %v", err)
	}
	var pub ed25519.PublicKey
	// The cached key first; when it does not verify, the actor as its server has it now: an
	// Ortsweberei restored from snapshots signs with a new key under the same id.
	for _, fresh := range []bool{false, true} {
		if pub, err = s.cfg.Keys.SnapshotKey(ctx, n.Instance, fresh); err != nil {
			return classify(err)
		}
		if err = snapshot.VerifyDetached(n.Hash, sig, pub); err == nil {
			break
		}
	}
	if err != nil {
		return refuse("detached signature: %v", err)
	}

	dir := filepath.Join(s.cfg.Dir, host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("federation: mirror: %w", err)
	}
	tmp, size, err := s.download(ctx, dir, n.URL)
	if err != nil {
		return err // download marks the refusals about the file itself
	}
	kept := false
	defer func() {
		if !kept {
			os.Remove(tmp)
		}
	}()
	err = s.keep(ctx, n, host, dir, tmp, size, sig, pub)
	kept = err == nil
	return fetched(err)
}

// fetched marks a refusal that came with or after the download as one about the file.
func fetched(err error) error {
	var r *refusal
	if errors.As(err, &r) {
		r.fetched = true
	}
	return err
}

// recordRefusal notes that host's snapshot hash was refused after it was fetched.
func (s *Service) recordRefusal(ctx context.Context, host, hash, reason string) error {
	_, err := s.cfg.Pool.Exec(ctx, `INSERT INTO snapshot_mirror_refusals (origin, hash, reason, refused_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (origin, hash) DO NOTHING`, host, hash, reason, s.now())
	if err != nil {
		return fmt.Errorf("federation: mirror: record the refusal: %w", err)
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.cfg.Clock == nil {
		return time.Now().UTC()
	}
	return s.cfg.Clock.Now()
}

// keep checks the downloaded file tmp against the announcement and, when it holds, moves it
// into dir and records it; a refusal otherwise (the caller removes tmp unless kept).
func (s *Service) keep(ctx context.Context, n convert.SnapshotNote, host, dir, tmp string, size int64, sig []byte, pub ed25519.PublicKey) error {
	doc, err := readFile(tmp)
	if err != nil {
		return refuse("the file: %v", err)
	}
	switch {
	case doc.Hash != n.Hash:
		return refuse("the file's hash is %s, announced %s", doc.Hash, n.Hash)
	case doc.Instance != n.Instance:
		return refuse("the document is of %q, announced by %s", doc.Instance, n.Instance)
	case doc.Kind != n.Kind || doc.Previous != n.Previous || doc.Base != n.Base || !doc.AsOf.Equal(n.AsOf):
		return refuse("the document's kind, previous, base or as_of differ from the announcement")
	}
	if err := snapshot.VerifyDocument(doc, pub); err != nil {
		return refuse("proof: %v", err)
	}
	// The chain: when we hold the snapshot it names as previous, it must follow it. (When we
	// do not, e.g. an incremental in between was not announced, the link cannot be checked
	// here; the proof still binds "previous" to the origin's key.)
	if doc.Previous != "" {
		prev, err := s.openDoc(ctx, host, doc.Previous)
		switch {
		case err == nil:
			if err := snapshot.CheckLink(prev, doc); err != nil {
				return refuse("chain: %v", err)
			}
		case !errors.Is(err, snapshot.ErrNoSnapshot):
			return err
		}
	}

	final := filepath.Join(dir, n.Hash+".json.gz")
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("federation: mirror: %w", err)
	}
	if err := writeAtomic(dir, n.Hash+".sig", snapshot.EncodeSignature(sig)); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	_, err = s.cfg.Pool.Exec(ctx, `
INSERT INTO snapshot_mirrors (origin, hash, instance, kind, as_of, previous, base, bytes, signature, public_key, source_url, verified_at)
VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), $8, $9, $10, $11, $12)
ON CONFLICT (origin, hash) DO NOTHING`,
		host, n.Hash, n.Instance, doc.Kind, doc.AsOf, doc.Previous, doc.Base, size, string(snapshot.EncodeSignature(sig)),
		proof.EncodeMultikey(pub), n.URL, s.cfg.Clock.Now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		// Another snapshot of the origin names the same predecessor: a rewritten history.
		os.Remove(final)
		os.Remove(filepath.Join(dir, n.Hash+".sig"))
		return refuse("fork: another mirrored snapshot of %s already follows %s", host, doc.Previous)
	}
	if err != nil {
		return fmt.Errorf("federation: mirror: record: %w", err)
	}
	return nil
}

// download streams the file at url into a temporary file in dir, at most MaxBytes; it returns
// the temporary file's name and size.
func (s *Service) download(ctx context.Context, dir, url string) (string, int64, error) {
	if err := s.cfg.Blocks.Check(ctx, iri.HostOf(url)); err != nil {
		return "", 0, classify(err)
	}
	res, err := s.cfg.Client.Stream(ctx, url, "application/gzip")
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		if status == 0 || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
			if transport.Refused(err) {
				return "", 0, &refusal{err: err}
			}
			return "", 0, fmt.Errorf("federation: mirror: fetch %s: %w", url, err) // may pass: retried
		}
		// Not recorded: nothing was fetched, and asking again costs no file.
		return "", 0, refuse("fetch %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.Request != nil && res.Request.URL != nil && !iri.SameOrigin(res.Request.URL.String(), url) {
		return "", 0, fetched(refuse("%s was redirected to another host", url))
	}
	if res.ContentLength > s.cfg.MaxBytes {
		return "", 0, fetched(refuse("%s is %d bytes, more than the %d a mirror takes", url, res.ContentLength, s.cfg.MaxBytes))
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("federation: mirror: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	size, err := io.Copy(f, io.LimitReader(res.Body, s.cfg.MaxBytes+1))
	if err != nil {
		return "", 0, fmt.Errorf("federation: mirror: fetch %s: %w", url, err) // cut short: retried
	}
	if size > s.cfg.MaxBytes {
		return "", 0, fetched(refuse("%s is more than the %d bytes a mirror takes", url, s.cfg.MaxBytes))
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return "", 0, fmt.Errorf("federation: mirror: %w", err)
	}
	ok = true
	return f.Name(), size, nil
}

func readFile(name string) (*snapshot.Document, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return snapshot.Read(f, nil)
}

// openDoc reads a mirrored snapshot of host; snapshot.ErrNoSnapshot when none is recorded.
func (s *Service) openDoc(ctx context.Context, host, hash string) (*snapshot.Document, error) {
	f, _, err := s.Open(ctx, host, hash, ".json.gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return snapshot.Read(f, nil)
}

func writeAtomic(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("federation: mirror: %w", err)
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Sync(), f.Close()); err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("federation: mirror: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("federation: mirror: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("federation: mirror: %w", err)
	}
	return nil
}
