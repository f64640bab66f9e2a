package convert

import (
	"context"
	"errors"
	"html"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/stream"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// A livestream is one post of the Ortsweberei (docs/FEDERATION.md, "Livestreams"), as Owncast
// posts for its followers when it goes live: a public Note with the link to the stream's page,
// created when the stream first goes live and updated when it ends. A broadcast that drops and
// comes back is the same assembly and no news: only the first go-live is announced
// (StreamGestartetV1.First), and only a stream that went live has a post to update
// (StreamBeendetV1.WasLive). The post's id, /ap/streams/{id}, serves it as it stands now.

// StreamTypes are the events about livestreams that federate.
var StreamTypes = []string{stream.StreamGestartet.Name(), stream.StreamBeendet.Name()}

// streamOnly keeps, of the stream events, those that are the post's Create and Update: the
// outbox counts and lists those, as delivery sends them.
var streamOnly = []eventstore.Only{{Type: stream.StreamGestartet.Name(), Member: "first"}, {Type: stream.StreamBeendet.Name(), Member: "was_live"}}

// streamNote is the post about st, as it reads while the stream has not ended (ended nil) or
// once it has.
func (s *Converter) streamNote(st stream.Stream, ended *time.Time) *vocab.StreamNote {
	page := html.EscapeString(s.iri.StreamPage(st.ID))
	title := html.EscapeString(st.Title)
	n := &vocab.StreamNote{ID: s.iri.StreamNote(st.ID), Type: "Note", AttributedTo: s.iri.Group(), URL: s.iri.StreamPage(st.ID),
		Published: *st.FirstLiveAt, To: []string{vocab.Public}, Cc: []string{s.iri.FollowersOf(iri.GroupPath)}}
	if ended == nil {
		n.Content = "<p><strong>Jetzt live:</strong> «" + title + "»</p>\n<p>Zuschauen und mitreden: <a href=\"" + page + "\">" + page + "</a></p>"
		return n
	}
	at := *ended
	if at.Before(n.Published) {
		at = n.Published // GoToSocial refuses a status updated before it was published
	}
	n.Updated = &at
	n.Content = "<p><strong>Beendet:</strong> «" + title + "»</p>\n<p>Die Übertragung ist vorbei; der Chat bleibt nachzulesen: <a href=\"" + page + "\">" + page + "</a></p>"
	return n
}

// StreamNoteObject is the post about a livestream as it stands now; a stream that never went
// live has none (iri.ErrNotFound).
func (s *Converter) StreamNoteObject(ctx context.Context, id uuid.UUID) (*vocab.StreamNote, error) {
	st, err := s.svc.Streams.Get(ctx, id)
	if err != nil {
		return nil, iri.NotFoundOr(err)
	}
	if st.FirstLiveAt == nil {
		return nil, iri.ErrNotFound
	}
	n := s.streamNote(st, st.EndedAt)
	n.Context = vocab.Context
	return n, nil
}

// streamActivity is the form of a stream event: the Create of the post (from the stream's
// first go-live; with the post as it read then, or, now, when current) or its Update (from the
// end). Other stream events have none (iri.ErrNotFound).
func (s *Converter) streamActivity(ctx context.Context, e eventstore.Event, current bool) (*vocab.Activity, error) {
	var typ string
	switch {
	case stream.StreamGestartet.Is(e):
		p, err := stream.StreamGestartet.Decode(e)
		if err != nil {
			return nil, err
		}
		if !p.First {
			return nil, iri.ErrNotFound // a broadcast that came back: the post stands
		}
		typ = "Create"
	case stream.StreamBeendet.Is(e):
		p, err := stream.StreamBeendet.Decode(e)
		if err != nil {
			return nil, err
		}
		if !p.WasLive {
			return nil, iri.ErrNotFound // never live: there is no post
		}
		typ = "Update"
	default:
		return nil, iri.ErrNotFound
	}
	st, err := s.svc.Streams.Get(ctx, e.SubjectID)
	if err != nil {
		return nil, iri.NotFoundOr(err)
	}
	if st.FirstLiveAt == nil {
		return nil, iri.ErrNotFound
	}
	ended := st.EndedAt
	if typ == "Create" && !current {
		ended = nil // the post as it was made
	}
	n := s.streamNote(st, ended)
	at := e.At
	return &vocab.Activity{ID: s.iri.Activity(e.Position.ID, ""), Type: typ, Actor: s.iri.Group(), Object: n,
		To: n.To, Cc: n.Cc, Published: &at}, nil
}

// StreamDelivery is what a stream event sends to the Ortsweberei's followers: the Create of
// the post, carrying it as it stands now (a stream that ended before the delivery follower came
// to its start is not announced as live), or its Update. ok says whether e is about a stream at
// all; act is nil when it sends nothing.
func (s *Converter) StreamDelivery(ctx context.Context, e eventstore.Event) (act *vocab.Activity, ok bool, err error) {
	if !slices.Contains(StreamTypes, e.Type) {
		return nil, false, nil
	}
	act, err = s.streamActivity(ctx, e, true)
	if errors.Is(err, iri.ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, true, err
	}
	act.Context = vocab.Context
	return act, true, nil
}
