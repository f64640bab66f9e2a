package stream

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// ErrChatClosed answers a message or a vote in the chat of an ended stream: its chat stays
// readable, as the record of the assembly, but takes nothing more.
var ErrChatClosed = fault.Gonef("stream_ended", "This stream has ended; its chat can be read, not written.")

// ChatOpenTx is the stream chat's check (instance/chat) before it writes in a stream's room:
// ErrNotFound for no such stream, ErrChatClosed for an ended one. It holds the stream's row
// (FOR SHARE) until tx ends, so that End, which takes the row FOR UPDATE, comes wholly before
// or after the write: no message lands in a chat after its stream ended.
func ChatOpenTx(ctx context.Context, q database.Querier, id uuid.UUID) error {
	var state State
	err := q.QueryRow(ctx, `SELECT state FROM streams WHERE id = $1 FOR SHARE`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if state == Beendet {
		return ErrChatClosed
	}
	return nil
}

// StateOf is a stream's state, for the chat's socket, which tells it on connecting.
func (s *Service) StateOf(ctx context.Context, id uuid.UUID) (State, error) {
	st, err := get(ctx, s.pool, id, false)
	return st.State, err
}

// StateChange reads an event of the stream's state (StreamGestartet, StreamUnterbrochen,
// StreamBeendet): the stream and the state it went into. ok is false for any other event.
func StateChange(typ string, subject uuid.UUID) (id uuid.UUID, st State, ok bool) {
	switch typ {
	case StreamGestartet.Name():
		return subject, Live, true
	case StreamUnterbrochen.Name():
		return subject, Unterbrochen, true
	case StreamBeendet.Name():
		return subject, Beendet, true
	}
	return uuid.Nil, "", false
}

// StateEvents are the event types StateChange reads.
func StateEvents() []string {
	return []string{StreamGestartet.Name(), StreamUnterbrochen.Name(), StreamBeendet.Name()}
}
