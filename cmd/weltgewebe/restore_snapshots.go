package main

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// restoredCursor is the cursor a restore from snapshots leaves at the restored chain's log
// position: eventstore.KeepPositionsAhead then moves every new position past it, so that the
// restored instance's next incremental snapshot, which reads the events after the last
// restored one's position, sees every event written after the restore. It is dropped once the
// offset is raised.
const restoredCursor = "snapshot-restore"

// chainFile is one snapshot of the chain to restore, spooled to a local file.
type chainFile struct {
	path string // <hash>.json.gz or <hash>.json, with <hash>.sig beside it
	doc  *snapshot.Document
	sig  []byte
}

// restoreFromSnapshots rebuilds the public state in an empty database from the newest full
// snapshot in from (a directory, or the URL of an instance's /snapshots/ index) and the
// incrementals after it. Every file is checked (form, hash, detached signature, proof, the
// chain's links) before the database is touched, and again while it is read into the
// restore's one transaction, which commits only when all of it held.
func restoreFromSnapshots(ctx context.Context, from, key string, maxBytes int64, db *dbFlags, stdout, stderr io.Writer) error {
	spool, err := os.MkdirTemp("", "weltgewebe-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spool)
	v := &verifier{client: snapshotClient()}
	paths, err := fetchChainCandidates(ctx, v, from, spool, maxBytes)
	if err != nil {
		return err
	}
	log := quietLogger(stderr)
	chain, err := pickChain(ctx, v, paths, log)
	if err != nil {
		return err
	}
	var pub ed25519.PublicKey
	if key != "" {
		if pub, err = proof.DecodeMultikey(key); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	} else if pub, err = v.actorKey(ctx, chain[0].doc.Instance); err != nil {
		return err
	}
	for i, f := range chain {
		if err := v.signatures(ctx, location{path: f.path}, f.doc, pub); err != nil {
			return err
		}
		if i > 0 {
			if err := snapshot.CheckLink(chain[i-1].doc, f.doc); err != nil {
				return err
			}
		}
		if f.sig, err = os.ReadFile(filepath.Join(filepath.Dir(f.path), f.doc.Hash+".sig")); err != nil {
			return err
		}
		chain[i] = f
	}
	last := chain[len(chain)-1].doc

	cfg := db.config()
	d, err := instance.OpenDatabase(ctx, cfg, log) // brings the schema up
	if err != nil {
		return err
	}
	defer d.Close()
	openers := make([]snapshot.Opener, len(chain))
	for i, f := range chain {
		openers[i] = func() (io.ReadCloser, error) { return os.Open(f.path) }
	}
	// Each section from the chain's files, read again per section (restore order is not the
	// files' order); the proofs and links are checked again at each read's end.
	objects := func(section string) iter.Seq2[snapshot.Object, error] {
		return snapshot.MergeSection(openers, section, snapshot.MergeOptions{Key: pub})
	}
	snapDir := cmp.Or(os.Getenv("WG_SNAPSHOT_DIR"), filepath.Join(cmp.Or(cfg.DataDir, "data"), "snapshots"))
	finish := func(ctx context.Context, tx pgx.Tx) error {
		now := time.Now().UTC()
		docs := make([]*snapshot.Document, len(chain))
		for i, f := range chain {
			docs[i] = f.doc
		}
		slots := restoredSlots(docs)
		recs := make([]snapshot.Record, 0, len(chain))
		for i, f := range chain {
			slot := slots[i]
			st, err := os.Stat(f.path)
			if err != nil {
				return err
			}
			recs = append(recs, snapshot.Record{Hash: f.doc.Hash, Kind: f.doc.Kind, AsOf: f.doc.AsOf, Position: f.doc.Position,
				Previous: f.doc.Previous, Base: f.doc.Base, Slot: slot, Bytes: st.Size(), Signature: string(f.sig),
				VerifiedAt: now, CreatedAt: now})
		}
		// The files go into the snapshot directory before their rows, in the restore's
		// transaction, once the database was found empty and every section written: a commit
		// that then fails leaves files that no row names (nothing serves them), never
		// a row whose file is missing (/snapshots/ and the timeline would name it).
		for _, f := range chain {
			if err := storeSpooled(snapDir, f); err != nil {
				return err
			}
		}
		// The full snapshot's predecessor is not restored, and the table's previous must name
		// a recorded snapshot: the record starts the chain here (the file still names it).
		recs[0].Previous = ""
		if err := snapshot.RecordRestored(ctx, tx, recs); err != nil {
			return err
		}
		return eventstore.SaveCursorNow(ctx, tx, restoredCursor, eventstore.Position{Tx: last.Position.Xmax}, now)
	}
	err = instance.RestoreSnapshot(ctx, d.Pool, instance.SnapshotSections(), objects, finish)
	if errors.Is(err, instance.ErrNotEmpty) {
		return fmt.Errorf("%w (weltgewebe restore --from-snapshots writes into a new database only)", err)
	}
	if err != nil {
		return err
	}
	if err := eventstore.KeepPositionsAhead(ctx, d.Pool, log); err != nil {
		return err
	}
	// The marker has done its job; left behind, it would count as a follower that never
	// reads, and the event retention keeps every event after any cursor.
	if err := eventstore.DropCursor(ctx, d.Pool, restoredCursor); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the public state of %s as of %s from %d snapshot(s), the last %s\n",
		last.Instance, last.AsOf.Format(time.RFC3339), len(chain), last.Hash)
	fmt.Fprintln(stdout, "accounts have no e-mail and no password: see docs/SNAPSHOTS.md, \"What a snapshot cannot bring back\"")
	return nil
}

// restoredSlots are the slots the restored snapshots are recorded in (one per kind and slot,
// UNIQUE (kind, slot)): those of the default schedule, where the record sits. The origin's
// schedule may have been another (--snapshot-every 1h, another --snapshot-at), so that two of
// its incrementals fall into one default slot: the later one is then recorded at its as_of
// (strictly later along the chain), never refusing the restore for a slot clash.
func restoredSlots(docs []*snapshot.Document) []time.Time {
	var sched snapshot.Schedule // the default schedule: a slot is only where the record sits
	out := make([]time.Time, len(docs))
	used := map[string]bool{}
	for i, d := range docs {
		slot := sched.LastFull(d.AsOf)
		if d.Kind == snapshot.KindIncremental {
			if s, ok := sched.LastIncremental(d.AsOf); ok {
				slot = s
			}
		}
		if key := d.Kind + " " + slot.UTC().Format(time.RFC3339Nano); used[key] {
			slot = d.AsOf
		}
		used[d.Kind+" "+slot.UTC().Format(time.RFC3339Nano)] = true
		out[i] = slot
	}
	return out
}

func gzipTo(w io.Writer, r io.Reader) error {
	zw := gzip.NewWriter(w)
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	return zw.Close()
}

func storeSpooled(dir string, f chainFile) error {
	src, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer src.Close()
	if strings.HasSuffix(f.path, ".json.gz") {
		return snapshot.Store(dir, f.doc.Hash, src, f.sig)
	}
	// A plain .json: stored compressed, as the instance stores its own.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(gzipTo(pw, src)) }()
	return snapshot.Store(dir, f.doc.Hash, pr, f.sig)
}

// fetchChainCandidates returns the local paths of the snapshots to choose from: a directory's
// files as they are, or an index's files downloaded into spool (the newest full snapshot and
// the incrementals on it only, as the index describes them).
// maxBytes bounds each downloaded file.
func fetchChainCandidates(ctx context.Context, v *verifier, from, spool string, maxBytes int64) ([]string, error) {
	loc, err := parseLocation(from)
	if err != nil {
		return nil, err
	}
	if loc.url == nil {
		var paths []string
		for _, pattern := range []string{"*.json.gz", "*.json"} {
			m, err := filepath.Glob(filepath.Join(from, pattern))
			if err != nil {
				return nil, err
			}
			for _, p := range m {
				if hashName.MatchString(filepath.Base(p)) {
					paths = append(paths, p)
				}
			}
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("no snapshot (<hash>.json.gz) in %s", from)
		}
		return paths, nil
	}
	idx, err := v.open(ctx, loc, "application/json")
	if err != nil {
		return nil, err
	}
	var index struct {
		Snapshots []struct {
			Kind      string    `json:"kind"`
			AsOf      time.Time `json:"as_of"`
			Hash      string    `json:"hash"`
			Base      string    `json:"base"`
			URL       string    `json:"url"`
			Signature string    `json:"signature"`
		} `json:"snapshots"`
	}
	err = json.NewDecoder(io.LimitReader(idx, 64<<20)).Decode(&index)
	idx.Close()
	if err != nil {
		return nil, fmt.Errorf("the snapshot index %s: %w", from, err)
	}
	full := ""
	var fullAt time.Time
	for _, s := range index.Snapshots {
		if s.Kind == snapshot.KindFull && s.AsOf.After(fullAt) {
			full, fullAt = s.Hash, s.AsOf
		}
	}
	if full == "" {
		return nil, fmt.Errorf("the snapshot index %s lists no full snapshot", from)
	}
	var paths []string
	for _, s := range index.Snapshots {
		if s.Hash != full && s.Base != full {
			continue
		}
		// The whole of it a hash: it names the files in the spool (hashName alone matches a
		// hash followed by anything, a path that climbs out of the spool too).
		if !hashName.MatchString(s.Hash+".") || len(s.Hash) != 64 {
			return nil, fmt.Errorf("the snapshot index %s lists %q, which is no hash", from, s.Hash)
		}
		for _, file := range []struct{ ref, name string }{{s.URL, s.Hash + ".json.gz"}, {s.Signature, s.Hash + ".sig"}} {
			u, err := url.Parse(file.ref)
			if err != nil {
				return nil, fmt.Errorf("the snapshot index %s: %w", from, err)
			}
			if err := download(ctx, v, location{url: loc.url.ResolveReference(u)}, filepath.Join(spool, file.name), maxBytes); err != nil {
				return nil, err
			}
		}
		paths = append(paths, filepath.Join(spool, s.Hash+".json.gz"))
	}
	return paths, nil
}

// defaultMaxDownloadBytes bounds one downloaded snapshot file, as a mirror's (512 MiB).
const defaultMaxDownloadBytes int64 = 512 << 20

// download copies the file at l into path, at most maxBytes: a server (perhaps not the one
// the operator meant) must not fill $TMPDIR. Refused at once when Content-Length says more,
// and cut off when the body does.
func download(ctx context.Context, v *verifier, l location, path string, maxBytes int64) error {
	r, length, err := v.openSized(ctx, l, "")
	if err != nil {
		return err
	}
	defer r.Close()
	if length > maxBytes {
		return fmt.Errorf("%s is %d bytes, more than --max-bytes %d", l, length, maxBytes)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, maxBytes+1))
	if err == nil && n > maxBytes {
		err = fmt.Errorf("more than --max-bytes %d", maxBytes)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("%s: %w", l, err)
	}
	return f.Close()
}

// pickChain reads every candidate (checking its form and that its name is its hash) and
// returns the newest full snapshot and the incrementals on it, in their chain's order.
func pickChain(ctx context.Context, v *verifier, paths []string, log *slog.Logger) ([]chainFile, error) {
	var files []chainFile
	for _, p := range paths {
		doc, err := v.read(ctx, location{path: p}, nil, "")
		if err != nil {
			return nil, err
		}
		files = append(files, chainFile{path: p, doc: doc})
	}
	var full *chainFile
	for i := range files {
		if f := &files[i]; f.doc.Kind == snapshot.KindFull && (full == nil || f.doc.AsOf.After(full.doc.AsOf)) {
			full = f
		}
	}
	if full == nil {
		return nil, errors.New("no full snapshot among the files: a restore starts from one")
	}
	// Then, from the full one, each next snapshot is the one that names the last as previous.
	byPrevious := map[string]chainFile{}
	for _, f := range files {
		if f.doc.Kind == snapshot.KindIncremental && f.doc.Base == full.doc.Hash {
			byPrevious[f.doc.Previous] = f
		}
	}
	chain := []chainFile{*full}
	for {
		next, ok := byPrevious[chain[len(chain)-1].doc.Hash]
		if !ok {
			break
		}
		chain = append(chain, next)
	}
	if len(chain) != 1+len(byPrevious) {
		extra := []string{}
		for prev, f := range byPrevious {
			if !slices.ContainsFunc(chain, func(c chainFile) bool { return c.doc.Hash == f.doc.Hash }) {
				extra = append(extra, f.doc.Hash+" (previous "+prev+")")
			}
		}
		log.Warn("incrementals on the full snapshot that are not in its chain are left out", "files", extra)
	}
	return chain, nil
}
