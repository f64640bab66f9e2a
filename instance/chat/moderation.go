package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// Moderation is the Nähstübchen's share of moderation (moderation.Content): its messages.
// Hiding a message is what DELETE /api/admin/chat/{id} always did (NachrichtEntfernt: every
// open chat screen drops it); showing it again (NachrichtWiederhergestellt) sends it to the
// room once more, where the screens put it back in its place by its time.
type Moderation struct{ svc *Service }

// Moderation returns the moderation.Content of the chat.
func (s *Service) Moderation() *Moderation { return &Moderation{svc: s} }

var _ moderation.Content = (*Moderation)(nil)

// Kinds implements moderation.Content.
func (m *Moderation) Kinds() []string { return []string{moderation.KindNachricht} }

// Resolve implements moderation.Content: a message has no page of its own, only its id.
func (m *Moderation) Resolve(ctx context.Context, q database.Querier, ref string) (moderation.Target, bool, error) {
	id, err := uuid.Parse(strings.TrimSpace(ref))
	if err != nil {
		return moderation.Target{}, false, nil
	}
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM chat_nachrichten WHERE id = $1)`, id).Scan(&ok); err != nil {
		return moderation.Target{}, false, fmt.Errorf("chat: resolve: %w", err)
	}
	return moderation.Target{Kind: moderation.KindNachricht, ID: id.String()}, ok, nil
}

// Describe implements moderation.Content.
func (m *Moderation) Describe(ctx context.Context, q database.Querier, t moderation.Target) (moderation.Summary, error) {
	id, err := uuid.Parse(t.ID)
	if t.Kind != moderation.KindNachricht || err != nil {
		return moderation.Summary{}, moderation.ErrUnknownTarget
	}
	sum := moderation.Summary{Target: t}
	var author uuid.UUID
	err = q.QueryRow(ctx, `SELECT n.account_id, a.name, n.text, n.removed_at IS NOT NULL
FROM chat_nachrichten n JOIN accounts a ON a.id = n.account_id WHERE n.id = $1`, id).Scan(&author, &sum.AuthorName, &sum.Text, &sum.Hidden)
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.Summary{}, moderation.ErrUnknownTarget
	}
	if err != nil {
		return moderation.Summary{}, fmt.Errorf("chat: describe: %w", err)
	}
	if utf8.RuneCountInString(sum.Text) > 500 {
		sum.Text = string([]rune(sum.Text)[:500])
	}
	sum.AuthorID = &author
	return sum, nil
}

// HideTx implements moderation.Content.
func (m *Moderation) HideTx(ctx context.Context, tx *database.Tx, t moderation.Target, hide bool, by uuid.UUID, _ string, at time.Time) error {
	id, err := uuid.Parse(t.ID)
	if t.Kind != moderation.KindNachricht || err != nil {
		return moderation.ErrUnknownTarget
	}
	var hidden bool
	err = tx.QueryRow(ctx, `SELECT removed_at IS NOT NULL FROM chat_nachrichten WHERE id = $1 FOR UPDATE`, id).Scan(&hidden)
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.ErrUnknownTarget
	}
	if err != nil {
		return fmt.Errorf("chat: hide: %w", err)
	}
	hdr := eventstore.Header{Actor: by, Subject: id}
	switch {
	case hide == hidden:
		return nil
	case hide:
		tx.Defer(`UPDATE chat_nachrichten SET removed_at = $2, removed_by = $3 WHERE id = $1`, id, at, by)
		return eventstore.Append(tx, at, NachrichtEntfernt.New(hdr, NachrichtEntferntV1{NachrichtID: id, RemovedBy: by}))
	}
	tx.Defer(`UPDATE chat_nachrichten SET removed_at = NULL, removed_by = NULL WHERE id = $1`, id)
	return eventstore.Append(tx, at, NachrichtWiederhergestellt.New(hdr, NachrichtWiederhergestelltV1{NachrichtID: id, RestoredBy: by}))
}
