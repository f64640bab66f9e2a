package mapfeed

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/internal/wsframe"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/wire"
)

// What the hub goroutine does with subscriptions and batches. Nothing here runs concurrently.

type requestKind int

const (
	reqOpen requestKind = iota
	reqClose
	reqSubscribe
	reqUnsubscribe
	reqStats
)

type request struct {
	kind   requestKind
	c      *client
	cells  []int64
	cursor *eventstore.Position
	stats  chan<- Stats
}

// maxRound bounds how many requests one round of the hub takes on: a reconnect storm is
// answered in rounds, each with one set of queries.
const maxRound = 20_000

type stateWant struct {
	c    *client
	cell int64
}

type catchupWant struct {
	c      *client
	cell   int64
	cursor eventstore.Position
}

func (f *Feed) serveRequests(ctx context.Context, first request) {
	round := []request{first}
drain:
	for len(round) < maxRound {
		select {
		case r := <-f.reqs:
			round = append(round, r)
		default:
			break drain
		}
	}
	var states []stateWant
	var catchups []catchupWant
	for _, r := range round {
		switch r.kind {
		case reqStats:
			r.stats <- f.stats
		case reqOpen:
			f.clients[r.c] = &clientSubs{cells: map[int64]bool{}}
		case reqClose:
			f.dropAll(r.c)
			delete(f.clients, r.c)
		case reqUnsubscribe:
			for _, id := range r.cells {
				f.unsubscribe(r.c, id)
			}
		case reqSubscribe:
			subs, ok := f.clients[r.c]
			if !ok {
				continue
			}
			for _, id := range r.cells {
				if subs.cells[id] {
					continue
				}
				if len(subs.cells) >= f.opts.MaxCells {
					r.c.sendError("too_many_cells", "At most %d cells may be subscribed at once.", f.opts.MaxCells)
					break
				}
				f.subscribe(r.c, subs, id)
				// A cursor ahead of what the hub has read is none it sent (a made-up one, or one of
				// a replica further along): its catch-up would be empty, and the client would
				// believe it had missed nothing. It gets the state, as for a cursor too old.
				if r.cursor != nil && f.ring.covers(*r.cursor) && !r.cursor.After(f.pos) {
					catchups = append(catchups, catchupWant{r.c, id, *r.cursor})
				} else {
					states = append(states, stateWant{r.c, id})
				}
			}
		}
	}
	f.wantStates = append(f.wantStates, states...)
	f.wantCatchups = append(f.wantCatchups, catchups...)
	if (len(f.wantStates) > 0 || len(f.wantCatchups) > 0) && f.loadTimer == nil {
		// Wait a moment for more: clients of a reconnect storm arrive over milliseconds, and
		// each load answers all of them.
		f.loadTimer = time.NewTimer(loadDelay)
	}
}

// loadDelay is how long subscriptions wait to be answered together.
const loadDelay = 15 * time.Millisecond

// loadTimerC is the channel of the pending load's timer, nil when none is pending.
func (f *Feed) loadTimerC() <-chan time.Time {
	if f.loadTimer == nil {
		return nil
	}
	return f.loadTimer.C
}

// loadPending answers the subscriptions waiting for their state or catch-up.
func (f *Feed) loadPending(ctx context.Context) {
	if f.loadTimer != nil {
		f.loadTimer.Stop()
		f.loadTimer = nil
	}
	states, catchups := dedupe(f.wantStates, func(w stateWant) [2]any { return [2]any{w.c, w.cell} }),
		dedupe(f.wantCatchups, func(w catchupWant) [2]any { return [2]any{w.c, w.cell} })
	f.wantStates, f.wantCatchups = nil, nil
	if len(states) > 0 {
		f.sendStates(ctx, states)
	}
	if len(catchups) > 0 {
		f.sendCatchups(ctx, catchups)
	}
}

// dedupe keeps the first of each key.
func dedupe[T any](xs []T, key func(T) [2]any) []T {
	seen := make(map[[2]any]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if k := key(x); !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out
}

func (f *Feed) subscribe(c *client, subs *clientSubs, id int64) {
	sc, ok := f.cells[id]
	if !ok {
		sc = newCell(id)
		f.cells[id] = sc
		f.perRes[sc.res]++
	}
	// What the state or catch-up about to be sent covers; the next delta leaves it out.
	sc.subs[c] = covered{pos: f.pos}
	subs.cells[id] = true
}

func (f *Feed) unsubscribe(c *client, id int64) {
	if subs, ok := f.clients[c]; ok {
		delete(subs.cells, id)
	}
	sc, ok := f.cells[id]
	if !ok {
		return
	}
	delete(sc.subs, c)
	if len(sc.subs) == 0 {
		delete(f.cells, id)
		f.perRes[sc.res]--
	}
}

func (f *Feed) dropAll(c *client) {
	subs, ok := f.clients[c]
	if !ok {
		return
	}
	for id := range subs.cells {
		f.unsubscribe(c, id)
	}
}

func (f *Feed) closeAll() {
	for c := range f.clients {
		c.close()
	}
}

// deliver hands a message to a client; a client whose queue is full loses its subscriptions
// and is told to resync.
func (f *Feed) deliver(c *client, msg []byte) {
	if c.enqueue(msg) {
		return
	}
	f.stats.Behind++
	f.dropAll(c)
	c.resetBehind()
}

// Messages.

type garnrolleJSON struct {
	ID       uuid.UUID   `json:"id"`
	Name     string      `json:"name"`
	Verified bool        `json:"verified"`
	Position *wire.Point `json:"position"`
}

func garnrolleView(g account.Garnrolle) garnrolleJSON {
	return garnrolleJSON{ID: g.ID, Name: g.Name, Verified: g.Verified, Position: wire.PointOf(g.Position)}
}

func fadenView(fd knoten.Faden) wire.Faden {
	v := wire.FadenOf(fd)
	v.AccountPosition = wire.PointOf(fd.AccountPosition)
	return v
}

// goldfadenJSON is a visible donation's thread from the donor's Garnrolle to the Ortskonto.
// It names the donor because the donor chose to be seen; an anonymous donation never
// becomes one (ortskonto.Goldfaeden).
type goldfadenJSON struct {
	ID              uuid.UUID   `json:"id"`
	AccountID       uuid.UUID   `json:"account_id"`
	AccountName     string      `json:"account_name"`
	AccountPosition *wire.Point `json:"account_position"`
	KontoPosition   wire.Point  `json:"konto_position"`
	Status          string      `json:"status"`
	AmountCents     int64       `json:"amount_cents"`
	CreatedAt       time.Time   `json:"created_at"`
}

func goldfadenView(g ortskonto.Goldfaden) goldfadenJSON {
	return goldfadenJSON{ID: g.ID, AccountID: g.AccountID, AccountName: g.AccountName, AccountPosition: wire.PointOf(g.AccountPosition),
		KontoPosition: wire.Point{Lat: g.KontoPosition.Lat, Lon: g.KontoPosition.Lon}, Status: g.Status,
		AmountCents: g.AmountCents, CreatedAt: g.CreatedAt}
}

type stateMsg struct {
	Type       string              `json:"type"`
	Cell       string              `json:"cell"`
	Cursor     eventstore.Position `json:"cursor"`
	Knoten     []wire.Knoten       `json:"knoten"`
	Faeden     []wire.Faden        `json:"faeden"`
	Garnrollen []garnrolleJSON     `json:"garnrollen"`
	Goldfaeden []goldfadenJSON     `json:"goldfaeden"`
}

type removedJSON struct {
	Knoten     []uuid.UUID `json:"knoten,omitempty"`
	Faeden     []uuid.UUID `json:"faeden,omitempty"`
	Garnrollen []uuid.UUID `json:"garnrollen,omitempty"`
	Goldfaeden []uuid.UUID `json:"goldfaeden,omitempty"`
}

type deltaMsg struct {
	Type       string              `json:"type"`
	Cell       string              `json:"cell"`
	Cursor     eventstore.Position `json:"cursor"`
	Catchup    bool                `json:"catchup,omitempty"`
	Knoten     []wire.Knoten       `json:"knoten,omitempty"`
	Faeden     []wire.Faden        `json:"faeden,omitempty"`
	Garnrollen []garnrolleJSON     `json:"garnrollen,omitempty"`
	Goldfaeden []goldfadenJSON     `json:"goldfaeden,omitempty"`
	Removed    *removedJSON        `json:"removed,omitempty"`
}

// encode returns v as a WebSocket text frame: framed once, the same bytes go to every
// connection that gets the message (wsframe).
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("mapfeed: encode: " + err.Error()) // only our own plain structs are encoded
	}
	return wsframe.Text(b)
}

// sendStates loads the full state of the wanted cells (one set of queries for all of them)
// and sends each cell's state, encoded once, to everyone who asked for it.
func (f *Feed) sendStates(ctx context.Context, wants []stateWant) {
	byCell := map[int64][]*client{}
	for _, w := range wants {
		byCell[w.cell] = append(byCell[w.cell], w.c)
	}
	spans := make([]geo.Span, 0, len(byCell))
	for id := range byCell {
		spans = append(spans, geo.SpanOf(id))
	}
	f.stats.StateLoads++
	var ks []knoten.Knoten
	var fs []knoten.Faden
	var gs []account.Garnrolle
	var golds []ortskonto.Goldfaden
	snap := &snapshot{}
	// One snapshot for the whole state. Every event of a transaction the snapshot saw is in
	// it, whether or not the hub has read that event yet: the deltas leave such events out for
	// these subscribers.
	err := pgx.BeginTxFunc(ctx, f.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		s, err := eventstore.CurrentSnapshot(ctx, tx)
		if err != nil {
			return err
		}
		snap.xmin, snap.xmax, snap.running = s.Xmin, s.Xmax, s.Running
		if ks, fs, err = f.knoten.InCells(ctx, tx, spans); err != nil {
			return err
		}
		if gs, err = f.accounts.GarnrollenIn(ctx, tx, spans); err != nil {
			return err
		}
		golds, err = ortskonto.Goldfaeden(ctx, tx, ortskonto.GoldfadenQuery{Spans: spans})
		return err
	})
	if err != nil {
		f.opts.Log.Warn("mapfeed: state load failed", "err", err)
		for _, w := range wants {
			f.unsubscribe(w.c, w.cell)
			w.c.sendError("unavailable", "The map could not be loaded just now; subscribe again.")
		}
		return
	}
	msgs := make(map[int64]*stateMsg, len(byCell))
	for id := range byCell {
		msgs[id] = &stateMsg{Type: "state", Cell: geo.CellHex(id), Cursor: f.pos,
			Knoten: []wire.Knoten{}, Faeden: []wire.Faden{}, Garnrollen: []garnrolleJSON{}, Goldfaeden: []goldfadenJSON{}}
	}
	inCells := func(c int64, fn func(*stateMsg)) {
		for res := geo.MinMapResolution; res <= geo.MaxMapResolution; res++ {
			if m, ok := msgs[geo.Parent(c, res)]; ok {
				fn(m)
			}
		}
	}
	for _, k := range ks {
		inCells(k.Cell, func(m *stateMsg) { m.Knoten = append(m.Knoten, wire.KnotenOf(k)) })
	}
	for _, fd := range fs {
		inCells(fd.KnotenCell, func(m *stateMsg) { m.Faeden = append(m.Faeden, fadenView(fd)) })
	}
	for _, g := range gs {
		f.lastCell[g.ID] = g.Cell
		inCells(g.Cell, func(m *stateMsg) { m.Garnrollen = append(m.Garnrollen, garnrolleView(g)) })
	}
	for _, g := range golds {
		inCells(g.KontoCell, func(m *stateMsg) { m.Goldfaeden = append(m.Goldfaeden, goldfadenView(g)) })
	}
	for id, clients := range byCell {
		b := encode(msgs[id])
		sc := f.cells[id]
		for _, c := range clients {
			if f.subscribed(c, id) {
				sc.subs[c] = covered{pos: f.pos, snap: snap}
				f.deliver(c, b)
			}
		}
	}
}

func (f *Feed) subscribed(c *client, id int64) bool {
	subs, ok := f.clients[c]
	return ok && subs.cells[id]
}

// A delta under construction: each object with the position of its latest change.
type delta struct {
	knoten     map[uuid.UUID]eventstore.Position
	faeden     map[uuid.UUID]eventstore.Position
	garnrollen map[uuid.UUID]eventstore.Position
	goldfaeden map[uuid.UUID]eventstore.Position
}

func newDelta() *delta {
	return &delta{knoten: map[uuid.UUID]eventstore.Position{}, faeden: map[uuid.UUID]eventstore.Position{},
		garnrollen: map[uuid.UUID]eventstore.Position{}, goldfaeden: map[uuid.UUID]eventstore.Position{}}
}

func (d *delta) size() int {
	return len(d.knoten) + len(d.faeden) + len(d.garnrollen) + len(d.goldfaeden)
}

func note(m map[uuid.UUID]eventstore.Position, id uuid.UUID, p eventstore.Position) {
	if q, ok := m[id]; !ok || p.After(q) {
		m[id] = p
	}
}

// oldest is the position of the earliest change in the delta.
func (d *delta) oldest() eventstore.Position {
	var o eventstore.Position
	first := true
	for _, m := range []map[uuid.UUID]eventstore.Position{d.knoten, d.faeden, d.garnrollen, d.goldfaeden} {
		for _, p := range m {
			if first || o.After(p) {
				o, first = p, false
			}
		}
	}
	return o
}

// without is the part of the delta a subscriber has not had yet.
func (d *delta) without(cov covered) *delta {
	out := newDelta()
	for _, pair := range [][2]map[uuid.UUID]eventstore.Position{{d.knoten, out.knoten}, {d.faeden, out.faeden}, {d.garnrollen, out.garnrollen},
		{d.goldfaeden, out.goldfaeden}} {
		for id, q := range pair[0] {
			if !cov.has(q) {
				pair[1][id] = q
			}
		}
	}
	return out
}

// covered is what a subscriber has had of a cell: every change up to pos and, after a state,
// every change of a transaction the state's snapshot saw, which the hub may not have read yet.
type covered struct {
	pos  eventstore.Position
	snap *snapshot
}

// snapshot is a PostgreSQL snapshot: which transactions' writes it saw.
type snapshot struct {
	xmin, xmax uint64
	running    []uint64 // between xmin and xmax and not yet committed: not seen
}

func (s *snapshot) saw(tx uint64) bool {
	return tx < s.xmin || (tx < s.xmax && !slices.Contains(s.running, tx))
}

func (c covered) has(p eventstore.Position) bool {
	return !p.After(c.pos) || (c.snap != nil && c.snap.saw(p.Tx))
}

// before reports whether every change from p on is new to the subscriber.
func (c covered) before(p eventstore.Position) bool {
	return p.After(c.pos) && (c.snap == nil || p.Tx >= c.snap.xmax)
}

// upTo is what the subscriber has had once a delta up to pos went out. The snapshot stays
// until the hub has read past every transaction it saw.
func (c covered) upTo(pos eventstore.Position) covered {
	if c.snap != nil && pos.Tx >= c.snap.xmax {
		c.snap = nil
	}
	if pos.After(c.pos) {
		c.pos = pos
	}
	return c
}

// objects is what the deltas of one round refer to, as it stands now.
type objects struct {
	knoten     map[uuid.UUID]knoten.Knoten
	faeden     map[uuid.UUID]knoten.Faden
	garnrollen map[uuid.UUID]account.Garnrolle
	spun       []knoten.Faden // the active Fäden of the changed accounts
	goldfaeden map[uuid.UUID]ortskonto.Goldfaden
	goldSpun   []ortskonto.Goldfaden // the Goldfäden of the changed accounts
	goldAll    []ortskonto.Goldfaden // every Goldfaden, when asked for all
}

// load reads the objects the deltas name, in one set of queries; allGold asks for every
// Goldfaden (the Ortskonto moved).
func (f *Feed) load(ctx context.Context, knotenIDs, fadenIDs, accountIDs, goldIDs []uuid.UUID, allGold bool) (objects, error) {
	f.stats.ObjectLoads++
	o := objects{knoten: map[uuid.UUID]knoten.Knoten{}, faeden: map[uuid.UUID]knoten.Faden{}, garnrollen: map[uuid.UUID]account.Garnrolle{},
		goldfaeden: map[uuid.UUID]ortskonto.Goldfaden{}}
	ks, fs, err := f.knoten.Current(ctx, knotenIDs, fadenIDs)
	if err != nil {
		return o, err
	}
	gs, err := f.accounts.Garnrollen(ctx, accountIDs)
	if err != nil {
		return o, err
	}
	if o.spun, err = f.knoten.FaedenOf(ctx, accountIDs); err != nil {
		return o, err
	}
	golds, err := ortskonto.Goldfaeden(ctx, f.pool, ortskonto.GoldfadenQuery{IDs: goldIDs, Donors: accountIDs, All: allGold})
	if err != nil {
		return o, err
	}
	donors := make(map[uuid.UUID]bool, len(accountIDs))
	for _, id := range accountIDs {
		donors[id] = true
	}
	for _, g := range golds {
		o.goldfaeden[g.ID] = g
		if donors[g.AccountID] {
			o.goldSpun = append(o.goldSpun, g)
		}
	}
	if allGold {
		o.goldAll = golds
	}
	for _, k := range ks {
		o.knoten[k.ID] = k
	}
	for _, fd := range fs {
		o.faeden[fd.ID] = fd
	}
	for _, g := range gs {
		o.garnrollen[g.ID] = g
	}
	return o, nil
}

// message turns a delta into its message, with the objects as they now stand.
func (d *delta) message(cell int64, cursor eventstore.Position, catchup bool, o objects) deltaMsg {
	m := deltaMsg{Type: "delta", Cell: geo.CellHex(cell), Cursor: cursor, Catchup: catchup}
	var rm removedJSON
	for _, id := range sortedIDs(d.knoten) {
		if k, ok := o.knoten[id]; ok {
			m.Knoten = append(m.Knoten, wire.KnotenOf(k))
		} else {
			rm.Knoten = append(rm.Knoten, id)
		}
	}
	for _, id := range sortedIDs(d.faeden) {
		if fd, ok := o.faeden[id]; ok {
			m.Faeden = append(m.Faeden, fadenView(fd))
		} else {
			rm.Faeden = append(rm.Faeden, id)
		}
	}
	for _, id := range sortedIDs(d.garnrollen) {
		if g, ok := o.garnrollen[id]; ok && g.Position != nil && geo.Parent(g.Cell, geo.Resolution(cell)) == cell {
			m.Garnrollen = append(m.Garnrollen, garnrolleView(g))
		} else {
			rm.Garnrollen = append(rm.Garnrollen, id)
		}
	}
	for _, id := range sortedIDs(d.goldfaeden) {
		// Removed when it failed, or when the Ortskonto is no longer in this cell.
		if g, ok := o.goldfaeden[id]; ok && geo.Parent(g.KontoCell, geo.Resolution(cell)) == cell {
			m.Goldfaeden = append(m.Goldfaeden, goldfadenView(g))
		} else {
			rm.Goldfaeden = append(rm.Goldfaeden, id)
		}
	}
	if len(rm.Knoten)+len(rm.Faeden)+len(rm.Garnrollen)+len(rm.Goldfaeden) > 0 {
		m.Removed = &rm
	}
	return m
}

func sortedIDs(m map[uuid.UUID]eventstore.Position) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

// faedenOfAccounts adds to the deltas the Fäden and Goldfäden of changed accounts (their
// spinner's or donor's name or position changed) in the cells of their Knoten or of the
// Ortskonto; cellsOf names the subscribed cells that
// contain a stored cell.
func faedenOfAccounts(changed map[uuid.UUID]eventstore.Position, o objects, cellsOf func(c int64, fn func(int64))) map[int64]*delta {
	out := map[int64]*delta{}
	for _, fd := range o.spun {
		p, ok := changed[fd.AccountID]
		if !ok {
			continue
		}
		cellsOf(fd.KnotenCell, func(c int64) {
			d, ok := out[c]
			if !ok {
				d = newDelta()
				out[c] = d
			}
			note(d.faeden, fd.ID, p)
		})
		o.faeden[fd.ID] = fd
	}
	for _, g := range o.goldSpun {
		p := changed[g.AccountID]
		cellsOf(g.KontoCell, func(c int64) {
			d, ok := out[c]
			if !ok {
				d = newDelta()
				out[c] = d
			}
			note(d.goldfaeden, g.ID, p)
		})
	}
	return out
}

func ids(m map[uuid.UUID]eventstore.Position, into map[uuid.UUID]bool) {
	for id := range m {
		into[id] = true
	}
}

func keys(m map[uuid.UUID]bool) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	return out
}

// flush sends every subscribed cell's delta: the objects changed since the last one, read as
// they now stand in one set of queries, each cell's message encoded once.
func (f *Feed) flush(ctx context.Context) bool {
	kIDs, fIDs, aIDs, gIDs := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}, map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for id := range f.changedAc {
		aIDs[id] = true
	}
	dirty := map[int64]*delta{}
	allGold := false
	for id, sc := range f.cells {
		if !sc.dirty() {
			continue
		}
		ids(sc.knoten, kIDs)
		ids(sc.faeden, fIDs)
		ids(sc.garnrollen, aIDs)
		ids(sc.goldfaeden, gIDs)
		allGold = allGold || sc.goldAll
		dirty[id] = &delta{knoten: sc.knoten, faeden: sc.faeden, garnrollen: sc.garnrollen, goldfaeden: sc.goldfaeden}
	}
	if len(dirty) == 0 && len(f.changedAc) == 0 {
		return false
	}
	o, err := f.load(ctx, keys(kIDs), keys(fIDs), keys(aIDs), keys(gIDs), allGold)
	if err != nil {
		f.opts.Log.Warn("mapfeed: delta load failed; retrying next batch", "err", err)
		return false // the changes stay noted
	}
	for id, d := range faedenOfAccounts(f.changedAc, o, func(c int64, fn func(int64)) {
		f.forCells(c, func(sc *cell) { fn(sc.id) })
	}) {
		if cur, ok := dirty[id]; ok {
			for oid, p := range d.faeden {
				note(cur.faeden, oid, p)
			}
			for oid, p := range d.goldfaeden {
				note(cur.goldfaeden, oid, p)
			}
		} else {
			dirty[id] = d
		}
	}
	f.changedAc = map[uuid.UUID]eventstore.Position{}
	for _, id := range oldestFirst(dirty) {
		d := dirty[id]
		sc, ok := f.cells[id]
		if !ok {
			// Its last subscriber was dropped earlier in this batch (a full queue: deliver);
			// nobody is left to tell, and its changes went with it.
			continue
		}
		if sc.goldAll {
			// The Ortskonto moved here or away: each Goldfaden is shown here, or removed.
			for _, g := range o.goldAll {
				note(d.goldfaeden, g.ID, sc.goldAllPos)
			}
		}
		sc.knoten, sc.faeden, sc.garnrollen, sc.goldfaeden = map[uuid.UUID]eventstore.Position{}, map[uuid.UUID]eventstore.Position{},
			map[uuid.UUID]eventstore.Position{}, map[uuid.UUID]eventstore.Position{}
		sc.goldAll = false
		if d.size() > f.opts.HotLimit {
			f.hot(sc)
			continue
		}
		var shared []byte
		oldest := d.oldest()
		for c, cov := range sc.subs {
			var b []byte
			part := d
			if !cov.before(oldest) {
				// Subscribed since some of these changes: its state already showed them.
				part = d.without(cov)
			}
			switch {
			case part.size() == 0:
			case part.size() == d.size():
				if shared == nil {
					shared = encode(d.message(id, f.pos, false, o))
					f.stats.DeltaEncodes++
				}
				b = shared
			default:
				b = encode(part.message(id, f.pos, false, o))
				f.stats.DeltaEncodes++
			}
			if cov.snap != nil { // only a state's snapshot has anything to let go of
				sc.subs[c] = cov.upTo(f.pos)
			}
			if b != nil {
				f.stats.DeltasSent++
				f.deliver(c, b)
			}
		}
	}
	return true
}

// oldestFirst orders the dirty cells by their oldest change. Handing out a batch to tens of
// thousands of sockets takes a while, and a change made just after the last batch has already
// waited the whole interval: its cells go first, so that it is not also among the last to
// arrive. Changes made later in the interval can afford a later place.
func oldestFirst(dirty map[int64]*delta) []int64 {
	order := make([]int64, 0, len(dirty))
	oldest := make(map[int64]eventstore.Position, len(dirty))
	for id, d := range dirty {
		order = append(order, id)
		oldest[id] = d.oldest()
	}
	slices.SortFunc(order, func(a, b int64) int {
		switch pa, pb := oldest[a], oldest[b]; {
		case pb.After(pa):
			return -1
		case pa.After(pb):
			return 1
		}
		return cmp.Compare(a, b)
	})
	return order
}

// hot tells a cell's clients that too much changed there for a delta: they drop the cell and
// subscribe to it again, without a cursor, for its state.
func (f *Feed) hot(sc *cell) {
	msg := encode(resyncMsg{Type: "resync", Cells: []string{geo.CellHex(sc.id)}, Reason: "hot"})
	for c := range sc.subs {
		f.unsubscribe(c, sc.id)
		f.deliver(c, msg)
	}
}

type resyncMsg struct {
	Type   string   `json:"type"`
	Cells  []string `json:"cells,omitempty"`
	Reason string   `json:"reason"`
}

// sendCatchups answers subscriptions with a cursor the ring covers: for each cell, what changed
// there after the cursor, as it now stands (one set of queries for the whole round; clients
// with the same cell and cursor share one encoding).
func (f *Feed) sendCatchups(ctx context.Context, wants []catchupWant) {
	type key struct {
		cell   int64
		cursor eventstore.Position
	}
	groups := map[key][]*client{}
	for _, w := range wants {
		k := key{w.cell, w.cursor}
		groups[k] = append(groups[k], w.c)
	}
	deltas := map[key]*delta{}
	kIDs, fIDs, gIDs := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	accounts := map[key]map[uuid.UUID]eventstore.Position{}
	allAccounts := map[uuid.UUID]bool{}
	goldAll := map[key]eventstore.Position{} // the Ortskonto moved into or out of the cell after the cursor
	for k := range groups {
		d := newDelta()
		acc := map[uuid.UUID]eventstore.Position{}
		res := geo.Resolution(k.cell)
		for _, ch := range f.ring.after(k.cursor) {
			switch {
			case ch.kontoMoved:
				if ch.wasUnknown || (ch.cell != 0 && geo.Parent(ch.cell, res) == k.cell) || (ch.was != 0 && geo.Parent(ch.was, res) == k.cell) {
					goldAll[k] = ch.pos
				}
			case ch.goldfaden != uuid.Nil:
				if geo.Parent(ch.cell, res) == k.cell {
					note(d.goldfaeden, ch.goldfaden, ch.pos)
					gIDs[ch.goldfaden] = true
				}
			case ch.account != uuid.Nil:
				note(acc, ch.account, ch.pos)
				allAccounts[ch.account] = true
				if (ch.cell != 0 && geo.Parent(ch.cell, res) == k.cell) || (ch.was != 0 && geo.Parent(ch.was, res) == k.cell) {
					note(d.garnrollen, ch.account, ch.pos)
				}
			case geo.Parent(ch.cell, res) == k.cell:
				if ch.knoten != uuid.Nil {
					note(d.knoten, ch.knoten, ch.pos)
					kIDs[ch.knoten] = true
				}
				if ch.faden != uuid.Nil {
					note(d.faeden, ch.faden, ch.pos)
					fIDs[ch.faden] = true
				}
			}
		}
		deltas[k], accounts[k] = d, acc
	}
	o, err := f.load(ctx, keys(kIDs), keys(fIDs), keys(allAccounts), keys(gIDs), len(goldAll) > 0)
	if err != nil {
		f.opts.Log.Warn("mapfeed: catch-up load failed", "err", err)
		for _, w := range wants {
			f.unsubscribe(w.c, w.cell)
			w.c.sendError("unavailable", "The map could not be loaded just now; subscribe again.")
		}
		return
	}
	for k, clients := range groups {
		d := deltas[k]
		// A changed account's Fäden that lead here are redrawn (its name or position changed).
		for _, fd := range o.spun {
			if p, ok := accounts[k][fd.AccountID]; ok && geo.Parent(fd.KnotenCell, geo.Resolution(k.cell)) == k.cell {
				note(d.faeden, fd.ID, p)
				o.faeden[fd.ID] = fd
			}
		}
		for _, g := range o.goldSpun {
			if p, ok := accounts[k][g.AccountID]; ok && geo.Parent(g.KontoCell, geo.Resolution(k.cell)) == k.cell {
				note(d.goldfaeden, g.ID, p)
			}
		}
		if p, ok := goldAll[k]; ok {
			for _, g := range o.goldAll {
				note(d.goldfaeden, g.ID, p)
			}
		}
		b := encode(d.message(k.cell, f.pos, true, o))
		f.stats.DeltaEncodes++
		for _, c := range clients {
			if f.subscribed(c, k.cell) {
				f.stats.DeltasSent++
				f.deliver(c, b)
			}
		}
	}
}
