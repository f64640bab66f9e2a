package vocab

import (
	"encoding/json"
	"strings"
)

// The contexts below are the ones our documents and the Fediverse's name in @context. We keep
// our own copies because a JSON-LD processor that dereferences them would make every
// signature check and every test depend on w3.org and w3id.org being up (and would let a
// remote document change what a signed object means). The term tables are ours, written
// down from the published documents; the JSON is generated from them, so a reviewer reads
// "these properties are @id-typed" instead of diffing a vendored file.

// Namespaces the terms map into.
const (
	asNS    = "https://www.w3.org/ns/activitystreams#"
	secNS   = "https://w3id.org/security#"
	xsdNS   = "http://www.w3.org/2001/XMLSchema#"
	ldpNS   = "http://www.w3.org/ns/ldp#"
	vcardNS = "http://www.w3.org/2006/vcard/ns#"
	dcNS    = "http://purl.org/dc/terms/"
	tootNS  = "http://joinmastodon.org/ns#"
)

// ActivityStreams 2.0 (https://www.w3.org/ns/activitystreams), a JSON-LD 1.0 context: nothing
// in it is @protected, so later contexts may redefine its terms.
var (
	// as2Types are the classes of the Activity Vocabulary, plus the relationship values
	// (IsFollowing …) that the context defines as terms too.
	as2Types = []string{
		// core
		"Object", "Link", "Activity", "IntransitiveActivity",
		"Collection", "OrderedCollection", "CollectionPage", "OrderedCollectionPage",
		// activities
		"Accept", "Add", "Announce", "Arrive", "Block", "Create", "Delete", "Dislike",
		"Flag", "Follow", "Ignore", "Invite", "Join", "Leave", "Like", "Listen", "Move",
		"Offer", "Question", "Reject", "Read", "Remove", "TentativeReject",
		"TentativeAccept", "Travel", "Undo", "Update", "View",
		// actors
		"Application", "Group", "Organization", "Person", "Service",
		// objects and links
		"Article", "Audio", "Document", "Event", "Image", "Note", "Page", "Place",
		"Profile", "Relationship", "Tombstone", "Video", "Mention",
		// relationship values
		"IsFollowing", "IsFollowedBy", "IsContact", "IsMember",
	}
	// as2IDProperties are the properties whose string values are IRIs ("@type": "@id"): the
	// links between objects, actors' collections and endpoints.
	as2IDProperties = []string{
		"actor", "alsoKnownAs", "anyOf", "attachment", "attributedTo", "audience", "bcc",
		"bto", "cc", "context", "current", "describes", "endpoints", "first", "followers",
		"following", "formerType", "generator", "href", "icon", "image", "inReplyTo",
		"instrument", "items", "last", "liked", "likes", "location", "next",
		"oauthAuthorizationEndpoint", "oauthTokenEndpoint", "object", "oneOf", "origin",
		"outbox", "partOf", "prev", "preview", "provideClientKey", "proxyUrl",
		"relationship", "replies", "result", "sharedInbox", "shares", "signClientKey",
		"streams", "subject", "tag", "target", "to", "uploadMedia", "url",
	}
	as2DateTimeProperties = []string{"closed", "deleted", "endTime", "published", "startTime", "updated"}
	as2FloatProperties    = []string{"accuracy", "altitude", "latitude", "longitude", "radius"}
	as2CountProperties    = []string{"height", "startIndex", "totalItems", "width"}
	as2DurationProperties = []string{"duration"}
	// as2PlainProperties carry literals without a datatype.
	as2PlainProperties = []string{
		"content", "hreflang", "mediaType", "name", "preferredUsername", "rel", "source",
		"summary", "units",
	}
	// as2LanguageMaps are the natural-language properties in their per-language form.
	as2LanguageMaps = map[string]string{"contentMap": "content", "nameMap": "name", "summaryMap": "summary"}
)

// as2Context builds the ActivityStreams context document from the tables above.
func as2Context() map[string]any {
	c := map[string]any{
		// Unknown terms become blank-node properties instead of vanishing: that is what the
		// published context does, and why our tests check IRIs and not only for errors.
		"@vocab": "_:",
		"xsd":    xsdNS,
		"as":     asNS,
		"ldp":    ldpNS,
		"vcard":  vcardNS,
		"id":     "@id",
		"type":   "@type",
		// ActivityPub's inbox is LDP's, not an as: term.
		"inbox": typed("ldp:inbox", "@id"),
		// orderedItems is as:items as an RDF list, so the order survives expansion.
		"orderedItems": map[string]any{"@id": "as:items", "@type": "@id", "@container": "@list"},
		"Public":       typed("as:Public", "@id"),
	}
	for _, t := range as2Types {
		c[t] = "as:" + t
	}
	for _, p := range as2IDProperties {
		c[p] = typed("as:"+p, "@id")
	}
	for _, p := range as2DateTimeProperties {
		c[p] = typed("as:"+p, "xsd:dateTime")
	}
	for _, p := range as2FloatProperties {
		c[p] = typed("as:"+p, "xsd:float")
	}
	for _, p := range as2CountProperties {
		c[p] = typed("as:"+p, "xsd:nonNegativeInteger")
	}
	for _, p := range as2DurationProperties {
		c[p] = typed("as:"+p, "xsd:duration")
	}
	for _, p := range as2PlainProperties {
		c[p] = "as:" + p
	}
	for m, p := range as2LanguageMaps {
		c[m] = map[string]any{"@id": "as:" + p, "@container": "@language"}
	}
	return map[string]any{"@context": c}
}

// Security vocabulary v1 (https://w3id.org/security/v1), the context of Mastodon-era actors:
// publicKey for HTTP signatures, and the Linked Data Signatures 2015-2017 terms that the
// RsaSignature2017 on relayed activities uses. A JSON-LD 1.0 context, nothing @protected.
var (
	secV1Types = map[string]string{
		"CryptographicKey":          "sec:Key",
		"EcdsaKoblitzSignature2016": "sec:EcdsaKoblitzSignature2016",
		"Ed25519Signature2018":      "sec:Ed25519Signature2018",
		"EncryptedMessage":          "sec:EncryptedMessage",
		"GraphSignature2012":        "sec:GraphSignature2012",
		"LinkedDataSignature2015":   "sec:LinkedDataSignature2015",
		"LinkedDataSignature2016":   "sec:LinkedDataSignature2016",
	}
	secV1Plain = []string{
		"authenticationTag", "canonicalizationAlgorithm", "cipherAlgorithm", "cipherData",
		"cipherKey", "digestAlgorithm", "digestValue", "domain", "encryptionKey",
		"initializationVector", "iterationCount", "nonce", "normalizationAlgorithm",
		"password", "privateKeyPem", "publicKeyBase58", "publicKeyPem", "publicKeyWif",
		"salt", "signature", "signatureValue",
	}
	secV1IDs = []string{"owner", "privateKey", "publicKey", "publicKeyService"}
	// secV1Special are the terms whose IRI is not sec:<term>. created and creator are Dublin
	// Core, not sec: — a copy that "fixed" them would canonicalize Mastodon's
	// RsaSignature2017 differently from the signer, and every such signature would fail.
	secV1Special = map[string]any{
		"created":            typed("dc:created", "xsd:dateTime"),
		"creator":            typed("dc:creator", "@id"),
		"expiration":         typed("sec:expiration", "xsd:dateTime"),
		"expires":            typed("sec:expiration", "xsd:dateTime"),
		"revoked":            typed("sec:revoked", "xsd:dateTime"),
		"signatureAlgorithm": "sec:signingAlgorithm",
	}
)

func securityV1Context() map[string]any {
	c := map[string]any{
		"id":   "@id",
		"type": "@type",
		"dc":   dcNS,
		"sec":  secNS,
		"xsd":  xsdNS,
	}
	for t, iri := range secV1Types {
		c[t] = iri
	}
	for _, p := range secV1Plain {
		c[p] = "sec:" + p
	}
	for _, p := range secV1IDs {
		c[p] = typed("sec:"+p, "@id")
	}
	for p, def := range secV1Special {
		c[p] = def
	}
	return map[string]any{"@context": c}
}

// proofPurposes are the verification relationships a Data Integrity proof can claim, with
// the security-vocabulary IRIs they stand for (authentication is sec:authenticationMethod,
// and so on; only assertionMethod keeps its name).
var proofPurposes = map[string]string{
	"assertionMethod":      secNS + "assertionMethod",
	"authentication":       secNS + "authenticationMethod",
	"capabilityInvocation": secNS + "capabilityInvocationMethod",
	"capabilityDelegation": secNS + "capabilityDelegationMethod",
	"keyAgreement":         secNS + "keyAgreementMethod",
}

// dataIntegrityV2Context is https://w3id.org/security/data-integrity/v2 (W3C Data Integrity
// 1.0): proof is a @graph container, because a proof is a statement about the document and
// not part of it, and DataIntegrityProof carries its terms in a type-scoped context so that
// "created" or "domain" mean the proof's fields only inside a proof. Everything is
// @protected: a later context cannot make an existing proof mean something else.
func dataIntegrityV2Context() map[string]any {
	purposes := protectedContext()
	for term, iri := range proofPurposes {
		purposes[term] = map[string]any{"@id": iri, "@type": "@id", "@container": "@set"}
	}
	proof := protectedContext()
	proof["challenge"] = secNS + "challenge"
	proof["created"] = typed(dcNS+"created", xsdNS+"dateTime")
	proof["domain"] = secNS + "domain"
	proof["expires"] = typed(secNS+"expiration", xsdNS+"dateTime")
	proof["nonce"] = secNS + "nonce"
	proof["previousProof"] = typed(secNS+"previousProof", "@id")
	proof["proofPurpose"] = map[string]any{
		"@id":      secNS + "proofPurpose",
		"@type":    "@vocab",
		"@context": purposes,
	}
	proof["cryptosuite"] = typed(secNS+"cryptosuite", secNS+"cryptosuiteString")
	proof["proofValue"] = typed(secNS+"proofValue", secNS+"multibase")
	proof["verificationMethod"] = typed(secNS+"verificationMethod", "@id")

	c := protectedContext()
	c["proof"] = map[string]any{"@id": secNS + "proof", "@type": "@id", "@container": "@graph"}
	c["DataIntegrityProof"] = map[string]any{"@id": secNS + "DataIntegrityProof", "@context": proof}
	return map[string]any{"@context": c}
}

// multikeyV1Context is https://w3id.org/security/multikey/v1: only the Multikey class and,
// scoped to it, the key's own terms. It does not define assertionMethod (the property that
// points from an actor to its keys); that is defined by the DID and Controlled Identifier
// contexts, which we do not use, so our own context defines it (see weltgewebe.jsonld).
func multikeyV1Context() map[string]any {
	key := protectedContext()
	key["controller"] = typed(secNS+"controller", "@id")
	key["revoked"] = typed(secNS+"revoked", xsdNS+"dateTime")
	key["expires"] = typed(secNS+"expiration", xsdNS+"dateTime")
	key["publicKeyMultibase"] = typed(secNS+"publicKeyMultibase", secNS+"multibase")
	key["secretKeyMultibase"] = typed(secNS+"secretKeyMultibase", secNS+"multibase")

	c := protectedContext()
	c["Multikey"] = map[string]any{"@id": secNS + "Multikey", "@context": key}
	return map[string]any{"@context": c}
}

// protectedContext starts a JSON-LD 1.1 context the way the W3C security contexts do: id
// and type aliased and everything protected. Redefining id and type identically in several
// protected contexts is allowed, which is why DataIntegrityV2 and MultikeyV1 combine.
func protectedContext() map[string]any {
	return map[string]any{"@protected": true, "id": "@id", "type": "@type"}
}

func typed(id, typ string) map[string]any { return map[string]any{"@id": id, "@type": typ} }

// How the five contexts of Context combine. ActivityStreams and security/v1 are JSON-LD 1.0
// contexts and protect nothing, so the later ones may redefine their terms (security/v1's
// id and type aliases repeat AS2's). Data Integrity v2 and Multikey v1 protect id, type,
// proof, DataIntegrityProof and Multikey; both alias id and type identically, which JSON-LD
// allows, and their other terms (created, expires, controller …) live in type-scoped
// contexts, so they do not clash with security/v1's terms of the same names. Our own context
// comes last and redefines none of the protected terms. It adds assertionMethod, which
// none of the other four define at the top level (only inside a proof's proofPurpose),
// exactly as the DID and Controlled Identifier contexts protect it, so adding one of those
// later remains an identical — allowed — redefinition. TestContextDocumentIsValidJSONLD
// processes the combination in both orders.

// contextDocuments maps every context URL we carry to its document, as JSON.
var contextDocuments = map[string][]byte{}

func init() {
	docs := map[string]map[string]any{
		ActivityStreams: as2Context(),
		SecurityV1:      securityV1Context(),
		DataIntegrityV2: dataIntegrityV2Context(),
		MultikeyV1:      multikeyV1Context(),
	}
	for u, doc := range docs {
		b, err := json.Marshal(doc)
		if err != nil {
			panic("vocab: context " + u + ": " + err.Error())
		}
		contextDocuments[u] = b
	}
	contextDocuments[ContextURL] = contextDocument
}

// KnownContext is the JSON-LD context document we carry for the URL u (ActivityStreams,
// SecurityV1, DataIntegrityV2, MultikeyV1 and our own ContextURL), under the URL we keep it
// as: u may be spelled as seen in the wild — http:// for https:// (old Mastodon and Pleroma
// documents), and for ActivityStreams also the .jsonld file name the W3C serves it under. It
// answers false for any other URL: we never fetch a context, since an unknown context is an
// input we cannot interpret, not a reason to go online.
//
// Weltgewebe reads and writes compact documents only; JSON-LD processing (jsonld's
// document loader, built on this) happens in tests, which check that every document we
// serve means to a JSON-LD consumer what we intend. The processor stays out of the binary.
func KnownContext(u string) (canonical string, doc []byte, ok bool) {
	if rest, found := strings.CutPrefix(u, "http://"); found {
		u = "https://" + rest
	}
	if u == ActivityStreams+".jsonld" {
		u = ActivityStreams
	}
	doc, ok = contextDocuments[u]
	return u, doc, ok
}
