package inbox

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/federation/internal/convert"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// Poll votes from the Fediverse on our Anträge: shown beside the Antrag, never counted in it
// (onReply). Each voter has one; the latest counts.
//
// GoToSocial gives every vote of one user on one post the same activity id,
// {voter}/activity#vote{i}/{question}, and starts a new poll whenever a Question's endTime or
// options change, which ours do at the first Einspruch and when the Abstimmung opens: its
// users then vote again, under the same id, with a new Note ({voter}#{its poll's id}/votes/
// {option}). Mastodon gives every vote ids of its own and lets nobody change one. So the
// inbox tells a vote apart from another by what it says (voteKey), not by its activity id
// alone, and which of a voter's votes counts is decided by when each was cast.

// inboxKey is what the inbox takes an activity under (ap_inbox.activity_id), so that a
// delivery under a key taken before is not processed again: the activity id, and for a poll
// vote the activity id with the vote's Note, its Question and its option, so that a changed
// vote under a reused id is taken and a redelivery of the same vote is not.
func inboxKey(act vocab.Head, body []byte) string {
	// Most Creates are not votes, and a vote has a name: the bytes are looked at before the
	// body is decoded a second time (about 13 µs for a typical reply). A vote that spells
	// "name" with an escape is taken under its id alone, which only its sender can regret.
	if !act.Type.Has("Create") || !bytes.Contains(body, []byte(`"name"`)) {
		return act.ID
	}
	v, ok := vocab.DecodeVoteHead(body)
	if !ok {
		return act.ID
	}
	h := sha256.Sum256([]byte(v.Object + "\n" + v.InReplyTo + "\n" + strings.ToLower(strings.TrimSpace(v.Name))))
	return act.ID + " vote " + hex.EncodeToString(h[:16])
}

// castAt is when a poll vote was cast: GoToSocial dates the Create, not the Note; Mastodon
// dates neither, and then it is the time the vote arrived. A time after that is taken as the
// time it arrived (claimedTime), so that no vote passes for newer than the voter's next one.
func castAt(act received, obj vocab.IncomingObject) time.Time {
	return convert.ClaimedTime(cmp.Or(obj.Published, act.Published), act.at)
}
