package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
)

const snapshotUsage = `usage: weltgewebe snapshot verify [--key MULTIKEY] FILE|URL

Checks a snapshot (docs/SNAPSHOTS.md): its canonical form and schema, its hash, its detached
signature (<hash>.sig beside it), its Data Integrity proof, and, as far as the predecessors'
files are found beside it (<previous>.json.gz or <previous>.json), every link of its chain.

Without --key, the public key is taken from the instance actor the snapshot names
(its assertionMethod "<instance>#snapshot-key"), fetched over HTTP.

flags:
`

func snapshotCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, snapshotUsage)
			return nil
		}
		fmt.Fprint(stderr, snapshotUsage)
		return flag.ErrHelp
	}
	return snapshotVerify(ctx, args[1:], stdout, stderr)
}

func snapshotVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snapshot verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the instance's snapshot key as a Multikey (z6Mk…); default: fetched from the instance actor")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), snapshotUsage)
		fs.PrintDefaults()
	}
	// Flags may come before or after the file: parse around the one positional argument.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("snapshot verify: want exactly one FILE or URL")
	}

	v := &verifier{client: snapshotClient()}
	loc, err := parseLocation(pos[0])
	if err != nil {
		return err
	}
	doc, err := v.read(ctx, loc, nil, "")
	if err != nil {
		return err
	}
	var pub ed25519.PublicKey
	keySource := "--key"
	if *key != "" {
		if pub, err = proof.DecodeMultikey(*key); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	} else {
		if pub, err = v.actorKey(ctx, doc.Instance); err != nil {
			return err
		}
		keySource = "the actor " + doc.Instance
	}
	if err := v.signatures(ctx, loc, doc, pub); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s  %s snapshot of %s as of %s: %d objects in %d sections\n",
		doc.Hash, doc.Kind, doc.Instance, doc.AsOf.Format(time.RFC3339Nano), doc.Objects, len(doc.Sections))
	fmt.Fprintf(stdout, "  canonical %s, hash, detached signature and proof (eddsa-jcs-2022) hold; key %s from %s\n",
		snapshot.Format, proof.EncodeMultikey(pub), keySource)

	// The chain, backwards, while the predecessors' files are there.
	links := 0
	for cur := doc; cur.Previous != ""; {
		ploc, pf, err := v.find(ctx, loc, cur.Previous)
		if err != nil {
			return err
		}
		if pf == nil {
			fmt.Fprintf(stdout, "  chain: %d links hold; the predecessor %s is not beside it (the chain is checked up to there)\n", links, cur.Previous)
			break
		}
		prev, err := v.read(ctx, ploc, pf, cur.Previous)
		if err != nil {
			return err
		}
		if err := v.signatures(ctx, ploc, prev, pub); err != nil {
			return err
		}
		if err := snapshot.CheckLink(prev, cur); err != nil {
			return err
		}
		links++
		fmt.Fprintf(stdout, "  ← %s  %s, as of %s: signatures hold, link holds\n", prev.Hash, prev.Kind, prev.AsOf.Format(time.RFC3339Nano))
		cur = prev
		if cur.Previous == "" {
			fmt.Fprintf(stdout, "  chain: %d links hold, back to its first snapshot\n", links)
		}
	}
	fmt.Fprintln(stdout, "OK")
	return nil
}

// location is a snapshot file on disk or at a URL; its siblings are the files beside it.
type location struct {
	url  *url.URL
	path string
}

func parseLocation(s string) (location, error) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil {
			return location{}, fmt.Errorf("snapshot verify: %w", err)
		}
		return location{url: u}, nil
	}
	return location{path: s}, nil
}

func (l location) String() string {
	if l.url != nil {
		return l.url.String()
	}
	return l.path
}

func (l location) base() string {
	if l.url != nil {
		return pathBase(l.url.Path)
	}
	return filepath.Base(l.path)
}

func pathBase(p string) string { return p[strings.LastIndex(p, "/")+1:] }

func (l location) sibling(name string) location {
	if l.url != nil {
		return location{url: l.url.ResolveReference(&url.URL{Path: name})}
	}
	return location{path: filepath.Join(filepath.Dir(l.path), name)}
}

type verifier struct{ client *http.Client }

func snapshotClient() *http.Client {
	// No overall timeout: a snapshot of a large map takes a while to download. A server that
	// stops answering is caught by the dial and header timeouts, the rest by ^C.
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}

var errNotFound = errors.New("not found")

// open opens the file at l; errNotFound when there is none.
func (v *verifier) open(ctx context.Context, l location, accept string) (io.ReadCloser, error) {
	r, _, err := v.openSized(ctx, l, accept)
	return r, err
}

// openSized is open, also returning the length the server announced (-1: none, or a file).
func (v *verifier) openSized(ctx context.Context, l location, accept string) (io.ReadCloser, int64, error) {
	if l.url == nil {
		f, err := os.Open(l.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, -1, fmt.Errorf("%s: %w", l, errNotFound)
		}
		return f, -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url.String(), nil)
	if err != nil {
		return nil, -1, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := v.client.Do(req)
	if err != nil {
		return nil, -1, err
	}
	switch {
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		res.Body.Close()
		return nil, -1, fmt.Errorf("%s: %w", l, errNotFound)
	case res.StatusCode != http.StatusOK:
		res.Body.Close()
		return nil, -1, fmt.Errorf("%s: HTTP %s", l, res.Status)
	}
	return res.Body, res.ContentLength, nil
}

var hashName = regexp.MustCompile(`^([0-9a-f]{64})\.`)

// read reads and checks the form of the snapshot at l (f: already opened, or nil). want, if
// given, is the hash the file must have (a predecessor's); a file named by a hash must have
// that hash either way.
func (v *verifier) read(ctx context.Context, l location, f io.ReadCloser, want string) (*snapshot.Document, error) {
	if f == nil {
		var err error
		if f, err = v.open(ctx, l, ""); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	doc, err := snapshot.Read(f, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	if m := hashName.FindStringSubmatch(l.base()); m != nil && want == "" {
		want = m[1]
	}
	if want != "" && doc.Hash != want {
		return nil, fmt.Errorf("%s: %w: the file should have hash %s but has %s (changed or truncated)", l, snapshot.ErrVerify, want, doc.Hash)
	}
	return doc, nil
}

// signatures checks doc's detached signature, found beside it, and its proof.
func (v *verifier) signatures(ctx context.Context, l location, doc *snapshot.Document, pub ed25519.PublicKey) error {
	sl := l.sibling(doc.Hash + ".sig")
	f, err := v.open(ctx, sl, "")
	if err != nil {
		return fmt.Errorf("the detached signature: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return fmt.Errorf("%s: %w", sl, err)
	}
	sig, err := snapshot.DecodeSignature(b)
	if err != nil {
		return fmt.Errorf("%s: %w", sl, err)
	}
	if err := snapshot.VerifyDetached(doc.Hash, sig, pub); err != nil {
		return fmt.Errorf("%s: %w", sl, err)
	}
	if err := snapshot.VerifyDocument(doc, pub); err != nil {
		return fmt.Errorf("%s: %w", l, err)
	}
	return nil
}

// find opens the file of hash beside l; a nil file when there is none.
func (v *verifier) find(ctx context.Context, l location, hash string) (location, io.ReadCloser, error) {
	for _, name := range []string{hash + ".json.gz", hash + ".json"} {
		sl := l.sibling(name)
		f, err := v.open(ctx, sl, "")
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return location{}, nil, err
		}
		return sl, f, nil
	}
	return location{}, nil, nil
}

// actorKey fetches the instance actor and takes the snapshot key from its assertionMethod:
// the Multikey whose id is KeyID(instance) and whose controller is the actor.
func (v *verifier) actorKey(ctx context.Context, instance string) (ed25519.PublicKey, error) {
	l, err := parseLocation(instance)
	if err != nil || l.url == nil {
		return nil, fmt.Errorf("the snapshot's instance %q is no http(s) URL; give the key with --key", instance)
	}
	f, err := v.open(ctx, l, `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`)
	if err != nil {
		return nil, fmt.Errorf("fetching the instance actor for its key (or give it with --key): %w", err)
	}
	defer f.Close()
	var actor struct {
		ID              string          `json:"id"`
		AssertionMethod json.RawMessage `json:"assertionMethod"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&actor); err != nil {
		return nil, fmt.Errorf("the instance actor %s: %w", instance, err)
	}
	if actor.ID != instance {
		return nil, fmt.Errorf("the instance actor at %s says its id is %q", instance, actor.ID)
	}
	type multikey struct {
		ID                 string `json:"id"`
		Type               string `json:"type"`
		Controller         string `json:"controller"`
		PublicKeyMultibase string `json:"publicKeyMultibase"`
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(actor.AssertionMethod, &keys); err != nil {
		keys = []json.RawMessage{actor.AssertionMethod}
	}
	want := snapshot.KeyID(instance)
	for _, raw := range keys {
		var k multikey
		if json.Unmarshal(raw, &k) != nil || k.ID != want {
			continue // a reference or another key
		}
		if k.Type != "Multikey" || k.Controller != instance {
			return nil, fmt.Errorf("the actor's %s is not a Multikey controlled by the actor", want)
		}
		pub, err := proof.DecodeMultikey(k.PublicKeyMultibase)
		if err != nil {
			return nil, fmt.Errorf("the actor's %s: %w", want, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("the instance actor %s lists no %s in its assertionMethod", instance, want)
}
