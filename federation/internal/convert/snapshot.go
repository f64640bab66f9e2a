package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// SnapshotNote is what an Ortsweberei tells its neighbours of one of its snapshots, and what a
// neighbour takes from such an announcement to mirror it.
type SnapshotNote struct {
	Instance     string // the origin's Ortsweberei actor: the document's "instance"
	Hash, Kind   string
	AsOf         time.Time
	Previous     string
	Base         string
	URL          string // the .json.gz on the origin
	SignatureURL string // the .sig on the origin
	Signature    string // the .sig file's text
}

// SnapshotPath is where the origin serves a snapshot's files (instance/httpapi/snapshots.go).
func SnapshotPath(hash, suffix string) string { return "/snapshots/" + hash + suffix }

// SnapshotObjectPath is the Snapshot object of one of our snapshots; the Create announcing
// it is at SnapshotObjectPath + "/create". Both are served (objects.go), as every id we mint.
func SnapshotObjectPath(hash string) string { return "/ap/snapshots/" + hash }

// SnapshotObject is one of our recorded snapshots as a wg:Snapshot: its file (url), hash,
// kind, as_of, the hashes it follows and builds on, and its detached signature, attributed to
// the Ortsweberei's Group (whose assertionMethod holds the key).
func (s *Converter) SnapshotObject(r snapshot.Record) vocab.Snapshot {
	return vocab.Snapshot{ID: s.iri.Of(SnapshotObjectPath(r.Hash)), Type: "Snapshot", AttributedTo: s.iri.Group(),
		URL: s.iri.Of(SnapshotPath(r.Hash, ".json.gz")), MediaType: "application/gzip",
		SnapshotHash: r.Hash, SnapshotKind: r.Kind, AsOf: r.AsOf.UTC(), PreviousSnapshot: r.Previous, BaseSnapshot: r.Base,
		DetachedSignature: s.iri.Of(SnapshotPath(r.Hash, ".sig")), SignatureValue: strings.TrimSpace(r.Signature),
		Published: r.CreatedAt.UTC(), To: []string{vocab.Public}}
}

// SnapshotActivity is the Create by the Ortsweberei's Group that announces one of its own
// snapshots, with the object embedded (a neighbour needs no fetch to learn what to mirror).
func (s *Converter) SnapshotActivity(r snapshot.Record) vocab.Activity {
	obj := s.SnapshotObject(r)
	obj.Context = nil
	return vocab.Activity{Context: vocab.Context, ID: obj.ID + "/create", Type: "Create", Actor: s.iri.Group(), Object: obj,
		To: []string{vocab.Public}, Published: &obj.Published}
}

// ErrNotASnapshot: the object is not a snapshot announcement we can use.
var ErrNotASnapshot = errors.New("federation: not a usable snapshot announcement")

// SnapshotFromAS reads an announced Snapshot object sent by actor. Only what is all of actor's
// own server is taken: the object, its file and its signature on actor's host, attributed to
// actor (an Ortsweberei speaks for its own snapshots only; a copy of someone else's is not
// believed from it).
func SnapshotFromAS(actor string, body []byte) (SnapshotNote, error) {
	var o struct {
		vocab.Snapshot
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(body, &o); err != nil {
		return SnapshotNote{}, fmt.Errorf("%w: %v", ErrNotASnapshot, err)
	}
	n := SnapshotNote{Instance: o.AttributedTo, Hash: o.SnapshotHash, Kind: o.SnapshotKind, AsOf: o.AsOf, Previous: o.PreviousSnapshot,
		Base: o.BaseSnapshot, URL: o.URL, SignatureURL: o.DetachedSignature, Signature: o.SignatureValue}
	switch {
	case n.Instance != actor:
		return SnapshotNote{}, fmt.Errorf("%w: attributed to %q, sent by %s", ErrNotASnapshot, n.Instance, actor)
	case !validHash(n.Hash) || (n.Previous != "" && !validHash(n.Previous)) || (n.Base != "" && !validHash(n.Base)):
		return SnapshotNote{}, fmt.Errorf("%w: a hash is not 64 lowercase hex digits", ErrNotASnapshot)
	case n.Kind != "full" && n.Kind != "incremental":
		return SnapshotNote{}, fmt.Errorf("%w: kind %q", ErrNotASnapshot, n.Kind)
	case !iri.SameOrigin(o.ID, actor) || !iri.SameOrigin(n.URL, actor) || !iri.SameOrigin(n.SignatureURL, actor) ||
		!strings.HasPrefix(n.URL, "http"):
		return SnapshotNote{}, fmt.Errorf("%w: its files are not on %s's host", ErrNotASnapshot, actor)
	case n.Signature == "" || len(n.Signature) > 200:
		return SnapshotNote{}, fmt.Errorf("%w: no usable signature", ErrNotASnapshot)
	}
	return n, nil
}

func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}
