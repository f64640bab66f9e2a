package httpapi

import (
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
	out := map[string]any{
		"as_of":  st.AsOf.Format(time.RFC3339Nano),
		"date":   date,
		"source": st.Source,
		// The Ortskonto as of the moment, in the snapshot's shape; null when none was set up.
		"ortskonto": st.Ortskonto,
	}
	for _, sec := range timeline.Sections {
		objs := st.Objects[sec]
		if objs == nil {
			objs = []json.RawMessage{}
		}
		out[sec] = objs
	}
	// A past moment's state changes only if a replay was inexact and the events are found
	// again, which they are not: still, a short cache, since "today" answers with now.
	w.Header().Set("Cache-Control", "public, max-age=60")
	respond.JSON(w, http.StatusOK, out)
	return nil
}
