package httpapi

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/stream"
)

// HLSPath is where nginx serves a live stream's playlist (deploy/nginx/weltgewebe.conf, its
// hls_path): the stream's public id, never its key, names the files.
func HLSPath(id uuid.UUID) string { return "/hls/" + id.String() + ".m3u8" }

// maxRTMPForm bounds the form nginx-rtmp posts (its fields are bounded by nginx-rtmp itself:
// names and args of at most 256 bytes each, a few short others).
const maxRTMPForm = 8 << 10

func (s *Server) streamRoutes() {
	if s.Streams == nil {
		return
	}
	s.handle("GET /api/streams", s.listStreams)
	s.handle("POST /api/streams", s.authed(s.createStream))
	s.handle("GET /api/streams/{id}", s.getStream)
	s.handle("PATCH /api/streams/{id}", s.authed(s.editStream))
	s.handle("POST /api/streams/{id}/key", s.authed(s.rotateStreamKey))
	s.handle("POST /api/streams/{id}/end", s.authed(s.endStream))
	// nginx-rtmp's callbacks (docs/STREAMS.md). Outside /api/: no browser has business here,
	// the public nginx answers 404 for /internal/, and the shared secret is checked first.
	s.handle("POST /internal/rtmp/publish", s.rtmpPublish)
	s.handle("POST /internal/rtmp/publish_done", s.rtmpPublishDone)
	s.handle("POST /internal/rtmp/update", s.rtmpUpdate)
}

type streamJSON struct {
	ID          uuid.UUID    `json:"id"`
	Title       string       `json:"title"`
	State       stream.State `json:"state"`
	ScheduledAt *time.Time   `json:"scheduled_at"`
	LiveSince   *time.Time   `json:"live_since"`
	CreatedAt   time.Time    `json:"created_at"`
	EndedAt     *time.Time   `json:"ended_at"`
	// HLSURL is the playlist while the stream is live, a path on this origin.
	HLSURL string `json:"hls_url,omitempty"`
	// IngestKey is in the answers to POST /api/streams and POST …/key only.
	IngestKey string `json:"ingest_key,omitempty"`
}

func streamView(st stream.Stream) streamJSON {
	v := streamJSON{ID: st.ID, Title: st.Title, State: st.State, ScheduledAt: st.ScheduledAt, LiveSince: st.LiveSince,
		CreatedAt: st.CreatedAt, EndedAt: st.EndedAt}
	if st.State == stream.Live {
		v.HLSURL = HLSPath(st.ID)
	}
	return v
}

func streamViews(list []stream.Stream) []streamJSON {
	out := make([]streamJSON, 0, len(list))
	for _, st := range list {
		out = append(out, streamView(st))
	}
	return out
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) error {
	l, err := s.Streams.List(r.Context())
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, map[string][]streamJSON{
		"live": streamViews(l.Live), "upcoming": streamViews(l.Upcoming), "past": streamViews(l.Past)})
	return nil
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, stream.ErrNotFound)
	if err != nil {
		return err
	}
	st, err := s.Streams.Get(r.Context(), id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, streamView(st))
	return nil
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in struct {
		Title       *string    `json:"title"`
		ScheduledAt *time.Time `json:"scheduled_at"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Title == nil {
		return missing("title")
	}
	st, key, err := s.Streams.Create(r.Context(), me, *in.Title, in.ScheduledAt)
	return withKey(w, http.StatusCreated, st, key, err)
}

// optional is a member that may be absent (set false), null (v nil) or a value: PATCH tells
// "leave it" from "take it away".
type optional[T any] struct {
	set bool
	v   *T
}

// UnmarshalJSON is called for a member that is there, null included.
func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.set = true
	return json.Unmarshal(b, &o.v)
}

func (s *Server) editStream(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, stream.ErrNotFound)
	if err != nil {
		return err
	}
	var in struct {
		Title       optional[string]    `json:"title"`
		ScheduledAt optional[time.Time] `json:"scheduled_at"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	var c stream.Change
	if in.Title.set {
		empty := ""
		c.Title = cmp.Or(in.Title.v, &empty) // null is no title: refused as an empty one
	}
	if in.ScheduledAt.set {
		c.ScheduledAt = &stream.Schedule{At: in.ScheduledAt.v}
	}
	st, err := s.Streams.Edit(r.Context(), me, id, c)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, streamView(st))
	return nil
}

// withKey answers with the stream and its new ingest key: the one time the key is shown.
func withKey(w http.ResponseWriter, status int, st stream.Stream, key string, err error) error {
	if err != nil {
		return err
	}
	v := streamView(st)
	v.IngestKey = key
	respond.JSON(w, status, v)
	return nil
}

func (s *Server) rotateStreamKey(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, stream.ErrNotFound)
	if err != nil {
		return err
	}
	st, key, err := s.Streams.RotateKey(r.Context(), me, id)
	return withKey(w, http.StatusOK, st, key, err)
}

func (s *Server) endStream(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, stream.ErrNotFound)
	if err != nil {
		return err
	}
	st, err := s.Streams.End(r.Context(), me, id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, streamView(st))
	return nil
}

var (
	errIngestOff   = fault.Forbiddenf("ingest_off", "This instance takes no broadcasts: it has no RTMP secret (serve --rtmp-secret).")
	errRTMPSecret  = fault.Forbiddenf("rtmp_secret_refused", "This call does not carry the RTMP secret.")
	errRTMPMalform = fault.Malformedf("invalid_rtmp_call", "nginx-rtmp's call could not be read.")
)

// rtmpForm checks the shared secret (the query's "secret", as the on_publish URL in nginx's
// config carries it) and reads nginx-rtmp's form: the stream name the broadcaster sent (the
// ingest key) and nginx's id of the connection.
func (s *Server) rtmpForm(r *http.Request) (key, client string, err error) {
	if s.RTMPSecret == "" {
		return "", "", errIngestOff
	}
	// Compared as digests: the comparison takes as long whatever the length of the guess.
	got, want := sha256.Sum256([]byte(r.URL.Query().Get("secret"))), sha256.Sum256([]byte(s.RTMPSecret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "", "", errRTMPSecret
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxRTMPForm)
	if err := r.ParseForm(); err != nil {
		return "", "", errRTMPMalform
	}
	return r.PostForm.Get("name"), r.PostForm.Get("clientid"), nil
}

// HLSApp is the nginx-rtmp application that writes the HLS files (deploy/nginx/weltgewebe.conf):
// a broadcast let in is relayed there under the stream's id.
const HLSApp = "hls"

// defaultRelay is where nginx-rtmp listens when its callback URL names no relay: the standard
// RTMP port of the same host.
const defaultRelay = "127.0.0.1:1935"

var errRTMPRelay = fault.Malformedf("invalid_relay", "The relay in nginx's callback URL must be an IP address and port, such as 127.0.0.1:1935.")

// rtmpPublish answers nginx-rtmp's on_publish. A 3xx whose Location is an rtmp:// URL lets the
// broadcast in and makes nginx push it there: to its own application HLSApp under the stream's
// public id, so that the HLS files and their URLs carry the id, never the key. (A 3xx with a
// bare name would rename the stream, but Debian's nginx-rtmp 1.2.2 has its HLS writer take the
// name before on_publish answers: the files were named by the key. The push is read from the
// module's source, ngx_rtmp_notify_publish_handle, and proven by TestStreamIngestChain.) nginx
// resolves no name for a push, so the relay is an IP address and port, given by the callback
// URL's query ("relay", default 127.0.0.1:1935): nginx's config knows where nginx listens.
// Any 4xx refuses the broadcast.
func (s *Server) rtmpPublish(w http.ResponseWriter, r *http.Request) error {
	key, client, err := s.rtmpForm(r)
	if err != nil {
		return err
	}
	relay := r.URL.Query().Get("relay")
	if relay == "" {
		relay = defaultRelay
	}
	if _, err := netip.ParseAddrPort(relay); err != nil {
		return errRTMPRelay
	}
	id, err := s.Streams.Publish(r.Context(), key, client)
	if err != nil {
		if fault.Is(err, stream.ErrKeyRefused.Code) {
			s.refusedIngest.Warn(s.Log, "a broadcast with an unknown or revoked ingest key was refused", "addr", r.PostForm.Get("addr"))
		}
		return err
	}
	s.Log.InfoContext(r.Context(), "a broadcast was let in: the stream is live", "stream", id, "client", client)
	// Set by hand: http.Redirect would take the URL apart and put it together again.
	w.Header().Set("Location", "rtmp://"+relay+"/"+HLSApp+"/"+id.String())
	w.WriteHeader(http.StatusFound)
	return nil
}

// rtmpPublishDone answers nginx-rtmp's on_publish_done (whose answer nginx ignores).
func (s *Server) rtmpPublishDone(w http.ResponseWriter, r *http.Request) error {
	key, client, err := s.rtmpForm(r)
	if err != nil {
		return err
	}
	id, err := s.Streams.PublishDone(r.Context(), key, client)
	if err != nil {
		return err
	}
	if id != uuid.Nil {
		s.Log.InfoContext(r.Context(), "a broadcast ended: the stream is offline", "stream", id)
	} else {
		s.Log.InfoContext(r.Context(), "an RTMP publisher ended that was no stream's broadcast", "client", client)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// throttledLog writes a warning at most once per interval and says how many it left out: a
// broadcaster's software retrying a wrong key every second must not fill the log.
type throttledLog struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

const throttleEvery = 10 * time.Second

func (t *throttledLog) Warn(log *slog.Logger, msg string, args ...any) {
	t.mu.Lock()
	now := time.Now() // the log's pace, not a rule: wall time
	if !t.last.IsZero() && now.Sub(t.last) < throttleEvery {
		t.skipped++
		t.mu.Unlock()
		return
	}
	skipped := t.skipped
	t.last, t.skipped = now, 0
	t.mu.Unlock()
	log.Warn(msg, append(args, "left_out_before", skipped)...)
}

// rtmpUpdate answers nginx-rtmp's on_update, sent every notify_update_timeout for each running
// broadcast: 204 keeps it on, 403 (the key was rotated away or the stream ended) makes nginx drop
// it.
func (s *Server) rtmpUpdate(w http.ResponseWriter, r *http.Request) error {
	key, client, err := s.rtmpForm(r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("call") == "update_play" {
		w.WriteHeader(http.StatusNoContent) // nobody plays over RTMP (deny play all); not ours to judge
		return nil
	}
	if _, err := s.Streams.Update(r.Context(), key, client); err != nil {
		if fault.Is(err, stream.ErrKeyRefused.Code) {
			s.Log.InfoContext(r.Context(), "a running broadcast's key no longer lets its stream go live: nginx drops it", "client", client)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
