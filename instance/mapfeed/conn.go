package mapfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/wire"
	"github.com/weltgewebe/weltgewebe/internal/wsframe"
)

// One WebSocket connection: a reader that turns the client's messages into hub requests, and
// a writer that sends what the hub queued for it.

const (
	maxMessage   = 64 << 10 // bytes in one client message
	writeTimeout = 10 * time.Second
	pingEvery    = 30 * time.Second
)

// client is one connection's outgoing queue of frames (encode). The hub appends to it without
// ever waiting: a client that lets it fill up is dropped to a resync instead of holding anyone
// else up.
type client struct {
	limit int

	mu     sync.Mutex
	queue  [][]byte
	spare  [][]byte      // the writer's last queue, emptied: the next one reuses its array
	wake   chan struct{} // one pending signal for the writer
	closed bool
	done   chan struct{}
}

func newClient(limit int) *client {
	return &client{limit: limit, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// enqueue adds a message; false when the queue is full (the message is not added).
func (c *client) enqueue(msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return true
	}
	if len(c.queue) >= c.limit {
		return false
	}
	c.queue = append(c.queue, msg)
	c.signal()
	return true
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

var resyncBehind = encode(resyncMsg{Type: "resync", Reason: "behind"})

// resetBehind replaces whatever is queued by one resync message.
func (c *client) resetBehind() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue[:0:0], resyncBehind)
	c.signal()
}

// take returns what is queued; recycle gives the slice back once it is written.
func (c *client) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue, c.spare = c.spare, nil
	return q
}

func (c *client) recycle(q [][]byte) {
	clear(q) // the frames are shared with other clients' queues; do not keep them alive
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spare == nil && len(c.queue) == 0 {
		c.spare = q[:0]
	}
}

func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
}

type errorMsg struct {
	Type  string `json:"type"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// sendError queues an error message; an error to a client that is not reading is dropped.
func (c *client) sendError(code, format string, args ...any) {
	m := errorMsg{Type: "error"}
	m.Error.Code, m.Error.Message = code, fmt.Sprintf(format, args...)
	c.enqueue(encode(m))
}

type helloMsg struct {
	Type     string              `json:"type"`
	Cursor   eventstore.Position `json:"cursor"`
	BatchMS  int64               `json:"batch_ms"`
	MaxCells int                 `json:"max_cells"`
}

// serverRestart ends a socket because this process shuts down: the app reconnects at once.
const serverRestart = websocket.StatusCode(wire.ServerRestart)

// ServeHTTP serves /ws/map.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, raw, err := wsframe.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return // Accept has answered
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	c := newClient(f.opts.QueueLimit)
	if !f.request(ctx, request{kind: reqOpen, c: c}) {
		conn.Close(serverRestart, wire.ServerRestartReason)
		return
	}
	defer func() {
		c.close()
		// The hub may be gone already (shutdown); then nobody needs to hear of this.
		f.request(context.WithoutCancel(ctx), request{kind: reqClose, c: c})
	}()
	// A client that connects while the hub is starting waits for its head: a hello at the
	// zero position would make its cursor useless.
	select {
	case <-f.ready:
	case <-f.stopped:
		conn.Close(serverRestart, wire.ServerRestartReason)
		return
	case <-ctx.Done():
		return
	}
	c.enqueue(encode(helloMsg{Type: "hello", Cursor: *f.head.Load(), BatchMS: f.opts.Batch.Milliseconds(), MaxCells: f.opts.MaxCells}))

	go func() {
		defer cancel()
		f.read(ctx, conn, c)
	}()
	err = write(ctx, conn, raw, c)
	if errors.Is(err, errClosed) {
		conn.Close(serverRestart, wire.ServerRestartReason)
	}
}

// request hands a request to the hub; false when the hub is gone.
func (f *Feed) request(ctx context.Context, r request) bool {
	if r.kind == reqClose {
		// Closing must not wait on a stopped hub forever.
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case f.reqs <- r:
			return true
		case <-t.C:
			return false
		}
	}
	select {
	case f.reqs <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// write sends queued messages until the connection or the client ends.
func write(ctx context.Context, conn *websocket.Conn, raw *wsframe.Conn, c *client) error {
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return errClosed
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		case <-c.wake:
			// What is queued now goes out in one system call, with one deadline: a batch is a
			// few messages, and a client that cannot take them in writeTimeout is gone.
			q := c.take()
			if err := raw.WriteFrames(time.Now().Add(writeTimeout), q); err != nil {
				return err
			}
			c.recycle(q)
		}
	}
}

type clientMsg struct {
	Type   string   `json:"type"`
	Cells  []string `json:"cells"`
	Cursor *string  `json:"cursor"`
}

// read turns the client's messages into hub requests until the connection ends.
func (f *Feed) read(ctx context.Context, conn *websocket.Conn, c *client) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.sendError("malformed_message", "Messages are JSON text frames.")
			continue
		}
		var m clientMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.sendError("malformed_message", "The message is not a JSON object of the protocol: %v.", err)
			continue
		}
		req := request{c: c}
		switch m.Type {
		case "subscribe":
			req.kind = reqSubscribe
		case "unsubscribe":
			req.kind = reqUnsubscribe
		default:
			c.sendError("unknown_type", "Unknown message type %q; send subscribe or unsubscribe.", m.Type)
			continue
		}
		if len(m.Cells) > f.opts.MaxCells {
			c.sendError("too_many_cells", "At most %d cells may be subscribed at once.", f.opts.MaxCells)
			continue
		}
		cells, bad := parseCells(m.Cells)
		if bad != nil {
			c.sendError(bad.Code, "%s", bad.Message)
			continue
		}
		if m.Cursor != nil && req.kind == reqSubscribe {
			p, err := eventstore.ParsePosition(*m.Cursor)
			if err != nil || *m.Cursor == "" {
				c.sendError("invalid_cursor", "The cursor is not one the server sent.")
				continue
			}
			req.cursor = &p
		}
		req.cells = cells
		if !f.request(ctx, req) {
			return
		}
	}
}

// parseCells reads hex cell indexes of the map's resolutions.
func parseCells(in []string) ([]int64, *fault.Error) {
	out := make([]int64, 0, len(in))
	for _, s := range in {
		c, err := geo.ParseCell(strings.ToLower(strings.TrimSpace(s)))
		if err != nil {
			return nil, fault.Malformedf("invalid_cell", "%q is not an H3 cell index.", s)
		}
		if r := c.Resolution(); r < geo.MinMapResolution || r > geo.MaxMapResolution {
			return nil, fault.Malformedf("invalid_resolution", "Cell %s has resolution %d; the map takes %d to %d.", s, r, geo.MinMapResolution, geo.MaxMapResolution)
		}
		out = append(out, int64(c))
	}
	return out, nil
}

// Stats returns the hub's counters.
func (f *Feed) Stats(ctx context.Context) (Stats, error) {
	reply := make(chan Stats, 1)
	select {
	case f.reqs <- request{kind: reqStats, stats: reply}:
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
}
