// Package knoten is the woven map: Knoten (pins) and the Fäden (threads of engagement) that
// lead to them.
//
// The rules (seed 000, acceptance tests 1 and 2; docs/GEWEBE.md):
//   - A Faden expires exactly 7 days after it was spun (or untwisted).
//   - Placing a Knoten spins its creator's first Faden to it.
//   - A twisted Faden (Garn) does not expire, and a Knoten with Garn is permanent.
//   - A Knoten without Garn dissolves when its last active Faden expires.
//
// Reads apply the rules at the instant of the read, so a listing is exact to the microsecond;
// the expiry sweep (sweep.go) then records the transitions as events and keeps the tables
// small.
package knoten

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// FadenLifetime is how long a Faden lasts unless it is twisted.
const FadenLifetime = 7 * 24 * time.Hour

// Knoten is a pin on the map.
type Knoten struct {
	ID             uuid.UUID
	Type           string
	Title          string
	Description    string
	Point          geo.Point
	Cell           int64 // H3, resolution 15
	CreatedBy      uuid.UUID
	CreatedAt      time.Time
	LastActivityAt time.Time
	GarnCount      int
	DissolvesAt    *time.Time // nil while permanent
	// Hidden by the moderators or held by the word filter: only its creator still reads it
	// (GetAs), marked so; every public read leaves it out (docs/MODERATION.md).
	Hidden bool
}

// Permanent reports whether the Knoten holds Garn and so does not dissolve.
func (k Knoten) Permanent() bool { return k.GarnCount > 0 }

// Bounds tells whether a point lies inside the Ortsweberei.
type Bounds interface {
	Contains(ctx context.Context, q database.Querier, p geo.Point) (bool, error)
}

// Service runs the rules of Knoten and Fäden.
type Service struct {
	pool      *pgxpool.Pool
	clock     clock.Clock
	bounds    Bounds
	screening moderation.Screening // SetModeration's
}

// SetModeration gives the service the word filter that checks a new Knoten's texts and the
// queue that held ones go to (either nil: none). Call it before the service is used.
func (s *Service) SetModeration(filter moderation.TextFilter, holder moderation.Holder) {
	s.screening.Set(filter, holder)
}

// NewService returns the Knoten service.
func NewService(pool *pgxpool.Pool, c clock.Clock, bounds Bounds) *Service {
	return &Service{pool: pool, clock: c, bounds: bounds}
}

// Errors a client can meet.
var (
	ErrKnotenNotFound  = fault.NotFoundf("knoten_not_found", "There is no Knoten with this id.")
	ErrKnotenDissolved = fault.Gonef("knoten_dissolved", "This Knoten has dissolved: no Faden and no Garn held it any more.")
	ErrKnotenHidden    = fault.Gonef("knoten_hidden", "This Knoten was hidden by the moderators.")
)

// Placement is a new Knoten.
type Placement struct {
	Type        string
	Title       string
	Description string
	Point       geo.Point
}

// The limits of a Knoten's texts in characters; the app takes them from GET /api/ortsweberei.
const (
	MaxTitle       = 140
	MaxDescription = 4000
)

func (p *Placement) check() error {
	p.Title = strings.TrimSpace(p.Title)
	p.Description = strings.TrimSpace(p.Description)
	switch {
	case !validKnotenType(p.Type):
		return fault.Invalidf("type", "unknown_knoten_type", "Unknown Knoten type %q; known types: %s.", p.Type, strings.Join(KnotenTypes, ", "))
	case p.Title == "":
		return fault.Invalidf("title", "empty_title", "A Knoten needs a title.")
	case utf8.RuneCountInString(p.Title) > MaxTitle || strings.IndexFunc(p.Title, unicode.IsControl) >= 0:
		return fault.Invalidf("title", "invalid_title", "The title must be at most %d characters, without control characters.", MaxTitle)
	case utf8.RuneCountInString(p.Description) > MaxDescription:
		return fault.Invalidf("description", "invalid_description", "The description must be at most %d characters.", MaxDescription)
	case !p.Point.Valid():
		return fault.Invalidf("lat", "invalid_coordinates", "lat must lie within ±90 and lon within ±180.")
	}
	return nil
}

// screen runs the word filter over a Placement's texts: a blocked word refuses it (naming the
// field it is in), a held one lets it be stored hidden. The title is checked first, so that
// a refusal names the field the resident sees first.
func (s *Service) screen(p Placement) (moderation.Verdict, error) {
	filter := s.screening.Filter()
	if filter == nil {
		return moderation.Verdict{}, nil
	}
	title, desc := filter.Check(p.Title), filter.Check(p.Description)
	switch {
	case title.Action == moderation.ActionBlock:
		return title, moderation.ErrBlocked("title")
	case desc.Action == moderation.ActionBlock:
		return desc, moderation.ErrBlocked("description")
	case title.Action == moderation.ActionHold:
		return title, nil
	}
	return desc, nil
}

// Place puts a Knoten on the map and spins the creator's first Faden to it. When the word
// filter holds its text, it is stored hidden (Knoten.Hidden: only its creator sees it) and
// queued for the moderators' review in the same transaction.
func (s *Service) Place(ctx context.Context, actor uuid.UUID, p Placement) (Knoten, Faden, error) {
	if err := p.check(); err != nil {
		return Knoten{}, Faden{}, err
	}
	verdict, err := s.screen(p)
	if err != nil {
		return Knoten{}, Faden{}, err
	}
	held := verdict.Action == moderation.ActionHold
	cell, err := p.Point.Cell()
	if err != nil {
		return Knoten{}, Faden{}, err
	}
	var k Knoten
	var f Faden
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		in, err := s.bounds.Contains(ctx, tx, p.Point)
		if err != nil {
			return err
		}
		if !in {
			return fault.Invalidf("lat", "outside_ortsweberei", "This point lies outside the Ortsweberei's bounds.")
		}
		now := s.clock.Now()
		expires := now.Add(FadenLifetime)
		k = Knoten{
			ID: uuid.Must(uuid.NewV7()), Type: p.Type, Title: p.Title, Description: p.Description,
			Point: p.Point, Cell: cell, CreatedBy: actor, CreatedAt: now, LastActivityAt: now, DissolvesAt: &expires,
		}
		f = Faden{ID: uuid.Must(uuid.NewV7()), KnotenID: k.ID, AccountID: actor, Type: FirstFadenType, CreatedAt: now, ExpiresAt: &expires}
		tx.Defer(`
INSERT INTO knoten (id, type, title, description, geom, h3, created_by, created_at, last_activity_at, dissolves_at)
VALUES ($1, $2, $3, $4, point4326($5, $6), $7, $8, $9, $9, $10)`,
			k.ID, k.Type, k.Title, k.Description, k.Point.Lon, k.Point.Lat, k.Cell, actor, now, expires)
		insertFaden(tx, f)
		drafts := []eventstore.Draft{
			KnotenGeknuepft.New(eventstore.Header{Actor: actor, Subject: k.ID, Cell: k.Cell}, KnotenGeknuepftV1{
				KnotenID: k.ID, Type: k.Type, Title: k.Title, Description: k.Description,
				Lat: k.Point.Lat, Lon: k.Point.Lon, H3: geo.CellHex(k.Cell), CreatedBy: actor,
			}),
			FadenGesponnen.New(eventstore.Header{Actor: actor, Subject: f.ID, Cell: k.Cell}, spunPayload(f)),
		}
		if held {
			// Stored as a moderator's hiding would leave it, with the same event, so that every
			// follower of the log (the live map, the snapshots, the timeline) treats it alike.
			k.Hidden = true
			tx.Defer(`UPDATE knoten SET hidden_at = $2 WHERE id = $1`, k.ID, now)
			drafts = append(drafts, KnotenVerborgen.New(eventstore.Header{Subject: k.ID, Cell: k.Cell},
				KnotenVerborgenV1{KnotenID: k.ID, FadenIDs: []uuid.UUID{f.ID}}))
		}
		if err := eventstore.Append(tx, now, drafts...); err != nil {
			return err
		}
		if holder := s.screening.Holder(); held && holder != nil {
			return holder.HoldTx(ctx, tx, moderation.Target{Kind: moderation.KindKnoten, ID: k.ID.String()}, verdict, now)
		}
		return nil
	})
	if err != nil {
		return Knoten{}, Faden{}, err
	}
	return k, f, nil
}

const knotenColumns = `id, type, title, description, ST_Y(geom), ST_X(geom), h3, created_by, created_at,
       last_activity_at, garn_count, dissolves_at`

// alive is the condition for a Knoten that is still on the map at instant $1.
const alive = `dissolved_at IS NULL AND (dissolves_at IS NULL OR dissolves_at > $1)`

// shown is the condition for a Knoten the moderators have not hidden: every public read asks
// for it besides alive.
const shown = `hidden_at IS NULL`

// scanKnoten reads knotenColumns, then any extra columns into extra.
func scanKnoten(row pgx.Row, extra ...any) (Knoten, error) {
	var k Knoten
	err := row.Scan(append([]any{uuidTarget{&k.ID}, &k.Type, &k.Title, &k.Description, &k.Point.Lat, &k.Point.Lon, &k.Cell,
		uuidTarget{&k.CreatedBy}, &k.CreatedAt, &k.LastActivityAt, &k.GarnCount, &k.DissolvesAt}, extra...)...)
	k.CreatedAt, k.LastActivityAt = k.CreatedAt.UTC(), k.LastActivityAt.UTC()
	if k.DissolvesAt != nil {
		t := k.DissolvesAt.UTC()
		k.DissolvesAt = &t
	}
	return k, err
}

// Get returns a Knoten that is on the map: ErrKnotenNotFound for an unknown id,
// ErrKnotenDissolved for one that has dissolved, ErrKnotenHidden for one the moderators hid.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Knoten, error) {
	return getKnoten(ctx, s.pool, id, s.clock.Now(), uuid.Nil)
}

// GetAs is Get as viewer (uuid.Nil: anyone) sees it: a Knoten's creator still reads it while
// it is hidden, marked Hidden.
func (s *Service) GetAs(ctx context.Context, id, viewer uuid.UUID) (Knoten, error) {
	return getKnoten(ctx, s.pool, id, s.clock.Now(), viewer)
}

func getKnoten(ctx context.Context, q database.Querier, id uuid.UUID, now time.Time, viewer uuid.UUID) (Knoten, error) {
	var isAlive, hidden bool
	k, err := scanKnoten(q.QueryRow(ctx, `SELECT `+knotenColumns+`, `+alive+`, hidden_at IS NOT NULL FROM knoten WHERE id = $2`, now, id),
		&isAlive, &hidden)
	k.Hidden = hidden
	if errors.Is(err, pgx.ErrNoRows) {
		return Knoten{}, ErrKnotenNotFound
	}
	if err != nil {
		return Knoten{}, fmt.Errorf("knoten: get: %w", err)
	}
	if k.Hidden && (viewer == uuid.Nil || viewer != k.CreatedBy) {
		return Knoten{}, ErrKnotenHidden
	}
	if !isAlive {
		return Knoten{}, ErrKnotenDissolved
	}
	return k, nil
}

// lockKnoten locks a Knoten that is on the map for a write and returns its cell. Every write
// about a Knoten's Fäden takes this lock first, so they happen one after another.
func lockKnoten(ctx context.Context, tx *database.Tx, id uuid.UUID, now time.Time) (cell int64, err error) {
	var isAlive, hidden bool
	err = tx.QueryRow(ctx, `SELECT h3, `+alive+`, hidden_at IS NOT NULL FROM knoten WHERE id = $2 FOR UPDATE`, now, id).Scan(&cell, &isAlive, &hidden)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, ErrKnotenNotFound
	case err != nil:
		return 0, fmt.Errorf("knoten: lock: %w", err)
	case hidden:
		return 0, ErrKnotenHidden
	case !isAlive:
		return 0, ErrKnotenDissolved
	}
	return cell, nil
}

// BBox is a lon/lat box. MinLon > MaxLon means the box crosses the antimeridian.
type BBox struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// Valid reports whether the box's corners are real coordinates and south is below north.
func (b BBox) Valid() bool {
	for _, v := range []float64{b.MinLon, b.MinLat, b.MaxLon, b.MaxLat} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return b.MinLat <= b.MaxLat && b.MinLat >= -90 && b.MaxLat <= 90 &&
		b.MinLon >= -180 && b.MinLon <= 180 && b.MaxLon >= -180 && b.MaxLon <= 180
}

// Query selects Knoten for a listing. Zero fields do not filter.
type Query struct {
	Types []string
	BBox  *BBox
	Text  string // every word must occur in title or description (case-insensitive substring)
	Limit int
}

// Listing limits. A search is one trigram-index condition per word, so the number of words and
// their length bound what one request can make the database do (thousands of words took
// minutes).
const (
	DefaultLimit    = 1000
	MaxLimit        = 10000
	MaxSearchWords  = 8
	MaxSearchLength = 200 // characters
)

// List returns the Knoten on the map that match q, newest first.
func (s *Service) List(ctx context.Context, q Query) ([]Knoten, error) {
	sql, args, err := s.listStatement(q, knotenColumns)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("knoten: list: %w", err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Knoten, error) { return scanKnoten(r) })
	if err != nil {
		return nil, fmt.Errorf("knoten: list: %w", err)
	}
	return ks, nil
}

// listStatement checks q and builds the statement that lists it, selecting columns.
func (s *Service) listStatement(q Query, columns string) (string, []any, error) {
	for _, t := range q.Types {
		if !validKnotenType(t) {
			return "", nil, fault.Invalidf("type", "unknown_knoten_type", "Unknown Knoten type %q; known types: %s.", t, strings.Join(KnotenTypes, ", "))
		}
	}
	if q.BBox != nil && !q.BBox.Valid() {
		return "", nil, fault.Invalidf("bbox", "invalid_bbox", "bbox must be minLon,minLat,maxLon,maxLat in degrees, with minLat ≤ maxLat.")
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return "", nil, fault.Invalidf("limit", "invalid_limit", "limit must lie between 1 and %d.", MaxLimit)
	}
	if utf8.RuneCountInString(q.Text) > MaxSearchLength {
		return "", nil, fault.Invalidf("q", "search_too_long", "A search may be at most %d characters long.", MaxSearchLength)
	}
	words := searchWords(q.Text)
	if len(words) > MaxSearchWords {
		return "", nil, fault.Invalidf("q", "too_many_search_words", "A search may have at most %d words.", MaxSearchWords)
	}

	// Only the filters asked for go into the statement, so that each shape of query gets a
	// plan that uses its index (a generic "$n IS NULL OR …" plan would not).
	args := []any{s.clock.Now()}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where := []string{alive, shown}
	if len(q.Types) > 0 {
		where = append(where, "type = ANY("+arg(q.Types)+")")
	}
	if b := q.BBox; b != nil {
		if b.MinLon <= b.MaxLon {
			where = append(where, fmt.Sprintf("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", arg(b.MinLon), arg(b.MinLat), arg(b.MaxLon), arg(b.MaxLat)))
		} else {
			where = append(where, fmt.Sprintf("(geom && ST_MakeEnvelope(%s, %s, 180, %s, 4326) OR geom && ST_MakeEnvelope(-180, %s, %s, %s, 4326))",
				arg(b.MinLon), arg(b.MinLat), arg(b.MaxLat), arg(b.MinLat), arg(b.MaxLon), arg(b.MaxLat)))
		}
	}
	// One condition per word, each answered by the trigram index knoten_text (an ILIKE ALL
	// over an array of patterns is not: it ran every pattern against every Knoten).
	for _, w := range words {
		where = append(where, "(title || ' ' || description) ILIKE "+arg("%"+likeEscape(w)+"%"))
	}
	// Not in the return statement: there, whether args is read before or after arg appends
	// the limit is up to the compiler (the race build read it after, the normal one before).
	limit := arg(q.Limit)
	return `SELECT ` + columns + ` FROM knoten WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, id LIMIT ` + limit, args, nil
}

// searchWords are the distinct words of a search, compared without case.
func searchWords(text string) []string {
	var words []string
	for _, w := range strings.Fields(text) {
		if !slices.ContainsFunc(words, func(v string) bool { return strings.EqualFold(v, w) }) {
			words = append(words, w)
		}
	}
	return words
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
