package federation

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/federation/internal/inbox"
	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// registerContent adds the object and collection routes. With AuthorizedFetch they answer
// signed requests only.
func (s *Service) registerContent(mux *http.ServeMux) {
	get := func(pattern string, h func(*http.Request) (any, error)) {
		mux.HandleFunc("GET "+pattern, s.fetchable(h))
	}
	get("/ap/antraege/{id}", func(r *http.Request) (any, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		a, err := s.svc.Antraege.Get(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return s.convert.AntragObject(r.Context(), a)
	})
	get("/ap/antraege/{id}/einsprueche/{account}", func(r *http.Request) (any, error) {
		id, err1 := uuid.Parse(r.PathValue("id"))
		acc, err2 := uuid.Parse(r.PathValue("account"))
		if err1 != nil || err2 != nil {
			return nil, iri.ErrNotFound
		}
		a, err := s.svc.Antraege.Get(r.Context(), id)
		if err != nil {
			return nil, err
		}
		if a.HiddenAt != nil {
			return nil, convert.ErrHidden
		}
		for _, e := range a.Einsprueche {
			if e.AccountID == acc {
				return s.convert.EinspruchObject(r.Context(), id, e)
			}
		}
		// Get leaves hidden Einsprüche out; one a moderator hid was public, and is deleted.
		hidden, err := s.svc.Antraege.HiddenEinsprueche(r.Context(), []uuid.UUID{id})
		if err != nil {
			return nil, err
		}
		if slices.Contains(hidden, antrag.EinspruchRef{Antrag: id, Account: acc}) {
			return nil, convert.ErrHidden
		}
		return nil, iri.ErrNotFound
	})
	get("/ap/abstimmungen/{id}", func(r *http.Request) (any, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		v, err := s.svc.Abstimmungen.Get(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return s.convert.AbstimmungObject(v), nil
	})
	get("/ap/knoten/{id}", func(r *http.Request) (any, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		k, err := s.svc.Knoten.Get(r.Context(), id)
		if err != nil {
			return nil, err
		}
		obj, err := s.convert.KnotenObject(r.Context(), k)
		if err != nil {
			return nil, err
		}
		obj.Context = vocab.Context
		return obj, nil
	})
	get("/ap/faeden/{id}", func(r *http.Request) (any, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		// The Faden's object is told from its events, which a hiding does not rewrite: a
		// Faden the moderators hid (or whose Knoten they hid) is gone for the Fediverse too.
		if hidden, err := s.svc.Knoten.Hidden(r.Context(), []uuid.UUID{id}); err != nil {
			return nil, err
		} else if hidden[id] {
			return nil, iri.ErrGone
		}
		return s.convert.FadenObject(r.Context(), id)
	})
	get("/ap/stimmen/{event}", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		return s.convert.StimmeObject(r.Context(), e)
	})
	get("/ap/stimmen/{event}/note", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		return s.convert.StimmeNoteObject(r.Context(), e)
	})
	// The Ortsweberei's post about a livestream, as it stands now (live, or ended).
	get("/ap/streams/{id}", func(r *http.Request) (any, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		return s.convert.StreamNoteObject(r.Context(), id)
	})
	get("/ap/delegationen/{id}", func(r *http.Request) (any, error) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		d, err := s.svc.Delegations.Get(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return s.convert.DelegationObject(r.Context(), d)
	})
	get("/ap/activities/{event}", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		act, err := s.convert.ActivityFor(r.Context(), s.convert.Handles(), e)
		if err != nil {
			return nil, err
		}
		act.Context = vocab.Context
		return act, nil
	})
	// The activities delivery derives from an event besides its own form: the Ortsweberei's
	// Announce of a new Antrag, the post of a Stimme for the voter's followers, and the
	// Antrag's Update(Question) after a change.
	get("/ap/activities/{event}/announce", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		return s.convert.AnnounceFor(e)
	})
	get("/ap/activities/{event}/note", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		return s.convert.StimmeNoteCreateFor(r.Context(), e)
	})
	get("/ap/activities/{event}/update", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		return s.convert.QuestionUpdateFor(r.Context(), e)
	})
	// The Update(Question) of an Antrag whose count a delegation change moved: one
	// delegation event can move several Anträge' counts, so the Antrag is part of the id.
	get("/ap/activities/{event}/update/{antrag}", func(r *http.Request) (any, error) {
		e, err := s.publicEvent(r.Context(), r.PathValue("event"))
		if err != nil {
			return nil, err
		}
		id, err := uuid.Parse(r.PathValue("antrag"))
		if err != nil {
			return nil, iri.ErrNotFound
		}
		return s.convert.DelegationUpdateFor(r.Context(), e, id)
	})

	// The id of a Flag we send (package forward) names the report; it is not served. Mastodon
	// and GoToSocial keep a Flag's id as the report's uri and never fetch it (their Flag
	// handlers take the activity as delivered), and what it carries (the moderator's comment)
	// is for its addressee only. The same 404 for every id, so it tells nobody which exist.
	mux.HandleFunc("GET /ap/flags/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, fault.NotFoundf("flag_not_served",
			"Reports are delivered to the reported account's server, not served; this id only names one."))
	})

	get("/ap/snapshots/{hash}", s.snapshotObject)
	get("/ap/snapshots/{hash}/create", s.snapshotCreate)

	for _, actor := range []string{"/ap/instance", "/ap/ortsweberei", "/ap/users/{handle}", "/ap/antraege/{id}/actor"} {
		get(actor+"/outbox", s.outbox)
		get(actor+"/followers", s.followers)
		get(actor+"/following", s.following)
	}
}

// fetchable serves an object or collection, checking the request's signature first when the
// instance requires authorized fetch.
func (s *Service) fetchable(h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AuthorizedFetch {
			if _, err := s.actors.Verify(r, nil); err != nil {
				// As the inbox decides: our outage or failure is no refusal, nor is the
				// sender's key server not answering just now (503, try again).
				var f *fault.Error
				switch uerr := inbox.Unverified(r.Context(), err); {
				case !errors.As(uerr, &f):
					s.fail(w, r, uerr)
				case f.Kind == fault.Unauthenticated:
					s.log.Info("federation: unsigned or badly signed fetch refused", "path", r.URL.Path, "reason", err)
					f.Message = "This instance answers signed requests only. " + f.Message
					s.refuse(w, r, f)
				default:
					s.log.Info("federation: signed fetch put off: the key could not be fetched just now", "path", r.URL.Path, "reason", err)
					s.refuse(w, r, f)
				}
				return
			}
		}
		v, err := h(r)
		f, isFault := fault.As(err)
		switch {
		case err == nil:
			writeAP(w, http.StatusOK, v)
		case errors.Is(err, iri.ErrNotFound) || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, eventstore.ErrNoEvent) ||
			(isFault && f.Kind == fault.NotFound):
			s.refuse(w, r, fault.NotFoundf("not_found", "Not found."))
		case errors.Is(err, convert.ErrHidden):
			// As Mastodon answers for a deleted post: 410 and a Tombstone, so that a server
			// fetching it again (a boost, a reply) takes it as deleted.
			former := ""
			switch r.Pattern {
			case "GET /ap/antraege/{id}":
				former = "Question"
			case "GET /ap/antraege/{id}/einsprueche/{account}":
				former = "Note"
			}
			writeAP(w, http.StatusGone, s.convert.Tombstone(s.iri.Of(r.URL.Path), former))
		case errors.Is(err, iri.ErrGone) || (isFault && f.Kind == fault.Gone):
			s.refuse(w, r, fault.Gonef("gone", "Deleted."))
		default:
			s.fail(w, r, err)
		}
	}
}

func (s *Service) publicEvent(ctx context.Context, raw string) (eventstore.Event, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return eventstore.Event{}, iri.ErrNotFound
	}
	return s.svc.Events.ByID(ctx, id, true)
}
