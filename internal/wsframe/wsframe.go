// Package wsframe writes a WebSocket's data frames straight to its socket: a message is
// framed once (Text) and the same bytes go to every connection that gets it, and whatever is
// queued for one connection goes out in one system call (WriteFrames) under one deadline.
//
// The connection is still a coder/websocket Conn for everything else — the handshake,
// reading, pings and pongs, the closing handshake. Through the library, each message costs a
// context with its timer, two channel-based locks, a copy into the connection's buffer and a
// write(2) of its own; a map batch sends tens of thousands of small frames, and those costs
// were most of the server's CPU for the live map (docs/BENCHMARKS.md, "Live map").
//
// The two writers share the socket safely: a write to a net.Conn reaches the socket in one
// piece (Go holds the descriptor's write lock for the whole call), and the library flushes its
// buffer once per frame, so each of its control frames is one call. Data messages must all go
// through WriteFrames, or all through the library: a message longer than the library's
// buffer would be flushed in parts, and frames written here could fall between them.
package wsframe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Text frames payload as one unmasked server-to-client text message (RFC 6455, 5.2): FIN,
// opcode 1, the length, the payload.
func Text(payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n < 126:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xffff:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x81
	return append(b, payload...)
}

// Conn is the socket under an accepted WebSocket.
type Conn struct {
	net.Conn // the hijacked connection; Write is the library's path (below)

	mu     sync.Mutex
	broken bool // a write failed, possibly within a frame: nothing more may follow
}

var errBroken = errors.New("wsframe: an earlier write failed")

// Accept is websocket.Accept that also returns the socket, for WriteFrames.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, *Conn, error) {
	h := &hijacker{ResponseWriter: w}
	ws, err := websocket.Accept(h, r, opts)
	if err != nil {
		return nil, nil, err
	}
	return ws, h.conn, nil
}

// WriteFrames writes whole frames (from Text) in one system call, with deadline for all of
// them. frames is consumed (its elements are re-sliced; the bytes they point to are not
// touched). After an error the connection is closed: a frame may have been cut.
func (c *Conn) WriteFrames(deadline time.Time, frames [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return errBroken
	}
	if err := c.Conn.SetWriteDeadline(deadline); err != nil {
		return c.fail(err)
	}
	bufs := net.Buffers(frames)
	if _, err := bufs.WriteTo(c.Conn); err != nil {
		return c.fail(err)
	}
	return nil
}

func (c *Conn) fail(err error) error {
	c.broken = true
	c.Conn.Close()
	return err
}

// Write is how the library writes (its buffer's flush: one whole frame at a time). The library
// bounds its writes with its own contexts; the deadline WriteFrames left is cleared first, or
// a ping sent after it passed would fail.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return 0, errBroken
	}
	if err := c.Conn.SetWriteDeadline(time.Time{}); err != nil {
		return 0, c.fail(err)
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		return n, c.fail(err)
	}
	return n, nil
}

// hijacker hands the library the socket wrapped in a Conn.
type hijacker struct {
	http.ResponseWriter
	conn *Conn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &Conn{Conn: nc}
	// The library's buffered writer (net/http's, already allocated) writes through the lock.
	brw.Writer.Reset(h.conn)
	return h.conn, brw, nil
}
