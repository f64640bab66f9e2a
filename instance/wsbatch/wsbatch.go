// Package wsbatch accepts a WebSocket to which a server sends prepared frames: a message is
// framed once (Frame) for every socket it goes to, and a socket's pending frames leave in one
// write to the network, under a write deadline that is not set per frame.
//
// Why: a server that sends the same message to thousands of sockets (the Nähstübchen, the
// map's batches) spends its time per frame written, not per byte. Written through
// coder/websocket, each message is framed again for each socket, bounded by its own context
// (a context.WithTimeout per frame: a timer, and a callback registered on the context), passes
// two of the library's locks, and is flushed to the network on its own (one write syscall
// each). Here a frame's bytes are made once and shared; a socket's write of what queued up is
// one syscall; and the deadline is on the network connection, renewed only now and then.
//
// It wraps the http.ResponseWriter that websocket.Accept hijacks, so that the library's
// buffered writer writes through the Batch too: the library keeps the handshake, reading,
// control frames (pongs, the close handshake), and the two never interleave their frames (each
// write here is of whole frames, under one lock).
package wsbatch

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

// Frame returns the WebSocket frame a server sends for the text message msg: unmasked, final,
// uncompressed (RFC 6455 §5.2). Sockets accepted here must not negotiate compression.
func Frame(msg []byte) []byte {
	const finText = 0x80 | 0x1
	n := len(msg)
	var f []byte
	switch {
	case n <= 125:
		f = append(make([]byte, 0, 2+n), finText, byte(n))
	case n <= 0xffff:
		f = append(make([]byte, 0, 4+n), finText, 126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(make([]byte, 0, 10+n), finText, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, msg...)
}

// Batch is a socket's outgoing byte stream below the WebSocket framing.
type Batch struct {
	timeout time.Duration

	mu       sync.Mutex
	conn     net.Conn
	buf      []byte    // frames of one write, when more than one
	deadline time.Time // the write deadline set on conn; zero: none yet
}

// Accept is websocket.Accept for a socket the caller writes prepared frames to through the
// returned Batch. Compression is turned off (frames are made once for every socket). A write
// to the network that cannot finish in time fails — it is given at least timeout, at most
// twice that — and the connection is unusable from then on: the caller closes it.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions, timeout time.Duration) (*websocket.Conn, *Batch, error) {
	o := websocket.AcceptOptions{}
	if opts != nil {
		o = *opts
	}
	o.CompressionMode = websocket.CompressionDisabled
	b := &Batch{timeout: timeout}
	conn, err := websocket.Accept(&hijacker{ResponseWriter: w, b: b}, r, &o)
	if err != nil {
		return nil, nil, err
	}
	return conn, b, nil
}

// WriteFrames sends frames made by Frame, in order, in one write to the network.
func (b *Batch) WriteFrames(frames ...[]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch len(frames) {
	case 0:
		return nil
	case 1:
		_, err := b.write(frames[0])
		return err
	}
	for _, f := range frames {
		b.buf = append(b.buf, f...)
	}
	_, err := b.write(b.buf)
	if cap(b.buf) > maxKept {
		b.buf = nil // a catch-up's burst: not kept for the socket's whole life
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// maxKept is the largest buffer a socket keeps between writes.
const maxKept = 16 << 10

// Write is where the library's buffered writer flushes to: whole frames (its control frames
// are small and flushed each at once).
func (b *Batch) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.write(p)
}

// write writes to the network under the deadline (b.mu is held). Setting a deadline is a
// timer update, so it is not done per write: it is set twice the timeout ahead and renewed
// once less than the timeout is left, which gives every write at least the timeout.
func (b *Batch) write(p []byte) (int, error) {
	if now := time.Now(); b.deadline.Sub(now) < b.timeout {
		b.deadline = now.Add(2 * b.timeout)
		if err := b.conn.SetWriteDeadline(b.deadline); err != nil {
			return 0, err
		}
	}
	return b.conn.Write(p)
}

// hijacker hands websocket.Accept the connection with a buffered writer that writes to b.
type hijacker struct {
	http.ResponseWriter
	b *Batch
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// net/http flushes the response header before it hands the connection over; a writer
	// with something in it would be a server this package does not know.
	if brw.Writer.Buffered() > 0 {
		conn.Close()
		return nil, nil, errors.New("wsbatch: hijacked writer holds unsent bytes")
	}
	h.b.conn = conn
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(h.b, brw.Writer.Size())), nil
}

func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
