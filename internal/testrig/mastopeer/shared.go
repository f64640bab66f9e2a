package mastopeer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
)

// Pieces other test peers share (internal/testrig/gtspeer): the parts of reading a Fediverse
// request that every server does alike. What differs between servers (which headers they
// require, how they find a key, what they refuse) each peer writes for itself.

// ParseSignature reads a Signature header's parameters (keyId, algorithm, headers,
// signature, created, expires), tolerating what Mastodon tolerates.
func ParseSignature(header string) (map[string]string, error) { return parseSignature(header) }

// ParseRSAPublicKey reads a PEM public key, PKIX ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC
// KEY"); only RSA keys are usable.
func ParseRSAPublicKey(pemText string) (*rsa.PublicKey, error) { return parsePublicKey(pemText) }

// IDOf is a string, or the id of an object.
func IDOf(v any) string { return idOf(v) }

// HasType reports whether doc's type is typ or an array containing it.
func HasType(doc map[string]any, typ string) bool { return hasType(doc, typ) }

// CloneMap deep-copies a decoded JSON object.
func CloneMap(m map[string]any) map[string]any { return cloneMap(m) }

// InstanceKey is a server's instance actor's key (Mastodon's representative account,
// GoToSocial's instance account), made on first use: reports go out from that actor.
type InstanceKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	pem  string
}

// Get returns the key and its public half as PEM (PKIX).
func (k *InstanceKey) Get() (*rsa.PrivateKey, string) {
	k.once.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		k.key, k.pem = key, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	})
	return k.key, k.pem
}

// SendFlag forwards a report as Mastodon (ActivityPub::FlagSerializer) and GoToSocial
// (ReportToASFlag) both do: a Flag from the instance actor, so that the reporter stays
// unnamed, with the server's own id for it, "object" the reported account followed by its
// reported statuses, "content" the comment. deliver POSTs the body to the inbox signed by the
// instance actor, as the server delivers. It returns the Flag's id and fails on any answer
// but 2xx.
func SendFlag(inbox, id, actor string, objects []string, comment string, deliver func(body []byte) (int, []byte, error)) (string, error) {
	body, err := json.Marshal(map[string]any{
		"@context": ASContext,
		"id":       id,
		"type":     "Flag",
		"actor":    actor,
		"content":  comment,
		"object":   append([]string(nil), objects...),
	})
	if err != nil {
		return "", err
	}
	status, resp, err := deliver(body)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", inbox, err)
	}
	if status < 200 || status > 299 {
		return "", fmt.Errorf("POST %s: %d %s", inbox, status, strings.TrimSpace(string(resp)))
	}
	return id, nil
}

// Actor is the instance actor's document in the parts both servers serve alike (type
// Application, the host as its preferredUsername, the key); each server adds its own.
func (k *InstanceKey) Actor(id, host, keyID string) map[string]any {
	_, pemText := k.Get()
	return map[string]any{
		"@context":          []any{ASContext, "https://w3id.org/security/v1"},
		"id":                id,
		"type":              "Application",
		"preferredUsername": host,
		"publicKey":         map[string]any{"id": keyID, "owner": id, "publicKeyPem": pemText},
	}
}
