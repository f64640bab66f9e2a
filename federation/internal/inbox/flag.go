package inbox

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Reports files the reports an incoming Flag makes (instance/moderation's Service): one per
// local target among objects, source "fediverse", reporter the actor, inside the caller's
// transaction. It returns how many it filed; objects that are not a target it knows are left
// out, not refused.
type Reports interface {
	FlagTx(ctx context.Context, tx *database.Tx, actor string, objects []string, comment string, at time.Time) (int, error)
}

// Bounds of an incoming Flag. Mastodon sends the account and the posts the reporter ticked
// (its form offers a page of recent posts), GoToSocial the same; a hundred is far beyond what
// a person reports at once and bounds the work one request can queue. A comment is kept to
// the length of a report's reason here (Mastodon cuts incoming comments at 5,000 characters,
// and sends at most 1,000).
const (
	MaxFlagObjects = 100
	MaxFlagComment = 1000
)

// checkFlag refuses, at the inbox, a Flag that names no object or more than MaxFlagObjects:
// the sender learns it (400, not retried) rather than having it dropped later in silence.
func checkFlag(body []byte) error {
	fl, err := vocab.DecodeFlag(body)
	if err != nil || len(fl.Objects) == 0 {
		return fault.Malformedf("flag_without_object", "A Flag names the reported account or objects in its object.")
	}
	if len(fl.Objects) > MaxFlagObjects {
		return fault.Malformedf("flag_too_many_objects", "A Flag names at most 100 objects.")
	}
	return nil
}

// onFlag files a report a Fediverse server sent about our accounts or content. The actor is
// whoever signed the delivery (the inbox checked that the key is the actor's, on the
// activity's host): the server's instance actor for Mastodon and GoToSocial, the reporting
// user for Misskey. The objects that are ours become moderation targets; whatever else the
// Flag names (the reporter's own server's posts, other servers') is ignored.
func (s *Service) onFlag(ctx context.Context, raw []byte, at time.Time) error {
	if s.reports == nil {
		return nil // moderation is not wired: nothing to file the report with
	}
	fl, err := vocab.DecodeFlag(raw)
	if err != nil {
		return nil
	}
	var refs []string
	seen := map[string]bool{}
	for _, o := range fl.Objects[:min(len(fl.Objects), MaxFlagObjects)] {
		if ref, ok := s.flagRef(o); ok && !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 {
		s.log.Info("federation: Flag about nothing of ours", "activity", fl.ID, "actor", fl.Actor.ID)
		return nil
	}
	comment := flagComment(fl.Content)
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		n, err := s.reports.FlagTx(ctx, tx, fl.Actor.ID, refs, comment, at)
		if err == nil {
			s.log.Info("federation: Flag filed", "activity", fl.ID, "actor", fl.Actor.ID, "reports", n)
		}
		return err
	})
}

// flagRef turns one of our IRIs a Flag names into the reference moderation resolves (an
// account's actor, an Antrag, an Einspruch, a Knoten or a Faden), and ok=false for anything
// else: remote IRIs, and our actors that are not content (the Ortsweberei, the instance). An
// Antrag's own actor stands for the Antrag: Mastodon names it as the account whose post (the
// Antrag's Question) is reported.
func (s *Service) flagRef(o string) (string, bool) {
	p, ok := s.iri.Local(o)
	if !ok {
		return "", false
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	isID := func(v string) bool { _, err := uuid.Parse(v); return err == nil }
	switch {
	case len(parts) == 3 && parts[0] == "ap" && parts[1] == "users":
		return s.iri.Of(iri.UserPath(parts[2])), true // the account's Content reads actor IRIs
	case len(parts) >= 3 && parts[0] == "ap" && parts[1] == "antraege" && isID(parts[2]):
		switch {
		case len(parts) == 3, len(parts) == 4 && parts[3] == "actor":
			return parts[2], true
		case len(parts) == 5 && parts[3] == "einsprueche" && isID(parts[4]):
			return parts[2] + "/" + parts[4], true // as the snapshot names an Einspruch
		}
	case len(parts) == 3 && parts[0] == "ap" && (parts[1] == "knoten" || parts[1] == "faeden") && isID(parts[2]):
		return parts[2], true
	}
	return "", false
}

// flagComment is the comment as a report's reason takes it: plain text (Mastodon sends plain
// text; any markup is kept as text, never rendered), without control characters but line
// breaks, at most MaxFlagComment characters.
func flagComment(c string) string {
	c = strings.Map(func(r rune) rune {
		if r == '\n' || !unicode.IsControl(r) {
			return r
		}
		if r == '\r' || r == '\t' {
			return ' '
		}
		return -1
	}, c)
	c = strings.TrimSpace(c)
	if utf8.RuneCountInString(c) > MaxFlagComment {
		c = strings.TrimSpace(string([]rune(c)[:MaxFlagComment-1])) + "…"
	}
	return c
}
