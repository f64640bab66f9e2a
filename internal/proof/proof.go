package proof

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"github.com/mr-tron/base58"
)

// The only proof we make and accept. FEP-8b32 requires assertionMethod as the purpose:
// a proof made with a key the actor lists for something else (authentication, say) is no
// statement of the actor about the object.
const (
	proofType    = "DataIntegrityProof"
	cryptosuite  = "eddsa-jcs-2022"
	proofPurpose = "assertionMethod"
)

// maxMembers bounds the members of any one JSON object we canonicalize. The JCS library
// sorts members by insertion, which is quadratic in their number, and Verify runs on bodies
// that anyone on the network can post to an inbox: with this bound the sorting stays a
// small part of the cost of merely parsing the body, however the members are arranged.
// ActivityStreams objects have a few dozen members.
const maxMembers = 256

// Errors that Sign and Verify return, wrapped with detail; test them with errors.Is. They are
// distinct so that an inbox can log why it refused an object and tell "not signed" (fall
// back to other authentication, as FEP-8b32 allows) from "signed, but wrongly" (refuse).
var (
	// ErrMalformed: the document is not a single, well-formed JSON object in UTF-8 without
	// duplicate member names. JSON that two parsers could read differently cannot be
	// signed safely: the signer and the reader could see different votes.
	ErrMalformed = errors.New("proof: document is not a well-formed JSON object")
	// ErrAlreadySigned: Sign was given a document that already has a "proof". We make one
	// proof per object (FEP-8b32: objects SHOULD NOT carry more than one) and never
	// silently replace someone else's.
	ErrAlreadySigned = errors.New("proof: document already has a proof")
	// ErrNoProof: the document carries no "proof" member.
	ErrNoProof = errors.New("proof: document has no proof")
	// ErrProofSet: "proof" is an array. Data Integrity allows proof sets and chains; we do
	// not, because a vote has one author and accepting sets would mean deciding which of
	// several signers counts.
	ErrProofSet = errors.New("proof: proof sets (an array of proofs) are not supported")
	// ErrMalformedProof: the proof object lacks a required member or has one of the wrong
	// type or form.
	ErrMalformedProof = errors.New("proof: malformed proof")
	// ErrUnsupportedCryptosuite: the proof is not a DataIntegrityProof with cryptosuite
	// eddsa-jcs-2022.
	ErrUnsupportedCryptosuite = errors.New("proof: unsupported proof type or cryptosuite")
	// ErrProofPurpose: the proof's purpose is not assertionMethod.
	ErrProofPurpose = errors.New("proof: proof purpose is not assertionMethod")
	// ErrProofValueEncoding: proofValue is not a base58btc multibase string of a 64-byte
	// Ed25519 signature.
	ErrProofValueEncoding = errors.New("proof: bad proofValue encoding")
	// ErrContextMismatch: the proof's "@context" is not the document's "@context".
	ErrContextMismatch = errors.New("proof: @context of proof and document differ")
	// ErrSignatureInvalid: everything parsed, but the signature does not match the
	// document and the key: the object was changed, or signed by someone else.
	ErrSignatureInvalid = errors.New("proof: signature invalid")
)

// KeyResolver turns a proof's verificationMethod into the Ed25519 key it names and the
// controller of that key.
//
// Verify takes it as a function because finding the key is the part that needs trust
// decisions this package cannot make: fetching the actor (or reading a cache), checking
// that the key is listed in the actor's assertionMethod (FEP-521a), and whatever origin
// rules the instance applies (FEP-fe34). The controller must be the one stated by the
// fetched key and actor, never one taken from the proof, since the proof is exactly what
// is being checked.
type KeyResolver func(ctx context.Context, verificationMethod string) (key ed25519.PublicKey, controller string, err error)

// Result is what a valid proof establishes: the holder of VerificationMethod, controlled
// by Controller, signed the document.
type Result struct {
	VerificationMethod string
	// Controller is the actor the resolver said owns the key. The caller must compare it
	// with the object's author (attributedTo, or actor for an activity): a valid proof by
	// Bob on a vote attributed to Alice proves nothing about Alice.
	Controller string
	// Created is the signer's claim of when it signed; zero if the proof has no created.
	// It is the signer's word, not a timestamp anyone vouches for.
	Created time.Time
	// Expires is zero unless the proof says when it stops being valid. Verify does not
	// compare it with the current time, because the instance reads time only from its
	// Clock; a caller that gets a non-zero Expires in the past must treat the proof as
	// absent (FEP-8b32).
	Expires time.Time
}

// proofObject is the proof as Sign writes it. The field order is only for people reading
// the JSON; the signature covers the canonical (JCS) form, where order does not matter.
type proofObject struct {
	Context            json.RawMessage `json:"@context,omitempty"`
	Type               string          `json:"type"`
	Cryptosuite        string          `json:"cryptosuite"`
	VerificationMethod string          `json:"verificationMethod"`
	ProofPurpose       string          `json:"proofPurpose"`
	Created            string          `json:"created"`
	ProofValue         string          `json:"proofValue,omitempty"`
}

// Sign returns doc with a "proof" member added: an eddsa-jcs-2022 DataIntegrityProof made
// with key, naming verificationMethod (the id of the Multikey in the signer's
// assertionMethod) and created (written in UTC, whole seconds).
//
// The rest of doc is returned byte for byte as it came (only whitespace at its ends and
// before the closing brace goes): the signature covers the canonical form of the object,
// so re-encoding it would gain nothing and could lose what its author wrote. When doc has an "@context", the proof gets the
// same one, as the Recommendation (Create Proof, step 2) and FEP-8b32 do: it binds the
// signature to the vocabulary the object was written in.
func Sign(doc []byte, key ed25519.PrivateKey, verificationMethod string, created time.Time) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("proof: bad Ed25519 private key length %d", len(key))
	}
	if verificationMethod == "" {
		return nil, errors.New("proof: empty verificationMethod")
	}
	if created.IsZero() {
		return nil, errors.New("proof: zero created time")
	}
	members, err := parseObject(doc)
	if err != nil {
		return nil, err
	}
	if _, ok := members["proof"]; ok {
		return nil, ErrAlreadySigned
	}

	hd, err := documentHash(members)
	if err != nil {
		return nil, err
	}
	p, err := signedProof(hd, members["@context"], key, verificationMethod, created)
	if err != nil {
		return nil, err
	}
	encoded, err := marshal(p)
	if err != nil {
		return nil, err
	}
	return appendMember(doc, "proof", encoded, len(members) == 0), nil
}

// Verify checks the eddsa-jcs-2022 proof carried by doc, following Verify Proof
// (eddsa-jcs-2022) of the Recommendation, and says whose key made it.
//
// A nil error means only that the key named by the proof signed exactly this document.
// It does not mean the object's author signed it: the caller must compare
// Result.Controller with the object's attributedTo (or an activity's actor) and refuse the
// object if they differ. Verify cannot do that itself, because which member names the
// author depends on the object, and for a Create it may be both actor and
// object.attributedTo.
//
// One deliberate difference from the Recommendation: when the proof has an "@context", the
// document's "@context" must be equal to it, where the Recommendation accepts a document
// whose "@context" merely starts with the proof's. The looser rule lets a document gain
// contexts after it was signed, for proofs added later, which we refuse anyway; for us it
// would only let anyone append a context, that is redefine what the signed terms mean to a
// JSON-LD reader, without breaking the signature. A proof without "@context" (made by software that skips Create
// Proof step 2) is accepted: then the document's "@context" is covered by the document
// hash like any other member.
//
// resolve is called only after the proof has been parsed and checked, so that an
// unsigned or malformed object never makes us fetch anything.
func Verify(ctx context.Context, doc []byte, resolve KeyResolver) (Result, error) {
	if resolve == nil {
		return Result{}, errors.New("proof: nil KeyResolver")
	}
	members, err := parseObject(doc)
	if err != nil {
		return Result{}, err
	}
	raw, ok := members["proof"]
	if !ok || isNull(raw) {
		return Result{}, ErrNoProof
	}
	switch firstByte(raw) {
	case '{':
	case '[':
		return Result{}, ErrProofSet
	default:
		return Result{}, fmt.Errorf("%w: proof is not an object", ErrMalformedProof)
	}
	docContext := members["@context"]
	delete(members, "proof")
	return verifyProof(ctx, raw, docContext, func() ([sha256.Size]byte, error) { return documentHash(members) }, resolve)
}

// verifyProof is Verify from the parsed proof on: raw is the "proof" member (an object),
// docContext the document's "@context" (nil if it has none), and docHash yields the SHA-256
// of the canonical document without its proof. docHash is called only once the proof itself
// has been checked, so that a malformed proof is reported as such before the (possibly
// large) document is canonicalized, as Verify always did.
func verifyProof(ctx context.Context, raw, docContext json.RawMessage, docHash func() ([sha256.Size]byte, error), resolve KeyResolver) (Result, error) {
	var proof map[string]json.RawMessage
	if err := json.Unmarshal(raw, &proof); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrMalformedProof, err)
	}

	var res Result
	var err error
	var typ, suite, purpose, value string
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"type", &typ},
		{"cryptosuite", &suite},
		{"proofPurpose", &purpose},
		{"verificationMethod", &res.VerificationMethod},
		{"proofValue", &value},
	} {
		if *f.dst, err = stringMember(proof, f.name); err != nil {
			return Result{}, err
		}
	}
	if typ != proofType {
		return Result{}, fmt.Errorf("%w: type %q", ErrUnsupportedCryptosuite, typ)
	}
	if suite != cryptosuite {
		return Result{}, fmt.Errorf("%w: cryptosuite %q", ErrUnsupportedCryptosuite, suite)
	}
	if purpose != proofPurpose {
		return Result{}, fmt.Errorf("%w: %q", ErrProofPurpose, purpose)
	}
	if res.VerificationMethod == "" {
		return Result{}, fmt.Errorf("%w: empty verificationMethod", ErrMalformedProof)
	}
	if res.Created, err = timeMember(proof, "created"); err != nil {
		return Result{}, err
	}
	if res.Expires, err = timeMember(proof, "expires"); err != nil {
		return Result{}, err
	}
	sig, err := decodeProofValue(value)
	if err != nil {
		return Result{}, err
	}
	if pc, ok := proof["@context"]; ok {
		if err := sameContext(pc, docContext); err != nil {
			return Result{}, err
		}
	}

	delete(proof, "proofValue")
	hd, err := docHash()
	if err != nil {
		return Result{}, err
	}
	data, err := hashData(proof, hd)
	if err != nil {
		return Result{}, err
	}

	key, controller, err := resolve(ctx, res.VerificationMethod)
	if err != nil {
		return Result{}, fmt.Errorf("proof: resolving %s: %w", res.VerificationMethod, err)
	}
	if len(key) != ed25519.PublicKeySize {
		return Result{}, fmt.Errorf("proof: resolver returned a %d-byte key for %s", len(key), res.VerificationMethod)
	}
	// An empty controller would compare equal to a missing attributedTo in the caller.
	if controller == "" {
		return Result{}, fmt.Errorf("proof: resolver returned no controller for %s", res.VerificationMethod)
	}
	if !ed25519.Verify(key, data, sig) {
		return Result{}, ErrSignatureInvalid
	}
	res.Controller = controller
	return res, nil
}

// hashData is the Hashing step of eddsa-jcs-2022: SHA-256 of the canonical proof
// configuration followed by docHash, the SHA-256 of the canonical document. Hashing the
// configuration too is what makes created, verificationMethod and @context part of what is
// signed. The document enters only as its hash, so that a document too large to hold in
// memory can be hashed while it is streamed (SignHash, VerifyHash).
func hashData(proofConfig any, docHash [sha256.Size]byte) ([]byte, error) {
	c, err := canonical(proofConfig)
	if err != nil {
		return nil, err
	}
	hc := sha256.Sum256(c)
	return append(hc[:], docHash[:]...), nil
}

// documentHash is the SHA-256 of the canonical form of a document's members (its proof
// already removed).
func documentHash(document map[string]json.RawMessage) ([sha256.Size]byte, error) {
	d, err := canonical(document)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(d), nil
}

// signedProof builds the proof configuration (Create Proof, steps 1–2: the document's
// "@context", if it has one, goes into the proof) and signs it together with docHash.
func signedProof(docHash [sha256.Size]byte, docContext json.RawMessage, key ed25519.PrivateKey, verificationMethod string, created time.Time) (proofObject, error) {
	p := proofObject{
		Context:            docContext,
		Type:               proofType,
		Cryptosuite:        cryptosuite,
		VerificationMethod: verificationMethod,
		ProofPurpose:       proofPurpose,
		Created:            created.UTC().Format(time.RFC3339),
	}
	data, err := hashData(p, docHash)
	if err != nil {
		return proofObject{}, err
	}
	p.ProofValue = string(multibaseBase58BTC) + base58.Encode(ed25519.Sign(key, data))
	return p, nil
}

// canonical is JCS (RFC 8785) of v. Going through encoding/json first is harmless: JCS
// re-reads every string and number and writes its single canonical spelling, so escapes
// chosen by the encoder (\u003c for "<", say) do not survive into what is hashed.
func canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	c, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalization: %v", ErrMalformed, err)
	}
	return c, nil
}

// parseObject splits doc into its top-level members after making sure it is JSON that
// every reader understands the same way (see ErrMalformed). Members stay raw so that
// numbers are never rounded through float64 before JCS sees them.
func parseObject(doc []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(doc) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrMalformed)
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("%w: not valid JSON", ErrMalformed)
	}
	if firstByte(doc) != '{' {
		return nil, fmt.Errorf("%w: not an object", ErrMalformed)
	}
	if err := checkMembers(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(doc, &members); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return members, nil
}

// checkMembers refuses duplicate member names and oversized objects anywhere in doc.
// Duplicates must be caught before the top level is split into a Go map, which keeps only
// the last of them: two "proof" members, or two "object" members, would otherwise let the
// verifier and the application look at different values.
func checkMembers(doc []byte) error {
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]struct{}
	}
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, ok := tok.(string)
			if !ok {
				return fmt.Errorf("unexpected token %v", tok)
			}
			top := &stack[n-1]
			if _, dup := top.keys[key]; dup {
				return fmt.Errorf("duplicate member %q", key)
			}
			if len(top.keys) >= maxMembers {
				return fmt.Errorf("object with more than %d members", maxMembers)
			}
			top.keys[key] = struct{}{}
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true, keys: map[string]struct{}{}})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// sameContext compares two "@context" values by their canonical form, so that whitespace
// or escaping differences between the two copies do not count as a mismatch.
func sameContext(proofCtx, docCtx json.RawMessage) error {
	if docCtx == nil {
		return fmt.Errorf("%w: proof has @context, document has none", ErrContextMismatch)
	}
	a, err := canonical(proofCtx)
	if err != nil {
		return err
	}
	b, err := canonical(docCtx)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return ErrContextMismatch
	}
	return nil
}

func decodeProofValue(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != multibaseBase58BTC {
		return nil, fmt.Errorf("%w: want multibase base58btc (\"z\" prefix)", ErrProofValueEncoding)
	}
	sig, err := base58.Decode(s[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProofValueEncoding, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrProofValueEncoding, len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

func stringMember(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Errorf("%w: no %s", ErrMalformedProof, name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformedProof, name)
	}
	return s, nil
}

// timeMember reads an optional dateTime member. The Recommendation requires created to be
// a valid XML Schema dateTime when present; we accept the RFC 3339 subset (a time zone is
// required) that every implementation we know writes, and refuse the rest rather than
// guess a time zone.
func timeMember(m map[string]json.RawMessage, name string) (time.Time, error) {
	if _, ok := m[name]; !ok {
		return time.Time{}, nil
	}
	s, err := stringMember(m, name)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 date-time", ErrMalformedProof, name, s)
	}
	return t, nil
}

// marshal is json.Marshal without HTML escaping, so that a verificationMethod with "&" in
// it reads as written in the signed document.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// appendMember inserts "name":value before the closing brace of the object doc, which
// parseObject has already checked.
func appendMember(doc []byte, name string, value []byte, empty bool) []byte {
	doc = bytes.TrimSpace(doc)
	body := bytes.TrimRight(doc[:len(doc)-1], " \t\r\n")
	out := make([]byte, 0, len(doc)+len(name)+len(value)+4)
	out = append(out, body...)
	if !empty {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, name...)
	out = append(out, '"', ':')
	out = append(out, value...)
	return append(out, '}')
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
