package main

import (
	"bufio"
	bytes_ "bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"

	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// The map measurement's clients run as a separate process (`wgbench _mapclients`), so that
// their cost is not counted as the server's. The parent talks to it over stdin/stdout, one
// word or JSON object a line:
//
//	child: ready {"connected":…}     all clients connected and hold the state of their cells
//	parent: measure                  start recording delivery latency
//	parent: count                    → messages received so far
//	parent: report                   → {"latencies_ms": …}
//	parent: storm                    drop every connection, reconnect with the last cursor
//	child: {"storm": …}              when every client is back and caught up
//	parent: quit

// town is where the benchmark's map lives: Leipzig, about 15 km × 11 km.
var town = struct{ minLat, minLon, maxLat, maxLon float64 }{51.29, 12.27, 51.39, 12.48}

func randomPoint(r *rand.Rand) geo.Point {
	return geo.Point{Lat: town.minLat + r.Float64()*(town.maxLat-town.minLat), Lon: town.minLon + r.Float64()*(town.maxLon-town.minLon)}
}

// viewport is a phone's view at zoom 15 around p (about 500 m × 700 m) and its cells.
func viewport(p geo.Point) []string {
	const dLat, dLon = 0.0032, 0.0050
	cells, err := geo.CoverBox(p.Lon-dLon, p.Lat-dLat, p.Lon+dLon, p.Lat+dLat, geo.ResolutionForZoom(15), 300)
	check(err)
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = geo.CellHex(c)
	}
	return out
}

type mapClient struct {
	cells  []string
	conn   *websocket.Conn
	cursor atomic.Pointer[string]
	states atomic.Int32 // state or catch-up messages received since the last (re)subscribe
	seen   map[string]bool
}

// readFrame reads a socket's next message into buf (reused, so that a thousand clients
// allocate little) and returns its bytes, valid until the next call.
func readFrame(ctx context.Context, conn *websocket.Conn, buf *bytes_.Buffer) ([]byte, error) {
	_, r, err := conn.Reader(ctx)
	if err != nil {
		return nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type stormResult struct {
	Clients    int     `json:"clients"`
	Reconnects int     `json:"reconnects"`
	Seconds    float64 `json:"seconds"`
	Catchups   int64   `json:"catchups"`
	States     int64   `json:"states"`
}

type latencyReport struct {
	LatenciesMS      []float64 `json:"latencies_ms"`
	Messages         int64     `json:"messages"`
	Bytes            int64     `json:"bytes"`
	MeasuredMessages int64     `json:"measured_messages"` // received between measure and report
	CPUSeconds       float64   `json:"cpu_seconds"`       // this process's, between measure and report
}

func runMapClients(args []string) {
	fs := flag.NewFlagSet("_mapclients", flag.ExitOnError)
	target := fs.String("target", "", "ws:// URL of /ws/map")
	n := fs.Int("n", 1000, "clients")
	seed := fs.Uint64("seed", 1, "random seed for the viewports")
	addr := fs.Int("addr", 0, "which block of 200 source addresses to use (one per process)")
	check(fs.Parse(args))
	raiseFileLimit() // 20,000 clients are 20,000 sockets; the machine's default limit is 20,000 files

	// A load generator, not a server: collect garbage rarely.
	debug.SetGCPercent(400)
	r := rand.New(rand.NewPCG(*seed, 2))
	clients := make([]*mapClient, *n)
	for i := range clients {
		clients[i] = &mapClient{cells: viewport(randomPoint(r)), seen: map[string]bool{}}
	}
	var (
		measuring atomic.Bool
		mu        sync.Mutex
		latencies []float64
		messages  atomic.Int64
		bytes     atomic.Int64
		catchups  atomic.Int64
		states    atomic.Int64
	)
	// Spread the clients' source addresses so that 10k connections do not exhaust the
	// ephemeral ports of one address pair.
	dialer := func(i int) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(1+*addr%100), 1, byte(1+i%200))}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	read := func(c *mapClient) {
		var buf bytes_.Buffer // one buffer per client, reused: the clients allocate little
		for {
			data, err := readFrame(context.Background(), c.conn, &buf)
			if err != nil {
				return
			}
			now := time.Now()
			messages.Add(1)
			bytes.Add(int64(len(data)))
			// The clients share the server's two cores, so they read only what they need, and
			// without decoding whole messages (gjson scans in place).
			typ := gjson.GetBytes(data, "type").Str
			if cur := gjson.GetBytes(data, "cursor"); cur.Exists() {
				s := cur.Str
				c.cursor.Store(&s)
			}
			switch typ {
			case "state":
				states.Add(1)
				c.states.Add(1)
			case "delta":
				if gjson.GetBytes(data, "catchup").Bool() {
					catchups.Add(1)
					c.states.Add(1)
					continue
				}
				if !measuring.Load() {
					continue
				}
				var fresh []float64
				gjson.GetBytes(data, "knoten").ForEach(func(_, k gjson.Result) bool {
					id := k.Get("id").Str
					if !c.seen[id] { // a Knoten's first appearance: placed since the last batch
						c.seen[id] = true
						if at, err := time.Parse(time.RFC3339Nano, k.Get("created_at").Str); err == nil {
							fresh = append(fresh, float64(now.Sub(at).Microseconds())/1000)
						}
					}
					return true
				})
				mu.Lock()
				latencies = append(latencies, fresh...)
				mu.Unlock()
			case "resync":
				log.Printf("mapclients: resync: %s", data)
			}
		}
	}
	connect := func(i int, c *mapClient, cursor string) {
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			conn, _, err := websocket.Dial(ctx, *target, &websocket.DialOptions{HTTPClient: dialer(i)})
			cancel()
			if err != nil {
				if attempt > 20 {
					log.Fatalf("mapclients: dial: %v", err)
				}
				time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
				continue
			}
			conn.SetReadLimit(16 << 20)
			c.conn = conn
			c.states.Store(0)
			go read(c)
			msg := map[string]any{"type": "subscribe", "cells": c.cells}
			if cursor != "" {
				msg["cursor"] = cursor
			}
			b, _ := json.Marshal(msg)
			check(conn.Write(context.Background(), websocket.MessageText, b))
			return
		}
	}
	connectAll := func(withCursor bool) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 200)
		for i, c := range clients {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				cursor := ""
				if p := c.cursor.Load(); withCursor && p != nil {
					cursor = *p
				}
				connect(i, c, cursor)
			}()
		}
		wg.Wait()
		for _, c := range clients { // every cell answered
			for int(c.states.Load()) < len(c.cells) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}

	var measured0 int64
	var cpu0 time.Duration
	start := time.Now()
	connectAll(false)
	fmt.Printf("ready {\"seconds\": %.2f}\n", time.Since(start).Seconds())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case "measure":
			measured0, cpu0 = messages.Load(), processCPU(os.Getpid())
			measuring.Store(true)
		case "count":
			fmt.Println(messages.Load())
		case "report":
			measuring.Store(false)
			mu.Lock()
			l := slices.Clone(latencies)
			latencies = nil
			mu.Unlock()
			b, _ := json.Marshal(latencyReport{LatenciesMS: l, Messages: messages.Load(), Bytes: bytes.Load(),
				MeasuredMessages: messages.Load() - measured0, CPUSeconds: (processCPU(os.Getpid()) - cpu0).Seconds()})
			fmt.Println(string(b))
		case "storm":
			for _, c := range clients {
				c.conn.CloseNow()
			}
			catchups.Store(0)
			states.Store(0)
			t := time.Now()
			connectAll(true)
			b, _ := json.Marshal(stormResult{Clients: len(clients), Reconnects: len(clients), Seconds: time.Since(t).Seconds(),
				Catchups: catchups.Load(), States: states.Load()})
			fmt.Println(string(b))
		case "quit":
			for _, c := range clients {
				c.conn.CloseNow()
			}
			return
		}
	}
}
