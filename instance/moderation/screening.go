package moderation

import "sync/atomic"

// Screening is what a content package checks new text with: the word filter, and the queue
// that held content goes to. Set once at assembly (the package's SetModeration), read on every
// write; either part may be nil (no filter; held content is stored hidden and queued nowhere).
type Screening struct {
	p atomic.Pointer[screening]
}

type screening struct {
	filter TextFilter
	holder Holder
}

// Set installs the word filter and the queue; either may be nil.
func (s *Screening) Set(f TextFilter, h Holder) { s.p.Store(&screening{filter: f, holder: h}) }

// Filter is the word filter, nil for none.
func (s *Screening) Filter() TextFilter {
	if p := s.p.Load(); p != nil {
		return p.filter
	}
	return nil
}

// Holder is the queue for held content, nil for none.
func (s *Screening) Holder() Holder {
	if p := s.p.Load(); p != nil {
		return p.holder
	}
	return nil
}
