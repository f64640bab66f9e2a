package snapshot

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"iter"
)

// Opener opens one snapshot file (gzip or plain) from its beginning. Merge calls each once;
// MergeSection calls each once per call, since a section's objects can only be reached by
// reading a file from its start.
type Opener func() (io.ReadCloser, error)

// MergeOptions says what Merge checks besides the form and the chain's links.
type MergeOptions struct {
	// Key, when set, is the instance's snapshot key: every document's proof is checked.
	Key ed25519.PublicKey
}

// Entry is one object of a merged state, with its section's name.
type Entry struct {
	Section string
	Object
}

// Merge yields the state a chain describes: chain is a full snapshot followed by
// incrementals on it, in order (each one's previous is the one before it). Objects come
// section by section (ascending names), each section in ascending id order; an incremental's
// object replaces the earlier one of its id, and its gone ids remove them.
//
// It reads every file once, all of them side by side, so its memory is that of a few objects
// per file (and the incrementals' gone ids), whatever the size of the state. Each file is
// read to its end, so the hashes and the links between the files are known only then: a
// broken link, a file that is not canonical, or (with opts.Key) a bad proof arrives as an
// error after the objects, as the last thing yielded. A consumer must not act on the objects
// before the sequence has ended without error (restore writes them in a transaction it
// commits only then).
func Merge(chain []Opener, opts MergeOptions) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		m, err := openChain(chain)
		if err != nil {
			yield(Entry{}, err)
			return
		}
		defer m.close()
		for {
			section, ok := m.nextSection()
			if !ok {
				break
			}
			for o, err := range m.section(section) {
				if !yield(Entry{Section: section, Object: o}, err) || err != nil {
					return
				}
			}
		}
		if err := m.finish(opts); err != nil {
			yield(Entry{}, err)
		}
	}
}

// MergeSection is Merge for one section: the objects of section in the state the chain
// describes, in ascending id order, in the shape Section.Restore takes. It opens every file
// of the chain again and reads it to its end (the objects of other sections are checked and
// dropped), because restore needs the sections in dependency order, not in the files'.
// Errors come as with Merge, the link checks last.
func MergeSection(chain []Opener, section string, opts MergeOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		m, err := openChain(chain)
		if err != nil {
			yield(Object{}, err)
			return
		}
		defer m.close()
		for _, c := range m.cursors {
			for !c.done && c.section < section {
				if err := c.advance(); err != nil {
					yield(Object{}, err)
					return
				}
			}
		}
		for o, err := range m.section(section) {
			if !yield(o, err) || err != nil {
				return
			}
		}
		if err := m.finish(opts); err != nil {
			yield(Object{}, err)
		}
	}
}

type merger struct {
	files   []io.ReadCloser
	cursors []*cursor
}

// cursor is one file's decoder with the object it has read but not yet merged.
type cursor struct {
	dec     *Decoder
	name    int // the file's place in the chain, for messages
	done    bool
	section string
	obj     Object
}

func (c *cursor) advance() error {
	section, o, err := c.dec.Next()
	if err == io.EOF {
		c.done = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("chain file %d: %w", c.name, err)
	}
	c.section, c.obj = section, o
	return nil
}

func openChain(chain []Opener) (*merger, error) {
	if len(chain) == 0 {
		return nil, errNoChain
	}
	m := &merger{}
	for i, open := range chain {
		f, err := open()
		if err != nil {
			m.close()
			return nil, fmt.Errorf("snapshot: chain file %d: %w", i, err)
		}
		m.files = append(m.files, f)
		dec, err := NewDecoder(f)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("chain file %d: %w", i, err)
		}
		h, _ := dec.Head()
		if i == 0 && h.Kind != KindFull {
			m.close()
			return nil, fmt.Errorf("%w: a chain starts with a full snapshot, not an %s one", ErrVerify, h.Kind)
		}
		if i > 0 && h.Kind != KindIncremental {
			m.close()
			return nil, fmt.Errorf("%w: chain file %d is a full snapshot; only the first may be", ErrVerify, i)
		}
		c := &cursor{dec: dec, name: i}
		if err := c.advance(); err != nil {
			m.close()
			return nil, err
		}
		m.cursors = append(m.cursors, c)
	}
	return m, nil
}

func (m *merger) close() {
	for _, f := range m.files {
		f.Close()
	}
	m.files = nil
}

// nextSection is the smallest section name any file is at.
func (m *merger) nextSection() (string, bool) {
	name, ok := "", false
	for _, c := range m.cursors {
		if !c.done && (!ok || c.section < name) {
			name, ok = c.section, true
		}
	}
	return name, ok
}

// section merges one section, with every cursor at it or past it.
func (m *merger) section(name string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		gone := make([][]string, len(m.cursors))
		for i, c := range m.cursors {
			_, g := c.dec.Head()
			gone[i] = g[name]
		}
		for {
			// The smallest id any file has next, in its objects or its gone ids.
			min, ok := "", false
			for i, c := range m.cursors {
				if !c.done && c.section == name && (!ok || c.obj.ID < min) {
					min, ok = c.obj.ID, true
				}
				if len(gone[i]) > 0 && (!ok || gone[i][0] < min) {
					min, ok = gone[i][0], true
				}
			}
			if !ok {
				return
			}
			// The last file that says anything about it decides.
			var winner *Object
			decided := false
			for i := len(m.cursors) - 1; i >= 0; i-- {
				c := m.cursors[i]
				inObjects := !c.done && c.section == name && c.obj.ID == min
				inGone := len(gone[i]) > 0 && gone[i][0] == min
				if !decided && inObjects {
					o := c.obj
					winner, decided = &o, true
				} else if !decided && inGone {
					decided = true
				}
				if inObjects {
					if err := c.advance(); err != nil {
						yield(Object{}, err)
						return
					}
				}
				if inGone {
					gone[i] = gone[i][1:]
				}
			}
			if winner != nil && !yield(*winner, nil) {
				return
			}
		}
	}
}

// finish reads every file to its end and checks the links and (with a key) the proofs.
func (m *merger) finish(opts MergeOptions) error {
	var prev *Document
	for i, c := range m.cursors {
		doc, err := c.dec.Finish()
		if err != nil {
			return fmt.Errorf("chain file %d: %w", i, err)
		}
		if prev != nil {
			if err := CheckLink(prev, doc); err != nil {
				return fmt.Errorf("chain file %d: %w", i, err)
			}
		}
		if opts.Key != nil {
			if err := VerifyDocument(doc, opts.Key); err != nil {
				return fmt.Errorf("chain file %d (%s): %w", i, short(doc.Hash), err)
			}
		}
		prev = doc
	}
	return nil
}
