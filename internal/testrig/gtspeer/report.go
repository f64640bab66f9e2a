package gtspeer

import (
	"context"

	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// Reports as GoToSocial sends them (docs/federation/moderation.md, internal/typeutils
// ReportToASFlag, internal/federation/federatingdb/flag.go): a moderator forwards a report as
// a Flag from the instance account (username the host, id <base>/users/<host>), so that the
// reporter stays unnamed; "id" <base>/reports/<id>, "object" the reported account's uri
// followed by the reported statuses', "content" the comment. It goes to the account's inbox.

func (p *Peer) instancePath() string { return "/users/" + p.host }

// InstanceActorID is the peer's instance account.
func (p *Peer) InstanceActorID() string { return p.base + p.instancePath() }

// instanceMinimal is what <instance>/main-key serves, as for vera: the owner inside publicKey.
func (p *Peer) instanceMinimal() map[string]any {
	id := p.InstanceActorID()
	return p.inst.Actor(id, p.host, id+"/main-key")
}

// instanceActor is the instance account's document (signed GETs only, as every actor here).
func (p *Peer) instanceActor() map[string]any {
	a := p.instanceMinimal()
	id := p.InstanceActorID()
	a["inbox"], a["outbox"] = id+"/inbox", id+"/outbox"
	a["followers"], a["following"] = id+"/followers", id+"/following"
	a["manuallyApprovesFollowers"] = true
	return a
}

// Report sends a Flag about objects (the account first, then its statuses) to inbox, from the
// instance account and signed with its key, as GoToSocial forwards a report; its id is
// <base>/reports/<ulid>. It returns the Flag's id and fails on any answer but 2xx.
func (p *Peer) Report(ctx context.Context, inbox string, objects []string, comment string) (string, error) {
	key, _ := p.inst.Get()
	return mastopeer.SendFlag(inbox, p.base+"/reports/"+newULID(), p.InstanceActorID(), objects, comment, func(body []byte) (int, []byte, error) {
		return p.deliverAs(ctx, inbox, body, key, p.InstanceActorID()+"/main-key")
	})
}

// takeFlag is federatingdb Flag: the first object that is a local account (vera) is the
// reported account; a Flag naming none is dropped. The report is kept from the signer.
func (p *Peer) takeFlag(signer *account, act map[string]any) {
	var objects []any
	switch o := act["object"].(type) {
	case string:
		objects = []any{o}
	case []any:
		objects = o
	}
	for _, o := range objects {
		if idOf(o) == p.ActorID() {
			return // taken: Received holds it, with its signer
		}
	}
	p.drop(act, "Flag: no local account targeted")
}
