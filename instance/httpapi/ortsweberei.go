package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/chat"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

type ortswebereiJSON struct {
	Name   string          `json:"name"`
	Bounds json.RawMessage `json:"bounds"` // GeoJSON MultiPolygon or null
	// Timezone is the IANA name of the zone the instance reads dates in (serve --timezone): the
	// app asks the timeline for the Ortsweberei's days, not the device's.
	Timezone  string         `json:"timezone"`
	Fediverse *fediverseJSON `json:"fediverse,omitempty"`
	Limits    limitsJSON     `json:"limits"`
}

// limitsJSON are the instance's limits on what residents write, in characters: the app's
// fields take them from here, so that the app and the rules cannot drift apart.
type limitsJSON struct {
	KnotenTitle       int `json:"knoten_title"`
	KnotenDescription int `json:"knoten_description"`
	AntragTitle       int `json:"antrag_title"`
	AntragDetails     int `json:"antrag_details"`
	EinspruchReason   int `json:"einspruch_reason"`
	ChatText          int `json:"chat_text"`
	Name              int `json:"name"`
}

var limits = limitsJSON{
	KnotenTitle: knoten.MaxTitle, KnotenDescription: knoten.MaxDescription,
	AntragTitle: antrag.MaxTitle, AntragDetails: antrag.MaxDetails, EinspruchReason: antrag.MaxReason,
	ChatText: chat.MaxText, Name: account.MaxName,
}

func (s *Server) ortswebereiView(o ortsweberei.Ortsweberei) ortswebereiJSON {
	v := ortswebereiJSON{Name: o.Name, Bounds: o.Bounds, Timezone: s.zoneName(), Limits: limits}
	if v.Bounds == nil {
		v.Bounds = json.RawMessage("null")
	}
	if s.Federation != nil {
		v.Fediverse = &fediverseJSON{Actor: s.Federation.GroupIRI(), Handle: s.Federation.GroupHandle()}
	}
	return v
}

// zoneName is the Ortsweberei's time zone as the timeline reads dates in it (the snapshots'
// schedule's), else the bank's.
func (s *Server) zoneName() string {
	if s.Timeline != nil {
		return s.Timeline.Location().String()
	}
	return s.timezone().String()
}

func (s *Server) getOrtsweberei(w http.ResponseWriter, r *http.Request) error {
	o, err := s.Ortsweberei.Get(r.Context())
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, s.ortswebereiView(o))
	return nil
}

type setOrtswebereiRequest struct {
	Name   *string         `json:"name"`
	Bounds json.RawMessage `json:"bounds"`
}

func (s *Server) setOrtsweberei(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in setOrtswebereiRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return missing("name")
	}
	o, err := s.Ortsweberei.Set(r.Context(), me, *in.Name, in.Bounds)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, s.ortswebereiView(o))
	return nil
}
