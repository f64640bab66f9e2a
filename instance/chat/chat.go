// Package chat is the instance's chat rooms: the Nähstübchen, the one public room where
// residents talk (/api/chat, /ws/chat), and each livestream's own room (/api/streams/{id}/chat,
// /ws/streams/{id}/chat; docs/STREAMS.md), where verified residents vote messages up and down,
// which only changes their order. Every message and vote is an event; the hub (Hub) follows the
// log and fans out per room, so a message written through one replica reaches the room's
// clients on every replica. All rooms share one table, one hub and one set of handlers.
package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/stream"
)

// Naehstuebchen is the room id of the Nähstübchen; a stream's room has the stream's id.
var Naehstuebchen = uuid.Nil

// NachrichtGeschriebenV1: a message was written to the room.
type NachrichtGeschriebenV1 struct {
	NachrichtID uuid.UUID `json:"nachricht_id"`
	AccountID   uuid.UUID `json:"account_id"`
	Text        string    `json:"text"`
}

// NachrichtGeschriebenV2: a message was written to a room: the Nähstübchen (stream_id null)
// or a stream's chat.
type NachrichtGeschriebenV2 struct {
	NachrichtID uuid.UUID  `json:"nachricht_id"`
	AccountID   uuid.UUID  `json:"account_id"`
	Text        string     `json:"text"`
	StreamID    *uuid.UUID `json:"stream_id"`
}

// NachrichtBewertetV1: a resident voted a message in a stream's chat up (1) or down (-1), or
// took the vote back (0). Votes only order the room; no sum of them is shown anywhere.
type NachrichtBewertetV1 struct {
	NachrichtID uuid.UUID `json:"nachricht_id"`
	AccountID   uuid.UUID `json:"account_id"`
	StreamID    uuid.UUID `json:"stream_id"`
	Vote        int       `json:"vote"`
}

// NachrichtEntferntV1: a moderator took a message down (hid it: docs/MODERATION.md).
type NachrichtEntferntV1 struct {
	NachrichtID uuid.UUID `json:"nachricht_id"`
	RemovedBy   uuid.UUID `json:"removed_by"`
}

// NachrichtWiederhergestelltV1: a moderator showed a hidden message again, or released one
// the word filter held.
type NachrichtWiederhergestelltV1 struct {
	NachrichtID uuid.UUID `json:"nachricht_id"`
	RestoredBy  uuid.UUID `json:"restored_by"`
}

// The room stays on this instance: its events are not part of the federated history.
var (
	// v1, before the stream rooms: the Nähstübchen's messages; still in the log, read as v2
	// without a stream.
	_                          = eventstore.Define[NachrichtGeschriebenV1]("NachrichtGeschrieben", 1, eventstore.Private, "A message was written in the Nähstübchen.")
	NachrichtGeschrieben       = eventstore.Define[NachrichtGeschriebenV2]("NachrichtGeschrieben", 2, eventstore.Private, "A message was written in the Nähstübchen or a stream's chat.")
	NachrichtBewertet          = eventstore.Define[NachrichtBewertetV1]("NachrichtBewertet", 1, eventstore.Private, "A resident voted a message in a stream's chat up or down, or took the vote back.")
	NachrichtEntfernt          = eventstore.Define[NachrichtEntferntV1]("NachrichtEntfernt", 1, eventstore.Private, "A moderator removed a message from the Nähstübchen.")
	NachrichtWiederhergestellt = eventstore.Define[NachrichtWiederhergestelltV1]("NachrichtWiederhergestellt", 1, eventstore.Private, "A moderator showed a hidden message in the Nähstübchen again.")
)

// Nachricht is a message in the room.
type Nachricht struct {
	ID          uuid.UUID
	Room        uuid.UUID // Naehstuebchen, or the stream's id
	AccountID   uuid.UUID
	AccountName string
	Text        string
	At          time.Time
	// Hidden: a moderator took it down, or the word filter holds it. Only its author is
	// shown a hidden message (List), marked.
	Hidden bool
	// MyVote is the reader's own vote on it (1, -1; 0: none), in a stream's room.
	MyVote int
}

// Limits.
const (
	MaxText      = 500
	DefaultLimit = 50
	MaxLimit     = 200
)

// Errors a client can meet.
var (
	ErrNotFound = fault.NotFoundf("nachricht_not_found", "There is no message with this id.")
	errEmpty    = fault.Invalidf("text", "empty_text", "A message needs some text.")
	errTooLong  = fault.Invalidf("text", "invalid_text", "A message is at most %d characters, without control characters.", MaxText)
	errVerified = fault.Forbiddenf("verified_resident_required",
		"Only verified residents of this Ortsweberei can write in a stream's chat and vote on its messages; ask an admin to verify your account.")
	errVote    = fault.Invalidf("vote", "invalid_vote", "vote is 1 (up), -1 (down) or 0 (take the vote back).")
	errOwnVote = fault.Invalidf("vote", "vote_own_message", "You cannot vote on your own message.")
	errSort    = fault.Invalidf("sort", "invalid_sort", "sort is neu (newest first) or oben (voted up first).")
)

// Sort is the order a room is read in.
type Sort string

const (
	// Neu: newest first.
	Neu Sort = "neu"
	// Oben: by the sum of the votes, then newest first. The sum is never shown.
	Oben Sort = "oben"
)

// ParseSort reads a sort mode; "" is Neu.
func ParseSort(s string) (Sort, error) {
	switch Sort(s) {
	case "", Neu:
		return Neu, nil
	case Oben:
		return Oben, nil
	}
	return "", errSort
}

// mayTakePart: a stream's chat takes messages and votes from verified residents only (guests
// read); the Nähstübchen from every account, as it always did.
func mayTakePart(room uuid.UUID, by account.Account) error {
	if room != Naehstuebchen && (!by.Resident() || !by.Verified()) {
		return errVerified
	}
	return nil
}

// openTx checks, in the writing transaction, that the room takes writes: the Nähstübchen
// always; a stream's room while the stream has not ended (stream.ChatOpenTx).
func openTx(ctx context.Context, tx *database.Tx, room uuid.UUID) error {
	if room == Naehstuebchen {
		return nil
	}
	return stream.ChatOpenTx(ctx, tx, room)
}

func streamOf(room uuid.UUID) *uuid.UUID {
	if room == Naehstuebchen {
		return nil
	}
	return &room
}

// Service writes and reads the room.
type Service struct {
	pool      *pgxpool.Pool
	clock     clock.Clock
	screening moderation.Screening // SetModeration's
}

// SetModeration installs the word filter and the queue that takes held messages; either may
// be nil. Call it once, at assembly, before the service is used.
func (s *Service) SetModeration(f moderation.TextFilter, h moderation.Holder) {
	s.screening.Set(f, h)
}

// NewService returns the chat service.
func NewService(pool *pgxpool.Pool, c clock.Clock) *Service { return &Service{pool: pool, clock: c} }

func checkText(t string) (string, error) {
	t = strings.TrimSpace(t)
	if t == "" {
		return "", errEmpty
	}
	if utf8.RuneCountInString(t) > MaxText || strings.IndexFunc(t, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		return "", errTooLong
	}
	return t, nil
}

// Write puts a message in the room. One the word filter blocks is refused
// (moderation.ErrBlocked); one it holds is stored hidden, not sent to the room, and queued for
// review: its author is shown it, marked Hidden.
func (s *Service) Write(ctx context.Context, room uuid.UUID, by account.Account, text string) (Nachricht, error) {
	if err := mayTakePart(room, by); err != nil {
		return Nachricht{}, err
	}
	text, err := checkText(text)
	if err != nil {
		return Nachricht{}, err
	}
	var verdict moderation.Verdict
	if filter := s.screening.Filter(); filter != nil {
		switch verdict = filter.Check(text); verdict.Action {
		case moderation.ActionBlock:
			return Nachricht{}, moderation.ErrBlocked("text")
		case moderation.ActionHold:
		default:
			verdict = moderation.Verdict{}
		}
	}
	n := Nachricht{ID: uuid.Must(uuid.NewV7()), Room: room, AccountID: by.ID, AccountName: by.Name, Text: text, At: s.clock.Now(),
		Hidden: verdict.Action == moderation.ActionHold}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		if err := openTx(ctx, tx, room); err != nil {
			return err
		}
		// A held message is stored removed by no one: the room passes it by (Get), the
		// history shows it to its author only.
		var removedAt *time.Time
		if n.Hidden {
			removedAt = &n.At
			if holder := s.screening.Holder(); holder != nil {
				if err := holder.HoldTx(ctx, tx, moderation.Target{Kind: moderation.KindNachricht, ID: n.ID.String()}, verdict, n.At); err != nil {
					return err
				}
			}
		}
		tx.Defer(`INSERT INTO chat_nachrichten (id, room, account_id, text, created_at, removed_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			n.ID, room, n.AccountID, n.Text, n.At, removedAt)
		return eventstore.Append(tx, n.At, NachrichtGeschrieben.New(eventstore.Header{Actor: by.ID, Subject: n.ID},
			NachrichtGeschriebenV2{NachrichtID: n.ID, AccountID: by.ID, Text: n.Text, StreamID: streamOf(room)}))
	})
	if err != nil {
		return Nachricht{}, err
	}
	return n, nil
}

// Remove takes a message down. Only admins may.
func (s *Service) Remove(ctx context.Context, by account.Account, id uuid.UUID) error {
	if !by.IsAdmin {
		return fault.Forbiddenf("admin_required", "Only an admin of this instance can remove messages.")
	}
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		tag, err := tx.Exec(ctx, `UPDATE chat_nachrichten SET removed_at = $2, removed_by = $3 WHERE id = $1 AND removed_at IS NULL`, id, now, by.ID)
		if err != nil {
			return fmt.Errorf("chat: remove: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return eventstore.Append(tx, now, NachrichtEntfernt.New(eventstore.Header{Actor: by.ID, Subject: id},
			NachrichtEntferntV1{NachrichtID: id, RemovedBy: by.ID}))
	})
}

const columns = `n.id, n.room, n.account_id, a.name, n.text, n.created_at, n.removed_at IS NOT NULL`

func scan(r pgx.CollectableRow) (Nachricht, error) {
	var n Nachricht
	err := r.Scan(&n.ID, &n.Room, &n.AccountID, &n.AccountName, &n.Text, &n.At, &n.Hidden)
	n.At = n.At.UTC()
	return n, err
}

// orderBy is each sort's key, the same in the page's ORDER BY and its keyset comparison. The
// sum of votes (score) orders oben and is never read out.
var orderBy = map[Sort]struct{ key, ord string }{
	Neu:  {"(c.created_at, c.id)", "c.created_at DESC, c.id DESC"},
	Oben: {"(c.score, c.created_at, c.id)", "c.score DESC, c.created_at DESC, c.id DESC"},
}

// List returns up to limit messages of the room in the sort's order, after the message before
// when it is set (uuid.Nil: from the top): those that are up, and viewer's own hidden ones,
// marked (uuid.Nil: no viewer), each with the viewer's own vote. next is the last message's
// id when there may be more (the before of the next page), else uuid.Nil. In oben the order
// moves with the votes: a page continues after where before stands now.
func (s *Service) List(ctx context.Context, room, viewer uuid.UUID, sort Sort, before uuid.UUID, limit int) (ns []Nachricht, next uuid.UUID, err error) {
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, uuid.Nil, fault.Invalidf("limit", "invalid_limit", "limit must lie between 1 and %d.", MaxLimit)
	}
	o, ok := orderBy[sort]
	if !ok {
		return nil, uuid.Nil, errSort
	}
	// Ids are version-7 UUIDs: their order is the order they were made in.
	// Two index walks, the room's page and the viewer's own hidden messages in the same range
	// (chat_nachrichten_recent or _top, chat_nachrichten_hidden), rather than one OR that
	// neither partial index serves.
	after := `($1::uuid IS NULL OR ` + o.key + ` < (SELECT ` + strings.ReplaceAll(strings.Trim(o.key, "()"), "c.", "") + ` FROM chat_nachrichten WHERE id = $1))`
	rows, err := s.pool.Query(ctx, `
SELECT `+columns+`, coalesce(b.vote, 0) FROM (
    (SELECT * FROM chat_nachrichten c
     WHERE c.room = $4 AND c.removed_at IS NULL AND `+after+`
     ORDER BY `+o.ord+` LIMIT $2)
    UNION ALL
    (SELECT * FROM chat_nachrichten c
     WHERE c.account_id = $3 AND c.room = $4 AND c.removed_at IS NOT NULL AND `+after+`
     ORDER BY `+o.ord+` LIMIT $2)
) n JOIN accounts a ON a.id = n.account_id
LEFT JOIN chat_bewertungen b ON b.nachricht_id = n.id AND b.account_id = $3
ORDER BY `+strings.ReplaceAll(o.ord, "c.", "n.")+` LIMIT $2`, nullable(before), limit, nullable(viewer), room)
	if err != nil {
		return nil, uuid.Nil, fmt.Errorf("chat: list: %w", err)
	}
	ns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Nachricht, error) {
		var n Nachricht
		err := r.Scan(&n.ID, &n.Room, &n.AccountID, &n.AccountName, &n.Text, &n.At, &n.Hidden, &n.MyVote)
		n.At = n.At.UTC()
		return n, err
	})
	if err != nil {
		return nil, uuid.Nil, fmt.Errorf("chat: list: %w", err)
	}
	if len(ns) == limit {
		next = ns[len(ns)-1].ID
	}
	return ns, next, nil
}

// Get returns one message that is still up.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Nachricht, error) {
	ns, err := s.getUp(ctx, []uuid.UUID{id})
	if err != nil {
		return Nachricht{}, err
	}
	if len(ns) == 0 {
		return Nachricht{}, ErrNotFound
	}
	return ns[0], nil
}

// getUp returns those of the messages that are still up, in no particular order: one query
// for a batch of the log (Hub.send).
func (s *Service) getUp(ctx context.Context, ids []uuid.UUID) ([]Nachricht, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM chat_nachrichten n JOIN accounts a ON a.id = n.account_id WHERE n.id = ANY($1) AND n.removed_at IS NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("chat: get: %w", err)
	}
	ns, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("chat: get: %w", err)
	}
	return ns, nil
}

// roomsOf returns the rooms of the messages (removed ones too): a removal goes to its room.
func (s *Service) roomsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, room FROM chat_nachrichten WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("chat: rooms: %w", err)
	}
	out := map[uuid.UUID]uuid.UUID{}
	var id, room uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&id, &room}, func() error { out[id] = room; return nil })
	if err != nil {
		return nil, fmt.Errorf("chat: rooms: %w", err)
	}
	return out, nil
}

// MaxOrder is how many messages an order frame names: the top of oben.
const MaxOrder = 100

// top is the ids of the room's first MaxOrder messages in oben.
func (s *Service) top(ctx context.Context, room uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM chat_nachrichten c WHERE c.room = $1 AND c.removed_at IS NULL ORDER BY `+orderBy[Oben].ord+` LIMIT $2`, room, MaxOrder)
	if err != nil {
		return nil, fmt.Errorf("chat: top: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("chat: top: %w", err)
	}
	return ids, nil
}

// Vote records by's vote on a message in a stream's room: 1 up, -1 down, 0 takes it back. One
// vote per person and message, changeable; not on one's own message, nor on a hidden one. The
// vote changes only the room's order (oben): the sum is kept for sorting (score) and never
// shown. It returns the vote as it now stands.
func (s *Service) Vote(ctx context.Context, room uuid.UUID, by account.Account, id uuid.UUID, vote int) (int, error) {
	if room == Naehstuebchen {
		return 0, ErrNotFound // the Nähstübchen has no votes
	}
	if vote < -1 || vote > 1 {
		return 0, errVote
	}
	if err := mayTakePart(room, by); err != nil {
		return 0, err
	}
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		if err := openTx(ctx, tx, room); err != nil {
			return err
		}
		// The message's row is locked: votes on it take turns, so that score stays the sum.
		// The old vote is read in a statement of its own, after the lock: a statement that
		// waited for the lock reads with the snapshot it began with, and would miss the vote
		// the transaction it waited for wrote (one person's two votes at once counted twice).
		var author uuid.UUID
		var old int
		err := tx.QueryRow(ctx, `SELECT c.account_id FROM chat_nachrichten c WHERE c.id = $1 AND c.room = $2 AND c.removed_at IS NULL FOR UPDATE OF c`,
			id, room).Scan(&author)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("chat: vote: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT vote FROM chat_bewertungen WHERE nachricht_id = $1 AND account_id = $2), 0)`, id, by.ID).Scan(&old); err != nil {
			return fmt.Errorf("chat: vote: %w", err)
		}
		if author == by.ID {
			return errOwnVote
		}
		if old == vote {
			return nil // as it stands: nothing to write
		}
		now := s.clock.Now()
		if vote == 0 {
			tx.Defer(`DELETE FROM chat_bewertungen WHERE nachricht_id = $1 AND account_id = $2`, id, by.ID)
		} else {
			tx.Defer(`INSERT INTO chat_bewertungen (nachricht_id, account_id, vote, at) VALUES ($1, $2, $3, $4)
ON CONFLICT (nachricht_id, account_id) DO UPDATE SET vote = excluded.vote, at = excluded.at`, id, by.ID, vote, now)
		}
		tx.Defer(`UPDATE chat_nachrichten SET score = score + $2 WHERE id = $1`, id, vote-old)
		return eventstore.Append(tx, now, NachrichtBewertet.New(eventstore.Header{Actor: by.ID, Subject: id},
			NachrichtBewertetV1{NachrichtID: id, AccountID: by.ID, StreamID: room, Vote: vote}))
	})
	if err != nil {
		return 0, err
	}
	return vote, nil
}

func nullable(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
