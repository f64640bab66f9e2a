package actors

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// CheckProof verifies an object's integrity proof and that its key belongs to author; it returns
// the author as fetched.
func (s *Service) CheckProof(ctx context.Context, body []byte, author string) (*Remote, error) {
	var who *Remote
	resolve := func(ctx context.Context, vm string) (ed25519.PublicKey, string, error) {
		actorIRI, _, _ := strings.Cut(vm, "#")
		if actorIRI != author {
			return nil, "", errors.New("federation: the proof is not by the object's author")
		}
		for _, refresh := range []bool{false, true} {
			a, err := s.Remote(ctx, actorIRI, refresh)
			if err != nil {
				return nil, "", err
			}
			for _, k := range a.Multikeys {
				if k.ID == vm && k.Controller == a.IRI {
					pub, err := proof.DecodeMultikey(k.PublicKeyMultibase)
					if err != nil {
						return nil, "", err
					}
					who = a
					return pub, a.IRI, nil
				}
			}
		}
		return nil, "", fmt.Errorf("federation: %s publishes no key %s", actorIRI, vm)
	}
	res, err := proof.Verify(ctx, body, resolve)
	if err != nil {
		return nil, err
	}
	if res.Controller != author || who == nil {
		return nil, errors.New("federation: the proof's controller is not the author")
	}
	return who, nil
}
