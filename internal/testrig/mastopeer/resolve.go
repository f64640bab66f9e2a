package mastopeer

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Lookup resolves a handle (user@host, @user@host or acct:user@host) or an
// actor URL the way Mastodon's search does, and refuses what Mastodon
// refuses: a WebFinger answer without subject or ActivityPub self link, an
// actor whose id is not where it was fetched, a context without
// ActivityStreams, a type that is no actor, no preferredUsername, and above all
// an actor whose preferredUsername@(host of its id) does not WebFinger back to
// the same id. That round trip is what stops one host from claiming accounts
// of another.
//
// Like a search by a logged-in Mastodon user, the actor fetch is signed with
// that user's (alice's) key. WebFinger goes over http, since tests run on
// loopback; Mastodon uses https.
func (p *Peer) Lookup(ctx context.Context, handleOrURL string) (map[string]any, error) {
	var doc map[string]any
	var err error
	if strings.HasPrefix(handleOrURL, "http://") || strings.HasPrefix(handleOrURL, "https://") {
		// Mastodon fetches a pasted URL without trusting it to be the
		// id, then loads the id it found (fetchActor does both).
		doc, err = p.fetchActor(ctx, handleOrURL, true)
	} else {
		var actorURL string
		actorURL, err = p.resolveAcct(ctx, handleOrURL)
		if err != nil {
			return nil, err
		}
		doc, err = p.fetchActor(ctx, actorURL, true)
	}
	if err != nil {
		return nil, err
	}
	if err := p.checkWebfinger(ctx, doc); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.verified[idOf(doc)] = true
	p.mu.Unlock()
	return doc, nil
}

// fetchActor loads an actor and checks what FetchRemoteActorService checks
// before the WebFinger round trip. An actor served at a URL other than its id
// is loaded again from its id, which must then match.
func (p *Peer) fetchActor(ctx context.Context, rawURL string, signed bool) (map[string]any, error) {
	doc, err := p.getJSON(ctx, rawURL, signed)
	if err != nil {
		return nil, fmt.Errorf("Error fetching actor JSON at %s: %v", rawURL, err)
	}
	if id := idOf(doc); id != rawURL {
		if !strings.HasPrefix(id, "http://") && !strings.HasPrefix(id, "https://") {
			return nil, fmt.Errorf("Fetched URI %s has wrong id %q", rawURL, id)
		}
		doc, err = p.getJSON(ctx, id, signed)
		if err != nil {
			return nil, fmt.Errorf("Error fetching actor JSON at %s: %v", id, err)
		}
		if idOf(doc) != id {
			return nil, fmt.Errorf("Fetched URI %s has wrong id %s", id, idOf(doc))
		}
	}
	uri := idOf(doc)
	if !supportedContext(doc) {
		return nil, fmt.Errorf("Unsupported JSON-LD context for document %s", uri)
	}
	if !isActor(doc) {
		return nil, fmt.Errorf("Unexpected object type for actor %s (expected any of: %v)", uri, actorTypes)
	}
	if name, _ := doc["preferredUsername"].(string); name == "" {
		return nil, fmt.Errorf("Actor %s has no 'preferredUsername', which is a requirement for Mastodon compatibility", uri)
	}
	return doc, nil
}

func (p *Peer) checkWebfingerOnce(ctx context.Context, actor map[string]any) error {
	id := idOf(actor)
	p.mu.Lock()
	done := p.verified[id]
	p.mu.Unlock()
	if done {
		return nil
	}
	if err := p.checkWebfinger(ctx, actor); err != nil {
		return err
	}
	p.mu.Lock()
	p.verified[id] = true
	p.mu.Unlock()
	return nil
}

// checkWebfinger is FetchRemoteActorService#check_webfinger!. The domain is
// the host of the actor's id including its port, so that loopback peers on
// random ports can be told apart; Mastodon drops the port.
func (p *Peer) checkWebfinger(ctx context.Context, actor map[string]any) error {
	uri := idOf(actor)
	name, _ := actor["preferredUsername"].(string)
	if name == "" {
		return fmt.Errorf("Actor %s has no 'preferredUsername', which is a requirement for Mastodon compatibility", uri)
	}
	domain := hostOf(uri)
	jrd, err := p.webfinger(ctx, domain, name+"@"+domain)
	if err != nil {
		return fmt.Errorf("Webfinger error when resolving %s@%s: %v", name, domain, err)
	}
	cu, cd := splitAcct(jrd.subject)
	if strings.EqualFold(cu, name) && strings.EqualFold(cd, domain) {
		if jrd.self != uri {
			return fmt.Errorf("Webfinger response for %s@%s does not loop back to %s", name, domain, uri)
		}
		return nil
	}
	// The actor's domain names another canonical account: that one must
	// confirm itself and point to the same actor.
	jrd2, err := p.webfinger(ctx, cd, cu+"@"+cd)
	if err != nil {
		return fmt.Errorf("Webfinger error when resolving %s@%s: %v", cu, cd, err)
	}
	u2, d2 := splitAcct(jrd2.subject)
	if !strings.EqualFold(cu, u2) || !strings.EqualFold(cd, d2) {
		return fmt.Errorf("Too many webfinger redirects for URI %s (stopped at %s@%s)", uri, u2, d2)
	}
	if jrd2.self != uri {
		return fmt.Errorf("Webfinger response for %s@%s does not loop back to %s", u2, d2, uri)
	}
	return nil
}

// resolveAcct is ResolveAccountService#process_webfinger! plus the
// activitypub_ready? check: the subject may name a different canonical
// account once, which must then confirm itself.
func (p *Peer) resolveAcct(ctx context.Context, handle string) (string, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(handle), "acct:"), "@")
	user, domain, ok := strings.Cut(h, "@")
	if !ok || user == "" || domain == "" {
		return "", fmt.Errorf("not a handle: %q", handle)
	}
	jrd, err := p.webfinger(ctx, domain, user+"@"+domain)
	if err != nil {
		return "", err
	}
	cu, cd := splitAcct(jrd.subject)
	if !strings.EqualFold(cu, user) || !strings.EqualFold(cd, domain) {
		jrd, err = p.webfinger(ctx, cd, cu+"@"+cd)
		if err != nil {
			return "", err
		}
		u2, d2 := splitAcct(jrd.subject)
		if !strings.EqualFold(cu, u2) || !strings.EqualFold(cd, d2) {
			return "", fmt.Errorf("Too many webfinger redirects for URI %s (stopped at %s@%s)", h, u2, d2)
		}
	}
	if jrd.self == "" {
		return "", fmt.Errorf("Webfinger response for %s has no self link of type application/activity+json or application/ld+json with the ActivityStreams profile", h)
	}
	return jrd.self, nil
}

type jrd struct {
	subject string
	self    string // href of the rel=self link with an ActivityPub type
}

// webfinger asks domain for acct:account over http, unsigned, with
// Mastodon's Accept header, and the resource unescaped as Mastodon sends it.
func (p *Peer) webfinger(ctx context.Context, domain, account string) (jrd, error) {
	u := "http://" + domain + "/.well-known/webfinger?resource=acct:" + account
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return jrd{}, err
	}
	req.Header.Set("Accept", "application/jrd+json, application/json")
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	doc, err := p.doJSON(req)
	if err != nil {
		return jrd{}, fmt.Errorf("Request for acct:%s: %v", account, err)
	}
	var out jrd
	out.subject, _ = doc["subject"].(string)
	if out.subject == "" {
		return jrd{}, fmt.Errorf("Missing subject in response for acct:%s", account)
	}
	links, _ := doc["links"].([]any)
	for _, l := range links {
		link, _ := l.(map[string]any)
		if link["rel"] != "self" {
			continue
		}
		typ, _ := link["type"].(string)
		if typ == activityJSON || typ == `application/ld+json; profile="https://www.w3.org/ns/activitystreams"` {
			out.self, _ = link["href"].(string)
			break
		}
	}
	return out, nil
}

func splitAcct(subject string) (string, string) {
	user, domain, _ := strings.Cut(strings.TrimPrefix(subject, "acct:"), "@")
	return user, domain
}
