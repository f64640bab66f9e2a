package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Discovery.

type jrdLink struct {
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
	Href string `json:"href,omitempty"`
}

func (s *Service) webfinger(w http.ResponseWriter, r *http.Request) {
	res := r.URL.Query().Get("resource")
	var actor string
	var err error
	if user, host, ok := strings.Cut(strings.TrimPrefix(res, "acct:"), "@"); ok && strings.HasPrefix(res, "acct:") {
		if !strings.EqualFold(host, s.iri.Host()) {
			s.refuse(w, r, fault.NotFoundf("not_found", "Not an account of this host."))
			return
		}
		actor, err = s.actors.ForUsername(r.Context(), user)
	} else if p, ok := s.iri.Local(res); ok {
		if _, _, err = s.actors.PathFor(r.Context(), res); err == nil {
			actor = s.iri.Of(p)
		}
	}
	if err != nil && !errors.Is(err, iri.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if actor == "" {
		s.refuse(w, r, fault.NotFoundf("not_found", "No such account."))
		return
	}
	// The subject is the canonical acct: address, built from the actor's own preferredUsername,
	// so that Mastodon's round trip (actor → username@host → the same actor) holds.
	username, err := s.actors.UsernameOf(r.Context(), actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	subject := "acct:" + username + "@" + s.iri.Host()
	w.Header().Set("Content-Type", "application/jrd+json; charset=utf-8")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"subject": subject,
		"aliases": []string{actor},
		"links": []jrdLink{
			{Rel: "self", Type: ActivityJSON, Href: actor},
			{Rel: "http://webfinger.net/rel/profile-page", Type: "text/html", Href: actor},
		},
	})
}

func (s *Service) nodeinfoLinks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"links": []jrdLink{
		{Rel: "http://nodeinfo.diaspora.software/ns/schema/2.0", Href: s.iri.Of("/nodeinfo/2.0")},
		{Rel: "http://nodeinfo.diaspora.software/ns/schema/2.1", Href: s.iri.Of("/nodeinfo/2.1")},
	}})
}

func (s *Service) nodeinfo(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	if version != "2.0" && version != "2.1" {
		s.refuse(w, r, fault.NotFoundf("not_found", "NodeInfo 2.0 and 2.1 are served."))
		return
	}
	ctx := r.Context()
	o, err := s.svc.Ortsweberei.Get(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Users are residents (accounts with a home), and so are the active ones: a resident is
	// active who wrote anything (is the actor of any event, public or private) in the last 30
	// or 180 days. Admins without a home are neither, so active never exceeds total.
	now := s.clock.Now()
	residents, err := s.svc.Accounts.ResidentIDs(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	users := len(residents)
	month, err := s.svc.Events.CountActorsSince(ctx, residents, now.Add(-30*24*time.Hour))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	halfyear, err := s.svc.Events.CountActorsSince(ctx, residents, now.Add(-180*24*time.Hour))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The log keeps 30 days of events once snapshots hold them (docs/SNAPSHOTS.md): the half
	// year also counts the last writes the delegation's activity reader keeps, which outlive
	// the events; the log's count has the writes of the last seconds that reader has not read.
	if kept, err := s.svc.Delegations.CountActiveSince(ctx, residents, now.Add(-180*24*time.Hour)); err != nil {
		s.fail(w, r, err)
		return
	} else if kept > halfyear {
		halfyear = kept
	}
	posts, err := s.svc.Antraege.Count(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	software := map[string]string{"name": Software, "version": "0.1.0"}
	if version == "2.1" {
		software["repository"] = "https://github.com/weltgewebe/weltgewebe"
		software["homepage"] = "https://weltgewebe.org"
	}
	w.Header().Set("Content-Type", fmt.Sprintf(`application/json; profile="http://nodeinfo.diaspora.software/ns/schema/%s#"`, version))
	_ = json.NewEncoder(w).Encode(map[string]any{
		"version":           version,
		"software":          software,
		"protocols":         []string{"activitypub"},
		"services":          map[string][]string{"inbound": {}, "outbound": {}},
		"openRegistrations": true,
		"usage": map[string]any{
			"users":      map[string]int{"total": users, "activeMonth": month, "activeHalfyear": halfyear},
			"localPosts": posts,
		},
		"metadata": map[string]any{"nodeName": o.Name, "ortsweberei": s.iri.Group()},
	})
}

func (s *Service) hostMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="lrdd" template="%s/.well-known/webfinger?resource={uri}"/>
</XRD>
`, s.cfg.BaseURL)
}
