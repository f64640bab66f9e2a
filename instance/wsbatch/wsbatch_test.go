package wsbatch_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weltgewebe/weltgewebe/instance/wsbatch"
)

// countingListener counts the writes to the connections it accepts: the syscalls a socket's
// frames cost.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, writes: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func serve(t *testing.T, h func(conn *websocket.Conn, b *wsbatch.Batch)) (*countingListener, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, b, err := wsbatch.Accept(w, r, nil, 200*time.Millisecond)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		h(conn, b)
	}))
	l := &countingListener{Listener: srv.Listener}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// Prepared frames reach the client as the messages they are, whatever their length, and the
// frames of one WriteFrames leave in one write to the network; the library's own writes (the
// close handshake) still work beside them.
func TestFramesLeaveInOneWrite(t *testing.T) {
	texts := []string{"kurz", strings.Repeat("m", 126), strings.Repeat("ü", 40000), strings.Repeat("l", 70000)}
	sent := make(chan int64, 1)
	var l *countingListener
	l, url := serve(t, func(conn *websocket.Conn, b *wsbatch.Batch) {
		before := l.writes.Load()
		var frames [][]byte
		for _, s := range texts {
			frames = append(frames, wsbatch.Frame([]byte(s)))
		}
		if err := b.WriteFrames(frames...); err != nil {
			t.Error(err)
		}
		mid := l.writes.Load()
		if err := b.WriteFrames(wsbatch.Frame([]byte("allein"))); err != nil {
			t.Error(err)
		}
		sent <- (mid-before)*10 + l.writes.Load() - mid
		conn.Close(websocket.StatusNormalClosure, "fertig")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for _, want := range append(texts, "allein") {
		typ, got, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(got) != want {
			t.Fatalf("read %v %.20q (%d bytes) %v, want %.20q (%d bytes)", typ, got, len(got), err, want, len(want))
		}
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the frames: %v, want the server's close", err)
	}
	if n := <-sent; n != 11 {
		t.Fatalf("writes: %d for the four frames, %d for the one alone; want 1 and 1", n/10, n%10)
	}
}

// A client that does not read: once the network's buffers are full, Send gives up within the
// timeout instead of holding the socket's writer forever.
func TestSendToAClientThatDoesNotReadFails(t *testing.T) {
	failed := make(chan error, 1)
	_, url := serve(t, func(conn *websocket.Conn, b *wsbatch.Batch) {
		chunk := wsbatch.Frame(make([]byte, 64<<10))
		for {
			if err := b.WriteFrames(chunk, chunk); err != nil {
				failed <- err
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	select {
	case err := <-failed:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("want a timeout, got %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the writes to a client that does not read never failed")
	}
}
