package vocab

import "fmt"

// IncomingFlag is a report from another server (as:Flag). Mastodon and GoToSocial send one
// from their instance actor, Misskey from the reporting user; "object" lists the reported
// account first and then the reported posts, by IRI; "content" is the reporter's comment,
// plain text. Mastodon sends "object" as a single string when only the account is reported.
type IncomingFlag struct {
	ID      string
	Type    Types
	Actor   Ref
	Objects []string // the IRIs, in the order sent; embedded objects by their id
	Content string
}

// DecodeFlag decodes a Flag. Like DecodeActivity it fails only for what is not a JSON object,
// holds a string that is not text, or has impossible shapes; the caller judges the rest.
func DecodeFlag(b []byte) (IncomingFlag, error) {
	if err := checkText(b); err != nil {
		return IncomingFlag{}, fmt.Errorf("vocab: decode flag: %w", err)
	}
	f, err := objectFields(b)
	if err != nil {
		return IncomingFlag{}, fmt.Errorf("vocab: decode flag: %w", err)
	}
	var fl IncomingFlag
	var objects Refs
	if err := f.decode(member{"id", &fl.ID}, member{"type", &fl.Type}, member{"actor", &fl.Actor},
		member{"object", &objects}); err != nil {
		return IncomingFlag{}, fmt.Errorf("vocab: decode flag: %w", err)
	}
	if fl.Content, err = f.text("content"); err != nil {
		return IncomingFlag{}, fmt.Errorf("vocab: decode flag: %w", err)
	}
	for _, o := range objects {
		if o.ID != "" {
			fl.Objects = append(fl.Objects, o.ID)
		}
	}
	return fl, nil
}

// Tombstone stands for an object that was deleted, or is hidden by moderation: what its id
// answers (410) and what a Delete carries.
type Tombstone struct {
	Context    any    `json:"@context,omitempty"`
	ID         string `json:"id"`
	Type       string `json:"type"`
	FormerType string `json:"formerType,omitempty"`
}

// Flag is a report we send: from our instance actor, about a remote account (first) and the
// objects of it reported, with the moderator's comment. Mastodon shows it in its moderation
// queue as a report "from" our server, the reporter unnamed.
type Flag struct {
	Context any      `json:"@context,omitempty"`
	ID      string   `json:"id"`
	Type    string   `json:"type"`
	Actor   string   `json:"actor"`
	Object  []string `json:"object"`
	Content string   `json:"content,omitempty"`
}
