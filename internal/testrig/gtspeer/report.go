package gtspeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Reports as GoToSocial sends them (docs/federation/moderation.md, internal/typeutils
// ReportToASFlag, internal/federation/federatingdb/flag.go): a moderator forwards a report as
// a Flag from the instance account (username the host, id <base>/users/<host>), so that the
// reporter stays unnamed; "id" <base>/reports/<id>, "object" the reported account's uri
// followed by the reported statuses', "content" the comment. It goes to the account's inbox.

type instance struct {
	once sync.Once
	key  *rsa.PrivateKey
	pem  string
}

func (p *Peer) instancePath() string { return "/users/" + p.host }

// InstanceActorID is the peer's instance account.
func (p *Peer) InstanceActorID() string { return p.base + p.instancePath() }

func (p *Peer) instanceKey() (*rsa.PrivateKey, string) {
	p.inst.once.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		p.inst.key, p.inst.pem = key, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	})
	return p.inst.key, p.inst.pem
}

// instanceMinimal is what <instance>/main-key serves, as for vera: the owner inside publicKey.
func (p *Peer) instanceMinimal() map[string]any {
	_, pemText := p.instanceKey()
	id := p.InstanceActorID()
	return map[string]any{
		"@context":          []any{ASContext, "https://w3id.org/security/v1"},
		"id":                id,
		"type":              "Application",
		"preferredUsername": p.host,
		"publicKey":         map[string]any{"id": id + "/main-key", "owner": id, "publicKeyPem": pemText},
	}
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
// instance account and signed with its key, as GoToSocial forwards a report. It returns the
// Flag's id and fails on any answer but 2xx.
func (p *Peer) Report(ctx context.Context, inbox string, objects []string, comment string) (string, error) {
	flag := map[string]any{
		"@context": ASContext,
		"actor":    p.InstanceActorID(),
		"content":  comment,
		"id":       p.base + "/reports/" + newULID(),
		"object":   objects,
		"type":     "Flag",
	}
	body, err := json.Marshal(flag)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inbox, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", postContentType)
	req.Header.Set("Accept-Charset", "utf-8")
	req.Header.Set("User-Agent", fmt.Sprintf(userAgent, p.base))
	key, _ := p.instanceKey()
	if err := p.signAs(req, body, key, p.InstanceActorID()+"/main-key"); err != nil {
		return "", err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", inbox, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return "", fmt.Errorf("POST %s: %d %s", inbox, res.StatusCode, strings.TrimSpace(b.String()))
	}
	return flag["id"].(string), nil
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
