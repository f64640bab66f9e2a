package vocab

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func readSample(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustActivity(t *testing.T, name string) Incoming {
	t.Helper()
	a, err := DecodeActivity(readSample(t, filepath.Join("testdata", "fediverse", name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

func mustObject(t *testing.T, r Ref) IncomingObject {
	t.Helper()
	if !r.Embedded() {
		t.Fatalf("object %q is not embedded", r.ID)
	}
	o, err := DecodeObject(r.Object)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// at reports whether p is the time s.
func at(p *time.Time, s string) bool { return p != nil && p.Equal(date(s)) }

func TestDecodeSamplesAllDecode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fediverse", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	// PeerTube attributes its videos to a person and a channel at once; such an object
	// cannot be attributed to one actor and does not decode.
	objectFails := map[string]bool{"peertube_create_video.json": true}
	for _, f := range files {
		b := readSample(t, f)
		a, err := DecodeActivity(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if a.ID == "" || len(a.Type) == 0 || a.Actor.ID == "" || a.Object.IsZero() || !bytes.Equal(a.Raw, b) {
			t.Errorf("%s: incomplete: %+v", f, a)
		}
		if a.Object.Embedded() {
			_, err := DecodeObject(a.Object.Object)
			if fails := objectFails[filepath.Base(f)]; (err != nil) != fails {
				t.Errorf("%s: object: %v", f, err)
			}
		}
	}
}

func TestDecodeMastodonCreateNote(t *testing.T) {
	a := mustActivity(t, "mastodon_create_note.json")
	if !a.Type.Has("Create") || a.Actor.ID != "https://mastodon.example/users/anna" {
		t.Fatalf("%+v", a)
	}
	if !a.To.HasPublic() || !a.Cc.Contains("https://weltgewebe.example/users/bernd") || a.Cc.HasPublic() {
		t.Errorf("addressing: to %v cc %v", a.To.IDs(), a.Cc.IDs())
	}
	if !at(a.Published, "2026-11-20T09:14:03Z") {
		t.Errorf("published %v", a.Published)
	}
	o := mustObject(t, a.Object)
	if o.ID != a.Object.ID || !o.Type.Has("Note") || o.InReplyTo.ID != "https://weltgewebe.example/antraege/7f3c2a" || o.InReplyTo.Embedded() {
		t.Errorf("%+v", o)
	}
	if o.AttributedTo.ID != "https://mastodon.example/users/anna" || o.URL.First().ID != "https://mastodon.example/@anna/113507380920480112" {
		t.Errorf("attributedTo %v url %v", o.AttributedTo, o.URL.IDs())
	}
	if !bytes.Contains([]byte(o.Content), []byte("Bank am Brunnen")) {
		t.Errorf("content %q", o.Content)
	}
}

func TestDecodeActivitiesWithEmbeddedObjects(t *testing.T) {
	undo := mustActivity(t, "mastodon_undo_follow.json")
	follow, err := DecodeActivity(undo.Object.Object)
	if err != nil || !follow.Type.Has("Follow") || follow.Object.ID != "https://weltgewebe.example/ortswebereien/lindenau" {
		t.Errorf("undo: %+v %v", follow, err)
	}
	accept := mustActivity(t, "gotosocial_accept.json")
	if accept.Object.ID != "https://weltgewebe.example/activities/follow/91ab07" || !accept.To.Contains("https://weltgewebe.example/ortswebereien/lindenau") {
		t.Errorf("accept: %+v", accept)
	}
	del := mustActivity(t, "mastodon_delete_note.json")
	if tomb := mustObject(t, del.Object); !tomb.Type.Has("Tombstone") {
		t.Errorf("delete: %+v", tomb)
	}
	if actor := mustActivity(t, "mastodon_delete_actor.json"); actor.Object.Embedded() || actor.Object.ID != actor.Actor.ID {
		t.Errorf("delete actor: %+v", actor)
	}
	lemmy := mustActivity(t, "lemmy_announce_embedded.json")
	inner, err := DecodeActivity(lemmy.Object.Object)
	if err != nil || !inner.Type.Has("Create") {
		t.Fatalf("lemmy: %+v %v", inner, err)
	}
	if page := mustObject(t, inner.Object); page.Name != "Neue Sitzbänke am Lindenauer Markt" || !page.To.HasPublic() {
		t.Errorf("lemmy page: %+v", page)
	}
	if lemmy.Published != nil {
		t.Errorf("lemmy sent no published, got %v", lemmy.Published)
	}
}

func TestDecodeSingleValuesAndArrays(t *testing.T) {
	gts := mustActivity(t, "gotosocial_create_note.json")
	if !gts.To.HasPublic() || len(gts.Cc) != 1 || gts.Cc[0].ID != "https://gts.example/users/dora/followers" {
		t.Errorf("gotosocial addressing: %+v", gts)
	}
	note := mustObject(t, gts.Object)
	if note.Content != "<p>Der Knoten am Markt ist eingetragen.</p>" {
		t.Errorf("content %q", note.Content)
	}

	mk := mustActivity(t, "misskey_like_embedded_actor.json")
	if mk.Actor.ID != "https://misskey.example/users/9v1a2b3c4d" || !mk.Actor.Embedded() {
		t.Errorf("misskey actor: %+v", mk.Actor)
	}

	pt := mustActivity(t, "peertube_create_video.json")
	if _, err := DecodeObject(pt.Object.Object); err == nil {
		t.Error("an object with two authors decoded")
	}
	// The same video with one author: its url is a list of Links, read by their href.
	var video map[string]any
	if err := json.Unmarshal(pt.Object.Object, &video); err != nil {
		t.Fatal(err)
	}
	video["attributedTo"] = video["attributedTo"].([]any)[:1]
	b, _ := json.Marshal(video)
	v, err := DecodeObject(b)
	if err != nil || v.AttributedTo.ID != "https://peertube.example/accounts/gerd" || !v.AttributedTo.Embedded() {
		t.Fatalf("%+v %v", v, err)
	}
	if got := v.URL.IDs(); len(got) != 2 || got[0] != "https://peertube.example/w/hF9sQ2" {
		t.Errorf("url (Links by href) %v", got)
	}
	if !at(v.Published, "2026-11-18T15:30:00Z") {
		t.Errorf("published %v", v.Published)
	}

	vote := mustActivity(t, "mastodon_poll_vote.json")
	if !vote.To.Contains("https://weltgewebe.example/antraege/7f3c2a/actor") {
		t.Errorf("vote to %v", vote.To)
	}
	if v := mustObject(t, vote.Object); v.Name != "Ja" || v.InReplyTo.ID != "https://weltgewebe.example/antraege/7f3c2a" || v.Content != "" {
		t.Errorf("vote %+v", v)
	}
}

func TestDecodeQuestions(t *testing.T) {
	q := mustObject(t, mustActivity(t, "mastodon_update_question.json").Object)
	if !q.Type.Has("Question") || len(q.OneOf) != 3 || q.VotersCount == nil || *q.VotersCount != 23 {
		t.Fatalf("%+v", q)
	}
	want := []IncomingOption{{"Ja", 17}, {"Nein", 4}, {"Enthaltung", 2}}
	if !reflect.DeepEqual(q.OneOf, want) {
		t.Errorf("oneOf %+v", q.OneOf)
	}
	if !q.Closed.Is() || !at(q.Closed.At, "2026-11-28T16:00:00Z") || !at(q.EndTime, "2026-11-28T16:00:00Z") {
		t.Errorf("closed %+v endTime %v", q.Closed, q.EndTime)
	}

	p := mustObject(t, mustActivity(t, "pleroma_question_closed_bool.json").Object)
	if !p.Closed.Is() || p.Closed.At != nil || len(p.AnyOf) != 0 || len(p.OneOf) != 2 || p.OneOf[1] != (IncomingOption{"Bänke", 8}) {
		t.Errorf("pleroma: %+v", p)
	}
	if !at(p.Published, "2026-11-19T12:00:00.123456Z") {
		t.Errorf("published %v", p.Published)
	}
}

func TestDecodeWeltgewebeObjects(t *testing.T) {
	s := mustObject(t, mustActivity(t, "weltgewebe_create_stimme.json").Object)
	if !s.Type.Has("Stimme") || !s.Type.Has(Namespace+"Stimme") || !s.Type.Has("Note") {
		t.Errorf("types %v", s.Type)
	}
	if s.Choice != "no" || s.Name != "Nein" || s.Antrag.ID != "https://weltgewebe.example/antraege/7f3c2a" || s.Abstimmung.ID != "https://weltgewebe.example/abstimmungen/7f3c2a" ||
		s.AttributedTo.ID != "https://gewebe-plagwitz.example/users/ilse" || !at(s.Published, "2026-11-23T19:02:11Z") {
		t.Errorf("%+v", s)
	}
	var proof Proof
	if err := json.Unmarshal(s.Proof, &proof); err != nil || proof.Cryptosuite != "eddsa-jcs-2022" || proof.ProofPurpose != "assertionMethod" {
		t.Errorf("proof %s: %v", s.Proof, err)
	}

	a := mustObject(t, mustActivity(t, "weltgewebe_update_antrag_closed.json").Object)
	if !a.Type.Has("Antrag") || a.Status != "decided" || a.Outcome != "accepted" || a.Applicant.ID != "https://weltgewebe.example/users/bernd" ||
		a.Ortsweberei != "https://weltgewebe.example/ortswebereien/lindenau" || a.AmountCents == nil || *a.AmountCents != 45000 || a.Extended ||
		!at(a.Updated, "2026-11-30T18:00:05Z") || !a.Closed.Is() || !at(a.EndTime, "2026-11-30T18:00:00Z") {
		t.Errorf("%+v", a)
	}
	if a.YesWeight == nil || *a.YesWeight != 33 || *a.NoWeight != 6 || *a.AbstainWeight != 3 {
		t.Errorf("weights %v %v %v", a.YesWeight, a.NoWeight, a.AbstainWeight)
	}
	if !at(a.DecisionDeadline, "2026-11-30T18:00:00Z") || !at(a.OpensAt, "2026-11-23T18:00:00Z") || !at(a.ClosesAt, "2026-11-30T18:00:00Z") {
		t.Errorf("times %v %v %v", a.DecisionDeadline, a.OpensAt, a.ClosesAt)
	}
	if len(a.Delegations) != 1 {
		t.Fatalf("delegations %d", len(a.Delegations))
	}
	d, err := DecodeObject(a.Delegations[0])
	if err != nil || !d.Type.Has("Delegation") || d.Delegator.ID != "https://weltgewebe.example/users/jana" || d.Delegate.ID != "https://weltgewebe.example/users/bernd" ||
		!at(d.EffectiveAt, "2026-10-01T00:00:00Z") || d.EndedAt != nil || len(d.Proof) == 0 {
		t.Errorf("delegation %+v: %v", d, err)
	}
}

func TestDecodeActors(t *testing.T) {
	read := func(name string) IncomingActor {
		t.Helper()
		a, err := DecodeActor(readSample(t, filepath.Join("testdata", "actors", name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return a
	}
	m := read("mastodon_person.json")
	if !m.Type.Has("Person") || m.PreferredUsername != "anna" || m.Name != "Anna Weber" || m.Inbox != "https://mastodon.example/users/anna/inbox" ||
		m.Outbox != "https://mastodon.example/users/anna/outbox" || m.Followers != "https://mastodon.example/users/anna/followers" ||
		m.SharedInbox() != "https://mastodon.example/inbox" {
		t.Errorf("%+v", m)
	}
	if k, ok := m.Key(); !ok || k != m.PublicKeys[0] {
		t.Errorf("Key() = %+v %v", k, ok)
	}
	if len(m.PublicKeys) != 1 || m.PublicKeys[0].ID != "https://mastodon.example/users/anna#main-key" || m.PublicKeys[0].Owner != m.ID ||
		!bytes.HasPrefix([]byte(m.PublicKeys[0].PublicKeyPem), []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Errorf("publicKey %+v", m.PublicKeys)
	}
	if m.Verified != nil || m.Ortsweberei != "" || m.AssertionMethod != nil {
		t.Errorf("wg members from a Mastodon actor: %+v", m)
	}

	w := read("weltgewebe_resident.json")
	wantKey := Multikey{ID: w.ID + "#ed25519-key", Type: "Multikey", Controller: w.ID, PublicKeyMultibase: "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}
	if len(w.AssertionMethod) != 1 || w.AssertionMethod[0] != wantKey {
		t.Errorf("assertionMethod %+v", w.AssertionMethod)
	}
	if w.Ortsweberei != "https://gewebe-plagwitz.example/ortswebereien/plagwitz" || w.Verified == nil || !*w.Verified {
		t.Errorf("%+v", w)
	}

	r := read("multi_key_actor.json")
	if !r.Type.Has("Service") || !r.Type.Has("Application") || r.Inbox != "https://relay.example/inbox" || r.Outbox != "https://relay.example/outbox" {
		t.Errorf("%+v", r)
	}
	if r.SharedInbox() != "" {
		t.Errorf("endpoints given by IRI gave a shared inbox %q", r.SharedInbox())
	}
	wantKeys := []PublicKey{
		{ID: "https://relay.example/actor#rsa-key", Owner: "https://relay.example/actor", PublicKeyPem: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"},
		{ID: "https://relay.example/actor#other-key"},
	}
	if !reflect.DeepEqual(r.PublicKeys, wantKeys) {
		t.Errorf("publicKey %+v", r.PublicKeys)
	}
	if k, ok := r.KeyByID("https://relay.example/actor#rsa-key"); !ok || k != wantKeys[0] {
		t.Errorf("KeyByID = %+v %v", k, ok)
	}
	if _, ok := r.KeyByID("https://relay.example/actor#other-key"); ok {
		t.Error("a key without a PEM was returned")
	}
	if len(r.AssertionMethod) != 1 || r.AssertionMethod[0].Type != "Multikey" || r.AssertionMethod[0].Controller != r.ID {
		t.Errorf("assertionMethod %+v", r.AssertionMethod)
	}
}

func TestDecodeRejectsNonObjects(t *testing.T) {
	for _, in := range []string{"", "   ", "null", "[]", `[{"type":"Follow"}]`, `"Follow"`, "1", "true", "{", `{"type":"Follow"`, `{"type":"Follow"} x`} {
		if _, err := DecodeActivity([]byte(in)); err == nil {
			t.Errorf("DecodeActivity(%q) succeeded", in)
		}
		if _, err := DecodeObject([]byte(in)); err == nil {
			t.Errorf("DecodeObject(%q) succeeded", in)
		}
		if _, err := DecodeActor([]byte(in)); err == nil {
			t.Errorf("DecodeActor(%q) succeeded", in)
		}
	}
}

// Every decoder refuses a document with a string that is not text, wherever it is: a member
// nobody reads, a member name, deep in an embedded object. Text that only looks odd is taken.
func TestDecodeRefusesWhatIsNotText(t *testing.T) {
	decoders := map[string]func([]byte) error{
		"DecodeHead":     func(b []byte) error { _, err := DecodeHead(b); return err },
		"DecodeID":       func(b []byte) error { _, err := DecodeID(b); return err },
		"DecodeActivity": func(b []byte) error { _, err := DecodeActivity(b); return err },
		"DecodeObject":   func(b []byte) error { _, err := DecodeObject(b); return err },
		"DecodeActor":    func(b []byte) error { _, err := DecodeActor(b); return err },
	}
	const head = `{"id":"https://a.example/1","type":"Create","actor":"https://a.example/u",`
	for _, in := range []string{
		head + `"object":{"id":"https://a.example/n","type":"Note","content":"a\u0000b"}}`,
		head + `"object":{"id":"https://a.example/n","type":"Note","name":"\ud800"}}`,
		head + `"object":{"id":"https://a.example/n","type":"Note","tag":[{"name":"\udfff x"}]}}`,
		head + "\"summary\":\"\xff\"}",
		head + `"nobody reads this":"\u0000"}`,
		head + `"\u0000":1}`,
	} {
		for name, decode := range decoders {
			if err := decode([]byte(in)); !errors.Is(err, ErrNotText) {
				t.Errorf("%s(%s) = %v, want ErrNotText", name, in, err)
			}
		}
	}
	ok := head + `"object":{"id":"https://a.example/n","type":"Note","content":"\ud83e\uddf5 \ufffd \u0001 Grüße"}}`
	for name, decode := range decoders {
		if err := decode([]byte(ok)); err != nil {
			t.Errorf("%s(%s) = %v", name, ok, err)
		}
	}
}

func TestDecodeImpossibleShapes(t *testing.T) {
	for _, in := range []string{
		`{"id": 5}`,
		`{"type": 5}`,
		`{"type": [{"id":"x"}]}`,
		`{"actor": 5}`,
		`{"actor": ["https://a.example/1", "https://a.example/2"]}`,
		`{"object": [["https://a.example/1"]]}`,
		`{"object": {"id": 5}}`,
		`{"to": [true]}`,
		`{"published": "yesterday"}`,
		`{"published": 1700000000}`,
	} {
		if a, err := DecodeActivity([]byte(in)); err == nil {
			t.Errorf("DecodeActivity(%s) = %+v, want an error", in, a)
		}
	}
	for _, in := range []string{`{"yesWeight": -1}`, `{"yesWeight": 1.5}`, `{"votersCount": "3"}`, `{"closed": 3}`, `{"oneOf": ["x", 3]}`, `{"nameMap": ["Ja"]}`} {
		if o, err := DecodeObject([]byte(in)); err == nil {
			t.Errorf("DecodeObject(%s) = %+v, want an error", in, o)
		}
	}
	for _, in := range []string{`{"publicKey": 5}`, `{"assertionMethod": [true]}`, `{"verified": "yes"}`} {
		if a, err := DecodeActor([]byte(in)); err == nil {
			t.Errorf("DecodeActor(%s) = %+v, want an error", in, a)
		}
	}
}

func TestDecodeNeedsNoContext(t *testing.T) {
	a, err := DecodeActivity([]byte(`{"type":"Follow","actor":"https://a.example/u","object":"https://b.example/g"}`))
	if err != nil || !a.Type.Has("Follow") || a.Actor.ID != "https://a.example/u" || a.Object.ID != "https://b.example/g" {
		t.Errorf("%+v %v", a, err)
	}
	if a, err := DecodeActivity([]byte(`{}`)); err != nil || !reflect.DeepEqual(a, Incoming{Raw: json.RawMessage(`{}`)}) {
		t.Errorf("empty object: %+v %v", a, err)
	}
}

// JSON-LD ignores "Actor"; so must we, or a signed document means two things.
func TestDecodeMatchesMemberNamesExactly(t *testing.T) {
	a, err := DecodeActivity([]byte(`{"type":"Create","actor":"https://a.example/u","Actor":"https://evil.example/u","OBJECT":"https://evil.example/o"}`))
	if err != nil || a.Actor.ID != "https://a.example/u" || !a.Object.IsZero() {
		t.Errorf("%+v %v", a, err)
	}
	o, err := DecodeObject([]byte(`{"attributedTo":"https://a.example/u","AttributedTo":"https://evil.example/u","Choice":"yes"}`))
	if err != nil || o.AttributedTo.ID != "https://a.example/u" || o.Choice != "" {
		t.Errorf("%+v %v", o, err)
	}
}

func TestRef(t *testing.T) {
	for _, c := range []struct {
		in       string
		id       string
		embedded bool
	}{
		{`"https://a.example/1"`, "https://a.example/1", false},
		{`{"id":"https://a.example/1","type":"Note"}`, "https://a.example/1", true},
		{`["https://a.example/1"]`, "https://a.example/1", false},
		{`[{"id":"https://a.example/1"}]`, "https://a.example/1", true},
		{`[null, "https://a.example/1"]`, "https://a.example/1", false},
		{`{"type":"Link","href":"https://a.example/h"}`, "https://a.example/h", true},
		{`{"type":"Note","content":"no id"}`, "", true},
		{`[]`, "", false},
		{`null`, "", false},
	} {
		var r Ref
		if err := json.Unmarshal([]byte(c.in), &r); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if r.ID != c.id || r.Embedded() != c.embedded {
			t.Errorf("%s: got %+v", c.in, r)
		}
		if r.Embedded() && !json.Valid(r.Object) {
			t.Errorf("%s: object %q", c.in, r.Object)
		}
	}
	for _, in := range []string{`1`, `true`, `["a","b"]`, `[["a"]]`, `{"id":5}`, `{"href":[]}`} {
		var r Ref
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%s: got %+v, want an error", in, r)
		}
	}
	// Encoding gives back what decodes to the same Ref.
	for _, r := range []Ref{{ID: "https://a.example/1"}, {ID: "https://a.example/1", Object: json.RawMessage(`{"id":"https://a.example/1"}`)}, {}} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Ref
		if err := json.Unmarshal(b, &back); err != nil || back.ID != r.ID || back.Embedded() != r.Embedded() {
			t.Errorf("%+v → %s → %+v %v", r, b, back, err)
		}
	}
}

func TestRefs(t *testing.T) {
	var rs Refs
	if err := json.Unmarshal([]byte(`"https://a.example/1"`), &rs); err != nil || !reflect.DeepEqual(rs.IDs(), []string{"https://a.example/1"}) {
		t.Errorf("single: %v %v", rs, err)
	}
	if err := json.Unmarshal([]byte(`["https://a.example/1", {"id":"https://a.example/2"}, null, {"type":"Note"}]`), &rs); err != nil ||
		!reflect.DeepEqual(rs.IDs(), []string{"https://a.example/1", "https://a.example/2"}) || len(rs) != 3 {
		t.Errorf("array: %v %v", rs, err)
	}
	if err := json.Unmarshal([]byte(`[]`), &rs); err != nil || rs != nil {
		t.Errorf("empty: %v %v", rs, err)
	}
	if err := json.Unmarshal([]byte(`[1]`), &rs); err == nil {
		t.Error("[1] decoded")
	}
	for _, public := range []string{Public, "as:Public", "Public"} {
		if !(Refs{{ID: "https://a.example/f"}, {ID: public}}).HasPublic() {
			t.Errorf("%s not public", public)
		}
	}
	if (Refs{{ID: "https://a.example/f"}}).HasPublic() || !(Refs{}).First().IsZero() {
		t.Error("Refs helpers")
	}
}

func TestTypes(t *testing.T) {
	var ts Types
	if err := json.Unmarshal([]byte(`"Note"`), &ts); err != nil || !reflect.DeepEqual(ts, Types{"Note"}) {
		t.Errorf("%v %v", ts, err)
	}
	if err := json.Unmarshal([]byte(`["Note","Stimme"]`), &ts); err != nil || !reflect.DeepEqual(ts, Types{"Note", "Stimme"}) {
		t.Errorf("%v %v", ts, err)
	}
	for _, in := range []string{`5`, `[5]`, `{"id":"Note"}`} {
		if err := json.Unmarshal([]byte(in), &ts); err == nil {
			t.Errorf("%s decoded", in)
		}
	}
	for _, c := range []struct {
		types Types
		name  string
		want  bool
	}{
		{Types{"Note"}, "Note", true},
		{Types{"https://www.w3.org/ns/activitystreams#Note"}, "Note", true},
		{Types{"http://www.w3.org/ns/activitystreams#Note"}, "Note", true},
		{Types{"as:Note"}, "Note", true},
		{Types{"Note"}, "https://www.w3.org/ns/activitystreams#Note", true},
		{Types{"Question", "Antrag"}, "Antrag", true},
		{Types{"https://weltgewebe.org/ns#Antrag"}, "Antrag", true},
		{Types{"wg:Antrag"}, "https://weltgewebe.org/ns#Antrag", true},
		{Types{"Ortsweberei"}, Namespace + "Ortsweberei", true},
		{Types{"Multikey"}, "https://w3id.org/security#Multikey", true},
		{Types{"Hashtag"}, "https://www.w3.org/ns/activitystreams#Hashtag", true},
		{Types{"Emoji"}, "http://joinmastodon.org/ns#Emoji", true},
		{Types{"ChatMessage"}, "ChatMessage", true},
		{Types{"Note"}, "Antrag", false},
		{Types{"Note"}, "Notes", false},
		{Types{"https://example.org/ns#Note"}, "Note", false},
		{Types{"Antrag"}, "https://www.w3.org/ns/activitystreams#Antrag", false},
		{Types{"ChatMessage"}, "https://www.w3.org/ns/activitystreams#ChatMessage", false},
		{nil, "Note", false},
	} {
		if got := c.types.Has(c.name); got != c.want {
			t.Errorf("%v.Has(%q) = %v", c.types, c.name, got)
		}
	}
}

func TestClosed(t *testing.T) {
	for _, c := range []struct {
		in     string
		closed bool
		at     string
		out    string
	}{
		{`"2026-11-28T16:00:00Z"`, true, "2026-11-28T16:00:00Z", `"2026-11-28T16:00:00Z"`},
		{`"2026-11-28T17:00:00+01:00"`, true, "2026-11-28T16:00:00Z", `"2026-11-28T17:00:00+01:00"`},
		{`true`, true, "", `true`},
		{`false`, false, "", `false`},
		{`null`, false, "", `false`},
		{`""`, false, "", `false`},
		{`{"id":"https://a.example/1"}`, true, "", `true`},
		{`"https://a.example/closer"`, true, "", `true`},
	} {
		var got Closed
		if err := json.Unmarshal([]byte(c.in), &got); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got.Is() != c.closed || (c.at == "" && got.At != nil) || (c.at != "" && !at(got.At, c.at)) {
			t.Errorf("%s: got %+v", c.in, got)
		}
		if b, err := json.Marshal(got); err != nil || string(b) != c.out {
			t.Errorf("%s: encodes as %s %v", c.in, b, err)
		}
	}
	for _, in := range []string{`3`, `tru`} {
		var c Closed
		if err := json.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("%s decoded", in)
		}
	}
}

func TestDecodeTimesAndCounts(t *testing.T) {
	o, err := DecodeObject([]byte(`{"published":"2026-11-19T12:00:00","endTime":"2026-11-19T12:00:00.5+02:00","yesWeight":3.0,"noWeight":0,"votersCount":7}`))
	if err != nil {
		t.Fatal(err)
	}
	if !at(o.Published, "2026-11-19T12:00:00Z") || !at(o.EndTime, "2026-11-19T10:00:00.5Z") {
		t.Errorf("times %v %v", o.Published, o.EndTime)
	}
	if *o.YesWeight != 3 || *o.NoWeight != 0 || o.AbstainWeight != nil || *o.VotersCount != 7 {
		t.Errorf("counts %v %v %v %v", o.YesWeight, o.NoWeight, o.AbstainWeight, o.VotersCount)
	}
	if o, err := DecodeObject([]byte(`{"published":"","endTime":null}`)); err != nil || o.Published != nil || o.EndTime != nil {
		t.Errorf("empty times: %+v %v", o, err)
	}
	o, err = DecodeObject([]byte(`{"nameMap":{"en":"Yes","de":"Ja"},"contentMap":{"und":"<p>x</p>","de":"<p>y</p>"}}`))
	if err != nil || o.Name != "Ja" || o.Content != "<p>x</p>" {
		t.Errorf("language maps: %+v %v", o, err)
	}
}

// fuzzSeeds are the sample documents plus shapes at the edges of what decodes.
func fuzzSeeds(f *testing.F) {
	for _, dir := range []string{"fediverse", "actors"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			f.Add(readSample(f, file))
		}
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `"x"`, `{"type":[]}`, `{"type":["Create","Create"]}`,
		`{"actor":[{"id":"a"}],"object":[null,"b"],"to":"as:Public","cc":[null]}`,
		`{"object":{"type":"Question","closed":true,"oneOf":{"name":"Ja"}}}`,
		`{"object":{"href":"h"},"published":"2026-01-01T00:00:00.000+00:00"}`,
		`{"closed":"2026-01-01T00:00:00Z","yesWeight":1e3,"delegations":{"id":"d"},"proof":[{"type":"DataIntegrityProof"}]}`,
		`{"publicKey":["k",{"id":"k2","owner":["o"]}],"endpoints":[{"sharedInbox":"s"},"e"],"assertionMethod":"m"}`,
		`{"id":"\u003cscript\u003e","type":"\ud800","content":"<p>&amp;</p>"}`,
		"{\"name\":\"\xff\xfe\",\"type\":\"Note\"}",
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeActivity checks that no input makes a decoder panic, and that what decodes
// re-encodes to something that decodes to the same thing: the types' MarshalJSON methods
// are the inverse of their decoding, which the federation code relies on when it stores
// and replays what it received.
func FuzzDecodeActivity(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := DecodeActivity(b); err == nil {
			stable(t, a, func(b []byte) (any, error) { return DecodeActivity(b) })
		}
		if o, err := DecodeObject(b); err == nil {
			stable(t, o, func(b []byte) (any, error) { return DecodeObject(b) })
		}
		if a, err := DecodeActor(b); err == nil {
			stable(t, a, func(b []byte) (any, error) { return DecodeActor(b) })
		}
	})
}

func stable(t *testing.T, v any, decode func([]byte) (any, error)) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", v, err)
	}
	again, err := decode(enc)
	if err != nil {
		t.Fatalf("re-encoded %s does not decode: %v", enc, err)
	}
	enc2, err := json.Marshal(again)
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", again, err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("not stable:\n%s\n%s", enc, enc2)
	}
}

// DecodeID reads the "id" member only and exactly: an "ID" or "href" is no id.
func TestDecodeID(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"https://a.example/o","ID":"https://evil.example/o"}`: "https://a.example/o",
		`{"ID":"https://evil.example/o"}`:                            "",
		`{"href":"https://a.example/o"}`:                             "",
		`{"id":null}`:                                                "",
	} {
		if got, err := DecodeID([]byte(in)); err != nil || got != want {
			t.Errorf("DecodeID(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`{"id":5}`, `"https://a.example/o"`, `[{"id":"https://a.example/o"}]`, ``} {
		if got, err := DecodeID([]byte(in)); err == nil {
			t.Errorf("DecodeID(%s) = %q, want an error", in, got)
		}
	}
}
