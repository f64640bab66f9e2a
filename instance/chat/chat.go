// Package chat is the Nähstübchen: one public room where residents talk, live over a
// WebSocket (/ws/chat). Every message is an event; the room's clients hear of it by following
// the log, so a message written through one replica reaches clients of every replica.
package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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
)

// NachrichtGeschriebenV1: a message was written to the room.
type NachrichtGeschriebenV1 struct {
	NachrichtID uuid.UUID `json:"nachricht_id"`
	AccountID   uuid.UUID `json:"account_id"`
	Text        string    `json:"text"`
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
	NachrichtGeschrieben       = eventstore.Define[NachrichtGeschriebenV1]("NachrichtGeschrieben", 1, eventstore.Private, "A message was written in the Nähstübchen.")
	NachrichtEntfernt          = eventstore.Define[NachrichtEntferntV1]("NachrichtEntfernt", 1, eventstore.Private, "A moderator removed a message from the Nähstübchen.")
	NachrichtWiederhergestellt = eventstore.Define[NachrichtWiederhergestelltV1]("NachrichtWiederhergestellt", 1, eventstore.Private, "A moderator showed a hidden message in the Nähstübchen again.")
)

// Nachricht is a message in the room.
type Nachricht struct {
	ID          uuid.UUID
	AccountID   uuid.UUID
	AccountName string
	Text        string
	At          time.Time
	// Hidden: a moderator took it down, or the word filter holds it. Only its author is
	// shown a hidden message (List), marked.
	Hidden bool
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
)

// Service writes and reads the room.
type Service struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	mod   atomic.Pointer[moderating] // SetModeration's; nil: none
}

// SetModeration installs the word filter and the queue that takes held messages; either may
// be nil. Call it once, at assembly, before the service is used.
func (s *Service) SetModeration(f moderation.TextFilter, h moderation.Holder) {
	s.mod.Store(&moderating{filter: f, holder: h})
}

// moderating is the word filter (nil: none) and the queue for held content (nil: held
// content is stored hidden and queued nowhere).
type moderating struct {
	filter moderation.TextFilter
	holder moderation.Holder
}

func (s *Service) moderating() moderating {
	if m := s.mod.Load(); m != nil {
		return *m
	}
	return moderating{}
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
func (s *Service) Write(ctx context.Context, by account.Account, text string) (Nachricht, error) {
	text, err := checkText(text)
	if err != nil {
		return Nachricht{}, err
	}
	var verdict moderation.Verdict
	mod := s.moderating()
	if mod.filter != nil {
		switch verdict = mod.filter.Check(text); verdict.Action {
		case moderation.ActionBlock:
			return Nachricht{}, moderation.ErrBlocked("text")
		case moderation.ActionHold:
		default:
			verdict = moderation.Verdict{}
		}
	}
	n := Nachricht{ID: uuid.Must(uuid.NewV7()), AccountID: by.ID, AccountName: by.Name, Text: text, At: s.clock.Now(),
		Hidden: verdict.Action == moderation.ActionHold}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		// A held message is stored removed by no one: the room passes it by (Get), the
		// history shows it to its author only.
		var removedAt *time.Time
		if n.Hidden {
			removedAt = &n.At
			if mod.holder != nil {
				if err := mod.holder.HoldTx(ctx, tx, moderation.Target{Kind: moderation.KindNachricht, ID: n.ID.String()}, verdict, n.At); err != nil {
					return err
				}
			}
		}
		tx.Defer(`INSERT INTO chat_nachrichten (id, account_id, text, created_at, removed_at) VALUES ($1, $2, $3, $4, $5)`,
			n.ID, n.AccountID, n.Text, n.At, removedAt)
		return eventstore.Append(tx, n.At, NachrichtGeschrieben.New(eventstore.Header{Actor: by.ID, Subject: n.ID},
			NachrichtGeschriebenV1{NachrichtID: n.ID, AccountID: by.ID, Text: n.Text}))
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

const columns = `n.id, n.account_id, a.name, n.text, n.created_at, n.removed_at IS NOT NULL`

func scan(r pgx.CollectableRow) (Nachricht, error) {
	var n Nachricht
	err := r.Scan(&n.ID, &n.AccountID, &n.AccountName, &n.Text, &n.At, &n.Hidden)
	n.At = n.At.UTC()
	return n, err
}

// List returns up to limit messages, newest first, older than before when it is set: those
// that are up, and viewer's own hidden ones, marked (uuid.Nil: no viewer).
func (s *Service) List(ctx context.Context, viewer, before uuid.UUID, limit int) ([]Nachricht, error) {
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, fault.Invalidf("limit", "invalid_limit", "limit must lie between 1 and %d.", MaxLimit)
	}
	// Ids are version-7 UUIDs: their order is the order they were made in.
	// Two index walks, the room's page and the viewer's own hidden messages in the same range
	// (chat_nachrichten_recent, chat_nachrichten_hidden), rather than one OR that neither
	// partial index serves.
	rows, err := s.pool.Query(ctx, `
WITH cursor AS (SELECT created_at, id FROM chat_nachrichten WHERE id = $1)
SELECT `+columns+` FROM (
    (SELECT * FROM chat_nachrichten c
     WHERE c.removed_at IS NULL AND ($1::uuid IS NULL OR (c.created_at, c.id) < (SELECT created_at, id FROM cursor))
     ORDER BY c.created_at DESC, c.id DESC LIMIT $2)
    UNION ALL
    (SELECT * FROM chat_nachrichten c
     WHERE c.removed_at IS NOT NULL AND c.account_id = $3 AND ($1::uuid IS NULL OR (c.created_at, c.id) < (SELECT created_at, id FROM cursor))
     ORDER BY c.created_at DESC, c.id DESC LIMIT $2)
) n JOIN accounts a ON a.id = n.account_id
ORDER BY n.created_at DESC, n.id DESC LIMIT $2`, nullable(before), limit, nullable(viewer))
	if err != nil {
		return nil, fmt.Errorf("chat: list: %w", err)
	}
	ns, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("chat: list: %w", err)
	}
	return ns, nil
}

// Get returns one message that is still up.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Nachricht, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM chat_nachrichten n JOIN accounts a ON a.id = n.account_id WHERE n.id = $1 AND n.removed_at IS NULL`, id)
	if err != nil {
		return Nachricht{}, fmt.Errorf("chat: get: %w", err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return Nachricht{}, ErrNotFound
	}
	if err != nil {
		return Nachricht{}, fmt.Errorf("chat: get: %w", err)
	}
	return n, nil
}

func nullable(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
