package main

import (
	"context"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/streamtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The livestream measurement, tiny, so that it keeps working between benchmark runs: the real
// nginx-rtmp and ffmpeg, 20 viewers (2 of them write) for a few seconds. The viewers fetch
// every segment without an error, and with the chat every message written reaches every
// viewer, through a reconnect storm too.
func TestStreamBenchTiny(t *testing.T) {
	streamtest.Binary(t)
	streamtest.FFmpeg(t)
	ctx := context.Background()
	e := newEnv(ctx, pgtest.URL(t), false, true)
	defer e.close(ctx)
	f := benchStream(ctx, e, streamConfig{viewers: 20, duration: 3 * time.Second, writersPct: 10,
		messageEvery: 400 * time.Millisecond, voteEvery: 400 * time.Millisecond,
		picture: streamtest.Picture{Size: "320x240", Rate: 10}, storm: true, inProcess: true})

	h := f.Final.HLS
	if h.PlaylistError != 0 || h.SegmentError != 0 {
		t.Fatalf("fetch errors: %+v", h)
	}
	// Every viewer joined three segments from the live edge (the playlist had three when they
	// came) and fetched them whole.
	if h.Segments < 20*3 || h.Bytes < h.Segments*188 {
		t.Fatalf("%d segments, %d bytes; want at least 60 segments of at least a TS packet", h.Segments, h.Bytes)
	}
	if !f.Chat {
		t.Fatal("the stream chat is not there")
	}
	c := f.Final.Chat
	if c.Written == 0 || c.Votes == 0 || c.Dropped != 0 || c.Resets != 0 || f.Final.Lost != 0 {
		t.Fatalf("chat: %+v, lost %d", c, f.Final.Lost)
	}
	if f.Steady.Chat.Deliveries == 0 || f.Steady.Chat.ViewersMin != 20 {
		t.Fatalf("steady chat: %+v", f.Steady.Chat)
	}
	if f.Storm == nil || f.Storm.TimedOut {
		t.Fatalf("storm: %+v", f.Storm)
	}
}
