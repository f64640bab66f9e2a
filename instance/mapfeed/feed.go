// Package mapfeed is the live map: a WebSocket feed (/ws/map) that sends each client the full
// state of the H3 cells it looks at, then what changes there, batched per cell.
//
// One hub goroutine per process owns all subscriptions. It follows the event log like every
// other consumer (eventstore.Store.Follow: never a skipped or repeated event, and another
// replica's writes arrive the same way as our own), notes which objects changed in which
// subscribed cells, and every batch interval reads those objects as they now stand — one query
// for all cells — encodes each cell's delta once and hands the same bytes to every subscriber.
// Database work is therefore proportional to what changed and to the cells subscribed, never
// to the number of clients; a reconnect storm is answered from an in-memory ring of recent
// changes and from state loads shared by every client of a cell.
//
// The protocol is in docs/MAPFEED.md.
package mapfeed

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
)

// Options tune the feed. Zero values take the defaults.
type Options struct {
	Batch      time.Duration // how often deltas go out (default 2.5 s)
	MaxCells   int           // cells one connection may subscribe (default 300)
	QueueLimit int           // messages waiting for a slow client before it must resync (default 256)
	HotLimit   int           // objects one cell's delta may carry; more and its clients reload it (default 1000)
	Keep       time.Duration // how long recent changes are kept for rejoining clients (default 15 min)
	KeepMax    int           // and at most how many (default 200,000)
	Log        *slog.Logger
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 2500 * time.Millisecond
	}
	if o.MaxCells <= 0 {
		o.MaxCells = 300
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = 256
	}
	if o.HotLimit <= 0 {
		o.HotLimit = 1000
	}
	if o.Keep <= 0 {
		o.Keep = 15 * time.Minute
	}
	if o.KeepMax <= 0 {
		o.KeepMax = 200_000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Feed is the live map of one process.
type Feed struct {
	opts     Options
	pool     *pgxpool.Pool
	events   *eventstore.Store
	knoten   *knoten.Service
	accounts *account.Service

	reqs    chan request
	head    atomic.Pointer[eventstore.Position] // the hub's position, for hello messages
	ready   chan struct{}                       // closed once head holds where the hub starts
	stopped chan struct{}                       // closed when Run returns

	// Owned by the hub goroutine (run).
	pos       eventstore.Position
	cells     map[int64]*cell
	perRes    [geo.MaxMapResolution + 1]int // subscribed cells per resolution
	ring      ring
	lastCell  map[uuid.UUID]int64 // where each Garnrolle the hub has shown was (resolution 15)
	changedAc map[uuid.UUID]eventstore.Position
	// The Ortskonto's cell (resolution 15) as of the hub's position, where its Goldfäden are;
	// kontoKnown is false while the hub could not learn it (see Run).
	kontoCell  int64
	kontoKnown bool
	clients    map[*client]*clientSubs
	stats      Stats
	// Subscriptions waiting to be answered together (hub.go).
	wantStates   []stateWant
	wantCatchups []catchupWant
	loadTimer    *time.Timer
}

// Batch is the feed's batch interval.
func (f *Feed) Batch() time.Duration { return f.opts.Batch }

// MaxCells is how many cells one connection may subscribe.
func (f *Feed) MaxCells() int { return f.opts.MaxCells }

// Stats count what the hub did, for tests and benchmarks.
type Stats struct {
	StateLoads   int64 // state queries (each for any number of cells)
	ObjectLoads  int64 // queries of changed objects (one set per flush or catch-up round)
	DeltasSent   int64 // delta messages handed to clients
	DeltaEncodes int64 // delta messages encoded
	Behind       int64 // clients that let their queue fill and were told to resync
	Flushes      int64
	FlushTime    time.Duration // spent building and handing out deltas, in all
	FlushMax     time.Duration // the longest flush
}

// New returns a feed; Run must be running for it to serve.
func New(pool *pgxpool.Pool, events *eventstore.Store, k *knoten.Service, a *account.Service, opts Options) *Feed {
	opts.defaults()
	f := &Feed{
		opts: opts, pool: pool, events: events, knoten: k, accounts: a,
		reqs:      make(chan request, 1024),
		cells:     map[int64]*cell{},
		lastCell:  map[uuid.UUID]int64{},
		changedAc: map[uuid.UUID]eventstore.Position{},
		clients:   map[*client]*clientSubs{},
		ready:     make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	f.head.Store(&eventstore.Position{})
	return f
}

// cell is one subscribed cell and what changed in it since its last delta.
type cell struct {
	id   int64
	res  int
	subs map[*client]covered // each subscriber, with what its state, catch-up or last delta covered
	// The objects changed since the last delta, each with the position of its latest change.
	knoten     map[uuid.UUID]eventstore.Position
	faeden     map[uuid.UUID]eventstore.Position
	garnrollen map[uuid.UUID]eventstore.Position
	goldfaeden map[uuid.UUID]eventstore.Position
	// goldAll: the Ortskonto moved into or out of the cell at goldAllPos; every Goldfaden is
	// shown there again, or removed.
	goldAll    bool
	goldAllPos eventstore.Position
}

func newCell(id int64) *cell {
	return &cell{id: id, res: geo.Resolution(id), subs: map[*client]covered{},
		knoten: map[uuid.UUID]eventstore.Position{}, faeden: map[uuid.UUID]eventstore.Position{},
		garnrollen: map[uuid.UUID]eventstore.Position{}, goldfaeden: map[uuid.UUID]eventstore.Position{}}
}

func (c *cell) dirty() bool {
	return len(c.knoten) > 0 || len(c.faeden) > 0 || len(c.garnrollen) > 0 || len(c.goldfaeden) > 0 || c.goldAll
}

type clientSubs struct {
	cells map[int64]bool
}

// change is one map-relevant event, as the ring keeps it.
type change struct {
	pos     eventstore.Position
	at      time.Time // wall clock, for the ring's retention
	cell    int64     // resolution 15: where it happened (for a Garnrolle: where it is now)
	was     int64     // a Garnrolle that moved: where it was, when known
	knoten  uuid.UUID
	faden   uuid.UUID
	account uuid.UUID
	moved   bool // a Garnrolle's position was set (cell is the new one, 0 for off the map)
	// A visible donation changed (cell is the Ortskonto's then), or the Ortskonto moved (cell
	// is the new place, was the old one; wasUnknown when the hub did not know it).
	goldfaden  uuid.UUID
	kontoMoved bool
	wasUnknown bool
}

// The events the map shows, by what they change.
var (
	knotenTypes = []string{knoten.KnotenGeknuepft.Name(), knoten.KnotenAufgeloest.Name(),
		knoten.KnotenVerborgen.Name(), knoten.KnotenWiederhergestellt.Name()}
	fadenTypes = []string{knoten.FadenGesponnen.Name(), knoten.FadenVerzwirnt.Name(), knoten.FadenEntzwirnt.Name(), knoten.FadenAbgelaufen.Name(),
		knoten.FadenVerborgen.Name(), knoten.FadenWiederhergestellt.Name()}
	garnrolleSetTypes = []string{account.GarnrolleAngelegt.Name(), account.GarnrollePositioniert.Name()} // the position is set
	garnrolleTypes    = []string{account.GarnrolleUmbenannt.Name(), account.GarnrolleVerifiziert.Name()}
	goldfadenTypes    = []string{ortskonto.SpendeInitiiert.Name(), ortskonto.SpendeEingegangen.Name(), ortskonto.SpendeGebucht.Name(),
		ortskonto.SpendeFehlgeschlagen.Name(), ortskonto.SpendeStorniert.Name()}
	kontoTypes = []string{ortskonto.OrtskontoEingerichtet.Name()}
	mapTypes   = slices.Concat(knotenTypes, fadenTypes, garnrolleSetTypes, garnrolleTypes, goldfadenTypes, kontoTypes) // the only ones the hub reads
)

// changesOf is what an event changes on the map: its change (changeOf), and, when a Knoten
// is hidden or shown again, each Faden that goes or comes back with it (the feed reads them
// as they now stand: removed while hidden, redrawn once shown).
func changesOf(e eventstore.Event) []change {
	c, ok := changeOf(e)
	if !ok {
		return nil
	}
	out := []change{c}
	for _, id := range knoten.FaedenWith(e) {
		out = append(out, change{pos: c.pos, cell: c.cell, knoten: c.knoten, faden: id})
	}
	return out
}

// changeOf classifies an event; ok is false for events the map does not show.
func changeOf(e eventstore.Event) (change, bool) {
	c := change{pos: e.Position, cell: e.Cell}
	switch {
	case slices.Contains(knotenTypes, e.Type):
		c.knoten = e.SubjectID
	case slices.Contains(fadenTypes, e.Type):
		var p struct {
			KnotenID uuid.UUID `json:"knoten_id"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return change{}, false
		}
		c.faden, c.knoten = e.SubjectID, p.KnotenID // a Faden changes its Knoten's lifetime too
	case slices.Contains(garnrolleSetTypes, e.Type):
		c.account, c.moved = e.SubjectID, true // the header's cell is the new public position's
	case slices.Contains(garnrolleTypes, e.Type):
		c.account, c.cell = e.SubjectID, 0
	case slices.Contains(goldfadenTypes, e.Type):
		// Only a visible donation's events carry the Ortskonto's cell (package ortskonto): an
		// anonymous one has no place on the map, so the hub never even notes its id.
		if e.Cell == 0 {
			return change{}, false
		}
		var p struct {
			SpendeID uuid.UUID `json:"spende_id"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil || p.SpendeID == uuid.Nil {
			return change{}, false
		}
		c.goldfaden = p.SpendeID
	case slices.Contains(kontoTypes, e.Type):
		c.kontoMoved = true
		return c, true // also when it has no place any more: its Goldfäden leave the old one
	default:
		return change{}, false
	}
	if c.account == uuid.Nil && c.cell == 0 {
		return change{}, false // a map event without a place: nothing to show
	}
	return c, true
}

// Run follows the log and serves subscriptions until ctx ends. While the database is away it
// waits and goes on where it was when it is back (the clients' loads and deltas fail
// meanwhile, and say so).
func (f *Feed) Run(ctx context.Context) error {
	defer close(f.stopped)
	start, err := f.events.HeadWhenReadable(ctx, "mapfeed")
	if err != nil {
		return nil // stopped while starting
	}
	f.pos = start
	f.ring.since = start
	// Where the Ortskonto is as of about the start. A move committed after start is read as an
	// event; one the query already saw was seen by every state this hub will send, too.
	if c, err := ortskonto.KontoCell(ctx, f.pool); err == nil {
		f.kontoCell, f.kontoKnown = c, true
	} else {
		f.opts.Log.Warn("mapfeed: the Ortskonto's place could not be read; a move will reload every cell's Goldfäden", "err", err)
	}
	f.head.Store(&start)
	close(f.ready)
	evs := make(chan []eventstore.Event, 16)
	go func() {
		_ = f.events.KeepFollowingTypes(ctx, "mapfeed", start, 1000, mapTypes, func(ctx context.Context, batch []eventstore.Event) error {
			select {
			case evs <- batch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	tick := time.NewTicker(f.opts.Batch)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			f.closeAll()
			return nil
		case batch := <-evs:
			f.apply(batch)
		case r := <-f.reqs:
			f.serveRequests(ctx, r)
		case <-f.loadTimerC():
			f.loadPending(ctx)
		case <-tick.C:
			// New subscribers get their state before any delta.
			f.loadPending(ctx)
			start := time.Now()
			if f.flush(ctx) {
				d := time.Since(start)
				f.stats.Flushes++
				f.stats.FlushTime += d
				f.stats.FlushMax = max(f.stats.FlushMax, d)
			}
		}
	}
}

// apply notes a batch of events in the ring and in the subscribed cells.
func (f *Feed) apply(batch []eventstore.Event) {
	now := time.Now()
	for _, e := range batch {
		f.pos = e.Position
		for _, ch := range changesOf(e) {
			f.applyChange(ch, now)
		}
	}
	pos := f.pos
	f.head.Store(&pos)
}

// applyChange notes one change in the ring and in the subscribed cells.
func (f *Feed) applyChange(ch change, now time.Time) {
	ch.at = now
	if ch.account != uuid.Nil {
		// Where the Garnrolle was and is: the cells where its clients see it change.
		was, known := f.lastCell[ch.account]
		if ch.moved {
			if ch.cell != 0 {
				f.lastCell[ch.account] = ch.cell
			} else {
				delete(f.lastCell, ch.account)
			}
			if known && was != ch.cell {
				ch.was = was
			}
		} else if known {
			ch.cell = was
		}
		f.changedAc[ch.account] = ch.pos // its Fäden are redrawn at the next flush
		f.forCells(ch.cell, func(c *cell) { c.garnrollen[ch.account] = ch.pos })
		f.forCells(ch.was, func(c *cell) { c.garnrollen[ch.account] = ch.pos })
	}
	if ch.kontoMoved {
		ch.was, ch.wasUnknown = f.kontoCell, !f.kontoKnown
		if ch.was == ch.cell {
			ch.was = 0
		}
		f.kontoCell, f.kontoKnown = ch.cell, true
		moved := func(c *cell) { c.goldAll, c.goldAllPos = true, ch.pos }
		if ch.wasUnknown {
			for _, c := range f.cells {
				moved(c)
			}
		}
		f.forCells(ch.cell, moved)
		f.forCells(ch.was, moved)
	}
	if ch.goldfaden != uuid.Nil {
		// A Goldfaden belongs where the Ortskonto is as of this position in the log. The
		// header's cell is where it was when the donation read it, which a move committed
		// meanwhile can have changed; the hub's own knowledge follows the log.
		if f.kontoKnown && f.kontoCell != 0 {
			ch.cell = f.kontoCell
		} else {
			f.kontoCell, f.kontoKnown = ch.cell, true
		}
	}
	f.ring.add(ch, f.opts.Keep, f.opts.KeepMax)
	f.forCells(ch.cell, func(c *cell) {
		if ch.knoten != uuid.Nil {
			c.knoten[ch.knoten] = ch.pos
		}
		if ch.faden != uuid.Nil {
			c.faeden[ch.faden] = ch.pos
		}
		if ch.goldfaden != uuid.Nil {
			c.goldfaeden[ch.goldfaden] = ch.pos
		}
	})
}

// forCells calls fn for every subscribed cell that contains the stored cell c.
func (f *Feed) forCells(c int64, fn func(*cell)) {
	if c == 0 {
		return
	}
	for res := geo.MinMapResolution; res <= geo.MaxMapResolution; res++ {
		if f.perRes[res] == 0 {
			continue
		}
		if sc, ok := f.cells[geo.Parent(c, res)]; ok {
			fn(sc)
		}
	}
}

// ring holds the recent map changes in log order, so that a client rejoining with a cursor
// is told what it missed without reading the log again.
type ring struct {
	items []change
	// since is the position after which the ring is complete: a cursor at or after it can be
	// answered from the ring.
	since eventstore.Position
}

func (r *ring) add(c change, keep time.Duration, max int) {
	r.items = append(r.items, c)
	drop := 0
	for drop < len(r.items) && (len(r.items)-drop > max || c.at.Sub(r.items[drop].at) > keep) {
		drop++
	}
	if drop > 0 {
		r.since = r.items[drop-1].pos
		r.items = append(r.items[:0:0], r.items[drop:]...)
	}
}

// covers reports whether every change after cursor is in the ring.
func (r *ring) covers(cursor eventstore.Position) bool { return !r.since.After(cursor) }

// after returns the changes after cursor (the ring must cover it).
func (r *ring) after(cursor eventstore.Position) []change {
	lo, hi := 0, len(r.items)
	for lo < hi { // first item after cursor
		mid := (lo + hi) / 2
		if r.items[mid].pos.After(cursor) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return r.items[lo:]
}

var errClosed = errors.New("mapfeed: connection closed")
