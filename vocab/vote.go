package vocab

import "strings"

// VoteHead is what tells one poll vote apart from another: the vote's own object, the
// Question it answers and the option it names.
type VoteHead struct {
	Object, InReplyTo, Name string
}

// DecodeVoteHead reads an activity that carries one poll vote the way Mastodon and GoToSocial
// send them: one embedded Note with a name, no content, and the Question it answers in
// inReplyTo. ok is false for anything else, and for a neighbour's wg:Stimme, which has that
// shape but is told apart by its own ids.
func DecodeVoteHead(b []byte) (v VoteHead, ok bool) {
	f, err := objectFields(b)
	if err != nil {
		return VoteHead{}, false
	}
	raw, ok := f.get("object")
	if !ok {
		return VoteHead{}, false
	}
	all, err := elements(raw)
	if err != nil || len(all) != 1 || !isObject(all[0]) {
		return VoteHead{}, false
	}
	o, err := objectFields(all[0])
	if err != nil {
		return VoteHead{}, false
	}
	var types Types
	var reply Ref
	if err := o.decode(member{"id", &v.Object}, member{"type", &types}, member{"inReplyTo", &reply}); err != nil {
		return VoteHead{}, false
	}
	if !types.Has("Note") || types.Has("Stimme") || v.Object == "" || reply.ID == "" {
		return VoteHead{}, false
	}
	v.InReplyTo = reply.ID
	if v.Name, err = o.text("name"); err != nil || v.Name == "" {
		return VoteHead{}, false
	}
	if content, err := o.text("content"); err != nil || strings.TrimSpace(content) != "" {
		return VoteHead{}, false
	}
	return v, true
}
