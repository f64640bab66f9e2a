package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/wire"
)

type (
	knotenJSON = wire.Knoten
	fadenJSON  = wire.Faden
)

func knotenView(k knoten.Knoten) knotenJSON { return wire.KnotenOf(k) }
func fadenView(f knoten.Faden) fadenJSON    { return wire.FadenOf(f) }

type placeKnotenRequest struct {
	Type        *string  `json:"type"`
	Title       *string  `json:"title"`
	Description *string  `json:"description"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
}

func (s *Server) placeKnoten(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in placeKnotenRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	switch {
	case in.Type == nil:
		return missing("type")
	case in.Title == nil:
		return missing("title")
	case in.Lat == nil:
		return missing("lat")
	case in.Lon == nil:
		return missing("lon")
	}
	p := knoten.Placement{Type: *in.Type, Title: *in.Title, Point: geo.Point{Lat: *in.Lat, Lon: *in.Lon}}
	if in.Description != nil {
		p.Description = *in.Description
	}
	k, f, err := s.Knoten.Place(r.Context(), me.ID, p)
	if err != nil {
		return err
	}
	f.AccountName = me.Name
	respond.JSON(w, http.StatusCreated, struct {
		knotenJSON
		Faden fadenJSON `json:"faden"`
	}{knotenView(k), fadenView(f)})
	return nil
}

func (s *Server) listKnoten(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	var q knoten.Query
	for _, t := range v["type"] {
		for _, part := range strings.Split(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				q.Types = append(q.Types, part)
			}
		}
	}
	if b := v.Get("bbox"); b != "" {
		box, err := parseBBox(b)
		if err != nil {
			return err
		}
		q.BBox = &box
	}
	q.Text = v.Get("q")
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return fault.Invalidf("limit", "invalid_limit", "limit must be a positive whole number (at most %d).", knoten.MaxLimit)
		}
		q.Limit = n
	}
	pins := false
	switch f := v["fields"]; {
	case len(f) == 0:
	case len(f) == 1 && f[0] == "pin":
		pins = true
	default:
		return fault.Invalidf("fields", "invalid_fields", "fields may only be pin (each Knoten as its map pin), once.")
	}

	// Encoded by hand (wire.AppendKnoten, wire.AppendPin: the bytes encoding/json would
	// write) into a buffer kept for the next listing: encoding/json took longer than the query.
	buf := listBuffers.Get().(*[]byte)
	b := append((*buf)[:0], `{"knoten":[`...)
	if pins {
		ps, err := s.Knoten.Pins(r.Context(), q)
		if err != nil {
			return err
		}
		for i, p := range ps {
			if i > 0 {
				b = append(b, ',')
			}
			b = wire.AppendPin(b, p)
		}
	} else {
		ks, err := s.Knoten.List(r.Context(), q)
		if err != nil {
			return err
		}
		for i, k := range ks {
			if i > 0 {
				b = append(b, ',')
			}
			b = wire.AppendKnoten(b, k)
		}
	}
	b = append(b, "]}\n"...)
	respond.JSONCompressible(w, r, http.StatusOK, b)
	if cap(b) <= maxListBuffer {
		*buf = b
		listBuffers.Put(buf)
	}
	return nil
}

// listBuffers keep the listings' encoding buffers. One grows to the largest listing it held
// (~450 bytes per Knoten: a few MB at the limit of 10,000), so a buffer that grew past
// maxListBuffer is let go rather than kept.
var listBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxListBuffer = 1 << 20

func (s *Server) getKnoten(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, knoten.ErrKnotenNotFound)
	if err != nil {
		return err
	}
	viewer, err := s.viewer(r)
	if err != nil {
		return err
	}
	k, err := s.Knoten.GetAs(r.Context(), id, viewer)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, knotenView(k))
	return nil
}

func (s *Server) listFaeden(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, knoten.ErrKnotenNotFound)
	if err != nil {
		return err
	}
	viewer, err := s.viewer(r)
	if err != nil {
		return err
	}
	fs, err := s.Knoten.FaedenAs(r.Context(), id, viewer)
	if err != nil {
		return err
	}
	out := make([]fadenJSON, len(fs))
	for i, f := range fs {
		out[i] = fadenView(f)
	}
	respond.JSON(w, http.StatusOK, map[string]any{"faeden": out})
	return nil
}

type spinFadenRequest struct {
	ToKnotenID *string `json:"to_knoten_id"`
	Type       *string `json:"type"`
	IsTwisted  *bool   `json:"is_twisted"`
}

func (s *Server) spinFaden(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in spinFadenRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	switch {
	case in.ToKnotenID == nil:
		return missing("to_knoten_id")
	case in.Type == nil:
		return missing("type")
	}
	kid, err := uuid.Parse(*in.ToKnotenID)
	if err != nil {
		return knoten.ErrKnotenNotFound
	}
	f, err := s.Knoten.Spin(r.Context(), me.ID, knoten.Spinning{KnotenID: kid, Type: *in.Type, Twisted: in.IsTwisted != nil && *in.IsTwisted})
	if err != nil {
		return err
	}
	f.AccountName = me.Name
	respond.JSON(w, http.StatusCreated, fadenView(f))
	return nil
}

func (s *Server) twistFaden(w http.ResponseWriter, r *http.Request, me account.Account) error {
	return s.changeFaden(w, r, me, s.Knoten.Twist)
}

func (s *Server) untwistFaden(w http.ResponseWriter, r *http.Request, me account.Account) error {
	return s.changeFaden(w, r, me, s.Knoten.Untwist)
}

func (s *Server) changeFaden(w http.ResponseWriter, r *http.Request, me account.Account,
	change func(ctx context.Context, actor, fadenID uuid.UUID) (knoten.Faden, error)) error {
	id, err := pathID(r, knoten.ErrFadenNotFound)
	if err != nil {
		return err
	}
	f, err := change(r.Context(), me.ID, id)
	if err != nil {
		return err
	}
	f.AccountName = me.Name
	respond.JSON(w, http.StatusOK, fadenView(f))
	return nil
}

// parseBBox reads minLon,minLat,maxLon,maxLat.
func parseBBox(b string) (knoten.BBox, error) {
	parts := strings.Split(b, ",")
	var nums [4]float64
	if len(parts) != 4 {
		return knoten.BBox{}, fault.Malformedf("malformed_bbox", "bbox must be four numbers: minLon,minLat,maxLon,maxLat.")
	}
	for i, p := range parts {
		n, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return knoten.BBox{}, fault.Malformedf("malformed_bbox", "bbox must be four numbers: minLon,minLat,maxLon,maxLat.")
		}
		nums[i] = n
	}
	return knoten.BBox{MinLon: nums[0], MinLat: nums[1], MaxLon: nums[2], MaxLat: nums[3]}, nil
}
