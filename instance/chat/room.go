package chat

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/stream"
	"github.com/weltgewebe/weltgewebe/instance/wire"
	"github.com/weltgewebe/weltgewebe/internal/wsframe"
)

// Hub is every room's live side: it follows the log from the moment it starts and sends each
// room's clients what happens in that room — messages, removals, (in a stream's room) the
// order of oben after votes, the stream's state and the number of viewers. One Hub per
// process serves all rooms; replicas each run one and learn of each other's writes from the
// log.
//
// It keeps the last frames of messages and removals (catchUp of them) with their log positions,
// so that a client reconnecting with the cursor of the last frame it had gets what it missed
// from memory (a reconnect storm costs the database nothing); a cursor from before what the
// ring holds is answered {"type": "reset"}: the client reloads over HTTP. At start it reads
// the last catchUp events of the log back into the ring, so that a restart of the process
// does not send every reconnecting client back to HTTP.
type Hub struct {
	svc     *Service
	events  *eventstore.Store
	streams *stream.Service // nil: no stream rooms (their state and viewers)
	log     *slog.Logger
	process uuid.UUID // this process, in chat_zuschauer

	catchUp int           // frames the ring keeps, events read back at start
	started chan struct{} // closed once Run has set from and head

	mu      sync.Mutex
	rooms   map[uuid.UUID]map[*client]struct{}
	ring    []*frame            // oldest first, at most catchUp
	from    eventstore.Position // the ring holds every frame after it
	head    eventstore.Position // the log's head when Run started: frames up to it are the past
	latest  eventstore.Position // the last event sent
	dirty   map[uuid.UUID]bool  // rooms whose oben order may have changed
	order   map[uuid.UUID][]uuid.UUID
	viewers map[uuid.UUID]int // the last count over all replicas sent to each room
	idle    bool              // the last countViewers had no stream sockets to publish
	// stopping: Run has ended (the process shuts down); a socket then closes with
	// wire.ServerRestart, and one that comes in meanwhile is turned away with it.
	stopping bool
}

// frame is one message to clients: its log position (zero for frames that are not the log's:
// order, viewers), its room, its WebSocket frame (encode).
type frame struct {
	pos  eventstore.Position
	room uuid.UUID
	b    []byte
	ring bool // a message or removal: kept for catch-up
}

// client is one socket in a room. Frames are shared by every socket they go to (encoded once
// per message), so the queue holds pointers: a queue of 256 pointers per socket, not of 256
// frames, is what thousands of idle sockets keep allocated.
type client struct {
	room uuid.UUID
	oben bool
	ch   chan *frame
}

// DefaultCatchUp frames of messages and removals are kept for catch-up: minutes of a busy
// stream's chat (every resident's rate limit is 20 a minute), a few megabytes at most.
const DefaultCatchUp = 4096

// NewHub returns the rooms' live side; Run must be running. streams may be nil (no stream
// rooms are served then); catchUp ≤ 0 is DefaultCatchUp.
func NewHub(svc *Service, events *eventstore.Store, streams *stream.Service, catchUp int, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if catchUp <= 0 {
		catchUp = DefaultCatchUp
	}
	return &Hub{svc: svc, events: events, streams: streams, log: log, process: uuid.Must(uuid.NewV7()),
		catchUp: catchUp, started: make(chan struct{}),
		rooms: map[uuid.UUID]map[*client]struct{}{}, dirty: map[uuid.UUID]bool{},
		order: map[uuid.UUID][]uuid.UUID{}, viewers: map[uuid.UUID]int{}}
}

// MessageJSON is a message as clients see it (also the HTTP API's shape). It carries no
// number of votes: only the reader's own vote.
type MessageJSON struct {
	ID      uuid.UUID `json:"id"`
	Account struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	} `json:"account"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
	// MyVote is the reader's own vote (1 or -1), in an answer to them.
	MyVote int `json:"my_vote,omitempty"`
	// Hidden marks the author's own hidden message (held by the word filter, or taken down),
	// which no one else is shown.
	Hidden bool `json:"hidden,omitempty"`
}

// View is the JSON form of a message.
func View(n Nachricht) MessageJSON {
	m := MessageJSON{ID: n.ID, Text: n.Text, At: n.At, Hidden: n.Hidden, MyVote: n.MyVote}
	m.Account.ID, m.Account.Name = n.AccountID, n.AccountName
	return m
}

// Run follows the log until ctx ends. While the database is away it waits, and goes on where it
// was when it is back: no message written before the outage is left out.
func (h *Hub) Run(ctx context.Context) error {
	head, err := h.events.HeadWhenReadable(ctx, "chat")
	if err == nil {
		h.prime(ctx, head)
		close(h.started)
		types := []string{NachrichtGeschrieben.Name(), NachrichtEntfernt.Name(), NachrichtWiederhergestellt.Name(), NachrichtBewertet.Name()}
		if h.streams != nil {
			types = append(types, stream.StateEvents()...)
			types = append(types, stream.StreamGeaendert.Name())
			go h.tick(ctx, 500*time.Millisecond, h.sendOrders)
			go h.tick(ctx, viewersEvery, h.countViewers)
		}
		_ = h.events.KeepFollowingTypes(ctx, "chat", head, 500, types, h.send)
	}
	h.mu.Lock()
	h.stopping = true
	for room, cs := range h.rooms { // shutting down: every client goes
		for c := range cs {
			close(c.ch)
		}
		delete(h.rooms, room)
	}
	h.mu.Unlock()
	if h.streams != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = h.svc.forgetViewers(ctx, h.process)
	}
	return nil
}

// prime reads the last catchUp events of the log up to head back into the ring, before any
// client is let in, so that a client that reconnects after a restart with a recent cursor is
// caught up from memory. Should the log not be readable, the ring starts empty at head.
func (h *Hub) prime(ctx context.Context, head eventstore.Position) {
	from, err := h.events.Back(ctx, h.catchUp)
	if err != nil || !head.After(from) {
		from = head
	}
	h.mu.Lock()
	h.from, h.head, h.latest = from, head, from
	h.mu.Unlock()
	for after := from; head.After(after); {
		evs, err := h.events.Read(ctx, after, 500)
		evs = slices.DeleteFunc(evs, func(e eventstore.Event) bool { return e.Position.After(head) })
		if err == nil && len(evs) > 0 {
			err = h.send(ctx, evs) // to no one: no client is in yet
		}
		if err != nil {
			h.log.Warn("chat: cannot read the recent log back; reconnecting clients reload", "err", err)
			h.mu.Lock()
			h.ring, h.from, h.latest = nil, head, head
			h.mu.Unlock()
			return
		}
		if len(evs) == 0 {
			return
		}
		after = evs[len(evs)-1].Position
	}
}

func (h *Hub) tick(ctx context.Context, every time.Duration, fn func(context.Context)) {
	t := time.NewTicker(every) // the pace of the frames, not a rule: wall time
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// encode returns the WebSocket frame of v's JSON: made once per message, the same bytes go
// to every socket.
func encode(v any) []byte {
	b, _ := json.Marshal(v)
	return wsframe.Text(b)
}

type messageFrame struct {
	Type    string              `json:"type"`
	Cursor  eventstore.Position `json:"cursor"`
	Message MessageJSON         `json:"message"`
}

type removedFrame struct {
	Type   string              `json:"type"`
	ID     uuid.UUID           `json:"id"`
	Cursor eventstore.Position `json:"cursor"`
}

// send broadcasts a batch of the log: all of it, or (when a message cannot be read) nothing,
// so that the batch can be tried again without sending anything twice.
func (h *Hub) send(ctx context.Context, evs []eventstore.Event) error {
	var shown, removed []uuid.UUID
	for _, e := range evs {
		switch {
		case NachrichtGeschrieben.Is(e), NachrichtWiederhergestellt.Is(e):
			shown = append(shown, e.SubjectID)
		case NachrichtEntfernt.Is(e):
			removed = append(removed, e.SubjectID)
		}
	}
	up := map[uuid.UUID]Nachricht{}
	if len(shown) > 0 {
		ns, err := h.svc.getUp(ctx, shown)
		if err != nil {
			return err
		}
		for _, n := range ns {
			up[n.ID] = n
		}
	}
	var rooms map[uuid.UUID]uuid.UUID
	if len(removed) > 0 {
		var err error
		if rooms, err = h.svc.roomsOf(ctx, removed); err != nil {
			return err
		}
	}
	out := make([]*frame, 0, len(evs))
	var dirty []uuid.UUID
	for _, e := range evs {
		switch {
		case NachrichtGeschrieben.Is(e), NachrichtWiederhergestellt.Is(e):
			// Shown again, a message is sent as if new; the screens place it by its time.
			n, ok := up[e.SubjectID]
			if !ok {
				continue // removed meanwhile, or held by the word filter: not for the room
			}
			out = append(out, &frame{e.Position, n.Room, encode(messageFrame{"message", e.Position, View(n)}), true})
			dirty = append(dirty, n.Room)
		case NachrichtEntfernt.Is(e):
			room := rooms[e.SubjectID]
			out = append(out, &frame{e.Position, room, encode(removedFrame{"removed", e.SubjectID, e.Position}), true})
			dirty = append(dirty, room)
		case NachrichtBewertet.Is(e):
			if p, err := NachrichtBewertet.Decode(e); err == nil {
				dirty = append(dirty, p.StreamID)
			}
		case stream.StreamGeaendert.Is(e):
			// Its new title and time, to the screens open on it (not kept for catch-up: a
			// screen that reconnects reads the stream anew).
			if p, err := stream.StreamGeaendert.Decode(e); err == nil {
				out = append(out, &frame{pos: e.Position, room: p.StreamID, b: encode(changedFrame{"changed", p.Title, p.ScheduledAt})})
			}
		default:
			if id, st, ok := stream.StateChange(e.Type, e.SubjectID); ok {
				out = append(out, &frame{pos: e.Position, room: id, b: stateFrame(st)})
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range out {
		if f.ring {
			h.ring = append(h.ring, f)
		}
		h.broadcast(f, false)
	}
	if last := evs[len(evs)-1].Position; last.After(h.latest) {
		h.latest = last
	}
	if over := len(h.ring) - h.catchUp; over > 0 {
		h.from = h.ring[over-1].pos
		h.ring = slices.Delete(h.ring, 0, over)
	}
	for _, room := range dirty {
		h.dirty[room] = true
	}
	return nil
}

// changedFrame tells a stream's screens its new title and time (StreamGeaendert).
type changedFrame struct {
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	ScheduledAt *time.Time `json:"scheduled_at"`
}

func stateFrame(st stream.State) []byte {
	return encode(struct {
		Type  string       `json:"type"`
		State stream.State `json:"state"`
	}{"state", st})
}

// beforeJoin, when set (tests only: export_test.go), is called by Serve just before the socket
// joins its room: a test holds a socket there to let the stream change meanwhile.
var beforeJoin atomic.Pointer[func(room uuid.UUID)]

// clientQueue is how many frames may wait for one client; a client that lets more pile up
// is disconnected (it reconnects with its cursor and catches up).
const clientQueue = 256

// broadcast sends f to the clients of its room (only those in oben: an order frame); h.mu is
// held.
func (h *Hub) broadcast(f *frame, obenOnly bool) {
	for c := range h.rooms[f.room] {
		if obenOnly && !c.oben {
			continue
		}
		select {
		case c.ch <- f:
		default:
			h.drop(c)
		}
	}
}

// drop takes a client out of its room and closes its queue; h.mu is held.
func (h *Hub) drop(c *client) {
	cs := h.rooms[c.room]
	if _, ok := cs[c]; !ok {
		return
	}
	delete(cs, c)
	close(c.ch)
	if len(cs) == 0 {
		delete(h.rooms, c.room)
	}
}

// sendOrders sends the rooms whose messages or votes changed the ids of the top of oben, when
// that top is not what their clients were last sent: at most once per tick, so that a burst of
// votes is one frame.
func (h *Hub) sendOrders(ctx context.Context) {
	h.mu.Lock()
	var rooms []uuid.UUID
	for room := range h.dirty {
		delete(h.dirty, room)
		if h.hasOben(room) {
			rooms = append(rooms, room)
		} else {
			delete(h.order, room) // no one to compare for: the next one gets a fresh order
		}
	}
	h.mu.Unlock()
	for _, room := range rooms {
		ids, err := h.svc.top(ctx, room)
		if err != nil {
			h.mu.Lock()
			h.dirty[room] = true // the next tick tries again
			h.mu.Unlock()
			continue
		}
		h.mu.Lock()
		if !slices.Equal(ids, h.order[room]) {
			h.order[room] = ids
			h.broadcast(&frame{room: room, b: encode(struct {
				Type string      `json:"type"`
				IDs  []uuid.UUID `json:"ids"`
			}{"order", ids})}, true)
		}
		h.mu.Unlock()
	}
}

// hasOben reports whether one of the room's clients reads it in oben; h.mu is held.
func (h *Hub) hasOben(room uuid.UUID) bool {
	for c := range h.rooms[room] {
		if c.oben {
			return true
		}
	}
	return false
}

// Cursor is the log's cursor now, for an answer that reads a room: a socket opened with it
// sends every message and removal after it.
func (h *Hub) Cursor(ctx context.Context) (string, error) {
	p, err := h.events.Head(ctx)
	return p.String(), err
}

var (
	readyFrame = wsframe.Text([]byte(`{"type":"ready"}`))
	resetFrame = wsframe.Text([]byte(`{"type":"reset"}`))
)

// Socket is what a client asks of a room's socket (its query): the sort it reads in (only
// oben's clients get order frames), and the cursor it had, if any.
type Socket struct {
	Sort   Sort
	Cursor *eventstore.Position
}

var errCursor = fault.Invalidf("cursor", "invalid_chat_cursor", "cursor must be one the server gave (from an answer or a frame).")

// ParseSocket reads a socket's query: sort (neu, oben) and cursor.
func ParseSocket(sort, cursor string) (Socket, error) {
	var s Socket
	var err error
	if s.Sort, err = ParseSort(sort); err != nil {
		return Socket{}, err
	}
	if cursor != "" {
		p, err := eventstore.ParsePosition(cursor)
		if err != nil {
			return Socket{}, errCursor
		}
		s.Cursor = &p
	}
	return s, nil
}

// Serve serves a room's socket. With a cursor (from an answer or a frame) it first sends every
// message and removal after it, or reset when the ring no longer reaches back to it. Then
// comes {"type": "ready"}: from here on the client is live in the room. A stream's room first
// tells the stream's state, and before ready the number of viewers. An error (no such stream)
// comes back before anything is written, for the caller to answer.
func (h *Hub) Serve(w http.ResponseWriter, req *http.Request, room uuid.UUID, opt Socket) error {
	if room != Naehstuebchen {
		if h.streams == nil {
			return stream.ErrNotFound
		}
		if _, err := h.streams.StateOf(req.Context(), room); err != nil {
			return err
		}
	}
	conn, out, err := wsframe.Accept(w, req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil // Accept has answered
	}
	defer conn.CloseNow()
	// The client sends nothing; reading notices when it goes.
	ctx := conn.CloseRead(req.Context())
	// write sends frames (encode's) together: one write to the network for what queued up,
	// under one deadline (not a context with its timer per frame, as through the library).
	write := func(frames ...[]byte) bool { return out.WriteFrames(time.Now().Add(writeTimeout), frames) == nil }

	select { // the ring and the head are set once Run has read the log's head
	case <-h.started:
	case <-ctx.Done():
		return nil
	}
	if f := beforeJoin.Load(); f != nil {
		(*f)(room)
	}
	c := &client{room: room, oben: opt.Sort == Oben, ch: make(chan *frame, clientQueue)}
	// In the room and caught up in one step under the lock: everything the ring holds after
	// the cursor is sent first, everything after it comes through the queue, nothing twice.
	// Without a cursor (or after a reset) the client starts from now: what was sent before,
	// and the past the ring was filled with at start, is not for it.
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		conn.Close(websocket.StatusCode(wire.ServerRestart), wire.ServerRestartReason)
		return nil
	}
	var catchUp [][]byte
	reset := false
	cursor := h.latest
	if h.head.After(cursor) {
		cursor = h.head
	}
	if opt.Cursor != nil {
		if h.from.After(*opt.Cursor) {
			reset = true
		} else {
			cursor = *opt.Cursor
			for _, f := range h.ring {
				if f.room == room && f.pos.After(cursor) {
					catchUp = append(catchUp, f.b)
				}
			}
		}
	}
	if h.rooms[room] == nil {
		h.rooms[room] = map[*client]struct{}{}
	}
	h.rooms[room][c] = struct{}{}
	if c.oben {
		// It has the order as it loaded it: the next change is sent, whatever was sent before.
		delete(h.order, room)
	}
	viewers := max(h.viewers[room], len(h.rooms[room]))
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.drop(c)
		h.mu.Unlock()
	}()

	// The state is read once the socket is in its room: a change committed before this read
	// is in it, one after comes through the queue. (Read before joining, a go-live that reached
	// the room in between was lost to this screen until the next change.)
	// Everything up to ready goes out together: a reconnect storm is one write per socket
	// (for up to a queue's worth of frames).
	var first [][]byte
	if room != Naehstuebchen {
		state, err := h.streams.StateOf(ctx, room)
		if err != nil {
			return nil
		}
		first = append(first, stateFrame(state))
	}
	if reset {
		first = append(first, resetFrame)
	}
	first = append(first, catchUp...)
	if room != Naehstuebchen {
		first = append(first, viewersFrame(viewers))
	}
	// Each queue's worth with its own deadline: a catch-up of thousands of messages to a phone
	// on a slow link may take longer than one deadline, and makes progress all the while.
	for first = append(first, readyFrame); len(first) > 0; {
		n := min(len(first), clientQueue)
		if !write(first[:n]...) {
			return nil
		}
		first = first[n:]
	}
	var pending [][]byte
	for {
		var f *frame
		ok := true
		select {
		case <-ctx.Done():
			return nil
		case f, ok = <-c.ch:
		}
		// What queued up meanwhile goes with it, in one write.
		pending = pending[:0]
	take:
		for ok {
			// What the client had (a cursor from a replica further along than this one, or
			// the past) is not sent again.
			if f.pos == (eventstore.Position{}) || f.pos.After(cursor) {
				pending = append(pending, f.b)
			}
			if len(pending) == clientQueue {
				break // a queue's worth at a time
			}
			select {
			case f, ok = <-c.ch:
			default:
				break take
			}
		}
		if len(pending) > 0 && !write(pending...) {
			return nil
		}
		if !ok {
			h.mu.Lock()
			stopping := h.stopping
			h.mu.Unlock()
			if stopping {
				conn.Close(websocket.StatusCode(wire.ServerRestart), wire.ServerRestartReason)
			} else {
				conn.Close(websocket.StatusPolicyViolation, "too slow; reconnect")
			}
			return nil
		}
	}
}

// writeTimeout: a socket that cannot take what was sent to it within this is gone.
const writeTimeout = 10 * time.Second

func viewersFrame(n int) []byte {
	return encode(struct {
		Type  string `json:"type"`
		Count int    `json:"count"`
	}{"viewers", n})
}

// viewersEvery is how often each process publishes its sockets per room and reads the totals:
// a viewers frame goes out at most this often.
const viewersEvery = 2 * time.Second

// countViewers publishes this process's open sockets per stream room to chat_zuschauer and
// sends each room whose total over all processes changed its new count.
func (h *Hub) countViewers(ctx context.Context) {
	h.mu.Lock()
	local := map[uuid.UUID]int{}
	for room, cs := range h.rooms {
		if room != Naehstuebchen {
			local[room] = len(cs)
		}
	}
	idle := len(local) == 0 && h.idle
	h.idle = len(local) == 0
	h.mu.Unlock()
	if idle {
		return // nothing to publish, and nothing published before to take back
	}
	totals, err := h.svc.publishViewers(ctx, h.process, local)
	if err != nil {
		return // the next tick tries again
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for room := range h.viewers {
		if _, ok := totals[room]; !ok {
			delete(h.viewers, room)
		}
	}
	for room, n := range totals {
		if h.viewers[room] != n {
			h.viewers[room] = n
			h.broadcast(&frame{room: room, b: viewersFrame(n)}, false)
		}
	}
}

// viewersStale: a process that has not written its counts for this long is gone (crashed);
// its rows no longer count. Every live process rewrites its rows every viewersEvery.
const viewersStale = 15 * time.Second

// publishViewers replaces this process's counts in chat_zuschauer and returns, for the rooms
// this process has clients in, the sockets over all live processes. One statement each way;
// the liveness compares the database's own clock, the same for every replica whatever their
// instance clocks say (a heartbeat, not a rule of the domain).
func (s *Service) publishViewers(ctx context.Context, process uuid.UUID, local map[uuid.UUID]int) (map[uuid.UUID]int, error) {
	rooms := make([]uuid.UUID, 0, len(local))
	counts := make([]int32, 0, len(local))
	for room, n := range local {
		rooms, counts = append(rooms, room), append(counts, int32(n))
	}
	_, err := s.pool.Exec(ctx, `
WITH gone AS (DELETE FROM chat_zuschauer WHERE process = $1 AND room <> ALL($2)
              OR process <> $1 AND seen_at < now() - make_interval(secs => $4))
INSERT INTO chat_zuschauer (process, room, count, seen_at)
SELECT $1, r, c, now() FROM unnest($2::uuid[], $3::int[]) AS x(r, c)
ON CONFLICT (process, room) DO UPDATE SET count = excluded.count, seen_at = excluded.seen_at`,
		process, rooms, counts, (4 * viewersStale).Seconds())
	if err != nil {
		return nil, err
	}
	return viewerTotals(ctx, s.pool, rooms)
}

func viewerTotals(ctx context.Context, pool *pgxpool.Pool, rooms []uuid.UUID) (map[uuid.UUID]int, error) {
	out := map[uuid.UUID]int{}
	if len(rooms) == 0 {
		return out, nil
	}
	rows, err := pool.Query(ctx, `SELECT room, sum(count)::int FROM chat_zuschauer
WHERE room = ANY($1) AND seen_at >= now() - make_interval(secs => $2) GROUP BY room`, rooms, viewersStale.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var room uuid.UUID
		var n int
		if err := rows.Scan(&room, &n); err != nil {
			return nil, err
		}
		out[room] = n
	}
	return out, rows.Err()
}

// forgetViewers deletes this process's counts (it is shutting down).
func (s *Service) forgetViewers(ctx context.Context, process uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM chat_zuschauer WHERE process = $1`, process)
	return err
}
