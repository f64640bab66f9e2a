package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
)

// maxCatchUp bounds the jobs one catch-up queues per neighbour; the next run queues more.
const maxCatchUp = 31

// CatchUp asks each neighbour (the Ortsweberei Groups we follow) for its snapshot index and
// queues the mirroring of the full snapshots it lists that we do not hold: those announced
// while this instance was down, or taken before the two were neighbours. What is queued is
// checked as an announcement is (the job trusts nothing of the index: the detached signature
// and the proof must verify with the Group's key). One neighbour not answering does not stop
// the others; its error is returned with theirs.
func (s *Service) CatchUp(ctx context.Context, neighbours []string) error {
	if !s.Enabled() {
		return nil
	}
	var errs []error
	for _, group := range neighbours {
		if err := s.catchUp(ctx, group); err != nil {
			s.cfg.Log.Info("federation: mirror catch-up", "neighbour", group, "err", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil // a neighbour that did not answer is asked again at the next run
}

type originIndex struct {
	Instance  string `json:"instance"`
	Snapshots []struct {
		Kind      string    `json:"kind"`
		AsOf      time.Time `json:"as_of"`
		Hash      string    `json:"hash"`
		Previous  *string   `json:"previous"`
		Base      *string   `json:"base"`
		URL       string    `json:"url"`
		Signature string    `json:"signature"`
	} `json:"snapshots"`
}

// catchUpTimeout bounds what one neighbour's catch-up may take (its index and a few small
// .sig files): a neighbour that hangs must not hold up the sweep, nor the others.
const catchUpTimeout = 30 * time.Second

func (s *Service) catchUp(ctx context.Context, group string) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	g, err := url.Parse(group)
	if err != nil || g.Host == "" {
		return fmt.Errorf("neighbour %q: not a URL", group)
	}
	host := iri.HostOf(group)
	if err := s.cfg.Blocks.Check(ctx, host); err != nil {
		return err
	}
	base := g.Scheme + "://" + g.Host
	body, _, err := s.cfg.Client.Get(ctx, base+"/snapshots/", "application/json", nil)
	if err != nil {
		return err
	}
	var idx originIndex
	if err := json.Unmarshal(body, &idx); err != nil {
		return fmt.Errorf("%s/snapshots/: %w", base, err)
	}
	if idx.Instance != group {
		return fmt.Errorf("%s/snapshots/ is the index of %q", base, idx.Instance)
	}
	// What we hold, and what we fetched and refused: queued again, it would be fetched again
	// (each a whole file) and refused again.
	rows, err := s.cfg.Pool.Query(ctx, `SELECT hash FROM snapshot_mirrors WHERE origin = $1
UNION SELECT hash FROM snapshot_mirror_refusals WHERE origin = $1`, host)
	if err != nil {
		return err
	}
	held, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, h := range held {
		have[h] = true
	}
	queued := 0
	// Newest first: the recent history matters most when an origin may be lost any day.
	for i := len(idx.Snapshots) - 1; i >= 0 && queued < maxCatchUp; i-- {
		e := idx.Snapshots[i]
		if e.Kind != "full" || have[e.Hash] || !strings.HasPrefix(e.URL, "/snapshots/") || !strings.HasPrefix(e.Signature, "/snapshots/") {
			continue
		}
		sig, _, err := s.cfg.Client.Get(ctx, base+e.Signature, "text/plain", nil)
		if err != nil {
			return err
		}
		n := convert.SnapshotNote{Instance: group, Hash: e.Hash, Kind: e.Kind, AsOf: e.AsOf, URL: base + e.URL,
			SignatureURL: base + e.Signature, Signature: strings.TrimSpace(string(sig))}
		if e.Previous != nil {
			n.Previous = *e.Previous
		}
		if e.Base != nil {
			n.Base = *e.Base
		}
		if err := s.Enqueue(context.WithoutCancel(ctx), n); err != nil {
			return err
		}
		queued++
	}
	return nil
}
