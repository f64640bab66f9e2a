package gtspeer

import (
	"context"
	"net/http"
	"net/url"
	"strings"

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

// checkFlag refuses a Flag as GoToSocial does before it files the report, with the status its
// inbox answers (0: taken). typeutils.ASFlagToReport: of the objects, those on this host count;
// exactly one must be an account (/users/{name}; none or two: 400 malformed), the statuses ride
// along. federatingdb.Flag: the server that signed it must share the Flag actor's domain (403),
// and the account must be the one whose inbox received it (403) — vera's, the only inbox here.
func (p *Peer) checkFlag(signer *account, act map[string]any) (int, string) {
	var objects []any
	switch o := act["object"].(type) {
	case string:
		objects = []any{o}
	case []any:
		objects = o
	}
	target := ""
	for _, o := range objects {
		u, err := url.Parse(idOf(o))
		if err != nil || u.Host != p.host {
			continue // not ours: ignored
		}
		if name, ok := strings.CutPrefix(u.Path, "/users/"); ok && name != "" && !strings.Contains(name, "/") {
			if target != "" {
				return http.StatusBadRequest, "Flag: multiple target account uris"
			}
			target = u.String()
		}
	}
	switch {
	case target == "":
		return http.StatusBadRequest, "Flag: missing target account uri"
	case commonLabels(hostname(signer.uri), hostname(idOf(act["actor"]))) < 2:
		return http.StatusForbidden, "Flag: requester does not share a domain with the Flag actor"
	case target != p.ActorID():
		return http.StatusForbidden, "Flag: receiver is not the expected object"
	}
	return 0, ""
}

func hostname(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// commonLabels is dns.CompareDomainName: how many labels two names share from the right.
func commonLabels(a, b string) int {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	n := 0
	for n < len(x) && n < len(y) && x[len(x)-1-n] == y[len(y)-1-n] && x[len(x)-1-n] != "" {
		n++
	}
	return n
}
