package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
)

// The livestream's viewers (`wgbench _streamviewers`, a separate process so that their cost is
// not counted as the instance's, nginx's or PostgreSQL's). Each viewer is what a browser tab on
// /streams/{id} does on the wire:
//
//   - HLS as a player fetches it: the playlist, then every segment it has not fetched yet, once;
//     the playlist again after a target duration when it changed, after half of one when it did
//     not (RFC 8216, 6.3.4). On joining it starts three segments from the live edge (hls.js's
//     default). Its own HTTP transport with at most two keep-alive connections to nginx, as a
//     tab has its own connections: a transport shared by all viewers would carry a thousand
//     viewers' requests over a few connections and hide the cost of a thousand connections in
//     nginx. (The chat writes of the viewers who write go over the same two connections.)
//   - The chat socket /ws/streams/{id}/chat, held for the whole run, with the cursor of the
//     last frame, reconnected with it when it drops.
//
// One goroutine for the HLS loop and one for the socket per viewer; the writes and votes of the
// viewers who write are sent by a small pool of goroutines on a schedule, not by more
// goroutines per viewer. Each viewer has its own source address among 127.0.2.1–200 (through
// nginx, which forwards it: the instance counts its per-address limits per viewer address, as
// it would for viewers at home).
//
// Protocol with the parent, one line each (as _mapclients):
//
//	child: ready {…}            every viewer holds its socket and has fetched the playlist once
//	parent: measure             writers start; deliveries from now on are measured
//	parent: report              → {…steady phase…}
//	parent: storm               every socket drops and reconnects with its cursor, writers go on
//	child: {…storm…}            when every viewer is back and caught up (or after a minute)
//	parent: quit                writers stop; → {…totals, lost messages…}; the process exits

type writerCred struct {
	Cookie  string `json:"cookie"`
	Account string `json:"account"`
}

// sentMsg is a chat message a writer sent; its text carries its index.
type sentMsg struct {
	at     atomic.Int64 // unix nanos, before the POST
	acked  atomic.Int64 // unix nanos of the 201, 0 before
	failed atomic.Bool
	// first and last arrival at a socket (unix nanos): where the time goes, the write and
	// the log or the fan-out to a thousand sockets.
	first, last atomic.Int64
}

// casMin and casMax keep the smaller or larger of v and x in v.
func casMin(v *atomic.Int64, x int64) {
	for o := v.Load(); (o == 0 || x < o) && !v.CompareAndSwap(o, x); o = v.Load() {
	}
}

func casMax(v *atomic.Int64, x int64) {
	for o := v.Load(); x > o && !v.CompareAndSwap(o, x); o = v.Load() {
	}
}

type svViewer struct {
	i      int
	hc     *http.Client
	sort   string
	writer int // index into the writers, -1 for a viewer who only watches

	mu          sync.Mutex
	conn        *websocket.Conn
	cursor      string
	got         []uint64 // bitset of received message indexes
	scanFrom    int      // every message below it is received or failed (storm check)
	connectedAt time.Time
	readyAt     time.Time // the last {"type":"ready"}: the server's word that the catch-up is done
	stormDrop   bool      // the next read error is ours (the storm), not a drop

	viewers atomic.Int64 // the last viewer count the server sent
	ready   atomic.Bool  // the first playlist fetched
}

type hlsStats struct {
	Playlists     int64    `json:"playlists"`
	Segments      int64    `json:"segments"`
	Bytes         int64    `json:"bytes"`
	PlaylistError int64    `json:"playlist_errors"`
	SegmentError  int64    `json:"segment_errors"`
	Stalls        int64    `json:"stalls"`   // a player's buffer ran dry before the next segment came
	StallMS       int64    `json:"stall_ms"` // how long they waited, summed
	SegmentP50MS  float64  `json:"segment_p50_ms"`
	SegmentP99MS  float64  `json:"segment_p99_ms"`
	SegmentMaxMS  float64  `json:"segment_max_ms"`
	Errors        []string `json:"errors,omitempty"` // the first few, for the log
}

type chatStats struct {
	Written      int64   `json:"written"`
	WriteRefused int64   `json:"write_refused"` // 429: the writer waits as told
	WriteErrors  int64   `json:"write_errors"`
	Votes        int64   `json:"votes"`
	VoteRefused  int64   `json:"vote_refused"`
	VoteErrors   int64   `json:"vote_errors"`
	Deliveries   int64   `json:"deliveries"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	MaxMS        float64 `json:"max_ms"`
	Orders       int64   `json:"orders"`
	Dropped      int64   `json:"dropped"`
	Resets       int64   `json:"resets"`
	Duplicates   int64   `json:"duplicates"`
	ViewersMin   int64   `json:"viewers_min"`
	ViewersMax   int64   `json:"viewers_max"`
	FrameBytes   int64   `json:"frame_bytes"`
	// Per message written in the phase (ms from before its POST): the 201, the first socket's
	// frame, the last socket's frame; p50 and p99 of each.
	AckMS   [2]float64 `json:"ack_ms"`
	FirstMS [2]float64 `json:"first_ms"`
	LastMS  [2]float64 `json:"last_ms"`
}

type svReport struct {
	Seconds float64   `json:"seconds"`
	HLS     hlsStats  `json:"hls"`
	Chat    chatStats `json:"chat"`
	// Lost is set by quit: messages written (201) that some viewer never received, counted
	// per viewer and message.
	Lost int64 `json:"lost"`
}

type svStorm struct {
	Viewers      int     `json:"viewers"`
	BackSeconds  float64 `json:"back_seconds"`  // every socket open again
	ReadySeconds float64 `json:"ready_seconds"` // every socket had the server's "ready" (its catch-up sent); 0 if it sends none
	DoneSeconds  float64 `json:"done_seconds"`  // and every viewer holds every message written before the last came back
	Written      int64   `json:"written"`       // messages written (201) during the storm
	Missing      int64   `json:"missing"`       // viewer×message pairs still missing at the timeout
	TimedOut     bool    `json:"timed_out"`
}

func runStreamViewers(args []string, in io.Reader, out io.Writer) {
	fs := flag.NewFlagSet("_streamviewers", flag.ExitOnError)
	base := fs.String("base", "", "nginx's http:// URL")
	streamID := fs.String("stream", "", "the stream's id")
	n := fs.Int("n", 1000, "viewers")
	credsJSON := fs.String("writers", "[]", "JSON list of the writers' session cookies and account ids")
	chat := fs.Bool("chat", true, "hold chat sockets, write and vote")
	messageEvery := fs.Duration("message-every", 20*time.Second, "a writer's message interval")
	voteEvery := fs.Duration("vote-every", 10*time.Second, "a writer's vote interval")
	oben := fs.Int("oben", 20, "percent of viewers whose chat is sorted \"oben\"")
	check(fs.Parse(args))
	var creds []writerCred
	check(json.Unmarshal([]byte(*credsJSON), &creds))

	// A load generator, not a server: collect garbage rarely.
	debug.SetGCPercent(400)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	playlistURL := *base + "/hls/" + *streamID + ".m3u8"
	wsBase := strings.Replace(*base, "http://", "ws://", 1) + "/ws/streams/" + *streamID + "/chat"
	chatURL := *base + "/api/streams/" + *streamID + "/chat"

	dialerFor := func(i int) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(1+i%200))}, Timeout: 30 * time.Second}
	}
	viewers := make([]*svViewer, *n)
	for i := range viewers {
		v := &svViewer{i: i, writer: -1, sort: "neu"}
		if i < len(creds) {
			v.writer = i
		}
		if rand.IntN(100) < *oben {
			v.sort = "oben"
		}
		v.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialerFor(i).DialContext,
			MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second, DisableCompression: true}}
		viewers[i] = v
	}

	// HLS.
	var (
		hls      hlsStats
		hlsMu    sync.Mutex
		segTimes []float64
		errLog   []string
	)
	noteErr := func(kind *int64, what string) {
		atomic.AddInt64(kind, 1)
		hlsMu.Lock()
		if len(errLog) < 10 {
			errLog = append(errLog, what)
		}
		hlsMu.Unlock()
	}
	fetch := func(v *svViewer, u string) ([]byte, int, error) {
		res, err := v.hc.Get(u)
		if err != nil {
			return nil, 0, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return b, res.StatusCode, err
	}
	// fetchSegment reads a segment through a shared pool of buffers, not into memory of its
	// own: a thousand viewers would otherwise allocate 200 MB a second, and the collector's
	// work would be counted against the machine the server shares. It returns the length and
	// whether the body starts as MPEG-TS does.
	bufs := sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	fetchSegment := func(v *svViewer, u string) (int64, bool, int, error) {
		res, err := v.hc.Get(u)
		if err != nil {
			return 0, false, 0, err
		}
		defer res.Body.Close()
		bp := bufs.Get().(*[]byte)
		defer bufs.Put(bp)
		buf := *bp
		first, err := io.ReadFull(res.Body, buf[:1])
		if err != nil {
			return int64(first), false, res.StatusCode, err
		}
		ts := buf[0] == 0x47 // an MPEG-TS packet's sync byte
		n, err := io.CopyBuffer(io.Discard, res.Body, buf)
		return n + 1, ts, res.StatusCode, err
	}
	watch := func(v *svViewer) {
		// Viewers join over one target duration, not all in the same millisecond.
		time.Sleep(time.Duration(rand.Int64N(int64(2 * time.Second))))
		fetched := map[string]bool{}
		first := true
		// The player: it plays from when the first three segments are in, in real time; when
		// a segment arrives after the playing caught up with what was fetched, it stalled
		// (rebuffering) for the difference.
		var (
			playStart         time.Time
			buffered, stalled time.Duration
		)
		for ctx.Err() == nil {
			b, status, err := fetch(v, playlistURL)
			atomic.AddInt64(&hls.Playlists, 1)
			if err != nil || status != http.StatusOK {
				if ctx.Err() == nil {
					noteErr(&hls.PlaylistError, fmt.Sprintf("playlist: %d %v", status, err))
				}
				time.Sleep(time.Second)
				continue
			}
			target, segs := parsePlaylist(b)
			var todo []hlsSegment
			for _, s := range segs {
				if !fetched[s.uri] {
					todo = append(todo, s)
				}
			}
			if first && len(todo) > 3 {
				for _, s := range todo[:len(todo)-3] {
					fetched[s.uri] = true
				}
				todo = todo[len(todo)-3:]
			}
			v.ready.Store(true)
			for _, s := range todo {
				t0 := time.Now()
				n, ts, status, err := fetchSegment(v, *base+"/hls/"+s.uri)
				now := time.Now()
				d := now.Sub(t0)
				atomic.AddInt64(&hls.Segments, 1)
				if err != nil || status != http.StatusOK || n == 0 || !ts {
					if ctx.Err() == nil {
						noteErr(&hls.SegmentError, fmt.Sprintf("segment %s: %d %v", s.uri, status, err))
					}
					continue
				}
				fetched[s.uri] = true
				if !playStart.IsZero() {
					if played := now.Sub(playStart) - stalled; played > buffered {
						stalled += played - buffered
						atomic.AddInt64(&hls.Stalls, 1)
						atomic.AddInt64(&hls.StallMS, (played - buffered).Milliseconds())
					}
				}
				buffered += s.dur
				atomic.AddInt64(&hls.Bytes, n)
				hlsMu.Lock()
				segTimes = append(segTimes, float64(d.Microseconds())/1000)
				hlsMu.Unlock()
			}
			if first && len(todo) > 0 {
				playStart = time.Now()
			}
			first = false
			// Forget what the playlist no longer names: the map stays small.
			for u := range fetched {
				if !slices.ContainsFunc(segs, func(s hlsSegment) bool { return s.uri == u }) {
					delete(fetched, u)
				}
			}
			wait := target
			if len(todo) == 0 {
				wait = target / 2
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}

	// Chat.
	const maxMessages = 1 << 18
	msgs := make([]sentMsg, maxMessages)
	var (
		nextMsg   atomic.Int64
		chatSt    chatStats
		measuring atomic.Bool
		measureAt atomic.Int64
		latMu     sync.Mutex
		latencies []float64
		quitting  atomic.Bool
		hold      = make([]atomic.Int64, len(creds)) // unix nanos before which a writer sends nothing (429)
	)
	var open sync.WaitGroup // sockets connected at least once
	readSocket := func(v *svViewer) {
		var buf bytes.Buffer
		connected := false
		for {
			v.mu.Lock()
			u := wsBase + "?sort=" + v.sort
			if v.cursor != "" {
				u += "&cursor=" + url.QueryEscape(v.cursor)
			}
			v.mu.Unlock()
			hc := &http.Client{Transport: &http.Transport{DialContext: dialerFor(v.i).DialContext}}
			dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
			conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc})
			dcancel()
			if err != nil {
				if ctx.Err() != nil || quitting.Load() {
					return
				}
				log.Printf("streamviewers: viewer %d: dial: %v", v.i, err)
				time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
				continue
			}
			conn.SetReadLimit(1 << 20)
			v.mu.Lock()
			v.conn, v.connectedAt, v.stormDrop = conn, time.Now(), false
			v.mu.Unlock()
			if !connected {
				connected = true
				open.Done()
			}
			for {
				data, err := readFrame(ctx, conn, &buf)
				if err != nil {
					break
				}
				now := time.Now()
				atomic.AddInt64(&chatSt.FrameBytes, int64(len(data)))
				// Only what is needed, scanned in place: the viewers share the server's cores.
				typ := gjson.GetBytes(data, "type").Str
				if c := gjson.GetBytes(data, "cursor"); c.Exists() {
					v.mu.Lock()
					v.cursor = c.String()
					v.mu.Unlock()
				}
				switch typ {
				case "message":
					// {"type":"message","cursor","message":{…}} (the status board's shape,
					// shared with the Nähstübchen); the contract's first draft had it flat.
					text := gjson.GetBytes(data, "message.text").Str
					if text == "" {
						text = gjson.GetBytes(data, "text").Str
					}
					idx, err := strconv.Atoi(text[strings.LastIndexByte(text, ' ')+1:])
					if err != nil || idx < 0 || idx >= maxMessages {
						continue // not one of ours
					}
					v.mu.Lock()
					w := idx / 64
					if w >= len(v.got) {
						v.got = append(v.got, make([]uint64, w+1-len(v.got)+64)...)
					}
					dup := v.got[w]&(1<<(idx%64)) != 0
					v.got[w] |= 1 << (idx % 64)
					v.mu.Unlock()
					if dup {
						atomic.AddInt64(&chatSt.Duplicates, 1)
						continue
					}
					atomic.AddInt64(&chatSt.Deliveries, 1)
					casMin(&msgs[idx].first, now.UnixNano())
					casMax(&msgs[idx].last, now.UnixNano())
					at := msgs[idx].at.Load()
					if measuring.Load() && at >= measureAt.Load() {
						latMu.Lock()
						latencies = append(latencies, float64(now.UnixNano()-at)/1e6)
						latMu.Unlock()
					}
				case "order":
					atomic.AddInt64(&chatSt.Orders, 1)
				case "viewers":
					v.viewers.Store(gjson.GetBytes(data, "count").Int())
				case "reset":
					atomic.AddInt64(&chatSt.Resets, 1)
				case "ready":
					v.mu.Lock()
					v.readyAt = now
					v.mu.Unlock()
				}
			}
			conn.CloseNow()
			if ctx.Err() != nil || quitting.Load() {
				return
			}
			v.mu.Lock()
			ours := v.stormDrop
			v.mu.Unlock()
			if !ours {
				atomic.AddInt64(&chatSt.Dropped, 1)
				log.Printf("streamviewers: viewer %d: socket dropped", v.i)
				time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
			}
		}
	}

	// The writers' schedule: a message every messageEvery, a vote every voteEvery, each
	// writer starting at a random point of the interval; a 429 makes the writer wait as long
	// as Retry-After says. A few goroutines send for all.
	type recent struct {
		id     string
		author int
	}
	var (
		recentMu sync.Mutex
		recents  []recent // the last messages written, to vote on
	)
	// send is a writer's request, as its session, over its viewer's connections; the answer's
	// body is read whole.
	send := func(w int, method, u, body string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: "wg_session", Value: creds[w].Cookie})
		res, err := viewers[w].hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, b, err
	}
	writeMessage := func(w int) {
		idx := int(nextMsg.Add(1) - 1)
		if idx >= maxMessages {
			return
		}
		m := &msgs[idx]
		m.at.Store(time.Now().UnixNano())
		res, b, err := send(w, http.MethodPost, chatURL, fmt.Sprintf(`{"text":"Bench-Nachricht %d"}`, idx))
		if err != nil {
			m.failed.Store(true)
			atomic.AddInt64(&chatSt.WriteErrors, 1)
			return
		}
		switch res.StatusCode {
		case http.StatusCreated:
			m.acked.Store(time.Now().UnixNano())
			atomic.AddInt64(&chatSt.Written, 1)
			recentMu.Lock()
			id := gjson.GetBytes(b, "id").String()
			if id == "" {
				id = gjson.GetBytes(b, "message.id").String()
			}
			recents = append(recents, recent{id, w})
			if len(recents) > 50 {
				recents = recents[1:]
			}
			recentMu.Unlock()
		case http.StatusTooManyRequests:
			m.failed.Store(true)
			atomic.AddInt64(&chatSt.WriteRefused, 1)
			hold[w].Store(time.Now().Add(time.Duration(retryAfter(res)) * time.Second).UnixNano())
		default:
			m.failed.Store(true)
			if atomic.AddInt64(&chatSt.WriteErrors, 1) <= 5 {
				log.Printf("streamviewers: write: %d %s", res.StatusCode, b)
			}
		}
	}
	vote := func(w int) {
		recentMu.Lock()
		var pick *recent
		for range 5 {
			if len(recents) == 0 {
				break
			}
			r := recents[rand.IntN(len(recents))]
			if r.author != w {
				pick = &r
				break
			}
		}
		recentMu.Unlock()
		if pick == nil {
			return
		}
		res, b, err := send(w, http.MethodPut, chatURL+"/"+pick.id+"/vote", fmt.Sprintf(`{"vote":%d}`, []int{1, 1, -1}[rand.IntN(3)]))
		if err != nil {
			atomic.AddInt64(&chatSt.VoteErrors, 1)
			return
		}
		switch res.StatusCode {
		case http.StatusOK:
			atomic.AddInt64(&chatSt.Votes, 1)
		case http.StatusTooManyRequests:
			atomic.AddInt64(&chatSt.VoteRefused, 1)
			hold[w].Store(time.Now().Add(time.Duration(retryAfter(res)) * time.Second).UnixNano())
		default:
			if atomic.AddInt64(&chatSt.VoteErrors, 1) <= 5 {
				log.Printf("streamviewers: vote: %d %s", res.StatusCode, b)
			}
		}
	}
	var writersWG sync.WaitGroup
	stopWriters := make(chan struct{})
	writing := false
	startWriters := func() {
		writing = true
		type job struct {
			w    int
			vote bool
		}
		jobs := make(chan job, 1024)
		for range 8 {
			writersWG.Add(1)
			go func() {
				defer writersWG.Done()
				for j := range jobs {
					if j.vote {
						vote(j.w)
					} else {
						writeMessage(j.w)
					}
				}
			}()
		}
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			defer close(jobs)
			now := time.Now()
			nextMsgAt := make([]time.Time, len(creds))
			nextVoteAt := make([]time.Time, len(creds))
			for w := range creds {
				nextMsgAt[w] = now.Add(time.Duration(rand.Int64N(int64(*messageEvery))))
				nextVoteAt[w] = now.Add(time.Duration(rand.Int64N(int64(*voteEvery))))
			}
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopWriters:
					return
				case now = <-t.C:
				}
				for w := range creds {
					if now.UnixNano() < hold[w].Load() { // told to wait (429): what falls due meanwhile is skipped
						for _, next := range []*time.Time{&nextMsgAt[w], &nextVoteAt[w]} {
							if now.After(*next) {
								*next = now.Add(*voteEvery)
							}
						}
						continue
					}
					if now.After(nextMsgAt[w]) {
						nextMsgAt[w] = nextMsgAt[w].Add(*messageEvery)
						jobs <- job{w, false}
					}
					if now.After(nextVoteAt[w]) {
						nextVoteAt[w] = nextVoteAt[w].Add(*voteEvery)
						jobs <- job{w, true}
					}
				}
			}
		}()
	}

	// missing counts, for viewer v, the messages acked before `before` (unix nanos; 0: any)
	// that it has not received; it moves v.scanFrom past what is settled.
	missing := func(v *svViewer, before int64, limit int) int64 {
		v.mu.Lock()
		defer v.mu.Unlock()
		has := func(i int) bool { w := i / 64; return w < len(v.got) && v.got[w]&(1<<(i%64)) != 0 }
		for v.scanFrom < limit && (msgs[v.scanFrom].failed.Load() || has(v.scanFrom)) {
			v.scanFrom++
		}
		var miss int64
		for i := v.scanFrom; i < limit; i++ {
			a := msgs[i].acked.Load()
			if a != 0 && (before == 0 || a < before) && !has(i) {
				miss++
			}
		}
		return miss
	}
	sentSoFar := func() int { return min(int(nextMsg.Load()), maxMessages) }

	start := time.Now()
	for _, v := range viewers {
		go watch(v)
	}
	if *chat {
		open.Add(len(viewers))
		sem := make(chan struct{}, 100)
		for _, v := range viewers {
			sem <- struct{}{}
			go func() { <-sem; readSocket(v) }()
		}
		open.Wait()
	}
	for _, v := range viewers {
		for !v.ready.Load() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	fmt.Fprintf(out, "ready {\"seconds\": %.2f}\n", time.Since(start).Seconds())

	pct := func(s []float64, p float64) float64 {
		if len(s) == 0 {
			return 0
		}
		return s[int(float64(len(s)-1)*p)]
	}
	// hlsBase is the HLS counters at the start of the steady phase (report gives what came
	// since), segFrom the first segment time of it.
	var (
		hlsBase hlsStats
		segFrom int
	)
	hlsNow := func() hlsStats {
		return hlsStats{Playlists: atomic.LoadInt64(&hls.Playlists), Segments: atomic.LoadInt64(&hls.Segments),
			Bytes: atomic.LoadInt64(&hls.Bytes), PlaylistError: atomic.LoadInt64(&hls.PlaylistError),
			SegmentError: atomic.LoadInt64(&hls.SegmentError), Stalls: atomic.LoadInt64(&hls.Stalls), StallMS: atomic.LoadInt64(&hls.StallMS)}
	}
	report := func(since time.Time, whole bool) svReport {
		var r svReport
		r.Seconds = time.Since(since).Seconds()
		r.HLS = hlsNow()
		from := 0
		if !whole {
			r.HLS.Playlists -= hlsBase.Playlists
			r.HLS.Segments -= hlsBase.Segments
			r.HLS.Bytes -= hlsBase.Bytes
			r.HLS.PlaylistError -= hlsBase.PlaylistError
			r.HLS.SegmentError -= hlsBase.SegmentError
			r.HLS.Stalls -= hlsBase.Stalls
			r.HLS.StallMS -= hlsBase.StallMS
			from = segFrom
		}
		hlsMu.Lock()
		r.HLS.Errors = slices.Clone(errLog)
		st := slices.Clone(segTimes[from:])
		hlsMu.Unlock()
		slices.Sort(st)
		r.HLS.SegmentP50MS, r.HLS.SegmentP99MS, r.HLS.SegmentMaxMS = pct(st, .5), pct(st, .99), pct(st, 1)
		latMu.Lock()
		l := slices.Clone(latencies)
		latMu.Unlock()
		slices.Sort(l)
		c := &chatSt
		r.Chat = chatStats{Written: atomic.LoadInt64(&c.Written), WriteRefused: atomic.LoadInt64(&c.WriteRefused),
			WriteErrors: atomic.LoadInt64(&c.WriteErrors), Votes: atomic.LoadInt64(&c.Votes), VoteRefused: atomic.LoadInt64(&c.VoteRefused),
			VoteErrors: atomic.LoadInt64(&c.VoteErrors), Deliveries: int64(len(l)), P50MS: pct(l, .5), P99MS: pct(l, .99), MaxMS: pct(l, 1),
			Orders: atomic.LoadInt64(&c.Orders), Dropped: atomic.LoadInt64(&c.Dropped), Resets: atomic.LoadInt64(&c.Resets),
			Duplicates: atomic.LoadInt64(&c.Duplicates), FrameBytes: atomic.LoadInt64(&c.FrameBytes), ViewersMin: -1}
		var ack, first, last []float64
		for i := range sentSoFar() {
			m := &msgs[i]
			at, a, f, l := m.at.Load(), m.acked.Load(), m.first.Load(), m.last.Load()
			if at < since.UnixNano() || a == 0 || f == 0 {
				continue
			}
			ack, first, last = append(ack, float64(a-at)/1e6), append(first, float64(f-at)/1e6), append(last, float64(l-at)/1e6)
		}
		for _, x := range []struct {
			l   []float64
			out *[2]float64
		}{{ack, &r.Chat.AckMS}, {first, &r.Chat.FirstMS}, {last, &r.Chat.LastMS}} {
			slices.Sort(x.l)
			*x.out = [2]float64{pct(x.l, .5), pct(x.l, .99)}
		}
		for _, v := range viewers {
			n := v.viewers.Load()
			if r.Chat.ViewersMin < 0 || n < r.Chat.ViewersMin {
				r.Chat.ViewersMin = n
			}
			r.Chat.ViewersMax = max(r.Chat.ViewersMax, n)
		}
		return r
	}
	emit := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintln(out, string(b))
	}

	measureStart := time.Now()
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		switch strings.TrimSpace(lines.Text()) {
		case "measure":
			measureStart = time.Now()
			measureAt.Store(measureStart.UnixNano())
			hlsBase = hlsNow()
			hlsMu.Lock()
			segFrom = len(segTimes)
			hlsMu.Unlock()
			measuring.Store(true)
			if *chat && len(creds) > 0 {
				startWriters()
			}
		case "report":
			measuring.Store(false)
			emit(report(measureStart, false))
		case "storm":
			written0 := atomic.LoadInt64(&chatSt.Written)
			t0 := time.Now()
			for _, v := range viewers {
				v.mu.Lock()
				v.stormDrop = true
				c := v.conn
				v.mu.Unlock()
				c.CloseNow()
			}
			res := svStorm{Viewers: len(viewers)}
			deadline := t0.Add(time.Minute)
			for {
				time.Sleep(20 * time.Millisecond)
				var last time.Time
				back := true
				for _, v := range viewers {
					v.mu.Lock()
					at := v.connectedAt
					v.mu.Unlock()
					if !at.After(t0) {
						back = false
						break
					}
					if at.After(last) {
						last = at
					}
				}
				if !back {
					if time.Now().After(deadline) {
						res.TimedOut = true
						break
					}
					continue
				}
				if res.BackSeconds == 0 {
					res.BackSeconds = last.Sub(t0).Seconds()
				}
				if res.ReadySeconds == 0 {
					var lastReady time.Time
					for _, v := range viewers {
						v.mu.Lock()
						at := v.readyAt
						v.mu.Unlock()
						if !at.After(t0) {
							lastReady = time.Time{}
							break
						}
						if at.After(lastReady) {
							lastReady = at
						}
					}
					if !lastReady.IsZero() {
						res.ReadySeconds = lastReady.Sub(t0).Seconds()
					}
				}
				var miss int64
				limit := sentSoFar()
				for _, v := range viewers {
					miss += missing(v, last.UnixNano(), limit)
				}
				if miss == 0 && res.DoneSeconds == 0 {
					res.DoneSeconds = time.Since(t0).Seconds()
				}
				// Done, and every socket's "ready" seen (or 5 s more without).
				if res.DoneSeconds > 0 && (res.ReadySeconds > 0 || time.Since(t0).Seconds() > res.DoneSeconds+5) {
					break
				}
				if time.Now().After(deadline) {
					res.TimedOut, res.Missing = true, miss
					break
				}
			}
			res.Written = atomic.LoadInt64(&chatSt.Written) - written0
			emit(res)
		case "quit":
			if writing {
				close(stopWriters)
				writersWG.Wait()
			}
			// Every message written reaches every viewer: wait up to 10 s for the last ones.
			var lost int64
			if *chat {
				deadline := time.Now().Add(10 * time.Second)
				for {
					lost = 0
					limit := sentSoFar()
					for _, v := range viewers {
						lost += missing(v, 0, limit)
					}
					if lost == 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			quitting.Store(true)
			r := report(start, true)
			r.Lost = lost
			cancel()
			for _, v := range viewers {
				v.mu.Lock()
				if v.conn != nil {
					v.conn.CloseNow()
				}
				v.mu.Unlock()
			}
			emit(r)
			return
		}
	}
}

type hlsSegment struct {
	uri string
	dur time.Duration
}

// parsePlaylist returns a media playlist's target duration and its segments.
func parsePlaylist(b []byte) (time.Duration, []hlsSegment) {
	target := 2 * time.Second
	var (
		segs []hlsSegment
		dur  time.Duration
	)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "#EXT-X-TARGETDURATION:"); ok {
			if s, err := strconv.Atoi(v); err == nil && s > 0 {
				target = time.Duration(s) * time.Second
			}
		} else if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			f, _ := strconv.ParseFloat(strings.SplitN(v, ",", 2)[0], 64)
			dur = time.Duration(f * float64(time.Second))
		} else if line != "" && !strings.HasPrefix(line, "#") {
			segs = append(segs, hlsSegment{line, dur})
		}
	}
	return target, segs
}

// retryAfter is a 429's Retry-After in seconds, at least one.
func retryAfter(res *http.Response) int {
	s, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || s < 1 {
		return 1
	}
	return s
}
