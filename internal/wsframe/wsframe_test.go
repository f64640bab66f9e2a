package wsframe

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serve runs handle on each accepted connection of a test server; it returns the ws:// URL.
func serve(t *testing.T, handle func(ctx context.Context, ws *websocket.Conn, raw *Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, raw, err := Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := ws.CloseRead(r.Context()) // answers pings and the closing handshake
		handle(ctx, ws, raw)
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "http://", "ws://", 1)
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// Messages of every length encoding (7 bits, 16 bits, 64 bits) arrive as the text they were,
// several of them written with one call.
func TestFramesArriveAsMessages(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 200_000}
	payload := func(n int) []byte { return bytes.Repeat([]byte{'a' + byte(n%26)}, n) }
	url := serve(t, func(ctx context.Context, ws *websocket.Conn, raw *Conn) {
		var frames [][]byte
		for _, n := range sizes {
			frames = append(frames, Text(payload(n)))
		}
		if err := raw.WriteFrames(time.Now().Add(10*time.Second), frames); err != nil {
			t.Errorf("WriteFrames: %v", err)
		}
		<-ctx.Done()
	})
	c := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range sizes {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message of %d bytes: %v", n, err)
		}
		if typ != websocket.MessageText || !bytes.Equal(b, payload(n)) {
			t.Fatalf("message of %d bytes: got type %v and %d bytes", n, typ, len(b))
		}
	}
}

// The library's own writes — pings, and the closing handshake with its status code — share the
// socket with WriteFrames without cutting into a frame.
func TestLibraryWritesShareTheSocket(t *testing.T) {
	t.Parallel()
	const messages = 2000
	url := serve(t, func(ctx context.Context, ws *websocket.Conn, raw *Conn) {
		pings := make(chan error, 1)
		go func() {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = ws.Ping(pctx)
				cancel()
			}
			pings <- err
		}()
		big := Text(bytes.Repeat([]byte("x"), 3000)) // longer than a ping: a cut would show
		for i := range messages {
			if err := raw.WriteFrames(time.Now().Add(10*time.Second), [][]byte{Text(fmt.Appendf(nil, "%d", i)), big}); err != nil {
				t.Errorf("WriteFrames: %v", err)
				return
			}
		}
		if err := <-pings; err != nil {
			t.Errorf("ping: %v", err)
		}
		ws.Close(4012, "server restart")
	})
	c := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range messages {
		_, b, err := c.Read(ctx) // also answers the server's pings
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(b) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %.20q", i, b)
		}
		if _, b, err = c.Read(ctx); err != nil || len(b) != 3000 {
			t.Fatalf("message %d's companion: %d bytes, %v", i, len(b), err)
		}
	}
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != 4012 {
		t.Fatalf("closed with %v, want 4012", err)
	}
}

// A client that does not read is cut off at the deadline, and the connection is not used again.
func TestDeadline(t *testing.T) {
	t.Parallel()
	result := make(chan error, 2)
	url := serve(t, func(ctx context.Context, ws *websocket.Conn, raw *Conn) {
		big := Text(bytes.Repeat([]byte("y"), 1<<20))
		var err error
		for err == nil { // fills the socket's buffers, then waits out the deadline
			err = raw.WriteFrames(time.Now().Add(200*time.Millisecond), [][]byte{big})
		}
		result <- err
		result <- raw.WriteFrames(time.Now().Add(time.Second), [][]byte{Text([]byte("after"))})
	})
	dial(t, url) // never reads
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("no error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write did not end at its deadline")
	}
	if err := <-result; err == nil {
		t.Fatal("a write after a failed one went out")
	}
}

// The deadline of a WriteFrames ends with it: the library's ping after it has passed goes out.
func TestDeadlineEndsWithTheWrite(t *testing.T) {
	t.Parallel()
	result := make(chan error, 1)
	url := serve(t, func(ctx context.Context, ws *websocket.Conn, raw *Conn) {
		// Long enough that a busy machine's scheduler cannot make the write itself miss it;
		// the test waits it out below.
		deadline := time.Now().Add(2 * time.Second)
		if err := raw.WriteFrames(deadline, [][]byte{Text([]byte("hello"))}); err != nil {
			result <- err
			return
		}
		time.Sleep(time.Until(deadline) + 50*time.Millisecond)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		result <- ws.Ping(pctx)
	})
	c := dial(t, url)
	go func() {
		for { // reads the hello and answers the ping
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("ping after the deadline: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer")
	}
}
