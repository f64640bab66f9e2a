package chat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Room sends every new message (and every removal) to the connected clients. It follows the
// log from the moment it starts; a client loads what came before over HTTP.
type Room struct {
	svc    *Service
	events *eventstore.Store
	log    *slog.Logger

	mu      sync.Mutex
	clients map[chan []byte]struct{}
}

// NewRoom returns the live room; Run must be running.
func NewRoom(svc *Service, events *eventstore.Store, log *slog.Logger) *Room {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Room{svc: svc, events: events, log: log, clients: map[chan []byte]struct{}{}}
}

// MessageJSON is a message as clients see it (also the HTTP API's shape).
type MessageJSON struct {
	ID      uuid.UUID `json:"id"`
	Account struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	} `json:"account"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
	// Hidden marks the author's own hidden message (held by the word filter, or taken down),
	// which no one else is shown.
	Hidden bool `json:"hidden,omitempty"`
}

// View is the JSON form of a message.
func View(n Nachricht) MessageJSON {
	m := MessageJSON{ID: n.ID, Text: n.Text, At: n.At, Hidden: n.Hidden}
	m.Account.ID, m.Account.Name = n.AccountID, n.AccountName
	return m
}

// Run follows the log until ctx ends. While the database is away it waits, and goes on where it
// was when it is back: no message written before the outage is left out.
func (r *Room) Run(ctx context.Context) error {
	head, err := r.events.HeadWhenReadable(ctx, "chat")
	if err == nil {
		types := []string{NachrichtGeschrieben.Name(), NachrichtEntfernt.Name(), NachrichtWiederhergestellt.Name()}
		_ = r.events.KeepFollowingTypes(ctx, "chat", head, 500, types, r.send)
	}
	r.mu.Lock()
	for ch := range r.clients { // shutting down: every client goes
		delete(r.clients, ch)
		close(ch)
	}
	r.mu.Unlock()
	return nil
}

// send broadcasts a batch of the log: all of it, or (when a message cannot be read) nothing,
// so that the batch can be tried again without sending anything twice.
func (r *Room) send(ctx context.Context, evs []eventstore.Event) error {
	out := make([][]byte, 0, len(evs))
	for _, e := range evs {
		var msg any
		switch {
		case NachrichtGeschrieben.Is(e), NachrichtWiederhergestellt.Is(e):
			// Shown again, a message is sent as if new; the screens place it by its time.
			n, err := r.svc.Get(ctx, e.SubjectID)
			if errors.Is(err, ErrNotFound) {
				continue // removed meanwhile, or held by the word filter: not for the room
			}
			if err != nil {
				return err
			}
			msg = struct {
				Type    string      `json:"type"`
				Message MessageJSON `json:"message"`
			}{"message", View(n)}
		case NachrichtEntfernt.Is(e):
			msg = struct {
				Type string    `json:"type"`
				ID   uuid.UUID `json:"id"`
			}{"removed", e.SubjectID}
		default:
			continue
		}
		b, _ := json.Marshal(msg)
		out = append(out, b)
	}
	for _, b := range out {
		r.broadcast(b)
	}
	return nil
}

// clientQueue is how many messages may wait for one client; a client that lets more pile up
// is disconnected (it reconnects and reloads the room over HTTP).
const clientQueue = 64

func (r *Room) broadcast(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.clients {
		select {
		case ch <- b:
		default:
			delete(r.clients, ch)
			close(ch)
		}
	}
}

var readyMessage = []byte(`{"type":"ready"}`)

// ServeHTTP serves /ws/chat. Its first message is {"type": "ready"}, once the client is in the
// room.
func (r *Room) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	conn, err := websocket.Accept(w, req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ch := make(chan []byte, clientQueue)
	r.mu.Lock()
	r.clients[ch] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if _, ok := r.clients[ch]; ok {
			delete(r.clients, ch)
			close(ch)
		}
		r.mu.Unlock()
	}()
	// The client sends nothing; reading notices when it goes.
	ctx := conn.CloseRead(req.Context())
	// Everything written from now on reaches this client: it may load the history now, and
	// after a reconnect what it missed, without a gap.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = conn.Write(wctx, websocket.MessageText, readyMessage)
	cancel()
	if err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-ch:
			if !ok {
				conn.Close(websocket.StatusPolicyViolation, "too slow; reconnect")
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return
			}
		}
	}
}
