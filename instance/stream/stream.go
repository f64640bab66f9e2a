// Package stream is the Partizipartei's livestreams (docs/STREAMS.md): streams with a title and
// an optional time, their ingest keys (stored as SHA-256 hashes, shown once), and their state,
// which the broadcaster's RTMP connection moves: nginx-rtmp asks the instance before it lets a
// broadcast in (Publish) and tells it when the broadcast ends (PublishDone). Every change is an
// event, written with its row in one transaction.
package stream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// State is where a stream stands.
type State string

const (
	// Geplant: made, not yet on air.
	Geplant State = "geplant"
	// Live: a broadcast is running; viewers find its HLS playlist.
	Live State = "live"
	// Unterbrochen: it was on air and the broadcast stopped (the broadcaster ended it, or the
	// connection dropped); the same key brings it back.
	Unterbrochen State = "unterbrochen"
	// Beendet: ended for good by an admin or streamer; no key lets it go live again.
	Beendet State = "beendet"
)

// Stream is a livestream as the API shows it. The ingest key is never part of it.
type Stream struct {
	ID          uuid.UUID
	Title       string
	ScheduledAt *time.Time
	State       State
	LiveSince   *time.Time // the current (or, when unterbrochen, the last) broadcast's start
	// FirstLiveAt is when the stream first went live: its post on the Fediverse is published
	// then (nil: it never went live, and there is no post).
	FirstLiveAt *time.Time
	CreatedAt   time.Time
	EndedAt     *time.Time
}

// StreamAngelegtV1: an admin or streamer made a stream.
type StreamAngelegtV1 struct {
	StreamID    uuid.UUID  `json:"stream_id"`
	Title       string     `json:"title"`
	ScheduledAt *time.Time `json:"scheduled_at"`
	By          uuid.UUID  `json:"by"`
}

// StreamGeaendertV1: an admin or streamer changed the stream's title or time (or both); the
// payload holds both as they are now (scheduled_at null: no time).
type StreamGeaendertV1 struct {
	StreamID    uuid.UUID  `json:"stream_id"`
	Title       string     `json:"title"`
	ScheduledAt *time.Time `json:"scheduled_at"`
	By          uuid.UUID  `json:"by"`
}

// StreamSchluesselErneuertV1: the stream's ingest key was replaced; the old one is refused
// from now on. Neither key nor hash is in the log: a key is a credential, like a session.
type StreamSchluesselErneuertV1 struct {
	StreamID uuid.UUID `json:"stream_id"`
	By       uuid.UUID `json:"by"`
}

// StreamGestartetV1: a broadcast with the stream's key was let in; the stream is live.
type StreamGestartetV1 struct {
	StreamID uuid.UUID `json:"stream_id"`
	// First: the stream went live for the first time. Only then do the Ortsweberei's followers
	// on the Fediverse get a post; a broadcast that comes back after a drop is no news.
	First bool `json:"first,omitempty"`
}

// StreamUnterbrochenV1: the broadcast ended; the stream is offline until it comes back.
type StreamUnterbrochenV1 struct {
	StreamID  uuid.UUID `json:"stream_id"`
	LiveSince time.Time `json:"live_since"`
}

// StreamBeendetV1: an admin or streamer ended the stream for good.
type StreamBeendetV1 struct {
	StreamID uuid.UUID `json:"stream_id"`
	By       uuid.UUID `json:"by"`
	// WasLive: the stream had gone live, so there is a post on the Fediverse that now says it
	// ended (an Update).
	WasLive bool `json:"was_live,omitempty"`
}

// A stream is a public assembly: that it exists, goes live and ends is public history (the
// federation slice of issue 17 announces it). Who rotated a key is the instance's own business.
var (
	StreamAngelegt           = eventstore.Define[StreamAngelegtV1]("StreamAngelegt", 1, eventstore.Public, "An admin or streamer made a livestream.")
	StreamGeaendert          = eventstore.Define[StreamGeaendertV1]("StreamGeaendert", 1, eventstore.Public, "An admin or streamer changed a livestream's title or time.")
	StreamSchluesselErneuert = eventstore.Define[StreamSchluesselErneuertV1]("StreamSchluesselErneuert", 1, eventstore.Private, "A livestream's ingest key was replaced.")
	StreamGestartet          = eventstore.Define[StreamGestartetV1]("StreamGestartet", 1, eventstore.Public, "A livestream went live.")
	StreamUnterbrochen       = eventstore.Define[StreamUnterbrochenV1]("StreamUnterbrochen", 1, eventstore.Public, "A livestream's broadcast stopped.")
	StreamBeendet            = eventstore.Define[StreamBeendetV1]("StreamBeendet", 1, eventstore.Public, "A livestream was ended for good.")
)

// Limits.
const (
	MaxTitle = 200
	// MaxPast is how many ended streams the listing shows, newest first.
	MaxPast = 50
	// MaxOpen bounds the live and the upcoming streams listed.
	MaxOpen = 100
	// keyBytes of randomness in an ingest key (hex in the key: 64 characters, far below
	// nginx-rtmp's 256-byte stream names).
	keyBytes = 32
)

// Errors a client can meet.
var (
	ErrNotFound = fault.NotFoundf("stream_not_found", "There is no stream with this id.")
	errMayNot   = fault.Forbiddenf("streamer_required", "Only an admin or a streamer (a role admins give) can make and run streams.")
	errEnded    = fault.Gonef("stream_ended", "This stream has ended; make a new one.")
	// errEditEnded: an ended stream is the record of an assembly held; its title and time stay
	// as they were. 410, as for everything that "existed and has ended" (docs/API.md): one
	// status for the one code, whatever the route.
	errEditEnded      = fault.Gonef("stream_ended", "This stream has ended; its title and time stay as they were.")
	errNoChange       = fault.Invalidf("", "stream_change_empty", "Name the title, the time or both.")
	errTitle          = fault.Invalidf("title", "invalid_title", "A stream's title is 1 to %d characters, without control characters.", MaxTitle)
	errScheduledPast  = fault.Invalidf("scheduled_at", "invalid_scheduled_at", "A stream's time must lie in the future.")
	ErrKeyRefused     = fault.Forbiddenf("ingest_key_refused", "This ingest key belongs to no stream that may go live.")
	errClientRequired = fault.Malformedf("invalid_client", "nginx-rtmp's call names no client.")
)

// Service makes, runs and reads streams.
type Service struct {
	pool  *pgxpool.Pool
	clock clock.Clock
}

// NewService returns the stream service.
func NewService(pool *pgxpool.Pool, c clock.Clock) *Service { return &Service{pool: pool, clock: c} }

// MayRun reports whether the account may make, rotate and end streams: admins, and the
// accounts they gave the role streamer. Every streamer runs every stream: the Ortsweberei's
// broadcast team shares them.
func MayRun(a account.Account) bool { return a.IsAdmin || a.Has(account.Streamer) }

// HashKey is the SHA-256 of an ingest key, as stored.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func newKey() (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func checkTitle(t string) (string, error) {
	t = strings.TrimSpace(t)
	if t == "" || utf8.RuneCountInString(t) > MaxTitle || strings.IndexFunc(t, unicode.IsControl) >= 0 {
		return "", errTitle
	}
	return t, nil
}

// Create makes a stream and its ingest key; the key is returned here and never again.
func (s *Service) Create(ctx context.Context, by account.Account, title string, scheduledAt *time.Time) (Stream, string, error) {
	if !MayRun(by) {
		return Stream{}, "", errMayNot
	}
	title, err := checkTitle(title)
	if err != nil {
		return Stream{}, "", err
	}
	now := s.clock.Now()
	if scheduledAt, err = checkSchedule(scheduledAt, now); err != nil {
		return Stream{}, "", err
	}
	key, err := newKey()
	if err != nil {
		return Stream{}, "", err
	}
	st := Stream{ID: uuid.Must(uuid.NewV7()), Title: title, ScheduledAt: scheduledAt, State: Geplant, CreatedAt: now}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO streams (id, title, scheduled_at, state, key_hash, created_by, key_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`,
			st.ID, st.Title, st.ScheduledAt, st.State, HashKey(key), by.ID, now)
		return eventstore.Append(tx, now, StreamAngelegt.New(eventstore.Header{Actor: by.ID, Subject: st.ID},
			StreamAngelegtV1{StreamID: st.ID, Title: st.Title, ScheduledAt: st.ScheduledAt, By: by.ID}))
	})
	if err != nil {
		return Stream{}, "", err
	}
	return st, key, nil
}

// Change is what Edit changes: nil leaves a field as it is; ScheduledAt set with a nil At takes
// the time away.
type Change struct {
	Title       *string
	ScheduledAt *Schedule
}

// Schedule is a stream's new time, nil for none.
type Schedule struct{ At *time.Time }

func checkSchedule(at *time.Time, now time.Time) (*time.Time, error) {
	if at == nil {
		return nil, nil
	}
	t := at.UTC().Truncate(time.Microsecond)
	if !t.After(now) {
		return nil, errScheduledPast
	}
	return &t, nil
}

// Edit changes a stream's title or time (not an ended stream's). What it sets is checked as
// Create checks it; a change that changes nothing writes nothing and returns the stream.
func (s *Service) Edit(ctx context.Context, by account.Account, id uuid.UUID, c Change) (Stream, error) {
	if !MayRun(by) {
		return Stream{}, errMayNot
	}
	if c.Title == nil && c.ScheduledAt == nil {
		return Stream{}, errNoChange
	}
	var title string
	if c.Title != nil {
		var err error
		if title, err = checkTitle(*c.Title); err != nil {
			return Stream{}, err
		}
	}
	now := s.clock.Now()
	var at *time.Time
	if c.ScheduledAt != nil {
		var err error
		if at, err = checkSchedule(c.ScheduledAt.At, now); err != nil {
			return Stream{}, err
		}
	}
	var st Stream
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		if st, err = running(ctx, tx, id, errEditEnded); err != nil {
			return err
		}
		was := st
		if c.Title != nil {
			st.Title = title
		}
		if c.ScheduledAt != nil {
			st.ScheduledAt = at
		}
		if st.Title == was.Title && sameTime(st.ScheduledAt, was.ScheduledAt) {
			return nil
		}
		tx.Defer(`UPDATE streams SET title = $2, scheduled_at = $3 WHERE id = $1`, id, st.Title, st.ScheduledAt)
		return eventstore.Append(tx, now, StreamGeaendert.New(eventstore.Header{Actor: by.ID, Subject: id},
			StreamGeaendertV1{StreamID: id, Title: st.Title, ScheduledAt: st.ScheduledAt, By: by.ID}))
	})
	if err != nil {
		return Stream{}, err
	}
	return st, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// RotateKey gives the stream a new ingest key and returns it (once); the old key is refused
// from now on, and a broadcast running with it is dropped at nginx's next update (Update); its
// end is still recognised.
func (s *Service) RotateKey(ctx context.Context, by account.Account, id uuid.UUID) (Stream, string, error) {
	if !MayRun(by) {
		return Stream{}, "", errMayNot
	}
	key, err := newKey()
	if err != nil {
		return Stream{}, "", err
	}
	var st Stream
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		if st, err = running(ctx, tx, id, errEnded); err != nil {
			return err
		}
		now := s.clock.Now()
		tx.Defer(`UPDATE streams SET key_hash = $2, key_by = $3 WHERE id = $1`, id, HashKey(key), by.ID)
		return eventstore.Append(tx, now, StreamSchluesselErneuert.New(eventstore.Header{Actor: by.ID, Subject: id},
			StreamSchluesselErneuertV1{StreamID: id, By: by.ID}))
	})
	if err != nil {
		return Stream{}, "", err
	}
	return st, key, nil
}

// End ends the stream for good: its key is forgotten and nothing brings it live again. A
// broadcast still running is dropped at nginx's next update (Update).
func (s *Service) End(ctx context.Context, by account.Account, id uuid.UUID) (Stream, error) {
	if !MayRun(by) {
		return Stream{}, errMayNot
	}
	var st Stream
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		if st, err = running(ctx, tx, id, errEnded); err != nil {
			return err
		}
		now := s.clock.Now()
		st.State, st.EndedAt = Beendet, &now
		tx.Defer(`UPDATE streams SET state = 'beendet', ended_at = $2, key_hash = NULL, key_by = NULL, live_key_hash = NULL, live_client = NULL, reported_at = NULL WHERE id = $1`, id, now)
		return eventstore.Append(tx, now, StreamBeendet.New(eventstore.Header{Actor: by.ID, Subject: id},
			StreamBeendetV1{StreamID: id, By: by.ID, WasLive: st.FirstLiveAt != nil}))
	})
	if err != nil {
		return Stream{}, err
	}
	return st, nil
}

// Publish is nginx-rtmp's question before it lets a broadcast in: key is the stream name the
// broadcaster sent, client nginx's id of the connection. A valid key of a stream that has not
// ended brings it live and returns its id, the name nginx is to push the broadcast under (and
// write the HLS files as). Anything else is ErrKeyRefused, and nothing is written.
//
// A stream that is live already is answered as well, and nothing changes: the broadcast that
// went live stays the one whose end takes the stream offline. nginx itself refuses the second
// publisher ("already publishing") and then reports its end, which must not end the first.
func (s *Service) Publish(ctx context.Context, key, client string) (uuid.UUID, error) {
	return s.publishing(ctx, key, client, false)
}

// Update is nginx-rtmp's word, every notify_update_timeout, that a connection still publishes
// with key. A key that no longer lets a stream go live (rotated away, or the stream ended) is
// ErrKeyRefused, on which nginx drops the broadcast: rotation and the end cut a running
// broadcast off within one update. For a valid key the connection is the stream's broadcast
// (nginx keeps one publisher per stream), which repairs what the instance may have missed: a
// stream left live by a broadcast whose end nginx never reported (nginx restarted) follows the
// broadcast that runs now, and a stream not live goes live. Every update is remembered
// (reported_at): a live stream whose updates stop is taken offline by Sweep.
func (s *Service) Update(ctx context.Context, key, client string) (uuid.UUID, error) {
	return s.publishing(ctx, key, client, true)
}

func (s *Service) publishing(ctx context.Context, key, client string, takeOver bool) (uuid.UUID, error) {
	if key == "" || len(key) > 2*keyBytes+64 {
		return uuid.Nil, ErrKeyRefused
	}
	if client == "" || len(client) > 64 {
		return uuid.Nil, errClientRequired
	}
	hash := HashKey(key)
	var id uuid.UUID
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var state State
		var liveClient *string
		var firstLive *time.Time
		var keyBy *uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id, state, live_client, first_live_at, key_by FROM streams WHERE key_hash = $1 FOR UPDATE`, hash).
			Scan(&id, &state, &liveClient, &firstLive, &keyBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrKeyRefused
		}
		if err != nil {
			return err
		}
		now := s.clock.Now()
		if err := mayHold(ctx, tx, keyBy, now); err != nil {
			return err
		}
		if state == Live {
			switch {
			case takeOver && (liveClient == nil || *liveClient != client):
				tx.Defer(`UPDATE streams SET live_key_hash = $2, live_client = $3, reported_at = $4 WHERE id = $1`, id, hash, client, now)
			case takeOver:
				tx.Defer(`UPDATE streams SET reported_at = $2 WHERE id = $1`, id, now)
			}
			return nil
		}
		tx.Defer(`UPDATE streams SET state = 'live', live_since = $2, live_key_hash = $3, live_client = $4, reported_at = $2,
  first_live_at = coalesce(first_live_at, $2) WHERE id = $1`, id, now, hash, client)
		return eventstore.Append(tx, now, StreamGestartet.New(eventstore.Header{Subject: id}, StreamGestartetV1{StreamID: id, First: firstLive == nil}))
	})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// mayHold refuses a key whose holder (the account it was shown to: who made the stream or last
// rotated its key) may no longer run streams: banned, suspended, no longer admin or streamer, or
// gone. A key is a credential handed to a person; a sanction that takes away their voice in the
// Nähstübchen must not leave them the Ortsweberei's broadcast. On an update the refusal makes
// nginx drop the running broadcast, as a rotation does.
func mayHold(ctx context.Context, tx *database.Tx, keyBy *uuid.UUID, now time.Time) error {
	if keyBy == nil {
		return ErrKeyRefused // its holder's account is gone
	}
	a, err := account.GetTx(ctx, tx, *keyBy, false)
	if errors.Is(err, account.ErrNotFound) {
		return ErrKeyRefused
	}
	if err != nil {
		return err
	}
	if !MayRun(a) || a.MayWrite(now) != nil {
		return ErrKeyRefused
	}
	return nil
}

// PublishDone is nginx-rtmp's word that a broadcast ended: key is the name the broadcaster
// sent (nginx reports the name it was asked for, not the one it pushed to), client the
// connection. The stream that connection brought live goes offline, and its id is returned.
// Any other connection's end changes nothing (uuid.Nil): nginx also reports the end of
// publishers it refused itself.
func (s *Service) PublishDone(ctx context.Context, key, client string) (uuid.UUID, error) {
	if key == "" || len(key) > 2*keyBytes+64 || client == "" || len(client) > 64 {
		return uuid.Nil, nil
	}
	hash := HashKey(key)
	var id uuid.UUID
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var since time.Time
		err := tx.QueryRow(ctx, `SELECT id, live_since FROM streams WHERE live_key_hash = $1 AND live_client = $2 FOR UPDATE`, hash, client).Scan(&id, &since)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.clock.Now()
		tx.Defer(`UPDATE streams SET state = 'unterbrochen', live_key_hash = NULL, live_client = NULL, reported_at = NULL WHERE id = $1`, id)
		return eventstore.Append(tx, now, StreamUnterbrochen.New(eventstore.Header{Subject: id}, StreamUnterbrochenV1{StreamID: id, LiveSince: since}))
	})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// UpdateInterval is how often nginx-rtmp reports a running broadcast (notify_update_timeout in
// deploy/nginx/weltgewebe.conf). Silence is how long a live stream may go without a report
// before Sweep takes it offline: three missed updates, so that one late or lost callback (an
// instance restart, a slow request) does not cut an assembly short.
const (
	UpdateInterval = 30 * time.Second
	Silence        = 3 * UpdateInterval
)

// Sweep takes offline every live stream that nginx has not reported for longer than silence
// (on_publish, then every on_update), by the instance clock: nginx died, or the machine it ran
// on, and no on_publish_done will ever come. Each goes to unterbrochen with a
// StreamUnterbrochen of its own, as if nginx had reported the end; a broadcast that still runs
// brings it back at its next update. It returns how many it took offline.
func (s *Service) Sweep(ctx context.Context, silence time.Duration) (int, error) {
	now := s.clock.Now()
	var n int
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		// A stream a callback is busy with is left for the next round: that callback is a report.
		rows, err := tx.Query(ctx, `SELECT id, live_since FROM streams WHERE state = 'live' AND reported_at < $1 FOR UPDATE SKIP LOCKED`,
			now.Add(-silence))
		if err != nil {
			return err
		}
		var drafts []eventstore.Draft
		var ids []uuid.UUID
		var id uuid.UUID
		var since time.Time
		if _, err := pgx.ForEachRow(rows, []any{&id, &since}, func() error {
			ids = append(ids, id)
			drafts = append(drafts, StreamUnterbrochen.New(eventstore.Header{Subject: id}, StreamUnterbrochenV1{StreamID: id, LiveSince: since}))
			return nil
		}); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		n = len(ids)
		tx.Defer(`UPDATE streams SET state = 'unterbrochen', live_key_hash = NULL, live_client = NULL, reported_at = NULL WHERE id = ANY($1)`, ids)
		return eventstore.AppendEach(tx, now, drafts...)
	})
	if err != nil {
		return 0, fmt.Errorf("stream: sweep: %w", err)
	}
	return n, nil
}

const columns = `id, title, scheduled_at, state, live_since, first_live_at, created_at, ended_at`

func scan(row pgx.Row) (Stream, error) {
	var st Stream
	err := row.Scan(&st.ID, &st.Title, &st.ScheduledAt, &st.State, &st.LiveSince, &st.FirstLiveAt, &st.CreatedAt, &st.EndedAt)
	return st, err
}

func get(ctx context.Context, q database.Querier, id uuid.UUID, lock bool) (Stream, error) {
	sql := `SELECT ` + columns + ` FROM streams WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	st, err := scan(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Stream{}, ErrNotFound
	}
	return st, err
}

// running is the stream, its row held FOR UPDATE until tx ends, for a change that an ended
// stream refuses (with ended: 410 stream_ended, worded for the route).
func running(ctx context.Context, tx *database.Tx, id uuid.UUID, ended error) (Stream, error) {
	st, err := get(ctx, tx, id, true)
	if err == nil && st.State == Beendet {
		return Stream{}, ended
	}
	return st, err
}

// Get returns one stream.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Stream, error) {
	return get(ctx, s.pool, id, false)
}

// Listing is the streams as the overview shows them.
type Listing struct {
	Live     []Stream // on air, the latest to start first
	Upcoming []Stream // made or interrupted, not ended: the scheduled by their time, then the unscheduled
	Past     []Stream // ended, the latest first, at most MaxPast
}

// List returns what is live, what is to come and what is past.
func (s *Service) List(ctx context.Context) (Listing, error) {
	var l Listing
	for _, q := range []struct {
		into *[]Stream
		sql  string
	}{
		{&l.Live, `SELECT ` + columns + ` FROM streams WHERE state = 'live' ORDER BY live_since DESC, id LIMIT ` + strconv.Itoa(MaxOpen)},
		{&l.Upcoming, `SELECT ` + columns + ` FROM streams WHERE state IN ('geplant', 'unterbrochen') ORDER BY scheduled_at NULLS LAST, created_at, id LIMIT ` + strconv.Itoa(MaxOpen)},
		{&l.Past, `SELECT ` + columns + ` FROM streams WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, id LIMIT ` + strconv.Itoa(MaxPast)},
	} {
		rows, err := s.pool.Query(ctx, q.sql)
		if err != nil {
			return Listing{}, err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stream, error) { return scan(r) })
		if err != nil {
			return Listing{}, err
		}
		*q.into = list
	}
	return l, nil
}
