package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
)

// getTimeline: the public map as it was at a moment inside a box (docs/SNAPSHOTS.md, "The
// timeline"): ?date=YYYY-MM-DD[&at=HH:MM]&bbox=minLon,minLat,maxLon,maxLat, in the
// Ortsweberei's time zone.
func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request) error {
	if s.Timeline == nil {
		return fault.NotFoundf("timeline_off", "This Ortsweberei keeps no timeline.")
	}
	v := r.URL.Query()
	date := v.Get("date")
	m, err := s.Timeline.Moment(date, v.Get("at"))
	if err != nil {
		return err
	}
	if v.Get("bbox") == "" {
		return missing("bbox")
	}
	box, err := parseBBox(v.Get("bbox"))
	if err != nil {
		return err
	}
	st, err := s.Timeline.At(r.Context(), m, box)
	if err != nil {
		return err
	}
	// Not cached by HTTP (respond's no-store): a past moment's answer changes when a moderator
	// hides or shows what it holds, and "today" answers with now. The web app keeps the days
	// it scrubs through itself.
	respond.JSONBytes(w, http.StatusOK, timelineJSON(st, date))
	return nil
}

// timelineJSON is the answer as respond.JSON writes a map of it (the keys in sorted order,
// compact, a newline at the end), written directly: the objects are JSON already, and
// encoding/json would validate and compact each of them again (as much CPU as answering).
// TestTimelineJSONAsEncodingJSON holds the two equal.
func timelineJSON(st timeline.State, date string) []byte {
	size := 256 + len(st.Ortskonto)
	for _, objs := range st.Objects {
		for _, o := range objs {
			size += len(o) + 1
		}
	}
	b := make([]byte, 0, size)
	value := func(v any) { // as respond.JSON's encoder writes it
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		b = append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	}
	section := func(sec string) {
		b = append(b, '"')
		b = append(b, sec...)
		b = append(b, `":[`...)
		for i, o := range st.Objects[sec] {
			if i > 0 {
				b = append(b, ',')
			}
			b = timeline.AppendCompact(b, o)
		}
		b = append(b, "],"...)
	}
	// The keys in sorted order, as encoding/json writes a map.
	b = append(b, '{')
	section("antraege")
	b = append(b, `"as_of":`...)
	value(st.AsOf.Format(time.RFC3339Nano))
	b = append(b, `,"date":`...)
	value(date)
	b = append(b, ',')
	section("faeden")
	section("garnrollen")
	section("goldfaeden")
	section("knoten")
	// The Ortskonto as of the moment, in the snapshot's shape; null when none was set up.
	b = append(b, `"ortskonto":`...)
	if st.Ortskonto == nil {
		b = append(b, "null"...)
	} else {
		b = timeline.AppendCompact(b, st.Ortskonto)
	}
	b = append(b, `,"source":`...)
	value(st.Source)
	return append(b, "}\n"...)
}
