package httpapi

import (
	"errors"
	"net/http"

	"github.com/weltgewebe/weltgewebe/instance/drill"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// The restore drills' log is public (the seed: "Log öffentlich"): anyone may see when the
// instance last proved that its backups bring it back, and how long that took
// (docs/OPERATIONS.md, "Restore drill"). The reports hold times, byte counts and hashes over
// whole tables, never a row, and no table's row count (drill.Report.Public).

func (s *Server) drillRoutes() {
	if s.Drills == nil {
		return
	}
	s.handle("GET /api/betrieb/drills", s.listDrills)
	s.handle("GET /api/betrieb/drills/{name}", s.getDrill)
}

var errNoDrill = fault.NotFoundf("drill_not_found",
	"There is no drill report by this name; GET /api/betrieb/drills lists them.")

func (s *Server) listDrills(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Drills.List()
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getDrill(w http.ResponseWriter, r *http.Request) error {
	report, err := s.Drills.Get(r.PathValue("name"))
	if errors.Is(err, drill.ErrNotFound) {
		return errNoDrill
	}
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, report)
	return nil
}
