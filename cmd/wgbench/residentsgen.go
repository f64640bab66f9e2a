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
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"

	"github.com/weltgewebe/weltgewebe/instance/geo"
)

// The residents (`wgbench _residents`, a process of its own so that its CPU is not the
// server's). Each resident is what a logged-in resident's browser tab on the map does on the
// wire, through nginx:
//
//   - Arriving, it opens the map at a random place in town at zoom 15 (a phone's view, about
//     500 m × 700 m): GET /api/map/cells for the view's cells (what the app asks), GET
//     /api/knoten?bbox= for the Knoten in the view (the bbox read), and /ws/map, subscribed to
//     the cells, held for the whole run (reconnected with its cursor if it drops).
//   - Then, after each think time, one action, drawn with these weights (residentActions):
//     pan the map to a neighbouring view (the two reads again, the socket re-subscribed) 30 %,
//     open a Knoten in the view (the Knoten and its Fäden) 20 %, read the Anträge (the list,
//     one of them, its Abstimmung if it has one) 15 %, vote in an open Abstimmung (read it,
//     vote) 8 %, spin a Faden to a Knoten in the view 8 %, the Nähstübchen 14 % (the first
//     time it opens the chat: /ws/chat held from then on, and the last 50 messages; one time
//     in four it writes a message), place a Knoten in the view 5 %.
//   - Think time: exponential with the mean asked (default 15 s), cut to a fifth of it at the
//     least and four times it at the most. The seed (003 §G) gives gates, not behaviour; 15 s
//     between clicks is a resident reading what is on the map, and the usual order of think
//     times in web load tests. Each resident's first action comes at a random point of its
//     first think time, so that they do not act in step.
//
// Each resident has its own HTTP transport with one keep-alive connection (over HTTPS, HTTP/2
// carries a tab's requests over one connection; the sockets are connections of their own) and
// its own source address among 127.3.0.1–127.3.249.250: nginx forwards it and the instance
// counts its per-address limits per resident, as for residents at home. The residents are
// spread over the nginx processes (two, as production's worker_processes auto on two cores).
// Requests carry Sec-Fetch-Site: same-origin, as a browser's do.
//
// Protocol with the parent, one line each:
//
//	child: ready {…}       every resident has arrived and holds the state of its view
//	parent: measure        from now on requests are recorded
//	parent: report         → {…the measured phase…}
//	parent: quit           the residents leave; the process exits

// residentsPlan is what the parent gives the residents' process (as a JSON file).
type residentsPlan struct {
	Bases        []string        `json:"bases"` // the nginx processes' http:// URLs; resident i uses i modulo their number
	Residents    []residentLogin `json:"residents"`
	Abstimmungen []string        `json:"abstimmungen"` // open ones, to vote in
	Think        time.Duration   `json:"think"`
	Ramp         time.Duration   `json:"ramp"` // arrivals spread over it
	Seed         uint64          `json:"seed"`
	// Box is the town (minLat, minLon, maxLat, maxLon); zero: Leipzig (town).
	Box [4]float64 `json:"box"`
	// Cycle makes each resident go through the actions in turn instead of drawing them, and
	// MinActions makes the report wait until every resident has acted that often since
	// measure: the go test's run, which then covers every kind whatever the machine's speed.
	Cycle      bool `json:"cycle"`
	MinActions int  `json:"min_actions"`
}

func (p residentsPlan) town() (minLat, minLon, maxLat, maxLon float64) {
	if p.Box == [4]float64{} {
		return town.minLat, town.minLon, town.maxLat, town.maxLon
	}
	return p.Box[0], p.Box[1], p.Box[2], p.Box[3]
}

type residentLogin struct {
	Cookie string `json:"cookie"`
	ID     string `json:"id"`
}

// residentActions are the actions' weights in percent (see above).
var residentActions = []struct {
	name   string
	weight int
}{{"pan", 30}, {"knoten", 20}, {"antraege", 15}, {"vote", 8}, {"faden", 8}, {"chat", 14}, {"place", 5}}

// The request kinds reported, in the order of the tables; ws_* and map_delta are not HTTP.
var residentKinds = []string{"map_cells", "knoten_bbox", "knoten_get", "knoten_faeden", "antraege_list", "antrag_get",
	"abstimmung_get", "vote", "faden_spin", "knoten_place", "chat_list", "chat_write", "ws_map_open", "ws_map_state", "ws_chat_open",
	"map_delta"}

func httpKind(k string) bool { return !strings.HasPrefix(k, "ws_") && k != "map_delta" }

type kindReport struct {
	Count    int64            `json:"count"`
	Failed   int64            `json:"failed"`   // no answer, or not the status a resident expects
	Statuses map[string]int64 `json:"statuses"` // the failures by status ("0": no answer)
	P50      float64          `json:"p50_ms"`
	P95      float64          `json:"p95_ms"`
	P99      float64          `json:"p99_ms"`
	Max      float64          `json:"max_ms"`
}

type residentsReport struct {
	Seconds float64               `json:"seconds"`
	Kinds   map[string]kindReport `json:"kinds"`
	HTTP    kindReport            `json:"http"` // every HTTP request together
	Actions int64                 `json:"actions"`
	Sockets int64                 `json:"sockets"` // open at the report
	Dropped int64                 `json:"dropped"` // sockets that closed without the resident closing them
	Opened  int64                 `json:"opened"`  // sockets opened in the phase
	Errors  []string              `json:"errors,omitempty"`
}

type residentsReady struct {
	Seconds float64 `json:"seconds"`
	Late    int     `json:"late"` // residents without their view's state when ready was said
}

// recorder collects latencies per kind while measuring.
type recorder struct {
	measuring atomic.Bool
	mu        sync.Mutex
	lat       map[string][]float64
	failed    map[string]map[int]int64
	errs      []string
	actions   atomic.Int64
	dropped   atomic.Int64
	opened    atomic.Int64
	sockets   atomic.Int64
	start     time.Time
}

func (r *recorder) add(kind string, d time.Duration, status int, ok bool, detail string) {
	if !r.measuring.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat[kind] = append(r.lat[kind], float64(d.Microseconds())/1000)
	if !ok {
		if r.failed[kind] == nil {
			r.failed[kind] = map[int]int64{}
		}
		r.failed[kind][status]++
		if len(r.errs) < 20 {
			r.errs = append(r.errs, kind+": "+detail)
		}
	}
}

func (r *recorder) begin() {
	r.mu.Lock()
	r.lat, r.failed, r.errs = map[string][]float64{}, map[string]map[int]int64{}, nil
	r.start = time.Now()
	r.mu.Unlock()
	r.actions.Store(0)
	r.dropped.Store(0)
	r.opened.Store(0)
	r.measuring.Store(true)
}

func summarize(lat []float64, failed map[int]int64) kindReport {
	slices.Sort(lat)
	k := kindReport{Count: int64(len(lat)), Statuses: map[string]int64{}}
	for s, n := range failed {
		k.Failed += n
		k.Statuses[strconv.Itoa(s)] = n
	}
	if len(lat) > 0 {
		at := func(p float64) float64 { return lat[int(math.Round(float64(len(lat)-1)*p))] }
		k.P50, k.P95, k.P99, k.Max = at(.5), at(.95), at(.99), lat[len(lat)-1]
	}
	return k
}

func (r *recorder) report() residentsReport {
	r.measuring.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := residentsReport{Seconds: time.Since(r.start).Seconds(), Kinds: map[string]kindReport{}, Actions: r.actions.Load(),
		Sockets: r.sockets.Load(), Dropped: r.dropped.Load(), Opened: r.opened.Load(), Errors: r.errs}
	var all []float64
	allFailed := map[int]int64{}
	for k, l := range r.lat {
		if httpKind(k) {
			all = append(all, l...)
			for s, n := range r.failed[k] {
				allFailed[s] += n
			}
		}
		rep.Kinds[k] = summarize(l, r.failed[k])
	}
	rep.HTTP = summarize(all, allFailed)
	return rep
}

type resident struct {
	i      int
	base   string // the nginx it talks to
	login  residentLogin
	hc     *http.Client
	dialer *net.Dialer
	rng    *rand.Rand
	center geo.Point
	cells  []string
	knoten []string // ids of the Knoten in the view

	mu       sync.Mutex
	mapConn  *websocket.Conn
	cursor   string
	pending  int       // states awaited since the last subscribe
	subAt    time.Time // when it was sent
	subDone  chan struct{}
	seen     map[string]bool
	chatConn *websocket.Conn
	leaving  atomic.Bool
	acted    atomic.Int64 // actions since measure
	next     int          // the next action in Cycle mode
}

type residentsGen struct {
	plan  residentsPlan
	ctx   context.Context
	rec   *recorder
	measA atomic.Int64 // unix nanos the measured phase began (map_delta counts Knoten made after it)
}

func runResidents(args []string, in io.Reader, out io.Writer) {
	fs := flag.NewFlagSet("_residents", flag.ExitOnError)
	planFile := fs.String("plan", "", "JSON file of the residentsPlan")
	check(fs.Parse(args))
	b, err := os.ReadFile(*planFile)
	check(err)
	var plan residentsPlan
	check(json.Unmarshal(b, &plan))

	// A load generator, not a server: collect garbage rarely.
	debug.SetGCPercent(400)
	raiseFileLimit()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &residentsGen{plan: plan, ctx: ctx, rec: &recorder{}}
	g.rec.begin()
	g.rec.measuring.Store(false)

	residents := make([]*resident, len(plan.Residents))
	for i := range residents {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 3, byte(i/250), byte(1+i%250))}, Timeout: 30 * time.Second}
		r := &resident{i: i, login: plan.Residents[i], dialer: d, base: plan.Bases[i%len(plan.Bases)], rng: rand.New(rand.NewPCG(plan.Seed, uint64(i))), seen: map[string]bool{}}
		r.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
			MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: 90 * time.Second}}
		minLat, minLon, maxLat, maxLon := plan.town()
		r.center = geo.Point{Lat: minLat + r.rng.Float64()*(maxLat-minLat), Lon: minLon + r.rng.Float64()*(maxLon-minLon)}
		r.next = i
		residents[i] = r
	}
	start := time.Now()
	var arrived sync.WaitGroup
	var wg sync.WaitGroup
	for i, r := range residents {
		arrived.Add(1)
		wg.Add(1)
		at := start.Add(time.Duration(int64(plan.Ramp) * int64(i) / int64(max(1, len(residents)))))
		go func() {
			defer wg.Done()
			g.live(r, at, &arrived)
		}()
	}
	arrived.Wait()
	late := 0
	for _, r := range residents {
		r.mu.Lock()
		ch := r.subDone
		r.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(time.Until(start.Add(plan.Ramp + time.Minute))):
			late++
		}
	}
	rb, _ := json.Marshal(residentsReady{Seconds: time.Since(start).Seconds(), Late: late})
	fmt.Fprintf(out, "ready %s\n", rb)

	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "measure":
			g.measA.Store(time.Now().UnixNano())
			for _, r := range residents {
				r.acted.Store(0)
			}
			g.rec.begin()
		case "report":
			for _, r := range residents {
				for plan.MinActions > 0 && r.acted.Load() < int64(plan.MinActions) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			b, _ := json.Marshal(g.rec.report())
			fmt.Fprintln(out, string(b))
		case "quit":
			cancel()
			for _, r := range residents {
				r.leaving.Store(true)
				r.mu.Lock()
				for _, c := range []*websocket.Conn{r.mapConn, r.chatConn} {
					if c != nil {
						c.CloseNow()
					}
				}
				r.mu.Unlock()
			}
			wg.Wait()
			return
		}
	}
}

// live is one resident's visit: arrive, open the map, then act and think until the end.
func (g *residentsGen) live(r *resident, at time.Time, arrived *sync.WaitGroup) {
	r.mu.Lock()
	r.subDone = make(chan struct{})
	r.mu.Unlock()
	time.Sleep(time.Until(at))
	g.openMap(r)
	arrived.Done()
	think := func() time.Duration {
		t := time.Duration(r.rng.ExpFloat64() * float64(g.plan.Think))
		return min(max(t, g.plan.Think/5), 4*g.plan.Think)
	}
	wait := time.Duration(r.rng.Float64() * float64(think()))
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(wait):
		}
		g.act(r)
		wait = think()
	}
}

func (g *residentsGen) act(r *resident) {
	defer r.acted.Add(1)
	g.rec.actions.Add(1)
	n := r.rng.IntN(100)
	name := ""
	for _, a := range residentActions {
		if n < a.weight {
			name = a.name
			break
		}
		n -= a.weight
	}
	if g.plan.Cycle {
		name = residentActions[r.next%len(residentActions)].name
		r.next++
	}
	if len(r.knoten) == 0 && (name == "knoten" || name == "faden") {
		name = "pan"
	}
	if len(g.plan.Abstimmungen) == 0 && name == "vote" {
		name = "antraege"
	}
	switch name {
	case "pan":
		const dLat, dLon = 0.0064, 0.0100 // one view
		p := geo.Point{Lat: r.center.Lat + (r.rng.Float64()*2-1)*dLat, Lon: r.center.Lon + (r.rng.Float64()*2-1)*dLon}
		minLat, minLon, maxLat, maxLon := g.plan.town()
		p.Lat = min(max(p.Lat, minLat), maxLat)
		p.Lon = min(max(p.Lon, minLon), maxLon)
		r.center = p
		g.view(r)
	case "knoten":
		id := r.knoten[r.rng.IntN(len(r.knoten))]
		g.do(r, "knoten_get", http.MethodGet, "/api/knoten/"+id, "", http.StatusOK)
		g.do(r, "knoten_faeden", http.MethodGet, "/api/knoten/"+id+"/faeden", "", http.StatusOK)
	case "antraege":
		b, ok := g.do(r, "antraege_list", http.MethodGet, "/api/antraege?limit=100", "", http.StatusOK)
		list := gjson.GetBytes(b, "antraege").Array()
		if !ok || len(list) == 0 {
			return
		}
		a := list[r.rng.IntN(min(len(list), 20))] // the newest twenty are what one sees
		g.do(r, "antrag_get", http.MethodGet, "/api/antraege/"+a.Get("id").Str, "", http.StatusOK)
		if ab := a.Get("abstimmung_id").Str; ab != "" {
			g.do(r, "abstimmung_get", http.MethodGet, "/api/abstimmungen/"+ab, "", http.StatusOK)
		}
	case "vote":
		ab := g.plan.Abstimmungen[r.rng.IntN(len(g.plan.Abstimmungen))]
		g.do(r, "abstimmung_get", http.MethodGet, "/api/abstimmungen/"+ab, "", http.StatusOK)
		choice := []string{"yes", "no", "abstain"}[r.rng.IntN(3)]
		g.do(r, "vote", http.MethodPost, "/api/abstimmungen/"+ab+"/vote", `{"choice":"`+choice+`"}`, http.StatusOK)
	case "faden":
		id := r.knoten[r.rng.IntN(len(r.knoten))]
		typ := []string{"gespraech", "gestaltung", "veraenderung"}[r.rng.IntN(3)]
		g.do(r, "faden_spin", http.MethodPost, "/api/faeden", `{"to_knoten_id":"`+id+`","type":"`+typ+`","is_twisted":false}`, http.StatusCreated)
	case "chat":
		r.mu.Lock()
		open := r.chatConn != nil
		r.mu.Unlock()
		if !open {
			g.openChat(r)
		}
		// One visit in four writes: the Nähstübchen is one room for the whole town, and a
		// room everyone writes to at every visit would be read by no one (5,000 residents
		// would write 47 messages a second; so, 12).
		if !g.plan.Cycle && r.rng.IntN(4) != 0 {
			return
		}
		g.do(r, "chat_write", http.MethodPost, "/api/chat", fmt.Sprintf(`{"text":"Hallo aus der Nachbarschaft, Nachricht %d"}`, r.rng.IntN(1e6)), http.StatusCreated)
	case "place":
		p := geo.Point{Lat: r.center.Lat + (r.rng.Float64()*2-1)*0.003, Lon: r.center.Lon + (r.rng.Float64()*2-1)*0.0045}
		body := fmt.Sprintf(`{"type":"idee","title":"Idee von Nachbarin %d","lat":%.6f,"lon":%.6f}`, r.i, p.Lat, p.Lon)
		g.do(r, "knoten_place", http.MethodPost, "/api/knoten", body, http.StatusCreated)
	}
}

// do sends one request as the resident, reads the answer whole and records it.
func (g *residentsGen) do(r *resident, kind, method, path, body string, want int) ([]byte, bool) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(g.ctx, method, r.base+path, rd)
	check(err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(&http.Cookie{Name: "wg_session", Value: r.login.Cookie})
	t0 := time.Now()
	res, err := r.hc.Do(req)
	if err != nil {
		if g.ctx.Err() == nil {
			g.rec.add(kind, time.Since(t0), 0, false, err.Error())
		}
		return nil, false
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(t0)
	ok := err == nil && res.StatusCode == want
	detail := ""
	if !ok {
		detail = fmt.Sprintf("%s %s: %d %s %v", method, path, res.StatusCode, bytes.TrimSpace(b[:min(len(b), 200)]), err)
	}
	if g.ctx.Err() == nil {
		g.rec.add(kind, d, res.StatusCode, ok, detail)
	}
	return b, ok
}

// view reads the cells and the Knoten of the resident's view and points its map socket at the
// cells.
func (g *residentsGen) view(r *resident) {
	const dLat, dLon = 0.0032, 0.0050 // half a phone's view at zoom 15
	p := r.center
	bbox := fmt.Sprintf("%.5f,%.5f,%.5f,%.5f", p.Lon-dLon, p.Lat-dLat, p.Lon+dLon, p.Lat+dLat)
	b, ok := g.do(r, "map_cells", http.MethodGet, "/api/map/cells?bbox="+bbox+"&zoom=15", "", http.StatusOK)
	var cells []string
	if ok {
		for _, c := range gjson.GetBytes(b, "cells").Array() {
			cells = append(cells, c.Str)
		}
	}
	b, ok = g.do(r, "knoten_bbox", http.MethodGet, "/api/knoten?bbox="+url.QueryEscape(bbox), "", http.StatusOK)
	if ok {
		r.knoten = r.knoten[:0]
		gjson.GetBytes(b, "knoten").ForEach(func(_, k gjson.Result) bool {
			r.knoten = append(r.knoten, k.Get("id").Str)
			return len(r.knoten) < 50
		})
	}
	if len(cells) == 0 {
		return
	}
	r.mu.Lock()
	conn := r.mapConn
	var gone []string
	for _, c := range r.cells {
		if !slices.Contains(cells, c) {
			gone = append(gone, c)
		}
	}
	var fresh []string
	for _, c := range cells {
		if !slices.Contains(r.cells, c) {
			fresh = append(fresh, c)
		}
	}
	r.cells = cells
	r.mu.Unlock()
	if conn == nil {
		return
	}
	if len(gone) > 0 {
		m, _ := json.Marshal(map[string]any{"type": "unsubscribe", "cells": gone})
		_ = conn.Write(g.ctx, websocket.MessageText, m)
	}
	if len(fresh) > 0 {
		g.subscribe(r, conn, fresh, "")
	}
}

func (g *residentsGen) subscribe(r *resident, conn *websocket.Conn, cells []string, cursor string) {
	r.mu.Lock()
	r.pending, r.subAt = len(cells), time.Now()
	r.mu.Unlock()
	msg := map[string]any{"type": "subscribe", "cells": cells}
	if cursor != "" {
		msg["cursor"] = cursor
	}
	m, _ := json.Marshal(msg)
	_ = conn.Write(g.ctx, websocket.MessageText, m)
}

func (g *residentsGen) dial(r *resident, u string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(g.ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DialContext: r.dialer.DialContext}}
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc})
	if err == nil {
		conn.SetReadLimit(16 << 20)
		g.rec.opened.Add(1)
		g.rec.sockets.Add(1)
	}
	return conn, err
}

// openMap is the resident's arrival: the view's reads, then the map socket subscribed to its
// cells.
func (g *residentsGen) openMap(r *resident) {
	g.view(r)
	g.connectMap(r, "")
}

func (g *residentsGen) connectMap(r *resident, cursor string) {
	for attempt := 0; g.ctx.Err() == nil; attempt++ {
		t0 := time.Now()
		conn, err := g.dial(r, strings.Replace(r.base, "http://", "ws://", 1)+"/ws/map")
		if err != nil {
			g.rec.add("ws_map_open", time.Since(t0), 0, false, err.Error())
			time.Sleep(time.Duration(500+r.rng.IntN(1000)) * time.Millisecond)
			continue
		}
		g.rec.add("ws_map_open", time.Since(t0), 101, true, "")
		r.mu.Lock()
		r.mapConn = conn
		cells := slices.Clone(r.cells)
		r.mu.Unlock()
		go g.readMap(r, conn)
		if len(cells) > 0 {
			g.subscribe(r, conn, cells, cursor)
		} else {
			r.mu.Lock()
			if r.subDone != nil {
				select {
				case <-r.subDone:
				default:
					close(r.subDone)
				}
			}
			r.mu.Unlock()
		}
		return
	}
}

func (g *residentsGen) readMap(r *resident, conn *websocket.Conn) {
	var buf bytes.Buffer
	for {
		data, err := readFrame(g.ctx, conn, &buf)
		if err != nil {
			g.rec.sockets.Add(-1)
			if g.ctx.Err() != nil || r.leaving.Load() {
				return
			}
			g.rec.dropped.Add(1)
			g.rec.add("ws_map_open", 0, -1, false, "map socket dropped: "+err.Error())
			r.mu.Lock()
			cursor := r.cursor
			r.mu.Unlock()
			time.Sleep(time.Duration(500+rand.IntN(1000)) * time.Millisecond)
			g.connectMap(r, cursor)
			return
		}
		now := time.Now()
		if c := gjson.GetBytes(data, "cursor"); c.Exists() {
			r.mu.Lock()
			r.cursor = c.Str
			r.mu.Unlock()
		}
		switch gjson.GetBytes(data, "type").Str {
		case "state":
			g.stateIn(r, now)
		case "delta":
			if gjson.GetBytes(data, "catchup").Bool() {
				g.stateIn(r, now)
				continue
			}
			since := g.measA.Load()
			if since == 0 || !g.rec.measuring.Load() {
				continue
			}
			gjson.GetBytes(data, "knoten").ForEach(func(_, k gjson.Result) bool {
				id := k.Get("id").Str
				if r.seen[id] {
					return true
				}
				r.seen[id] = true
				if at, err := time.Parse(time.RFC3339Nano, k.Get("created_at").Str); err == nil && at.UnixNano() > since {
					g.rec.add("map_delta", now.Sub(at), 0, true, "")
				}
				return true
			})
		case "resync":
			r.mu.Lock()
			cells, cursor := slices.Clone(r.cells), r.cursor
			r.mu.Unlock()
			if gjson.GetBytes(data, "reason").Str == "hot" {
				cursor = ""
			}
			g.subscribe(r, conn, cells, cursor)
		case "error":
			g.rec.add("ws_map_state", 0, -2, false, string(data))
		}
	}
}

// stateIn counts a cell's state (or catch-up) in; the last one of a subscription records how
// long the subscription took.
func (g *residentsGen) stateIn(r *resident, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending <= 0 {
		return
	}
	if r.pending--; r.pending == 0 {
		g.rec.add("ws_map_state", now.Sub(r.subAt), 0, true, "")
		if r.subDone != nil {
			select {
			case <-r.subDone:
			default:
				close(r.subDone)
			}
		}
	}
}

// openChat opens the Nähstübchen as the app does: the socket first, its "ready", then the last
// messages.
func (g *residentsGen) openChat(r *resident) {
	t0 := time.Now()
	conn, err := g.dial(r, strings.Replace(r.base, "http://", "ws://", 1)+"/ws/chat")
	if err != nil {
		g.rec.add("ws_chat_open", time.Since(t0), 0, false, err.Error())
		return
	}
	var buf bytes.Buffer
	data, err := readFrame(g.ctx, conn, &buf)
	if err != nil || gjson.GetBytes(data, "type").Str != "ready" {
		g.rec.add("ws_chat_open", time.Since(t0), 0, false, fmt.Sprintf("no ready: %s %v", data, err))
		conn.CloseNow()
		g.rec.sockets.Add(-1)
		return
	}
	g.rec.add("ws_chat_open", time.Since(t0), 101, true, "")
	r.mu.Lock()
	r.chatConn = conn
	r.mu.Unlock()
	go func() {
		var buf bytes.Buffer
		for {
			if _, err := readFrame(g.ctx, conn, &buf); err != nil {
				g.rec.sockets.Add(-1)
				if g.ctx.Err() == nil && !r.leaving.Load() {
					g.rec.dropped.Add(1)
					g.rec.add("ws_chat_open", 0, -1, false, "chat socket dropped: "+err.Error())
					r.mu.Lock()
					r.chatConn = nil // the next chat action opens it again
					r.mu.Unlock()
				}
				return
			}
		}
	}()
	g.do(r, "chat_list", http.MethodGet, "/api/chat?limit=50", "", http.StatusOK)
}

// residentsProc is the residents' process (or, in the go test, goroutine).
type residentsProc struct {
	viewersChild
}

func startResidents(planFile string, inProcess bool) (*residentsProc, residentsReady) {
	c, line := startGenerator("_residents", runResidents, []string{"-plan", planFile}, inProcess, 1<<20)
	rest, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		log.Fatalf("residents: %q", line)
	}
	var r residentsReady
	check(json.Unmarshal([]byte(rest), &r))
	return &residentsProc{*c}, r
}
