package httpapi

import (
	"net/http"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

var errBackupAdminRequired = fault.Forbiddenf("admin_required", "Only an admin of this instance can see the backups' status.")

// backupStatus answers GET /api/admin/backup: the backups, the WAL archive and stream, what a
// restore can reach (instance/backup.Report; docs/API.md).
func (s *Server) backupStatus(w http.ResponseWriter, r *http.Request, me account.Account) error {
	if !me.IsAdmin {
		return errBackupAdminRequired
	}
	rep, err := s.Backup(r.Context())
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, rep)
	return nil
}
