package httpapi

import (
	"net/http"
	"strconv"

	"github.com/weltgewebe/weltgewebe/instance/adressen"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

type adresseJSON struct {
	Label       string  `json:"label"`
	Kind        string  `json:"kind"`
	Street      string  `json:"street"`
	HouseNumber string  `json:"housenumber"`
	Postcode    string  `json:"postcode"`
	City        string  `json:"city"`
	Name        string  `json:"name"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Inside      bool    `json:"inside"`
}

// searchAdressen is public: registration needs it before there is a session.
func (s *Server) searchAdressen(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	limit := 0
	if l, ok := v["limit"]; ok {
		n, err := strconv.Atoi(l[0])
		if err != nil || n == 0 {
			return adressen.ErrInvalidLimit
		}
		limit = n
	}
	found, err := s.Adressen.Search(r.Context(), v.Get("q"), limit)
	if err != nil {
		return err
	}
	out := make([]adresseJSON, len(found))
	for i, a := range found {
		out[i] = adresseJSON{Label: a.Label, Kind: a.Kind, Street: a.Street, HouseNumber: a.HouseNumber, Postcode: a.Postcode,
			City: a.City, Name: a.Name, Lat: a.Point.Lat, Lon: a.Point.Lon, Inside: a.Inside}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"adressen": out})
	return nil
}
