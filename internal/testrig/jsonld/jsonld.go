// Package jsonld checks JSON-LD documents the way a strict consumer reads them. Every key
// of a document must expand (JSON-LD 1.1, safe mode, with the loader the caller gives — ours
// never goes online) to the IRI written down here, with the value shape written down here;
// a key that would be dropped, or that becomes the "_:key" blank-node property
// ActivityStreams' "@vocab": "_:" makes of unknown terms, or that maps anywhere else, fails.
//
// The tables are written out in full and independently of vocab's contexts (contexts.go and
// weltgewebe.jsonld): the checks compare the two, so neither may be derived from the other.
// vocab's own tests run the checks over hand-built samples of every Go type we emit; the
// federation tests run them over every document a running instance serves and delivers.
package jsonld

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/piprate/json-gold/ld"
)

// Namespaces of the expected IRIs.
const (
	NSAS   = "https://www.w3.org/ns/activitystreams#"
	NSSec  = "https://w3id.org/security#"
	NSWG   = "https://weltgewebe.org/ns#"
	NSToot = "http://joinmastodon.org/ns#"
	NSXSD  = "http://www.w3.org/2001/XMLSchema#"
	NSLDP  = "http://www.w3.org/ns/ldp#"
	NSDC   = "http://purl.org/dc/terms/"
)

// ValueKind is how a key's values must look after expansion.
type ValueKind int

// The value shapes.
const (
	IRIValue     ValueKind = iota // strings are IRIs: {"@id": s}
	LiteralValue                  // no datatype: {"@value": v}
	TypedValue                    // {"@value": v, "@type": datatype}
	VocabValue                    // strings are vocabulary terms: {"@id": Vocab[s]}
	GraphValue                    // each object is a named graph: {"@graph": [node]}
	ListValue                     // an ordered list of IRIs or nodes: {"@list": [...]}
)

// Term is what one JSON key must expand to.
type Term struct {
	IRI      string
	Kind     ValueKind
	Datatype string
}

func ref(iri string) Term               { return Term{iri, IRIValue, ""} }
func lit(iri string) Term               { return Term{iri, LiteralValue, ""} }
func typ(iri, datatype string) Term     { return Term{iri, TypedValue, datatype} }
func dateTime(iri string) Term          { return typ(iri, NSXSD+"dateTime") }
func boolean(iri string) Term           { return typ(iri, NSXSD+"boolean") }
func nonNegInt(iri string) Term         { return typ(iri, NSXSD+"nonNegativeInteger") }
func kind(iri string, k ValueKind) Term { return Term{iri, k, ""} }

// Terms are the IRIs every JSON key we emit must expand to.
var Terms = map[string]Term{
	// ActivityStreams
	"actor":             ref(NSAS + "actor"),
	"object":            ref(NSAS + "object"),
	"target":            ref(NSAS + "target"),
	"to":                ref(NSAS + "to"),
	"cc":                ref(NSAS + "cc"),
	"attributedTo":      ref(NSAS + "attributedTo"),
	"inReplyTo":         ref(NSAS + "inReplyTo"),
	"url":               ref(NSAS + "url"),
	"inbox":             ref(NSLDP + "inbox"),
	"outbox":            ref(NSAS + "outbox"),
	"followers":         ref(NSAS + "followers"),
	"following":         ref(NSAS + "following"),
	"endpoints":         ref(NSAS + "endpoints"),
	"sharedInbox":       ref(NSAS + "sharedInbox"),
	"oneOf":             ref(NSAS + "oneOf"),
	"replies":           ref(NSAS + "replies"),
	"first":             ref(NSAS + "first"),
	"last":              ref(NSAS + "last"),
	"next":              ref(NSAS + "next"),
	"prev":              ref(NSAS + "prev"),
	"partOf":            ref(NSAS + "partOf"),
	"orderedItems":      kind(NSAS+"items", ListValue),
	"totalItems":        nonNegInt(NSAS + "totalItems"),
	"published":         dateTime(NSAS + "published"),
	"updated":           dateTime(NSAS + "updated"),
	"endTime":           dateTime(NSAS + "endTime"),
	"closed":            dateTime(NSAS + "closed"),
	"latitude":          typ(NSAS+"latitude", NSXSD+"float"),
	"longitude":         typ(NSAS+"longitude", NSXSD+"float"),
	"name":              lit(NSAS + "name"),
	"content":           lit(NSAS + "content"),
	"summary":           lit(NSAS + "summary"),
	"source":            lit(NSAS + "source"),
	"mediaType":         lit(NSAS + "mediaType"),
	"preferredUsername": lit(NSAS + "preferredUsername"),
	// manuallyApprovesFollowers is in no published context; Mastodon's as: term.
	"manuallyApprovesFollowers": boolean(NSAS + "manuallyApprovesFollowers"),

	// Mastodon
	"votersCount":  nonNegInt(NSToot + "votersCount"),
	"discoverable": boolean(NSToot + "discoverable"),
	"indexable":    boolean(NSToot + "indexable"),

	// Security v1 (HTTP signature keys), Multikey, Data Integrity
	"publicKey":          ref(NSSec + "publicKey"),
	"owner":              ref(NSSec + "owner"),
	"publicKeyPem":       lit(NSSec + "publicKeyPem"),
	"assertionMethod":    ref(NSSec + "assertionMethod"),
	"controller":         ref(NSSec + "controller"),
	"publicKeyMultibase": typ(NSSec+"publicKeyMultibase", NSSec+"multibase"),
	"proof":              kind(NSSec+"proof", GraphValue),
	"cryptosuite":        typ(NSSec+"cryptosuite", NSSec+"cryptosuiteString"),
	"verificationMethod": ref(NSSec + "verificationMethod"),
	"proofPurpose":       kind(NSSec+"proofPurpose", VocabValue),
	"created":            dateTime(NSDC + "created"),
	"proofValue":         typ(NSSec+"proofValue", NSSec+"multibase"),

	// Weltgewebe
	"ortsweberei":      ref(NSWG + "ortsweberei"),
	"verified":         boolean(NSWG + "verified"),
	"applicant":        ref(NSWG + "applicant"),
	"title":            lit(NSWG + "title"),
	"stimme":           ref(NSWG + "stimme"),
	"status":           lit(NSWG + "status"),
	"decisionDeadline": dateTime(NSWG + "decisionDeadline"),
	"extended":         boolean(NSWG + "extended"),
	"amountCents":      typ(NSWG+"amountCents", NSXSD+"integer"),
	"knoten":           ref(NSWG + "knoten"),
	"abstimmung":       ref(NSWG + "abstimmung"),
	"opensAt":          dateTime(NSWG + "opensAt"),
	"closesAt":         dateTime(NSWG + "closesAt"),
	"outcome":          lit(NSWG + "outcome"),
	"yesWeight":        nonNegInt(NSWG + "yesWeight"),
	"noWeight":         nonNegInt(NSWG + "noWeight"),
	"abstainWeight":    nonNegInt(NSWG + "abstainWeight"),
	"delegations":      ref(NSWG + "delegations"),
	"antrag":           ref(NSWG + "antrag"),
	"reason":           lit(NSWG + "reason"),
	"choice":           lit(NSWG + "choice"),
	"delegator":        ref(NSWG + "delegator"),
	"delegate":         ref(NSWG + "delegate"),
	"effectiveAt":      dateTime(NSWG + "effectiveAt"),
	"endedAt":          dateTime(NSWG + "endedAt"),
	"knotenType":       lit(NSWG + "knotenType"),
	"h3":               lit(NSWG + "h3"),
	"permanent":        boolean(NSWG + "permanent"),
	"fadenType":        lit(NSWG + "fadenType"),
	"twisted":          boolean(NSWG + "twisted"),
	"expiresAt":        dateTime(NSWG + "expiresAt"),
	// A Snapshot announcement (docs/FEDERATION.md, "Snapshots").
	"snapshotHash":      lit(NSWG + "snapshotHash"),
	"snapshotKind":      lit(NSWG + "snapshotKind"),
	"asOf":              dateTime(NSWG + "asOf"),
	"previousSnapshot":  lit(NSWG + "previousSnapshot"),
	"baseSnapshot":      lit(NSWG + "baseSnapshot"),
	"detachedSignature": ref(NSWG + "detachedSignature"),
	"signatureValue":    lit(NSWG + "signatureValue"),
}

// Types are the IRIs of every type we emit.
var Types = map[string]string{
	"Person": NSAS + "Person", "Group": NSAS + "Group", "Service": NSAS + "Service", "Application": NSAS + "Application",
	"Create": NSAS + "Create", "Update": NSAS + "Update", "Delete": NSAS + "Delete", "Announce": NSAS + "Announce",
	"Follow": NSAS + "Follow", "Accept": NSAS + "Accept", "Reject": NSAS + "Reject", "Undo": NSAS + "Undo",
	"Question": NSAS + "Question", "Note": NSAS + "Note", "Place": NSAS + "Place", "Tombstone": NSAS + "Tombstone",
	"Collection": NSAS + "Collection", "OrderedCollection": NSAS + "OrderedCollection",
	"OrderedCollectionPage": NSAS + "OrderedCollectionPage",
	"Ortsweberei":           NSWG + "Ortsweberei", "Garnrolle": NSWG + "Garnrolle", "Antrag": NSWG + "Antrag",
	"Einspruch": NSWG + "Einspruch", "Abstimmung": NSWG + "Abstimmung", "Stimme": NSWG + "Stimme",
	"Delegation": NSWG + "Delegation", "Knoten": NSWG + "Knoten", "Faden": NSWG + "Faden", "Snapshot": NSWG + "Snapshot",
	"Multikey": NSSec + "Multikey", "DataIntegrityProof": NSSec + "DataIntegrityProof",
}

// Vocab are the values of @vocab-typed keys (proofPurpose).
var Vocab = map[string]string{"assertionMethod": NSSec + "assertionMethod"}

// Expand runs a JSON-LD 1.1 expansion the strict way (safe mode: anything json-gold would
// drop is an error), with the contexts loader serves.
func Expand(doc any, loader ld.DocumentLoader) ([]any, error) {
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = loader
	opts.SafeMode = true
	opts.ProcessingMode = ld.JsonLd_1_1
	return ld.NewJsonLdProcessor().Expand(doc, opts)
}

// Check expands the JSON document doc and reports, through t, every key that is dropped or
// expands to something other than Terms says, and every type not in Types. used, if not nil,
// collects the keys seen.
func Check(t testing.TB, name string, doc []byte, loader ld.DocumentLoader, used map[string]bool) {
	t.Helper()
	var compact, input map[string]any
	if err := json.Unmarshal(doc, &compact); err != nil {
		t.Errorf("%s: not a JSON object: %v", name, err)
		return
	}
	_ = json.Unmarshal(doc, &input) // json-gold may change what it is given
	out, err := Expand(input, loader)
	if err != nil {
		t.Errorf("%s: expansion failed: %v\n%s", name, err, doc)
		return
	}
	if len(out) != 1 {
		t.Errorf("%s: expanded to %d nodes, want 1\n%s", name, len(out), doc)
		return
	}
	failed := false
	c := &Checker{Errorf: func(f string, args ...any) { failed = true; t.Errorf(f, args...) }, Used: used}
	c.Node(name, compact, out[0])
	if failed {
		e, _ := json.MarshalIndent(out, "", "  ")
		t.Logf("%s compact:\n%s\nexpanded:\n%s", name, doc, e)
	}
}

// Checker walks a compact document and its expansion side by side.
type Checker struct {
	Errorf func(format string, args ...any)
	Used   map[string]bool // keys seen; may be nil
}

// Node checks one node object and, recursively, the nodes embedded in it.
func (c *Checker) Node(path string, compact map[string]any, expandedValue any) {
	expanded, ok := expandedValue.(map[string]any)
	if !ok {
		c.Errorf("%s: expanded to %v, not a node", path, expandedValue)
		return
	}
	accounted := map[string]bool{}
	for _, key := range sortedKeys(compact) {
		v := compact[key]
		p := path + "." + key
		switch key {
		case "@context":
			continue
		case "id":
			accounted["@id"] = true
			if expanded["@id"] != v {
				c.Errorf("%s: @id is %v, want %v", p, expanded["@id"], v)
			}
			continue
		case "type":
			accounted["@type"] = true
			c.types(p, v, expanded["@type"])
			continue
		}
		if c.Used != nil {
			c.Used[key] = true
		}
		want, ok := Terms[key]
		if !ok {
			c.Errorf("%s: key %q has no expected IRI in jsonld.Terms", p, key)
			continue
		}
		got, ok := expanded[want.IRI]
		if !ok {
			c.Errorf("%s: dropped, or expanded to something other than %s", p, want.IRI)
			continue
		}
		accounted[want.IRI] = true
		c.values(p, want, v, got)
	}
	for k := range expanded {
		if !accounted[k] {
			c.Errorf("%s: expansion has %s, which no key accounts for", path, k)
		}
	}
}

func (c *Checker) types(path string, compact, expanded any) {
	var names []string
	switch v := compact.(type) {
	case string:
		names = []string{v}
	case []any:
		for _, n := range v {
			s, _ := n.(string)
			names = append(names, s)
		}
	}
	got, _ := expanded.([]any)
	if len(got) != len(names) {
		c.Errorf("%s: %v expanded to %v", path, names, expanded)
		return
	}
	for i, n := range names {
		if want, ok := Types[n]; !ok {
			c.Errorf("%s: type %q has no expected IRI in jsonld.Types", path, n)
		} else if got[i] != want {
			c.Errorf("%s: type %q expanded to %v, want %s", path, n, got[i], want)
		}
	}
}

func (c *Checker) values(path string, want Term, compact, expanded any) {
	values, ok := compact.([]any)
	if !ok {
		values = []any{compact}
	}
	got, _ := expanded.([]any)
	if want.Kind == ListValue {
		if len(got) != 1 {
			c.Errorf("%s: want one list, got %v", path, expanded)
			return
		}
		list, ok := got[0].(map[string]any)["@list"].([]any)
		if !ok {
			c.Errorf("%s: not a list: %v", path, got[0])
			return
		}
		got = list
	}
	if len(got) != len(values) {
		c.Errorf("%s: %d values became %d: %v", path, len(values), len(got), expanded)
		return
	}
	for i, v := range values {
		p := fmt.Sprintf("%s[%d]", path, i)
		e, ok := got[i].(map[string]any)
		if !ok {
			c.Errorf("%s: expanded to %v", p, got[i])
			continue
		}
		if obj, isObject := v.(map[string]any); isObject {
			if want.Kind == GraphValue {
				graph, _ := e["@graph"].([]any)
				if len(graph) != 1 || len(e) != 1 {
					c.Errorf("%s: want a named graph of one node, got %v", p, e)
					continue
				}
				e, _ = graph[0].(map[string]any)
			}
			c.Node(p, obj, e)
			continue
		}
		switch want.Kind {
		case IRIValue, ListValue:
			if !reflect.DeepEqual(e, map[string]any{"@id": v}) {
				c.Errorf("%s: %v expanded to %v, want {@id: %v}", p, v, e, v)
			}
		case VocabValue:
			if iri, ok := Vocab[fmt.Sprint(v)]; !ok || !reflect.DeepEqual(e, map[string]any{"@id": iri}) {
				c.Errorf("%s: %v expanded to %v", p, v, e)
			}
		case LiteralValue:
			if !reflect.DeepEqual(e, map[string]any{"@value": v}) {
				c.Errorf("%s: %v expanded to %v, want a plain literal", p, v, e)
			}
		case TypedValue:
			if !reflect.DeepEqual(e, map[string]any{"@value": v, "@type": want.Datatype}) {
				c.Errorf("%s: %v expanded to %v, want type %s", p, v, e, want.Datatype)
			}
		default:
			c.Errorf("%s: %v is not an object", p, v)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ErrUnknownContext is returned (wrapped) by Loader for any context URL that vocab does not
// carry.
var ErrUnknownContext = errors.New("jsonld: unknown JSON-LD context (only built-in contexts are loaded)")

// Loader is the ld.DocumentLoader of the checks: it answers the contexts known answers (pass
// vocab.KnownContext) from memory and fails for any other URL, so that processing a document
// never reaches the network and never depends on what a remote server says a context means
// today.
func Loader(known func(u string) (canonical string, doc []byte, ok bool)) ld.DocumentLoader {
	return staticLoader(known)
}

type staticLoader func(string) (string, []byte, bool)

// LoadDocument implements ld.DocumentLoader. It parses a fresh copy on every call because
// json-gold may modify the documents it is handed.
func (known staticLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	canonical, b, ok := known(u)
	if !ok {
		return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, fmt.Errorf("%w: %q", ErrUnknownContext, u))
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, err)
	}
	return &ld.RemoteDocument{DocumentURL: canonical, Document: doc}, nil
}
