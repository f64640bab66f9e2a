package mastopeer

import (
	"context"
	"strings"
)

// Reports, as Mastodon 4.x sends and takes them.
//
// Sending (ReportService#forward_to_origin!, ActivityPub::FlagSerializer): a report a
// Mastodon user files about a remote account, when the user ticks "forward", is delivered to
// the account's inbox as a Flag from the instance actor (Account.representative: id
// <base>/actor, type Application, preferredUsername the domain), so that the reporter stays
// unnamed; "id" is the report's uri (<base>/<uuid>), "object" the account's uri followed by
// the reported statuses' uris, "content" the comment. Report sends exactly that, signed with
// the instance actor's own key.
//
// Taking (ActivityPub::Activity::Flag): the accounts among "object" that are local get a
// report, with those of the listed statuses that are theirs; "content" is the comment, cut at
// 5,000 characters. A Flag that names no local account is dropped (answered 202 all the
// same). Reports lists what the peer took.

// InstanceActorID is the peer's instance actor, Mastodon's representative account.
func (p *Peer) InstanceActorID() string { return p.base + "/actor" }

// instanceActorDocument is Mastodon's InstanceActorSerializer, in the parts a verifier reads.
func (p *Peer) instanceActorDocument() map[string]any {
	id := p.InstanceActorID()
	a := p.inst.Actor(id, p.host, id+"#main-key")
	a["inbox"], a["outbox"] = id+"/inbox", id+"/outbox"
	a["url"] = p.base + "/about/more?instance_actor=true"
	a["manuallyApprovesFollowers"] = true
	a["endpoints"] = map[string]any{"sharedInbox": p.SharedInboxURL()}
	return a
}

// Report sends a Flag about objects (the reported account first, then its statuses, by uri)
// to inboxURL, as a Mastodon moderator's forwarded report: from the instance actor, signed
// with its key; its id is the report's uri, <base>/<uuid>. It returns the Flag's id and fails
// on any answer but 2xx.
func (p *Peer) Report(ctx context.Context, inboxURL string, objects []string, comment string) (string, error) {
	key, _ := p.inst.Get()
	return SendFlag(inboxURL, p.base+"/"+newUUID(), p.InstanceActorID(), objects, comment, func(body []byte) (int, []byte, error) {
		return p.Deliver(ctx, inboxURL, body, SignOptions{Key: key, KeyID: p.InstanceActorID() + "#main-key"})
	})
}

// TakenReport is a Flag the peer took as Mastodon would: a report about its local account.
type TakenReport struct {
	ID       string   // the Flag's id (Mastodon keeps it as the report's uri)
	Actor    string   // who sent it: the other server's actor, shown as the reporting domain
	Account  string   // the reported local account
	Statuses []string // the reported statuses of it the peer holds
	Comment  string
}

// Reports lists the reports the peer took, in order.
func (p *Peer) Reports() []TakenReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]TakenReport(nil), p.reports...)
}

// takeFlagLocked files a Flag as Mastodon's Flag handler does (p.mu held): alice is the one
// local account; a status counts when the peer serves it as alice's.
func (p *Peer) takeFlagLocked(act map[string]any) {
	var uris []string
	switch o := act["object"].(type) {
	case string:
		uris = []string{o}
	case []any:
		for _, v := range o {
			if id := idOf(v); id != "" {
				uris = append(uris, id)
			}
		}
	}
	r := TakenReport{ID: idOf(act), Actor: idOf(act["actor"])}
	for _, u := range uris {
		if u == p.ActorID() {
			r.Account = u
			continue
		}
		if strings.HasPrefix(u, p.base+"/") {
			if doc, ok := p.documents[strings.TrimPrefix(u, p.base)]; ok && idOf(doc["attributedTo"]) == p.ActorID() {
				r.Statuses = append(r.Statuses, u)
			}
		}
	}
	if r.Account == "" {
		return // no local account named: Mastodon drops it
	}
	r.Comment, _ = act["content"].(string)
	if len([]rune(r.Comment)) > 5000 {
		r.Comment = string([]rune(r.Comment)[:5000])
	}
	p.reports = append(p.reports, r)
}
